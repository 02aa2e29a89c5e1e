/**
 * The client's state: chats and their badges, the messages it has seen, read watermarks,
 * who is typing, presence. Plain data and plain methods (unit-tested in Node); every change
 * calls the listeners, and the views render from here.
 *
 * Messages are kept per chat by `messageId`; one still in the outbox is kept by its frame id
 * (`pending:<id>`) until its ack names the stored message. They are shown in `seq` order, the
 * pending ones last. The SDK delivers every chat event once, in seq order: the store only
 * merges history pages (which never overwrite a newer copy) with those events.
 *
 * A busy big chat's messages may arrive as a number first (`chat.summary {chatId, newMessages,
 * lastSeq}`): the SDK syncs the chat at once, and until a message at `lastSeq` (or a sync to a
 * `headSeq` at least that high) lands, `summaries` says how many are on their way.
 */

const TYPING_TTL_MS = 7000; // the server clears an indicator 5 s after the last typing.start (+2 s)

export class Store {
  #listeners = new Set();

  /** @param {string} meId */
  constructor(meId) {
    this.me = meId;
    /** @type {Map<string, object>} chatId → the chat as `GET /api/chats` gives it, plus `lastActivity`, `lastMessage` */
    this.chats = new Map();
    /** @type {Map<string, Map<string, object>>} chatId → key → message */
    this.messages = new Map();
    /** @type {Map<string, {loaded: boolean, nextBefore: number | null}>} */
    this.history = new Map();
    /** @type {Map<string, Map<string, number>>} chatId → userId → read watermark (seq) */
    this.watermarks = new Map();
    /** @type {Map<string, Map<string, {displayName: string, until: number}>>} */
    this.typing = new Map();
    /** @type {Map<string, {status: string, lastSeen?: string}>} */
    this.presence = new Map();
    this.connection = 'connecting';
    this.closedReason = null;
    this.prefs = null;
    this.myStatus = 'available';
    this.chatsLoaded = false;
    /** @type {Map<string, {newMessages: number, lastSeq: number}>} chatId → messages summed up, not yet here */
    this.summaries = new Map();
  }

