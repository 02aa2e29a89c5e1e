/**
 * Per-chat `seq` tracking: chat events reach the app in seq order, exactly once.
 *
 * Every chat event (a new message, an edit, a delete, a reaction change, a membership change)
 * carries the chat's next `seq`. Per chat the tracker keeps the highest seq it has applied
 * (`lastKnownSeq`) and:
 *
 * - applies the next seq at once, and buffers a later one;
 * - after a `chat.summary` of a tracked chat, asks `sync.request {chatId, lastKnownSeq}` at once;
 * - when a gap stays open for `gapTimeoutMs`, asks `sync.request {chatId, lastKnownSeq}`: seqs
 *   can have holes (a retried send leaves one), and everything up to the response's `headSeq`
 *   that sync does not return does not exist;
 * - on every (re)connection runs "listen, then sync": live frames of a chat are held while one
 *   `sync.request {chats: {...}}` asks for what was missed, then both are merged in seq order;
 * - drops duplicates: a `message.new` whose `messageId` it has, any event whose seq it applied;
 * - `tooLarge` (more than 500 missed): refetches the newest page over REST and emits `reset`;
 * - a `headSeq` below what it knew (the server lost its history: `tidings dev` keeps its state in
 *   memory, so a restarted one starts every chat's seqs over): emits `reset` and replays the
 *   chat from seq 0.
 *
 * A frame for a seq the tracker had already passed (judged a hole) is still delivered, late,
 * rather than lost.
 */

import { Timer } from './clock.js';
import { withDefaults } from './defaults.js';

/** Server frame types that are chat events: they carry `payload.chatId` and `payload.seq`.
 * (`read.receipt` also has a `seq`, the reader's watermark: it is not a chat event.) */
export const CHAT_EVENT_TYPES = Object.freeze([
  'message.new',
  'message.updated',
  'message.deleted',
  'message.reaction',
  'member.joined',
  'member.left',
  'chat.updated',
]);

export const CHAT_DEFAULTS = Object.freeze({
  gapTimeoutMs: 1_000,
  chatsPerSync: 100, // the server's limit per multi-chat sync.request
  remembered: 5_000, // seqs and message ids remembered per chat, for dropping duplicates
});

/** A Map that forgets its oldest entries past a limit. */
class BoundedMap {
  #items = new Map();
  #limit;
  constructor(limit) {
    this.#limit = limit;
  }
  has(key) {
    return this.#items.has(key);
  }
  get(key) {
    return this.#items.get(key);
  }
  set(key, value) {
    this.#items.delete(key);
    this.#items.set(key, value);
    if (this.#items.size > this.#limit) this.#items.delete(this.#items.keys().next().value);
  }
  clear() {
    this.#items.clear();
  }
}

class Chat {
  constructor(chatId, lastKnownSeq, clock, remembered) {
    this.chatId = chatId;
    this.applied = lastKnownSeq;
    /** @type {Map<number, object>} frames with a seq not applied yet */
    this.pending = new Map();
    /** seq -> true, for every seq applied */
    this.appliedSeqs = new BoundedMap(remembered);
    /** messageId -> creation seq, from message.new */
    this.messageSeqs = new BoundedMap(remembered);
    /** the sync run that holds this chat's live frames, or null */
    this.run = null;
    this.gapTimer = new Timer(clock);
  }

  forget() {
    this.appliedSeqs.clear();
    this.messageSeqs.clear();
  }
}

const bySeq = (a, b) => a.payload.seq - b.payload.seq;

/** The `synced` event of a chat's last sync response; a big chat's carries its `readSummary`. */
function synced(chat, result) {
  const event = { chatId: chat.chatId, headSeq: result.headSeq, readWatermarks: result.readWatermarks ?? {} };
  if (result.readSummary && typeof result.readSummary === 'object') event.readSummary = result.readSummary;
  return event;
}

export class ChatTracker {
  #o;
  /** @type {Map<string, Chat>} */
  #chats = new Map();
  #types;

