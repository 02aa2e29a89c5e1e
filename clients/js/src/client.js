/**
 * TidingsClient: the public face of the SDK. It wires the pieces together:
 *
 * - `Connection` (connection.js): the socket, hello, heartbeat, reconnect, rotation;
 * - `Requests` (requests.js): replies, ack timeouts, same-id retries, RATE_LIMITED;
 * - `Outbox` (outbox.js): durable, ordered mutations;
 * - `ChatTracker` (chats.js): seq order, gap-fill, "listen, then sync";
 * - the rates (rates.js): typing, read marks, presence renewal, suggestion debounce;
 * - `Rest` (rest.js): the HTTP API calls the SDK needs.
 */

import { DEFAULT_BACKOFF } from './backoff.js';
import { withDefaults } from './defaults.js';
import { ChatTracker } from './chats.js';
import { systemClock } from './clock.js';
import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import { TidingsError } from './errors.js';
import { uuid } from './ids.js';
import { Outbox } from './outbox.js';
import { splitNotices } from './notices.js';
import { Requests } from './requests.js';
import { Debounced, LatestValue, PresenceSubscriptions, ReadMarks, TypingRate } from './rates.js';
import { apiUrlFromWebSocketUrl, Rest } from './rest.js';
import { uploadAttachment } from './uploads.js';
import { IndexedDBStorage } from './storage/indexeddb.js';
import { MemoryStorage } from './storage/memory.js';
import { VERSION } from './version.js';

const MAX_FRAME_BYTES = 64 * 1024; // the server refuses bigger frames (FRAME_TOO_LARGE)
// How long close() waits for the ack of a read mark it sends first (an unanswered one stays in
// the outbox for the next connect()).
export const CLOSE_FLUSH_MS = 2_000;
const encoder = new TextEncoder();
const TRACE_ID = /^[A-Za-z0-9_-]{8,64}$/; // what the server keeps (it replaces anything else)

/**
 * @typedef {object} TidingsClientOptions
 * @property {string} url the WebSocket URL: `ws://127.0.0.1:8080/ws` locally, `wss://…/stage` on AWS
 * @property {(context: TokenContext) => Promise<string> | string} getToken an access token that is
 *   valid now; called at connect, at every reconnect, on `token.refresh`, and when REST says 401
 * @property {string} [apiUrl] the HTTP API's base URL (`http://127.0.0.1:8080` locally, derived
 *   from a `…/ws` url; on AWS another host): needed for `listChats`, `history` and the refetch
 *   after a `tooLarge` sync
 * @property {import('./outbox.js').OutboxStorage} [storage] where the outbox lives (default:
 *   IndexedDB in a browser, memory elsewhere)
 * @property {new (url: string) => any} [WebSocket] a WebSocket constructor (default `globalThis.WebSocket`; in
 *   Node 20 pass the `ws` package's)
 * @property {typeof fetch} [fetch] default `globalThis.fetch`
 * @property {typeof XMLHttpRequest | null} [XMLHttpRequest] for upload progress (default
 *   `globalThis.XMLHttpRequest`; null: upload with `fetch`)
 * @property {import('./backoff.js').BackoffOptions} [backoff] reconnect delays
 * @property {Record<string, number>} [chats] chats to track from the start: `{chatId: lastKnownSeq}`
 * @property {string[]} [chatEventTypes] further server frame types to order as chat events
 * @property {string} [clientName] sent in `hello` (default `tidings-js/<version>`)
 * @property {number} [ackTimeoutMs=5000] how long to wait for a reply before re-sending the same id
 * @property {number} [maxRateLimitWaitMs=60000] a longer RATE_LIMITED wait rejects instead
 * @property {number} [helloTimeoutMs=10000]
 * @property {number} [heartbeatTimeoutMs=90000] no `pong` this long: reconnect
 * @property {number} [maxConnectionAgeMs=6900000] rotate the connection after this long (1 h 55 min)
 * @property {number} [gapTimeoutMs=1000] how long a seq gap may stay open before `sync.request`
 * @property {number} [typingIntervalMs=3000]
 * @property {number} [typingIdleMs=3000]
 * @property {number} [readMarkIntervalMs=1000]
 * @property {number} [presenceRenewMs=300000]
 * @property {number} [suggestDebounceMs=300]
 * @property {import('./clock.js').Clock} [clock] time, for tests
 * @property {() => number} [random] [0, 1), for the backoff's jitter
 */