  /** @returns {() => void} */
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  changed(topic) {
    for (const listener of [...this.#listeners]) listener(topic);
  }

  // --- chats and badges --------------------------------------------------------------------

  /** The chat list from `GET /api/chats` (kept: what the client learnt about each chat). */
  setChats(list) {
    const seen = new Set();
    for (const chat of list ?? []) {
      seen.add(chat.chatId);
      const previous = this.chats.get(chat.chatId);
      this.chats.set(chat.chatId, { lastActivity: null, lastMessage: null, ...previous, ...chat });
    }
    for (const chatId of [...this.chats.keys()]) if (!seen.has(chatId)) this.removeChat(chatId, { quiet: true });
    this.chatsLoaded = true;
    this.changed('chats');
  }

  addChat(chat) {
    const previous = this.chats.get(chat.chatId);
    this.chats.set(chat.chatId, {
      unreadCount: 0,
      mentionCount: 0,
      lastReadSeq: 0,
      muted: false,
      pinned: false,
      lastActivity: null,
      lastMessage: null,
      ...previous,
      ...chat,
    });
    this.changed('chats');
  }

  removeChat(chatId, { quiet = false } = {}) {
    this.chats.delete(chatId);
    this.messages.delete(chatId);
    this.history.delete(chatId);
    this.watermarks.delete(chatId);
    this.typing.delete(chatId);
    this.summaries.delete(chatId);
    if (!quiet) this.changed('chats');
  }

  /** Chats as the list shows them: pinned first, then the latest activity, then by name. */
  chatList(title = (chat) => chat.name ?? chat.chatId) {
    return [...this.chats.values()].sort(
      (a, b) =>
        Number(Boolean(b.pinned)) - Number(Boolean(a.pinned)) ||
        (b.lastActivity ?? '').localeCompare(a.lastActivity ?? '') ||
        title(a).localeCompare(title(b)),
    );
  }

  /** `notification.badge` (live, or from a reconnect's sync). */
  applyBadge({ chatId, unreadCount, mentionCount }) {
    const chat = this.chats.get(chatId);
    if (!chat) return;
    chat.unreadCount = unreadCount ?? 0;
    chat.mentionCount = mentionCount ?? 0;
    this.changed('chats');
  }

  /** I read the chat up to `seq` (optimistic: the server's badge follows). */
  markedRead(chatId, seq) {
    const chat = this.chats.get(chatId);
    if (!chat) return;
    chat.unreadCount = 0;
    chat.mentionCount = 0;
    if (Number.isInteger(seq)) {
      chat.lastReadSeq = Math.max(chat.lastReadSeq ?? 0, seq);
      this.#raiseWatermark(chatId, this.me, seq);
    }
    this.changed('chats');
  }

  /** Total unread and mention counts over every chat (the header's badge). */
  totals() {
    let unread = 0;
    let mentions = 0;
    for (const chat of this.chats.values()) {
      unread += chat.unreadCount ?? 0;
      mentions += chat.mentionCount ?? 0;
    }
    return { unread, mentions };
  }

  // --- messages --------------------------------------------------------------------------

  #chatMessages(chatId) {
    let messages = this.messages.get(chatId);
    if (!messages) this.messages.set(chatId, (messages = new Map()));
    return messages;
  }

  /** A message as the server has it now (`message.new`, `message.updated`, an ack). */
  upsertMessage(message) {
    const messages = this.#chatMessages(message.chatId);
    const previous = messages.get(message.messageId);
    const version = (previous?.version ?? 0) + 1;
    messages.set(message.messageId, { ...previous, ...message, key: message.messageId, status: 'sent', error: null, version });
    if (!previous) this.#noteActivity(message);
    // Sending is reading: a sender has read their chat up to their own message.
    if (Number.isInteger(message.seq)) this.#raiseWatermark(message.chatId, message.senderId, message.seq);
    if (message.senderId === this.me && Number.isInteger(message.seq)) {
      const chat = this.chats.get(message.chatId);
      if (chat) chat.lastReadSeq = Math.max(chat.lastReadSeq ?? 0, message.seq);
    }
    this.#typingOf(message.chatId).delete(message.senderId);
    this.#settleSummary(message.chatId, message.seq);
    this.changed(`messages:${message.chatId}`);
    return !previous;
  }

  // --- summaries (a busy big chat) --------------------------------------------------------

  /** A `chat.summary`: more messages than were sent one by one; they add up until they land. */
  applySummary({ chatId, newMessages, lastSeq }) {
    if (!Number.isInteger(newMessages) || newMessages <= 0 || !Number.isInteger(lastSeq)) return;
    if (lastSeq <= this.#newestSeq(chatId)) return; // already here (a sync overtook the frame)
    const previous = this.summaries.get(chatId) ?? { newMessages: 0, lastSeq: 0 };
    this.summaries.set(chatId, { newMessages: previous.newMessages + newMessages, lastSeq: Math.max(previous.lastSeq, lastSeq) });
    this.changed('chats');
    this.changed(`messages:${chatId}`);
  }

  /** The chat's messages summed up and not here yet (0: none). */
  summaryOf(chatId) {
    return this.summaries.get(chatId)?.newMessages ?? 0;
  }

  /** A chat's sync landed (the SDK's `synced`): what it reached is no longer on its way. */
  syncedTo(chatId, headSeq) {
    this.#settleSummary(chatId, headSeq);
  }

  #settleSummary(chatId, seq) {
    const summary = this.summaries.get(chatId);
    if (!summary || !Number.isInteger(seq) || seq < summary.lastSeq) return;
    this.summaries.delete(chatId);
    this.changed('chats');
    this.changed(`messages:${chatId}`);
  }

  #newestSeq(chatId) {
    let newest = 0;
    for (const message of this.messages.get(chatId)?.values() ?? []) if (Number.isInteger(message.seq) && message.seq > newest) newest = message.seq;
    return newest;
  }

