/**
 * A WebSocket stand-in for unit tests, with a scriptable server behind it.
 *
 * `FakeNetwork` is what the client gets as its `WebSocket` option (`network.WebSocket`). Each
 * socket the client opens is recorded; by default the network opens it and `FakeServer`
 * answers it like the real server does for the basics (hello -> welcome, ping -> pong, acks
 * for mutations with per-chat seqs), and a test can take over any frame type with `handle`.
 */
import { settle } from './fake-clock.js';

export class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  constructor(network, url) {
    this.network = network;
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    /** frames the client sent, parsed */
    this.sent = [];
    this.closedBy = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
  }

  get token() {
    return new URL(this.url).searchParams.get('token');
  }

  // --- the client's side ---
  send(data) {
    if (this.readyState !== FakeSocket.OPEN) throw new Error('not open');
    const frame = JSON.parse(data);
    this.sent.push(frame);
    this.network.server.received(this, frame);
  }

  close(code = 1000, reason = '') {
    if (this.readyState >= FakeSocket.CLOSING) return;
    this.readyState = FakeSocket.CLOSING;
    this.closedBy = { side: 'client', code, reason };
    queueMicrotask(() => this.#finish(code, reason));
  }

  // --- the test's (server's) side ---
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.({});
  }

  /** The handshake is refused (401/403 look like this in a browser: an error, then 1006). */
  refuse(message = 'Unexpected server response: 403') {
    this.onerror?.({ message });
    this.#finish(1006, '');
  }

  /** A server frame reaches the client. */
  deliver(type, payload = {}, extra = {}) {
    if (this.readyState !== FakeSocket.OPEN) return;
    const frame = { type, id: `srv-${++this.network.frameSerial}`, timestamp: new Date().toISOString(), payload, ...extra };
    this.onmessage?.({ data: JSON.stringify(frame) });
    return frame;
  }

  /** The server closes the connection (API Gateway: always 1000). */
  serverClose(code = 1000, reason = '') {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.closedBy = { side: 'server', code, reason };
    this.#finish(code, reason);
  }

  /** The link dies silently: nothing arrives any more, nothing is closed. */
  blackhole() {
    this.dead = true;
  }

  framesOf(type) {
    return this.sent.filter((frame) => frame.type === type);
  }

  #finish(code, reason) {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean: code === 1000 });
  }
}

export class FakeServer {
  constructor(network) {
    this.network = network;
    this.userId = 'alice';
    this.heads = new Map(); // chatId -> headSeq
    this.handlers = new Map();
    this.acks = new Map(); // (frame id) -> ack payload, for same-id retries
    this.connectionSerial = 0;
    /** The protocol versions it speaks; null: it welcomes any (and says [1, 2]). A `hello` with
     * another version gets `error UPGRADE_REQUIRED` listing these, then the close, as the server
     * does (`listVersions = false` leaves `supportedVersions` out of that error). */
    this.supportedVersions = null;
    this.listVersions = true;
  }

  /** Takes over a frame type: `fn(socket, frame)`; return false to fall back to the default. */
  handle(type, fn) {
    this.handlers.set(type, fn);
  }

  nextSeq(chatId) {
    const seq = (this.heads.get(chatId) ?? 0) + 1;
    this.heads.set(chatId, seq);
    return seq;
  }

  received(socket, frame) {
    if (socket.dead) return;
    const custom = this.handlers.get(frame.type);
    if (custom && custom(socket, frame) !== false) return;
    const reply = (type, payload) => socket.deliver(type, { refId: frame.id, ...payload });
    switch (frame.type) {
      case 'hello': {
        const version = frame.payload.protocolVersion;
        if (this.supportedVersions && !this.supportedVersions.includes(version)) {
          reply('error', {
            code: 'UPGRADE_REQUIRED',
            message: `Protocol version ${version} is not supported; this server speaks ${this.supportedVersions.join(', ')}`,
            upgradeUrl: 'https://tidings.test/docs/protocol.md',
            ...(this.listVersions ? { supportedVersions: [...this.supportedVersions] } : {}),
          });
          return socket.serverClose(1000);
        }
        return reply('welcome', {
          connectionId: `conn-${++this.connectionSerial}`,
          userId: this.userId,
          protocolVersion: version,
          supportedVersions: this.supportedVersions ? [...this.supportedVersions] : [1, 2],
          heartbeatIntervalMs: 30000,
          serverTime: new Date().toISOString(),
        });
      }
      case 'ping':
        return reply('pong', {});
      case 'message.send': {
        let ack = this.acks.get(frame.id);
        if (!ack) {
          const { chatId, content } = frame.payload;
          const seq = this.nextSeq(chatId);
          ack = { status: 'ok', message: { messageId: `m-${frame.id}`, chatId, seq, senderId: this.userId, content } };
          this.acks.set(frame.id, ack);
        }
        return reply('ack', ack);
      }
      case 'sync.request':
        if (frame.payload.chats) {
          return reply('sync.response', {
            chats: Object.keys(frame.payload.chats).map((chatId) => ({
              chatId,
              events: [],
              hasMore: false,
              cursor: null,
              headSeq: this.heads.get(chatId) ?? frame.payload.chats[chatId],
              readWatermarks: {},
            })),
            badges: [],
            presence: [],
          });
        }
        return reply('sync.response', {
          chatId: frame.payload.chatId,
          events: [],
          hasMore: false,
          cursor: null,
          headSeq: this.heads.get(frame.payload.chatId) ?? frame.payload.lastKnownSeq,
          readWatermarks: {},
        });
      case 'typing.start':
      case 'typing.stop':
        return undefined;
      default:
        return reply('ack', { status: 'ok' });
    }
  }
}

export class FakeNetwork {
  constructor({ autoOpen = true, clock } = {}) {
    this.sockets = [];
    this.clock = clock;
    this.autoOpen = autoOpen;
    /** every new socket's handshake is refused (the network is down, or the token refused) */
    this.refuseAll = false;
    this.frameSerial = 0;
    this.server = new FakeServer(this);
    const network = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url) {
        super(network, url);
        this.openedAt = network.clock?.now();
        network.sockets.push(this);
        queueMicrotask(() => {
          if (this.readyState !== FakeSocket.CONNECTING) return;
          if (network.refuseAll) this.refuse();
          else if (network.autoOpen) this.open();
        });
      }
    };
  }

  /** The socket the client opened last. */
  get last() {
    return this.sockets.at(-1);
  }

  /** Every frame the client sent, on every socket. */
  get sent() {
    return this.sockets.flatMap((socket) => socket.sent);
  }

  framesOf(type) {
    return this.sent.filter((frame) => frame.type === type);
  }
}

export { settle };