/**
 * @typedef {object} TokenContext
 * @property {'connect' | 'reconnect' | 'unauthorized' | 'rotate' | 'refresh' | 'rest'} reason why a
 *   token is needed; `unauthorized` and `refresh` want a fresh one, not a cached one
 * @property {string} [expiresAt] with `refresh`: when the connection's token expires
 */

/**
 * @typedef {object} SendOptions
 * @property {string | null} [replyTo] the messageId this message answers
 * @property {object[]} [attachments] `[{attachmentId}]`: the sender's clean uploads to the chat
 * @property {'normal' | 'urgent'} [priority]
 * @property {string} [id] the frame id (a UUID); give one to match the message to an optimistic
 *   UI entry; a second send with a pending id joins the first
 * @property {string} [traceId] the trace id (8 to 64 of `A-Z a-z 0-9 _ -`) the server logs the
 *   message under and puts on its frames, e.g. the app's own request id
 */

export class TidingsClient {
  /** The SDK's version. */
  static version = VERSION;

  #o;
  #emitter;
  #connection;
  #requests;
  #outbox;
  #chats;
  #typing;
  #reads;
  #presence;
  #suggest;
  #rest;
  #token = null;
  #userId = null;
  #focus;
  #status;
  #terminal = false; // close() or a close the SDK does not fight: requests reject at once
  #renewing = false;
  #connectWaiters = [];
  #onOnline = () => this.#connection.reconnectNow();

  /** @param {TidingsClientOptions} options */
  constructor(options) {
    const { url, getToken } = options ?? {};
    if (typeof url !== 'string' || !/^wss?:$/.test(safeProtocol(url))) {
      throw new TypeError('options.url must be a ws:// or wss:// URL');
    }
    if (typeof getToken !== 'function') throw new TypeError('options.getToken must be a function returning a token');
    const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketImpl !== 'function') {
      throw new TypeError('No WebSocket here: pass options.WebSocket (in Node 20, the `ws` package\'s default export)');
    }
    const clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    const backoff = withDefaults(DEFAULT_BACKOFF, options.backoff);
    this.#o = { ...options, clock, random, backoff };

