/**
 * The rates a well-behaved client keeps, so apps can call the SDK on every keystroke, scroll
 * or render:
 *
 * - typing: at most one `typing.start` per 3 s per chat while the user types, `typing.stop`
 *   after 3 s without a keystroke (the server would clear it 5 s after the last start anyway);
 * - read marks: at most one `read.mark` per second per chat, the highest message winning;
 * - presence subscriptions: remembered, renewed every 5 minutes (they lapse after 10), and
 *   re-sent on every new connection;
 * - suggestions: debounced 300 ms, every caller of a burst getting the last one's answer.
 */

import { Timer } from './clock.js';
import { withDefaults } from './defaults.js';

export const RATE_DEFAULTS = Object.freeze({
  typingIntervalMs: 3_000,
  typingIdleMs: 3_000,
  readMarkIntervalMs: 1_000,
  presenceRenewMs: 5 * 60_000,
  presenceBatch: 100, // the server's limit per presence.subscribe
  suggestDebounceMs: 300,
});

export class TypingRate {
  #o;
  /** @type {Map<string, {lastStart: number, idle: Timer}>} */
  #typing = new Map();

  /**
   * @param {object} o
   * @param {import('./clock.js').Clock} o.clock
   * @param {(type: 'typing.start' | 'typing.stop', chatId: string) => boolean} o.send whether it went out
   * @param {number} [o.typingIntervalMs]
   * @param {number} [o.typingIdleMs]
   */
  constructor(o) {
    this.#o = withDefaults(RATE_DEFAULTS, o);
  }