  /**
   * @param {object} o
   * @param {import('./clock.js').Clock} o.clock
   * @param {number} [o.gapTimeoutMs]
   * @param {string[]} [o.chatEventTypes] more chat event types than {@link CHAT_EVENT_TYPES}
   * @param {(frame: object) => void} o.deliver hands a chat event to the app
   * @param {(type: string, detail: object) => void} o.notify `reset` and `synced`
   * @param {(payload: object) => Promise<object>} o.requestSync sends a sync.request
   * @param {(chatId: string) => Promise<object[] | undefined>} o.fetchLatest newest messages, ascending
   * @param {() => boolean} o.connected
   * @param {(error: unknown) => void} o.onError
   */
  constructor(o) {
    this.#o = withDefaults(CHAT_DEFAULTS, o);
    this.#types = new Set([...CHAT_EVENT_TYPES, ...(o.chatEventTypes ?? [])]);
  }

  /** Whether a server frame is a chat event to order. */
  isChatEvent(frame) {
    const payload = frame?.payload;
    return this.#types.has(frame?.type) && typeof payload?.chatId === 'string' && Number.isInteger(payload.seq);
  }

  /** Starts (or moves forward) tracking a chat from `lastKnownSeq`: the next event applied is
   * `lastKnownSeq + 1`, and reconnects sync it from there. */
  track(chatId, lastKnownSeq = 0) {
    if (!Number.isInteger(lastKnownSeq) || lastKnownSeq < 0) throw new TypeError('lastKnownSeq must be an integer >= 0');
    const chat = this.#chats.get(chatId);
    if (!chat) this.#add(chatId, lastKnownSeq);
    else if (lastKnownSeq > chat.applied) {
      chat.applied = lastKnownSeq;
      this.#drain(chat);
    }
  }