    this.#emitter = new Emitter((error, type) => this.#handlerFailed(error, type));
    this.#rest = new Rest({
      apiUrl: options.apiUrl ?? apiUrlFromWebSocketUrl(url),
      fetch: options.fetch ?? globalThis.fetch?.bind(globalThis),
      token: (context) => (context.reason === 'rest' && this.#token ? this.#token : this.#getToken(context)),
    });
    this.#connection = new Connection({
      url,
      getToken: (context) => this.#getToken(context),
      WebSocket: WebSocketImpl,
      clock,
      random,
      backoff,
      helloTimeoutMs: options.helloTimeoutMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      maxConnectionAgeMs: options.maxConnectionAgeMs,
      clientName: options.clientName ?? `tidings-js/${VERSION}`,
      onFrame: (frame) => this.#onFrame(frame),
      onWelcome: (welcome) => this.#onWelcome(welcome),
      onDown: () => this.#onDown(),
      onState: (state, detail) => this.#onState(state, detail),
      onError: (error) => this.#emitError(error),
      onClosed: (error) => this.#onGaveUp(error),
    });
    const connection = this.#connection;
    this.#requests = new Requests({
      transport: { send: (frame) => connection.send(frame), get linkId() { return connection.linkId; } },
      clock,
      random,
      backoff,
      ackTimeoutMs: options.ackTimeoutMs,
      maxRateLimitWaitMs: options.maxRateLimitWaitMs,
    });
    this.#outbox = new Outbox({
      storage: options.storage ?? defaultStorage(),
      requests: this.#requests,
      clock,
      onEvent: (action, detail) => this.#onOutbox(action, detail),
      onError: (error) => this.#emitError(error),
    });
    this.#chats = new ChatTracker({
      clock,
      gapTimeoutMs: options.gapTimeoutMs,
      chatEventTypes: options.chatEventTypes,
      deliver: (frame) => this.#deliver(frame),
      notify: (type, detail) => this.#emitter.emit(type, detail),
      requestSync: (payload) => this.#requests.request('sync.request', payload, { abortOnDisconnect: true }),
      fetchLatest: (chatId) => this.#fetchLatest(chatId),
      connected: () => this.#connection.ready,
      onError: (error) => this.#emitError(error),
    });
    for (const [chatId, seq] of Object.entries(options.chats ?? {})) this.#chats.track(chatId, seq);
    this.#typing = new TypingRate({
      clock,
      typingIntervalMs: options.typingIntervalMs,
      typingIdleMs: options.typingIdleMs,
      send: (type, chatId) => this.#connection.send({ type, id: uuid(), timestamp: this.#now(), payload: { chatId } }),
    });
    this.#reads = new ReadMarks({
      clock,
      readMarkIntervalMs: options.readMarkIntervalMs,
      send: (chatId, messageId) => this.#request('read.mark', { chatId, messageId }),
    });
    this.#presence = new PresenceSubscriptions({
      clock,
      presenceRenewMs: options.presenceRenewMs,
      send: (type, userIds) => this.#request(type, { userIds }),
      onError: (error) => this.#backgroundFailed(error),
    });
    this.#focus = new LatestValue((chatId) => this.#request('chat.focus', { chatId }).then(stripReply));
    this.#status = new LatestValue((status) => this.#request('presence.update', { status }).then(stripReply));
    this.#suggest = new Debounced(clock, options.suggestDebounceMs ?? 300, async (query) => {
      if (query.trim().length < 2) return []; // the server answers [] too; save the request
      return (await this.#request('search.suggest', { query })).suggestions ?? [];
    });
  }

  // --- the connection ------------------------------------------------------------------

  /** `connecting`, `connected`, `reconnecting` or `closed`. */
  get state() {
    return this.#connection.state;
  }

  /** The connected user (from `welcome`), or null before the first connection. */
  get userId() {
    return this.#userId;
  }

  /** The current connection's id (from `welcome`), or null. */
  get connectionId() {
    return this.#connection.welcome?.connectionId ?? null;
  }

  /** The protocol version the client says in `hello`: 2 (`PROTOCOL_VERSION`), or the one a server
   * listed when it refused 2 with `UPGRADE_REQUIRED` (1 for a version-1 server), kept for every
   * later connection of this client. */
  get protocolVersion() {
    return this.#connection.protocolVersion;
  }

  /**
   * Connects (and keeps reconnecting). Resolves with the `welcome` payload once connected;
   * rejects if the client closes first (`close()`, `CONNECTION_LIMIT`, `UPGRADE_REQUIRED` with no
   * protocol version in common, a refused token). An `UPGRADE_REQUIRED` listing another version
   * the SDK speaks (1) is a reconnect with that version, not a rejection. Messages sent before it resolves wait in the outbox.
   * @returns {Promise<object>}
   */
  connect() {
    if (this.#connection.state === 'connected') return Promise.resolve(this.#connection.welcome);
    const promise = new Promise((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    this.#terminal = false;
    this.#outbox.load();
    globalThis.addEventListener?.('online', this.#onOnline);
    this.#connection.start();
    return promise;
  }

  /**
   * Closes the connection and stops reconnecting. Pending queries reject with `CLOSED`;
   * pending mutations stay in the outbox and go out at the next `connect()`.
   *
   * A read mark the 1-second interval is holding back is sent first, so a user who read and
   * left is not left with an unread message: then the connection closes once it is
   * acknowledged, or after `CLOSE_FLUSH_MS` at the most. Without one, it closes at once.
   * @returns {Promise<void>} resolves when the client is closed
   */
  close() {
    const held = this.#reads.flushAll();
    if (held.length === 0) {
      this.#close();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        this.#o.clock.clearTimeout(bound);
        this.#close();
        resolve();
      };
      const bound = this.#o.clock.setTimeout(done, CLOSE_FLUSH_MS);
      Promise.allSettled(held).then(done);
    });
  }

  #close() {
    globalThis.removeEventListener?.('online', this.#onOnline);
    this.#connection.stop();
    this.#shutDown(new TidingsError('CLOSED', 'The client was closed'));
  }

  /**
   * Listens to a server frame type (`message.new`, `typing.indicator`, `notification.badge`,
   * any type, including ones newer than this SDK) or an SDK event (`state`, `error`, `outbox`,
   * `reset`, `synced`; `*` gets every server frame). Server frame handlers get
   * `(payload, frame)`; chat events arrive in seq order, exactly once.
   * @param {string} type
   * @param {(payload: any, frame?: object) => void} handler
   * @returns {() => void} unsubscribes
   */
  on(type, handler) {
    return this.#emitter.on(type, handler);
  }

  /** Like `on`, for one call. */
  once(type, handler) {
    const off = this.#emitter.on(type, (...args) => {
      off();
      handler(...args);
    });
    return off;
  }

  // --- messages (durable, through the outbox) --------------------------------------------

  /**
   * Sends a message. It is stored in the outbox first, sent when connected (in order with the
   * chat's earlier sends), retried with the same id until acked, and sent after a reload if
   * the page goes away first. Resolves with the stored message (the ack's `message`).
   * @param {string} chatId
   * @param {string} content
   * @param {SendOptions} [options]
   * @returns {Promise<object>}
   */
  async send(chatId, content, options = {}) {
    const payload = { chatId, content };
    for (const key of ['replyTo', 'attachments', 'priority']) if (options[key] !== undefined) payload[key] = options[key];
    const { traceId } = options;
    // Refused here: the server would replace it, and the app would look for it in the logs in vain.
    if (traceId !== undefined && !(typeof traceId === 'string' && TRACE_ID.test(traceId))) {
      throw new TypeError('options.traceId must be 8 to 64 characters of A-Z a-z 0-9 _ -');
    }
    this.#typing.sent(chatId);
    const reply = await this.#mutate(`chat:${chatId}`, 'message.send', payload, options.id, traceId);
    return reply.message;
  }

  /** Edits your message; resolves with the message as it is now. */
  async edit(messageId, content, options = {}) {
    const reply = await this.#mutate(`message:${messageId}`, 'message.edit', { messageId, content }, options.id);
    return reply.message;
  }

  /** Deletes a message (yours, or any as chat admin); resolves with `{chatId, seq, messageId}`. */
  async delete(messageId, options = {}) {
    return stripReply(await this.#mutate(`message:${messageId}`, 'message.delete', { messageId }, options.id));
  }

  /** Adds or removes a reaction; resolves with `{chatId, seq, messageId, reactions}` (`seq`
   * null when nothing changed). */
  async react(messageId, emoji, action = 'add', options = {}) {
    return stripReply(await this.#mutate(`message:${messageId}`, 'message.react', { messageId, emoji, action }, options.id));
  }

  /** The outbox's pending entries, oldest first (e.g. to show "sending…" after a reload). */
  async pendingMutations() {
    await this.#outbox.load();
    return this.#outbox.list();
  }

  // --- typing, read marks, focus, presence -------------------------------------------------

  /** Call on every keystroke: at most one `typing.start` per 3 s goes out, and `typing.stop`
   * after 3 s without a call. Nothing is sent while disconnected (typing is ephemeral). */
  typing(chatId) {
    this.#typing.typing(chatId);
  }

  /** The user stopped typing (cleared the composer). */
  stopTyping(chatId) {
    this.#typing.stop(chatId);
  }

  /** Marks a message read. Coalesced to one `read.mark` per second per chat (the highest
   * message wins); resolves with the ack sent for it (null if a higher one was already sent). */
  markRead(chatId, messageId) {
    return this.#reads.mark(chatId, messageId, this.#chats.seqOf(chatId, messageId));
  }

  /** The chat this connection shows (null: none). Remembered and re-sent on every new
   * connection (focus is per connection on the server). */
  focus(chatId) {
    return this.#focus.set(chatId ?? null);
  }

  /** Subscribes to users' presence; renewed every 5 minutes and after every reconnect until
   * `unsubscribePresence`. `presence.changed` frames follow. */
  async subscribePresence(userIds) {
    await this.#presence.subscribe(asList(userIds));
  }

  async unsubscribePresence(userIds) {
    await this.#presence.unsubscribe(asList(userIds));
  }

  /** Sets your status (`available`, `away`, `dnd`, `brb`, `offline`, `in_a_meeting`);
   * remembered and re-sent after a reconnect. Resolves with the ack (`coalesced` says whether
   * the server deferred it). */
  setPresence(status) {
    return this.#status.set(status);
  }

  // --- search --------------------------------------------------------------------------

  /** `search.query`; resolves with `{results, total, cursor}`. */
  async search(query, options = {}) {
    return stripReply(await this.#request('search.query', { query, ...options }));
  }

  /** Suggestions while typing, debounced 300 ms: every call of a burst resolves with the
   * last call's suggestions. Fewer than 2 characters: `[]`. */
  suggest(query) {
    return this.#suggest.call(String(query ?? ''));
  }

  // --- chats, sync, history ------------------------------------------------------------------

  /**
   * Asks for missed chat events now: one chat (tracked from 0 if new: its history replays),
   * or every tracked chat. Resolves when they have been applied (delivered in seq order).
   * Reconnects and gaps do this on their own.
   */
  async sync(chatId) {
    if (chatId !== undefined) return this.#chats.syncChat(chatId);
    this.#emitSyncExtras(await this.#chats.syncAll());
  }

  /** Tracks a chat from `lastKnownSeq` (e.g. the `headSeq` of the history you loaded). */
  track(chatId, lastKnownSeq = 0) {
    this.#chats.track(chatId, lastKnownSeq);
  }

  untrack(chatId) {
    this.#chats.untrack(chatId);
  }

  /** The highest seq applied in a chat, or undefined if it is not tracked. */
  lastKnownSeq(chatId) {
    return this.#chats.lastKnownSeq(chatId);
  }

  /** `{chatId: lastKnownSeq}` of every tracked chat. */
  get chats() {
    return this.#chats.positions();
  }

  /** `GET /api/chats`: your chats. Chats not tracked yet are tracked from their `headSeq`. */
  async listChats() {
    const chats = await this.#rest.call('GET', '/api/chats');
    for (const chat of chats ?? []) {
      if (this.#chats.lastKnownSeq(chat.chatId) === undefined && Number.isInteger(chat.headSeq)) {
        this.#chats.track(chat.chatId, chat.headSeq);
      }
    }
    return chats;
  }

  /**
   * `GET /api/chats/{chatId}/messages`: a page of messages, newest first, `{messages, nextBefore}`.
   * @param {string} chatId
   * @param {{before?: number, limit?: number}} [page] `before`: a seq; `limit`: 1..100 (default 50)
   */
  history(chatId, { before, limit } = {}) {
    const query = new URLSearchParams();
    if (before !== undefined) query.set('before', String(before));
    if (limit !== undefined) query.set('limit', String(limit));
    const suffix = query.toString() ? `?${query}` : '';
    return this.#rest.call('GET', `/api/chats/${encodeURIComponent(chatId)}/messages${suffix}`);
  }

  /**
   * `POST /api/chats`: a new group or channel (you are its admin); resolves with the chat.
   * @param {{type: 'group'|'channel', name: string, members?: string[], visibility?: 'public'|'private', description?: string}} chat
   */
  async createChat(chat) {
    return (await this.#rest.call('POST', '/api/chats', chat)).chat;
  }

  /** `POST /api/chats {type: 'dm'}`: your DM with `userId`, the same chat whoever opens it. */
  async openDm(userId) {
    return (await this.#rest.call('POST', '/api/chats', { type: 'dm', members: [userId] })).chat;
  }

  /**
   * `PATCH /api/chats/{chatId}` (chat admins): resolves with the chat as it is now.
   * @param {string} chatId
   * @param {{name?: string, description?: string, archived?: boolean}} changes
   */
  async updateChat(chatId, changes) {
    return (await this.#rest.call('PATCH', `/api/chats/${encodeURIComponent(chatId)}`, changes)).chat;
  }

  /** `PUT /api/chats/{chatId}/members/{userId}`: adds (or joins, for yourself in a public channel)
   * or sets the role; resolves with `{chatId, userId, role}`. */
  addMember(chatId, userId, { role } = {}) {
    return this.#rest.call('PUT', memberPath(chatId, userId), role === undefined ? {} : { role });
  }

  /** `DELETE /api/chats/{chatId}/members/{userId}`: removes a member (chat admins) or leaves. */
  async removeMember(chatId, userId) {
    await this.#rest.call('DELETE', memberPath(chatId, userId));
  }

  /** `GET /api/channels`: `{channels, nextCursor}`, public channels whose name or id holds `query`. */
  channels(query = '', { cursor } = {}) {
    const params = new URLSearchParams();
    if (query) params.set('query', query);
    if (cursor) params.set('cursor', cursor);
    const suffix = params.toString() ? `?${params}` : '';
    return this.#rest.call('GET', `/api/channels${suffix}`);
  }

  /**
   * Uploads a file to a chat (uploads.js): the upload form, the file POSTed to S3 with its
   * fields, then (unless `waitScanned: false`) the scan's verdict. Resolves with
   * `{attachmentId, name, size, contentType, status, expiresAt}`, to send as
   * `send(chatId, text, {attachments: [{attachmentId}]})`; rejects with `InfectedError`,
   * `UploadRefusedError` (S3's code) or a `TidingsError` (the form's refusal: `BAD_FRAME`,
   * `FORBIDDEN`, `RATE_LIMITED` with `retryAfterMs`; `NETWORK`; `TIMEOUT` without a verdict).
   */
  upload(chatId, file, options = {}) {
    const io = {
      rest: this.#rest,
      fetch: this.#o.fetch ?? globalThis.fetch?.bind(globalThis),
      XMLHttpRequest: 'XMLHttpRequest' in this.#o ? this.#o.XMLHttpRequest : globalThis.XMLHttpRequest,
      on: (type, handler) => this.#emitter.on(type, handler),
      clock: this.#o.clock,
    };
    return uploadAttachment(io, chatId, file, options);
  }

  /** Any REST call with the client's token (`api('PUT', '/api/prefs', prefs)`). */
  api(method, path, body) {
    return this.#rest.call(method, path, body);
  }

  /** Any request frame (for server features newer than this SDK): sent when connected,
   * retried with the same id, resolves with the reply's payload. Not durable. */
  request(type, payload = {}) {
    return this.#request(type, payload);
  }

  // --- internals -----------------------------------------------------------------------------

  #now() {
    return new Date(this.#o.clock.now()).toISOString();
  }

  async #getToken(context) {
    const token = await this.#o.getToken(context);
    if (typeof token === 'string' && token) this.#token = token;
    return token;
  }

  #request(type, payload, options) {
    if (this.#terminal) return Promise.reject(new TidingsError('CLOSED', `The client is closed: ${type} was not sent`));
    return this.#requests.request(type, payload, options);
  }

  async #mutate(lane, type, payload, id, traceId) {
    const frame = { type, id: id ?? uuid(), timestamp: this.#now(), payload };
    if (traceId !== undefined) frame.traceId = traceId;
    const size = encoder.encode(JSON.stringify(frame)).length;
    if (size > MAX_FRAME_BYTES) {
      throw new TidingsError('FRAME_TOO_LARGE', `The ${type} frame is ${size} bytes; the limit is ${MAX_FRAME_BYTES}`);
    }
    return this.#outbox.enqueue(lane, frame);
  }

  #onFrame(wire) {
    const [frame, notices] = splitNotices(wire); // protocol v2: a message.new's badge and toast
    this.#handle(frame);
    for (const notice of notices) this.#deliver(notice); // after their message, as v1 sends them
  }

  #handle(frame) {
    const isReply = this.#requests.handle(frame);
    if (frame.type === 'token.refresh') this.#renewToken(frame.payload);
    if (frame.type === 'error' && !isReply && !['UNAUTHORIZED', 'CONNECTION_LIMIT', 'UPGRADE_REQUIRED'].includes(frame.payload?.code)) {
      // Unsolicited errors (those before a server close are the Connection's to handle).
      this.#emitError(new TidingsError(frame.payload?.code ?? 'INTERNAL', frame.payload?.message ?? 'Server error', { frame }));
    }
    if (frame.type === 'chat.summary') this.#chats.summarised(frame.payload); // and the app sees it too
    if (this.#chats.isChatEvent(frame)) this.#chats.ingest(frame);
    else if (frame.type === 'error') this.#emitter.emit('*', frame.payload, frame); // 'error' is the SDK's event
    else this.#deliver(frame);
  }

  #deliver(frame) {
    this.#emitter.emit(frame.type, frame.payload, frame);
    this.#emitter.emit('*', frame.payload, frame);
  }

  #onWelcome(welcome) {
    this.#userId = welcome.userId ?? this.#userId;
    this.#requests.onConnected();
    this.#outbox.start(this.#userId);
    this.#chats.syncAll().then((extras) => this.#emitSyncExtras(extras));
    this.#presence.renew();
    this.#focus.resend((error) => this.#backgroundFailed(error)); // focus is per connection on the server
    this.#status.resend((error) => this.#backgroundFailed(error)); // a chosen status outlives a network blip
    for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve(welcome);
  }

  /** The multi-chat sync's stored badges and subscribed presence, as the frames they stand for. */
  #emitSyncExtras({ badges, presence }) {
    const at = this.#now();
    for (const payload of badges) this.#deliver({ type: 'notification.badge', id: uuid(), timestamp: at, payload });
    for (const payload of presence) this.#deliver({ type: 'presence.changed', id: uuid(), timestamp: at, payload });
  }

  #onDown() {
    this.#requests.onDisconnected();
    this.#chats.onDisconnected();
    this.#typing.reset();
  }

  #onState(state, detail) {
    this.#emitter.emit('state', { state, ...detail });
  }

  /** The connection gave up (CONNECTION_LIMIT, UPGRADE_REQUIRED with no version in common, a
   * refused token). */
  #onGaveUp(error) {
    this.#shutDown(new TidingsError('CLOSED', `The client closed: ${error.message}`, { cause: error }), error);
  }

  #shutDown(error, cause = error) {
    this.#terminal = true;
    this.#outbox.pause();
    this.#requests.rejectTransient(error);
    this.#presence.stop();
    this.#typing.reset();
    this.#suggest.cancel(error);
    for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(cause);
  }

  async #renewToken(payload) {
    if (this.#renewing) return;
    this.#renewing = true;
    try {
      const token = await this.#getToken({ reason: 'refresh', expiresAt: payload?.expiresAt });
      const ack = await this.#request('auth.renew', { token });
      // The server only moves the expiry forward: a token that expires no later changes nothing,
      // and the connection will be closed at the old expiry (then reconnected, 'unauthorized').
      const before = Date.parse(payload?.expiresAt);
      const after = Date.parse(ack?.expiresAt);
      if (after <= before) {
        this.#emitError(
          new TidingsError('TOKEN', `auth.renew did not extend the connection (still ${ack.expiresAt}): getToken({reason: 'refresh'}) must return a token that outlives the current one`),
        );
      }
    } catch (error) {
      this.#emitError(error instanceof TidingsError ? error : new TidingsError('TOKEN', `Renewing the token failed: ${error?.message ?? error}`, { cause: error }));
    } finally {
      this.#renewing = false;
    }
  }

  #onOutbox(action, detail) {
    if (action === 'acked') {
      const event = eventFromAck(detail.entry.frame, detail.reply);
      if (event && this.#chats.isChatEvent(event)) this.#chats.ingest(event);
    }
    this.#emitter.emit('outbox', { action, ...detail });
  }

  async #fetchLatest(chatId) {
    if (!this.#rest.available) return undefined;
    const page = await this.history(chatId, { limit: 50 });
    return [...(page?.messages ?? [])].reverse(); // oldest first, like the event stream
  }

  /** A request the SDK made on its own failed: worth an error event unless the client closed. */
  #backgroundFailed(error) {
    if (error?.code !== 'CLOSED' && error?.code !== 'DISCONNECTED') this.#emitError(error);
  }

  #emitError(error) {
    if (this.#emitter.has('error')) this.#emitter.emit('error', error);
    else console.warn('[tidings]', error?.code ?? '', error?.message ?? error);
  }

  #handlerFailed(error, type) {
    if (type === 'error') {
      console.error('[tidings] an error handler threw', error);
      return;
    }
    this.#emitError(new TidingsError('HANDLER', `A '${type}' handler threw: ${error?.message ?? error}`, { cause: error }));
  }
}