  /** A keystroke in `chatId`. */
  typing(chatId) {
    const now = this.#o.clock.now();
    let state = this.#typing.get(chatId);
    if (!state) {
      state = { lastStart: -Infinity, idle: new Timer(this.#o.clock) };
      this.#typing.set(chatId, state);
    }
    if (now - state.lastStart >= this.#o.typingIntervalMs && this.#o.send('typing.start', chatId)) {
      state.lastStart = now; // only a start that went out counts (none go out while offline)
    }
    state.idle.start(this.#o.typingIdleMs, () => this.stop(chatId));
  }

  /** The user stopped typing (cleared the composer, left the chat). */
  stop(chatId) {
    const state = this.#typing.get(chatId);
    if (!state) return;
    this.#forget(chatId, state);
    this.#o.send('typing.stop', chatId);
  }

  /** A message was sent in `chatId`: the server ends the indicator itself, and the next
   * keystroke starts a new one at once. */
  sent(chatId) {
    const state = this.#typing.get(chatId);
    if (state) this.#forget(chatId, state);
  }

  /** Forgets everything without sending (the connection is gone; the server clears it). */
  reset() {
    for (const [chatId, state] of [...this.#typing]) this.#forget(chatId, state);
  }

  #forget(chatId, state) {
    state.idle.stop();
    this.#typing.delete(chatId);
  }
}

export class ReadMarks {
  #o;
  /** @type {Map<string, {lastSentAt: number, highest: number, next: object | null, timer: Timer}>} */
  #chats = new Map();

  /**
   * @param {object} o
   * @param {import('./clock.js').Clock} o.clock
   * @param {(chatId: string, messageId: string) => Promise<object>} o.send one read.mark request
   * @param {number} [o.readMarkIntervalMs]
   */
  constructor(o) {
    this.#o = withDefaults(RATE_DEFAULTS, o);
  }

  /**
   * Marks `messageId` (with creation seq `seq`, when known) read. Marks within the interval
   * are coalesced: the one with the highest seq is sent (the latest, when seqs are unknown),
   * and every caller gets its ack. A mark not above one already sent is acknowledged at once.
   * @returns {Promise<object | null>} the read.mark ack's payload (null when nothing was sent)
   */
  mark(chatId, messageId, seq) {
    let chat = this.#chats.get(chatId);
    if (!chat) {
      chat = { lastSentAt: -Infinity, highest: -Infinity, next: null, timer: new Timer(this.#o.clock) };
      this.#chats.set(chatId, chat);
    }
    const known = Number.isInteger(seq);
    if (known && seq <= chat.highest && chat.next === null) return Promise.resolve(null);
    const next = chat.next ?? { waiters: [] };
    if (!chat.next || !known || !Number.isInteger(next.seq) || seq >= next.seq) {
      next.messageId = messageId;
      next.seq = known ? seq : undefined;
    }
    chat.next = next;
    const promise = new Promise((resolve, reject) => next.waiters.push({ resolve, reject }));
    const wait = chat.lastSentAt + this.#o.readMarkIntervalMs - this.#o.clock.now();
    if (wait <= 0) this.#flush(chatId, chat);
    else if (!chat.timer.pending) chat.timer.start(wait, () => this.#flush(chatId, chat));
    return promise;
  }

  /**
   * Sends every mark the interval is holding back, now (before a close).
   * @returns {Promise<unknown>[]} one per mark sent, settled by its ack
   */
  flushAll() {
    const sent = [];
    for (const [chatId, chat] of this.#chats) {
      const sending = this.#flush(chatId, chat);
      if (sending) sent.push(sending);
    }
    return sent;
  }

  #flush(chatId, chat) {
    const next = chat.next;
    if (!next) return null;
    chat.next = null;
    chat.timer.stop();
    chat.lastSentAt = this.#o.clock.now();
    if (Number.isInteger(next.seq)) chat.highest = Math.max(chat.highest, next.seq);
    return this.#o.send(chatId, next.messageId).then(
      (ack) => {
        if (Number.isInteger(ack?.seq)) chat.highest = Math.max(chat.highest, ack.seq);
        for (const waiter of next.waiters) waiter.resolve(ack);
      },
      (error) => {
        for (const waiter of next.waiters) waiter.reject(error);
      },
    );
  }
}

export class PresenceSubscriptions {
  #o;
  #userIds = new Set();
  #renewal;

  /**
   * @param {object} o
   * @param {import('./clock.js').Clock} o.clock
   * @param {(type: 'presence.subscribe' | 'presence.unsubscribe', userIds: string[]) => Promise<object>} o.send
   * @param {(error: unknown) => void} o.onError
   * @param {number} [o.presenceRenewMs]
   */
  constructor(o) {
    this.#o = withDefaults(RATE_DEFAULTS, o);
    this.#renewal = new Timer(o.clock);
  }

  get userIds() {
    return [...this.#userIds];
  }

  subscribe(userIds) {
    const fresh = [...new Set(userIds)];
    for (const userId of fresh) this.#userIds.add(userId);
    this.#scheduleRenewal();
    return this.#send('presence.subscribe', fresh);
  }

  unsubscribe(userIds) {
    const gone = [...new Set(userIds)];
    for (const userId of gone) this.#userIds.delete(userId);
    if (this.#userIds.size === 0) this.#renewal.stop();
    return this.#send('presence.unsubscribe', gone);
  }

  /** Sends every subscription again: on a new connection, and before they lapse. */
  renew() {
    this.#scheduleRenewal();
    if (this.#userIds.size === 0) return Promise.resolve([]);
    return this.#send('presence.subscribe', [...this.#userIds]).catch((error) => {
      this.#o.onError(error);
      return [];
    });
  }

  stop() {
    this.#renewal.stop();
  }

  #scheduleRenewal() {
    if (this.#userIds.size > 0) this.#renewal.start(this.#o.presenceRenewMs, () => this.renew());
  }

  #send(type, userIds) {
    const batches = [];
    for (let i = 0; i < userIds.length; i += this.#o.presenceBatch) batches.push(userIds.slice(i, i + this.#o.presenceBatch));
    return Promise.all(batches.map((batch) => this.#o.send(type, batch)));
  }
}

/**
 * A value the server must end up with (the focused chat, the chosen status): one request in
 * flight at a time, so two quick changes cannot be applied out of order by a server that
 * handles frames concurrently; the newest value is sent after the in-flight one's ack, and
 * again on every new connection.
 */
export class LatestValue {
  #send;
  #value;
  #has = false;
  #inFlight = false;
  #waiters = [];

  /** @param {(value: any) => Promise<any>} send */
  constructor(send) {
    this.#send = send;
  }

  /** Resolves with the ack of the request that carried this value (or a newer one). */
  set(value) {
    this.#value = value;
    this.#has = true;
    const promise = new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#pump();
    return promise;
  }

  /** Sends the value again (a new connection), unless a request for it is still pending. */
  resend(onError) {
    if (!this.#has || this.#inFlight) return;
    this.#waiters.push({ resolve: () => {}, reject: onError });
    this.#pump();
  }

  #pump() {
    if (this.#inFlight || this.#waiters.length === 0) return;
    const waiters = this.#waiters.splice(0);
    this.#inFlight = true;
    this.#send(this.#value).then(
      (ack) => {
        this.#inFlight = false;
        waiters.forEach((waiter) => waiter.resolve(ack));
        this.#pump();
      },
      (error) => {
        this.#inFlight = false;
        waiters.forEach((waiter) => waiter.reject(error));
        this.#pump();
      },
    );
  }
}

/**
 * Debounces an async function: a call starts a `delayMs` wait, a call within it restarts the
 * wait with its own arguments, and every caller of the burst gets the last call's result.
 */
export class Debounced {
  #fn;
  #delayMs;
  #timer;
  #waiters = [];
  #args = null;

  /**
   * @param {import('./clock.js').Clock} clock
   * @param {number} delayMs
   * @param {(...args: any[]) => Promise<any>} fn
   */
  constructor(clock, delayMs, fn) {
    this.#fn = fn;
    this.#delayMs = delayMs;
    this.#timer = new Timer(clock);
  }

  call(...args) {
    this.#args = args;
    const promise = new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#timer.start(this.#delayMs, () => this.#fire());
    return promise;
  }

  /** Rejects the callers still waiting (the client is closing). */
  cancel(error) {
    this.#timer.stop();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  #fire() {
    const waiters = this.#waiters;
    const args = this.#args;
    this.#waiters = [];
    Promise.resolve()
      .then(() => this.#fn(...args))
      .then(
        (result) => waiters.forEach((waiter) => waiter.resolve(result)),
        (error) => waiters.forEach((waiter) => waiter.reject(error)),
      );
  }
}