  /** A `chat.summary` (a busy big chat's messages in a number): a tracked chat behind its
   * `lastSeq` is synced now, unless a sync has it already; an untracked one is left to the app. */
  summarised(summary) {
    const chat = this.#chats.get(summary?.chatId);
    if (!chat || !Number.isInteger(summary.lastSeq) || summary.lastSeq <= chat.applied) return;
    if (!chat.run && this.#o.connected()) this.syncChat(chat.chatId);
  }

  untrack(chatId) {
    this.#chats.get(chatId)?.gapTimer.stop();
    this.#chats.delete(chatId);
  }

  /** @returns {number | undefined} */
  lastKnownSeq(chatId) {
    return this.#chats.get(chatId)?.applied;
  }

  /** @returns {Record<string, number>} every tracked chat's lastKnownSeq */
  positions() {
    return Object.fromEntries([...this.#chats.values()].map((chat) => [chat.chatId, chat.applied]));
  }

  /** The creation seq of a message this tracker has seen, for "the highest read wins". */
  seqOf(chatId, messageId) {
    return this.#chats.get(chatId)?.messageSeqs.get(messageId);
  }

  /** A live chat event (or one the SDK made from an ack). */
  ingest(frame) {
    const { chatId, seq } = frame.payload;
    const chat = this.#chats.get(chatId) ?? this.#add(chatId, seq - 1); // first sight: start here
    if (this.#isDuplicate(chat, frame)) return;
    chat.pending.set(seq, frame);
    if (!chat.run) this.#drain(chat);
  }

  /** The connection is gone: buffered frames are dropped (the reconnect's sync brings them
   * back, and after a server restart they would be ghosts), gap timers stop. */
  onDisconnected() {
    for (const chat of this.#chats.values()) {
      chat.pending.clear();
      chat.gapTimer.stop();
      chat.run = null;
    }
  }

  /**
   * "Listen, then sync": one multi-chat sync.request with every tracked chat's lastKnownSeq
   * (in batches of 100). Live frames of those chats wait until their entry is applied.
   * @returns {Promise<{badges: object[], presence: object[]}>}
   */
  async syncAll() {
    const chats = [...this.#chats.values()];
    const runs = new Map(chats.map((chat) => [chat.chatId, this.#hold(chat)]));
    const badges = [];
    const presence = [];
    const batches = [];
    for (let i = 0; i < chats.length; i += this.#o.chatsPerSync) batches.push(chats.slice(i, i + this.#o.chatsPerSync));
    await Promise.all(
      batches.map(async (batch) => {
        let response;
        try {
          response = await this.#o.requestSync({ chats: Object.fromEntries(batch.map((chat) => [chat.chatId, chat.applied])) });
        } catch (error) {
          for (const chat of batch) this.#release(chat, runs.get(chat.chatId));
          this.#report(error);
          return;
        }
        badges.push(...(response.badges ?? []));
        presence.push(...(response.presence ?? []));
        const entries = new Map((response.chats ?? []).map((entry) => [entry.chatId, entry]));
        await Promise.all(
          batch.map((chat) => {
            const entry = entries.get(chat.chatId);
            if (!entry) return this.#release(chat, runs.get(chat.chatId));
            return this.#continue(chat, runs.get(chat.chatId), entry);
          }),
        );
      }),
    );
    return { badges, presence };
  }

  /** Syncs one chat now (tracking it from seq 0 if it is new: its whole history replays, or a
   * `reset` with the newest page if it is longer than 500 events). */
  async syncChat(chatId) {
    const chat = this.#chats.get(chatId) ?? this.#add(chatId, 0);
    if (chat.run) return chat.run.done;
    const run = this.#hold(chat);
    let first;
    try {
      first = await this.#o.requestSync({ chatId, lastKnownSeq: chat.applied });
    } catch (error) {
      this.#release(chat, run);
      if (error?.code === 'FORBIDDEN') this.#lose(chat, error);
      else this.#report(error);
      return run.done;
    }
    await this.#continue(chat, run, first);
    return run.done;
  }

  // --- a sync run ----------------------------------------------------------------------

  #hold(chat) {
    chat.gapTimer.stop();
    const run = { restarted: false };
    run.done = new Promise((resolve) => {
      run.resolve = resolve;
    });
    chat.run = run;
    return run;
  }

  #release(chat, run) {
    if (chat.run === run) {
      chat.run = null;
      this.#drain(chat);
    }
    run.resolve();
  }

  /** Applies one chat's sync result, then fetches its further pages, then lets live frames
   * through. */
  async #continue(chat, run, first) {
    let result = first;
    let fromSeq = true; // the request was by lastKnownSeq (not a cursor)
    try {
      for (;;) {
        if (chat.run !== run) return; // the connection dropped: the next sync takes over
        if (result.error) {
          this.#lose(chat, result.error);
          return;
        }
        if (result.tooLarge) {
          await this.#refill(chat, result.headSeq);
          this.#o.notify('synced', synced(chat, result));
          return;
        }
        if (fromSeq && Number.isInteger(result.headSeq) && result.headSeq < chat.applied && !run.restarted) {
          // The server has fewer events than this client applied: its history was reset.
          run.restarted = true;
          chat.applied = 0;
          chat.forget();
          for (const seq of [...chat.pending.keys()]) if (seq <= result.headSeq) chat.pending.delete(seq);
          this.#o.notify('reset', { chatId: chat.chatId, reason: 'headSeqBehind', headSeq: result.headSeq });
          result = await this.#o.requestSync({ chatId: chat.chatId, lastKnownSeq: 0 });
          continue;
        }
        this.#applyPage(chat, result);
        if (!result.hasMore) {
          this.#o.notify('synced', synced(chat, result));
          return;
        }
        result = await this.#o.requestSync({ chatId: chat.chatId, cursor: result.cursor });
        fromSeq = false;
      }
    } catch (error) {
      if (error?.code === 'FORBIDDEN') this.#lose(chat, error);
      else this.#report(error);
    } finally {
      this.#release(chat, run);
    }
  }

  /** Merges a page's events with the held live frames and applies them in seq order. */
  #applyPage(chat, result) {
    for (const event of [...(result.events ?? [])].sort(bySeq)) {
      if (this.isChatEvent(event) && event.payload.chatId === chat.chatId && !this.#isDuplicate(chat, event)) {
        chat.pending.set(event.payload.seq, event);
      }
    }
    const events = result.events ?? [];
    const lastEventSeq = events.length ? Math.max(...events.map((event) => event.payload?.seq ?? 0)) : chat.applied;
    // Complete: nothing up to headSeq is missing. A partial page: complete up to its last event.
    const through = result.hasMore ? lastEventSeq : Math.max(result.headSeq ?? 0, lastEventSeq);
    for (const frame of [...chat.pending.values()].sort(bySeq)) {
      if (frame.payload.seq > through) break;
      chat.pending.delete(frame.payload.seq);
      this.#apply(chat, frame);
    }
    chat.applied = Math.max(chat.applied, through);
  }

  /** tooLarge: start over from the newest page of messages (REST). */
  async #refill(chat, headSeq) {
    chat.applied = headSeq;
    chat.forget();
    for (const seq of [...chat.pending.keys()]) if (seq <= headSeq) chat.pending.delete(seq);
    let messages;
    try {
      messages = await this.#o.fetchLatest(chat.chatId);
    } catch (error) {
      this.#report(error);
    }
    for (const message of messages ?? []) {
      if (message?.messageId) chat.messageSeqs.set(message.messageId, message.seq);
      if (Number.isInteger(message?.seq)) chat.appliedSeqs.set(message.seq, true);
    }
    this.#o.notify('reset', { chatId: chat.chatId, reason: 'tooLarge', headSeq, messages });
  }

  /** The user is no longer in the chat (or it does not exist): stop tracking it. */
  #lose(chat, error) {
    this.untrack(chat.chatId);
    this.#o.notify('reset', { chatId: chat.chatId, reason: 'forbidden', error });
  }

  // --- ordering --------------------------------------------------------------------------

  #add(chatId, lastKnownSeq) {
    const chat = new Chat(chatId, Math.max(0, lastKnownSeq), this.#o.clock, this.#o.remembered);
    this.#chats.set(chatId, chat);
    return chat;
  }

  #isDuplicate(chat, frame) {
    const { seq } = frame.payload;
    if (chat.appliedSeqs.has(seq) || chat.pending.has(seq)) return true;
    return frame.type === 'message.new' && chat.messageSeqs.has(frame.payload.message?.messageId);
  }

  #apply(chat, frame) {
    const { seq } = frame.payload;
    if (chat.appliedSeqs.has(seq)) return;
    const messageId = frame.payload.message?.messageId;
    if (frame.type === 'message.new' && messageId !== undefined) {
      if (chat.messageSeqs.has(messageId)) return;
      chat.messageSeqs.set(messageId, seq);
    }
    chat.appliedSeqs.set(seq, true);
    chat.applied = Math.max(chat.applied, seq);
    this.#o.deliver(frame);
  }

  /** Applies the buffered frames that are next in line; a remaining gap arms the gap timer. */
  #drain(chat) {
    for (const frame of [...chat.pending.values()].sort(bySeq)) {
      if (frame.payload.seq > chat.applied + 1) break;
      chat.pending.delete(frame.payload.seq);
      this.#apply(chat, frame); // a seq at or below `applied` was judged a hole: late, not lost
    }
    if (chat.pending.size === 0) chat.gapTimer.stop();
    else if (!chat.gapTimer.pending) {
      chat.gapTimer.start(this.#o.gapTimeoutMs, () => {
        if (chat.pending.size > 0 && !chat.run && this.#o.connected() && this.#chats.get(chat.chatId) === chat) {
          this.syncChat(chat.chatId);
        }
      });
    }
  }

  #report(error) {
    // DISCONNECTED/CLOSED: the next connection's sync takes over; nothing to tell.
    if (error?.code === 'DISCONNECTED' || error?.code === 'CLOSED') return;
    this.#o.onError(error);
  }
}