/**
 * The chat event an ack stands for, so the sender's own changes reach its handlers in seq order
 * even when the server sends the event to other connections only (the sending connection "may"
 * get it). The same event arriving live is then a duplicate and dropped.
 */
export function eventFromAck(frame, reply) {
  const payload = reply ?? {};
  const base = { id: `ack:${frame.id}`, timestamp: frame.timestamp };
  switch (frame.type) {
    case 'message.send':
      return payload.message && { ...base, type: 'message.new', payload: { chatId: payload.message.chatId, seq: payload.message.seq, message: payload.message } };
    case 'message.edit':
      return payload.message && { ...base, type: 'message.updated', payload: { chatId: payload.chatId, seq: payload.seq, message: payload.message } };
    case 'message.delete':
      return { ...base, type: 'message.deleted', payload: { chatId: payload.chatId, seq: payload.seq, messageId: payload.messageId } };
    case 'message.react':
      return { ...base, type: 'message.reaction', payload: { chatId: payload.chatId, seq: payload.seq, messageId: payload.messageId, reactions: payload.reactions } };
    default:
      return null;
  }
}

function stripReply(payload) {
  if (!payload || typeof payload !== 'object') return payload;
  const { refId, status, ...rest } = payload;
  return rest;
}

function asList(userIds) {
  return Array.isArray(userIds) ? userIds : [userIds];
}

function safeProtocol(url) {
  try {
    return new URL(url).protocol;
  } catch {
    return '';
  }
}

function defaultStorage() {
  return globalThis.indexedDB ? new IndexedDBStorage() : new MemoryStorage();
}

function memberPath(chatId, userId) {
  return `/api/chats/${encodeURIComponent(chatId)}/members/${encodeURIComponent(userId)}`;
}