  /** A page of history (newest first or not): only messages not known yet are added. */
  mergeHistory(chatId, messages, nextBefore) {
    const known = this.#chatMessages(chatId);
    for (const message of messages ?? []) {
      if (!known.has(message.messageId)) {
        known.set(message.messageId, { ...message, key: message.messageId, status: 'sent', error: null, version: 1 });
        if (Number.isInteger(message.seq)) this.#raiseWatermark(chatId, message.senderId, message.seq);
      }
    }
    const newest = [...known.values()].filter((m) => m.status === 'sent').sort(bySeq).at(-1);
    const chat = this.chats.get(chatId);
    if (chat && newest && !chat.lastActivity) {
      chat.lastActivity = newest.createdAt;
      chat.lastMessage = newest;
    }
    if (newest) this.#settleSummary(chatId, newest.seq);
    // Pages are loaded newest first, each one `before` the last: its `nextBefore` is the boundary.
    this.history.set(chatId, { loaded: true, nextBefore: nextBefore ?? null });
    this.changed(`messages:${chatId}`);
    this.changed('chats');
  }

  /** Everything known about a chat's messages is void (the server's history was reset). */
  replaceMessages(chatId, messages) {
    this.messages.delete(chatId);
    this.summaries.delete(chatId); // what the reset brings is all there is
    this.history.delete(chatId);
    if (messages) this.mergeHistory(chatId, messages, messages.length ? messages[0].seq : null);
    this.changed(`messages:${chatId}`);
  }

  applyDeleted(chatId, messageId) {
    const message = this.#chatMessages(chatId).get(messageId);
    if (!message) return;
    Object.assign(message, { deleted: true, content: null, attachments: [], reactions: {}, version: message.version + 1 });
    this.changed(`messages:${chatId}`);
  }

  applyReaction(chatId, messageId, reactions) {
    const message = this.#chatMessages(chatId).get(messageId);
    if (!message) return;
    message.reactions = reactions ?? {};
    message.version += 1;
    this.changed(`messages:${chatId}`);
  }

  /** Changes a message locally before the server confirms; returns what to restore. */
  patchMessage(chatId, messageId, patch) {
    const message = this.#chatMessages(chatId).get(messageId);
    if (!message) return null;
    const before = Object.fromEntries(Object.keys(patch).map((key) => [key, message[key]]));
    Object.assign(message, patch, { version: message.version + 1 });
    this.changed(`messages:${chatId}`);
    return before;
  }

  /** A message I wrote that is still in the outbox (sent, or waiting for a connection). */
  addPending(frameId, payload, createdAt = new Date().toISOString()) {
    const messages = this.#chatMessages(payload.chatId);
    const key = `pending:${frameId}`;
    if (messages.has(key)) return;
    messages.set(key, {
      key,
      frameId,
      messageId: null,
      chatId: payload.chatId,
      seq: Infinity,
      senderId: this.me,
      senderName: this.displayName(this.me),
      content: payload.content,
      replyTo: payload.replyTo ?? null,
      attachments: payload.attachments ?? [],
      mentions: [],
      priority: payload.priority ?? 'normal',
      createdAt,
      editedAt: null,
      deleted: false,
      reactions: {},
      status: 'pending',
      error: null,
      version: 1,
    });
    this.changed(`messages:${payload.chatId}`);
  }

  /** Its ack came: the pending entry becomes the stored message. */
  ackPending(frameId, message) {
    for (const [chatId, messages] of this.messages) {
      if (messages.delete(`pending:${frameId}`)) this.changed(`messages:${chatId}`);
    }
    if (message?.messageId) this.upsertMessage(message);
  }

  failPending(frameId, error) {
    for (const [chatId, messages] of this.messages) {
      const message = messages.get(`pending:${frameId}`);
      if (message) {
        Object.assign(message, { status: 'failed', error: error?.message ?? String(error), version: message.version + 1 });
        this.changed(`messages:${chatId}`);
      }
    }
  }

  dropPending(frameId) {
    this.ackPending(frameId, null);
  }

  pendingCount() {
    let count = 0;
    for (const messages of this.messages.values()) for (const message of messages.values()) if (message.status === 'pending') count += 1;
    return count;
  }

  /** The chat's messages in the order shown: by seq, the outbox's last (in the order written). */
  sortedMessages(chatId) {
    return [...(this.messages.get(chatId)?.values() ?? [])].sort(bySeq);
  }

  message(chatId, messageId) {
    return this.messages.get(chatId)?.get(messageId) ?? null;
  }

  /** The newest stored message of a chat (what `read.mark` names). */
  latestStored(chatId) {
    return this.sortedMessages(chatId).filter((message) => message.status === 'sent').at(-1) ?? null;
  }

  #noteActivity(message) {
    const chat = this.chats.get(message.chatId);
    if (!chat) return;
    if (!chat.lastActivity || (message.createdAt ?? '') >= chat.lastActivity) {
      chat.lastActivity = message.createdAt ?? new Date().toISOString();
      chat.lastMessage = message;
      this.changed('chats');
    }
  }

  // --- read watermarks ---------------------------------------------------------------------

  /** `sync.response.readWatermarks` (the SDK's `synced` event): every member's watermark. */
  setWatermarks(chatId, watermarks) {
    for (const [userId, seq] of Object.entries(watermarks ?? {})) this.#raiseWatermark(chatId, userId, seq);
    this.changed(`messages:${chatId}`);
  }

  /** `read.receipt {chatId, userId, seq}`. */
  applyReceipt({ chatId, userId, seq }) {
    if (this.#raiseWatermark(chatId, userId, seq)) this.changed(`messages:${chatId}`);
  }

  watermarksOf(chatId) {
    let watermarks = this.watermarks.get(chatId);
    if (!watermarks) this.watermarks.set(chatId, (watermarks = new Map()));
    return watermarks;
  }

  #raiseWatermark(chatId, userId, seq) {
    if (!userId || !Number.isInteger(seq)) return false;
    const watermarks = this.watermarksOf(chatId);
    if ((watermarks.get(userId) ?? 0) >= seq) return false;
    watermarks.set(userId, seq); // watermarks only move forward
    return true;
  }

  // --- typing ----------------------------------------------------------------------------

  #typingOf(chatId) {
    let typing = this.typing.get(chatId);
    if (!typing) this.typing.set(chatId, (typing = new Map()));
    return typing;
  }

  /** `typing.indicator`; an indicator whose `active: false` is lost expires on its own. */
  setTyping({ chatId, userId, displayName, active }, now = Date.now()) {
    if (userId === this.me) return;
    const typing = this.#typingOf(chatId);
    if (active) typing.set(userId, { displayName: displayName || this.displayName(userId), until: now + TYPING_TTL_MS });
    else typing.delete(userId);
    this.changed(`typing:${chatId}`);
  }

  /** Who is typing in a chat now, in the order they started. */
  typingNames(chatId, now = Date.now()) {
    return [...(this.typing.get(chatId)?.values() ?? [])].filter((entry) => entry.until > now).map((entry) => entry.displayName);
  }

  /** Forgets expired indicators; true when one went. */
  sweepTyping(now = Date.now()) {
    let swept = false;
    for (const [chatId, typing] of this.typing) {
      for (const [userId, entry] of typing) {
        if (entry.until <= now) {
          typing.delete(userId);
          swept = true;
          this.changed(`typing:${chatId}`);
        }
      }
    }
    return swept;
  }

  // --- presence, people --------------------------------------------------------------------

  setPresence({ userId, status, lastSeen }) {
    this.presence.set(userId, { status, lastSeen });
    if (userId === this.me && status !== 'offline') this.myStatus = status;
    this.changed('presence');
  }

  /** My DM with a user, or null. */
  dmWith(userId) {
    return [...this.chats.values()].find((chat) => chat.type === 'dm' && chat.members?.some((member) => member.userId === userId)) ?? null;
  }

  /** A user's display name, from any chat's member list. */
  displayName(userId) {
    for (const chat of this.chats.values()) {
      const member = chat.members?.find((candidate) => candidate.userId === userId);
      if (member?.displayName) return member.displayName;
    }
    return userId;
  }

  setConnection(state, reason = null) {
    this.connection = state;
    this.closedReason = state === 'closed' ? reason : null;
    this.changed('connection');
  }

  setPrefs(prefs) {
    this.prefs = prefs;
    this.changed('prefs');
  }
}

function bySeq(a, b) {
  if (a.seq === b.seq) return (a.createdAt ?? '').localeCompare(b.createdAt ?? '');
  return a.seq - b.seq; // Infinity - Infinity is NaN, handled above
}
