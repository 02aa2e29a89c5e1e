/**
 * The WebSocket link: connect, `hello` first, heartbeat, reconnect with backoff, proactive
 * rotation before API Gateway's 2-hour limit, and the closes the SDK must not fight.
 *
 * One `Connection` owns at most three sockets at a time: the current one (welcomed, used for
 * sending), one being opened (a reconnect, or the replacement during a rotation), and old ones
 * being retired after a rotation (their late replies are still read).
 */

import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { Timer } from './clock.js';
import { errorFromPayload, TidingsError } from './errors.js';
import { uuid } from './ids.js';
import { PROTOCOL_VERSION, PROTOCOL_VERSIONS } from './version.js';
import { withDefaults } from './defaults.js';

/** @typedef {'connecting' | 'connected' | 'reconnecting' | 'closed'} ConnectionState */

/** Server `error` codes that come just before the server closes the connection. */
const CLOSING_ERRORS = new Set(['UNAUTHORIZED', 'CONNECTION_LIMIT', 'UPGRADE_REQUIRED']);
/** After these the SDK goes to `closed` instead of reconnecting: the user opened the app
 * elsewhere (the slot is theirs), or this SDK and the server have no protocol version in common
 * (an `UPGRADE_REQUIRED` listing another version the SDK speaks is a reconnect with it instead). */
const TERMINAL_ERRORS = new Set(['CONNECTION_LIMIT', 'UPGRADE_REQUIRED']);

const WS_OPEN = 1;

export const CONNECTION_DEFAULTS = Object.freeze({
  helloTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000, // until `welcome.heartbeatIntervalMs` says otherwise
  heartbeatTimeoutMs: 90_000,
  // API Gateway closes every connection after 2 hours; rotate before that.
  maxConnectionAgeMs: (2 * 60 - 5) * 60_000,
  rotationRetryMs: 60_000,
});

let linkSerial = 0;

/** One socket and its timers. */
class Link {
  constructor(clock, purpose) {
    this.serial = ++linkSerial;
    this.purpose = purpose; // 'connect' | 'rotate'
    this.ws = null;
    this.opened = false;
    this.welcome = null;
    this.detached = false;
    /** @type {TidingsError | null} the `error` frame that announced a server close */
    this.closingError = null;
    this.failure = undefined; // what the socket's error event said, for the state event
    this.helloId = uuid();
    this.helloTimer = new Timer(clock);
    this.pingTimer = new Timer(clock);
    this.deadTimer = new Timer(clock);
    this.ageTimer = new Timer(clock);
  }

  stopTimers() {
    this.helloTimer.stop();
    this.pingTimer.stop();
    this.deadTimer.stop();
    this.ageTimer.stop();
  }
}

/** The access token as the `token` query parameter (browsers cannot set headers on a
 * WebSocket; API Gateway's authorizer and `tidings dev` read either). */
export function urlWithToken(url, token) {
  const parsed = new URL(url);
  parsed.searchParams.set('token', token);
  return parsed.toString();
}

export class Connection {
  #o;
  #WebSocket;
  /** @type {ConnectionState} */
  #state = 'closed';
  /** @type {Link | null} */
  #current = null;
  /** @type {Link | null} a reconnect being opened */
  #opening = null;
  /** @type {Link | null} a rotation's replacement being opened */
  #replacement = null;
  #retiring = new Set();
  #attempt = 0;
  #retryTimer;
  #stableTimer;
  #rotationTimer;
  #stopped = true;
  #authRetry = false;
  #everConnected = false;
  /** The version `hello` says: PROTOCOL_VERSION until a server refuses it (UPGRADE_REQUIRED) and
   * lists another one this SDK speaks; then that one, for every later connection. */
  #protocolVersion = PROTOCOL_VERSION;
  #fellBack = false; // the version changed since the last welcome
  #epoch = 0; // bumped by start() and stop(): an #open awaiting getToken() from before is stale

  /**
   * @param {object} o
   * @param {string} o.url
   * @param {(context: {reason: string}) => Promise<string>} o.getToken
   * @param {new (url: string) => any} o.WebSocket
   * @param {import('./clock.js').Clock} o.clock
   * @param {() => number} o.random
   * @param {import('./backoff.js').BackoffOptions} [o.backoff]
   * @param {number} [o.helloTimeoutMs]
   * @param {number} [o.heartbeatTimeoutMs]
   * @param {number} [o.maxConnectionAgeMs]
   * @param {string} o.clientName
   * @param {(frame: object) => void} o.onFrame every parsed server frame
   * @param {(welcome: object, info: {rotated: boolean}) => void} o.onWelcome
   * @param {() => void} o.onDown the current connection is gone (a reconnect follows, or not)
   * @param {(state: ConnectionState, detail: object) => void} o.onState
   * @param {(error: TidingsError) => void} o.onError
   * @param {(error: TidingsError) => void} o.onClosed the SDK gave up (terminal close)
   */
  constructor(o) {
    this.#o = { ...withDefaults(CONNECTION_DEFAULTS, o), backoff: withDefaults(DEFAULT_BACKOFF, o.backoff) };
    this.#WebSocket = o.WebSocket;
    this.#retryTimer = new Timer(o.clock);
    this.#stableTimer = new Timer(o.clock);
    this.#rotationTimer = new Timer(o.clock);
  }

  get state() {
    return this.#state;
  }

  /** The `welcome` payload of the connection in use, or null. */
  get welcome() {
    return this.#current?.welcome ?? null;
  }

  /** The protocol version `hello` says (see #protocolVersion). */
  get protocolVersion() {
    return this.#protocolVersion;
  }

  /** True when a welcomed socket can take frames now. */
  get ready() {
    const link = this.#current;
    return Boolean(link && !link.detached && link.ws.readyState === WS_OPEN);
  }

  /** The serial of the socket in use (changes with every new connection), or null. */
  get linkId() {
    return this.ready ? this.#current.serial : null;
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#epoch++;
    this.#attempt = 0;
    this.#authRetry = false;
    this.#setState(this.#everConnected ? 'reconnecting' : 'connecting', { reason: 'connect' });
    this.#open(this.#everConnected ? 'reconnect' : 'connect');
  }

  /** Closes every socket and stops reconnecting. */
  stop(reason = 'closed by the client') {
    if (this.#stopped && this.#state === 'closed') return;
    this.#stopped = true;
    this.#epoch++;
    this.#shutDown();
    this.#setState('closed', { reason });
  }

  /** Skips the backoff wait (the browser says it is online again). */
  reconnectNow() {
    if (this.#stopped || !this.#retryTimer.pending) return;
    this.#retryTimer.stop();
    this.#open('reconnect');
  }

  /** Sends on the connection in use. False when there is none (the caller keeps the frame). */
  send(frame) {
    if (!this.ready) return false;
    return this.#write(this.#current, frame);
  }

  // --- opening -------------------------------------------------------------------------

  async #open(reason) {
    const rotation = reason === 'rotate';
    const epoch = this.#epoch;
    let token;
    try {
      token = await this.#o.getToken({ reason });
      if (typeof token !== 'string' || token === '') throw new Error('getToken() returned no token');
    } catch (cause) {
      if (this.#stopped || epoch !== this.#epoch) return;
      const error =
        cause instanceof TidingsError ? cause : new TidingsError('TOKEN', `getToken() failed: ${cause?.message ?? cause}`, { cause });
      this.#o.onError(error);
      this.#openFailed(rotation, 'getToken() failed', error);
      return;
    }
    if (this.#stopped || epoch !== this.#epoch) return;

    const link = new Link(this.#o.clock, rotation ? 'rotate' : 'connect');
    if (rotation) this.#replacement = link;
    else this.#opening = link;
    let ws;
    try {
      ws = new this.#WebSocket(urlWithToken(this.#o.url, token));
    } catch (cause) {
      link.detached = true;
      this.#clearOpening(link);
      this.#openFailed(rotation, `WebSocket failed: ${cause?.message ?? cause}`);
      return;
    }
    link.ws = ws;
    ws.onopen = () => this.#opened(link);
    ws.onmessage = (event) => this.#received(link, event.data);
    ws.onclose = (event) => this.#closed(link, event);
    ws.onerror = (event) => {
      link.failure = event?.message ?? event?.error?.message ?? 'WebSocket error';
    };
    // Covers a handshake that hangs as well as a missing welcome.
    link.helloTimer.start(this.#o.helloTimeoutMs, () => this.#dead(link, 'no welcome in time'));
  }

  #opened(link) {
    if (link.detached) return;
    link.opened = true;
    this.#write(link, {
      type: 'hello',
      id: link.helloId,
      timestamp: new Date(this.#o.clock.now()).toISOString(),
      payload: { protocolVersion: this.#protocolVersion, client: this.#o.clientName },
    });
  }

  #received(link, data) {
    if (link.detached) return;
    let frame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      return; // the server sends JSON text only; anything else is not ours to interpret
    }
    if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') return;
    const payload = frame.payload ?? {};
    if (frame.type === 'welcome' && payload.refId === link.helloId) this.#welcomed(link, payload);
    else if (frame.type === 'pong') link.deadTimer.start(this.#o.heartbeatTimeoutMs, () => this.#dead(link, 'no pong'));
    else if (frame.type === 'error' && CLOSING_ERRORS.has(payload.code)) link.closingError = errorFromPayload(payload, frame);
    this.#o.onFrame(frame);
  }

  #welcomed(link, welcome) {
    link.helloTimer.stop();
    link.welcome = welcome;
    const previous = this.#current;
    if (link === this.#replacement) this.#replacement = null;
    if (link === this.#opening) this.#opening = null;
    this.#current = link;
    this.#authRetry = false;
    this.#fellBack = false;
    this.#everConnected = true;

    const interval = welcome.heartbeatIntervalMs > 0 ? welcome.heartbeatIntervalMs : this.#o.heartbeatIntervalMs;
    const ping = () => {
      this.#write(link, { type: 'ping', id: uuid(), payload: {} });
      link.pingTimer.start(interval, ping);
    };
    link.pingTimer.start(interval, ping);
    link.deadTimer.start(this.#o.heartbeatTimeoutMs, () => this.#dead(link, 'no pong'));
    link.ageTimer.start(this.#o.maxConnectionAgeMs, () => this.#rotate());
    this.#stableTimer.start(this.#o.backoff.resetAfterMs, () => {
      this.#attempt = 0;
    });

    if (previous) this.#retire(previous); // make-before-break: the new one is in use first
    this.#setState('connected', { connectionId: welcome.connectionId, rotated: Boolean(previous) });
    this.#o.onWelcome(welcome, { rotated: Boolean(previous) });
  }

  // --- losing a socket -----------------------------------------------------------------

  /** A socket that stopped answering: close it and carry on as if the server had closed it. */
  #dead(link, why) {
    if (link.detached) return;
    try {
      link.ws.close(4000, why);
    } catch {
      // already closing
    }
    this.#closed(link, { code: 4000, reason: why });
  }

  #closed(link, event) {
    if (link.detached) return;
    this.#detach(link);
    if (this.#retiring.delete(link) || this.#stopped) return;

    const why = event?.reason || link.failure || `closed (${event?.code ?? 'no code'})`;
    if (link === this.#replacement) {
      this.#replacement = null;
      const switched = this.#fallBack(link.closingError) !== null;
      if (switched && !this.#fellBack) {
        this.#fellBack = true;
        this.#rotate(); // at once, with the version the server listed
      } else {
        this.#afterRotationFailed(switched ? null : link.closingError);
      }
      return;
    }
    if (link === this.#current) {
      this.#current = null;
      this.#stableTimer.stop();
      this.#rotationTimer.stop();
      this.#abandonReplacement(); // an ordinary reconnect follows instead
      this.#o.onDown();
    }
    this.#clearOpening(link);

    const error = link.closingError;
    const refused = this.#fallBack(error);
    if (refused !== null) {
      const reason = `The server does not speak protocol version ${refused}; reconnecting with version ${this.#protocolVersion}`;
      const detail = { protocolVersion: this.#protocolVersion, error };
      if (this.#fellBack) {
        this.#scheduleReconnect(reason, detail); // servers disagreeing about versions (a mixed fleet): not in a tight loop
      } else {
        this.#fellBack = true;
        this.#setState(this.#everConnected ? 'reconnecting' : 'connecting', { reason, ...detail });
        this.#open('reconnect'); // at once, with the version the server listed
      }
    } else if (error && TERMINAL_ERRORS.has(error.code)) {
      this.#giveUp(error);
    } else if (error?.code === 'UNAUTHORIZED') {
      if (this.#authRetry) {
        this.#giveUp(error);
      } else {
        // The token expired or was revoked: one immediate try with a fresh token.
        this.#authRetry = true;
        this.#setState('reconnecting', { reason: error.message, error });
        this.#open('unauthorized');
      }
    } else if (this.#authRetry) {
      this.#giveUp(new TidingsError('UNAUTHORIZED', `Reconnecting with a fresh token failed: ${why}`));
    } else {
      this.#scheduleReconnect(why);
    }
  }

  /**
   * After `UPGRADE_REQUIRED`: switches to the highest protocol version both this SDK and the
   * server (its `supportedVersions`) speak, and returns the refused one (reconnect with the new
   * one). Null, and nothing changes, when they have none in common, none is listed, or the best
   * is the version just refused (the refusal is final then).
   * @returns {number | null}
   */
  #fallBack(error) {
    if (error?.code !== 'UPGRADE_REQUIRED') return null;
    const listed = Array.isArray(error.extra?.supportedVersions) ? error.extra.supportedVersions : [];
    const common = PROTOCOL_VERSIONS.filter((version) => listed.includes(version));
    if (common.length === 0) return null;
    const best = Math.max(...common);
    if (best === this.#protocolVersion) return null;
    const refused = this.#protocolVersion;
    this.#protocolVersion = best;
    return refused;
  }

  #openFailed(rotation, why, error) {
    if (rotation) this.#afterRotationFailed(error);
    else if (this.#authRetry) this.#giveUp(new TidingsError('UNAUTHORIZED', `Reconnecting with a fresh token failed: ${why}`));
    else this.#scheduleReconnect(why);
  }

  #scheduleReconnect(reason, detail = {}) {
    const attempt = this.#attempt++;
    const delayMs = backoffDelay(attempt, this.#o.backoff, this.#o.random);
    this.#setState('reconnecting', { reason, attempt: attempt + 1, delayMs, ...detail });
    this.#retryTimer.start(delayMs, () => this.#open('reconnect'));
  }

  #giveUp(error) {
    this.#stopped = true;
    this.#epoch++;
    this.#shutDown();
    this.#setState('closed', { reason: error.message, error });
    this.#o.onError(error);
    this.#o.onClosed(error);
  }

  // --- rotation (make-before-break) -----------------------------------------------------

  #rotate() {
    if (this.#stopped || this.#replacement || !this.#current) return;
    this.#open('rotate');
  }

  #afterRotationFailed(error) {
    if (error && TERMINAL_ERRORS.has(error.code)) return; // keep the old one until it ends
    this.#rotationTimer.start(this.#o.rotationRetryMs, () => this.#rotate());
  }

  #abandonReplacement() {
    const replacement = this.#replacement;
    if (!replacement) return;
    this.#replacement = null;
    this.#detach(replacement);
    try {
      replacement.ws?.close(1000, 'not needed');
    } catch {
      // already closed
    }
  }

  #retire(link) {
    this.#retiring.add(link);
    link.stopTimers();
    try {
      link.ws.close(1000, 'replaced by a new connection');
    } catch {
      this.#retiring.delete(link);
    }
  }

  // --- plumbing --------------------------------------------------------------------------

  #write(link, frame) {
    try {
      link.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  #clearOpening(link) {
    if (link === this.#opening) this.#opening = null;
  }

  #detach(link) {
    link.detached = true;
    link.stopTimers();
  }

  #shutDown() {
    this.#retryTimer.stop();
    this.#stableTimer.stop();
    this.#rotationTimer.stop();
    const hadCurrent = this.#current !== null;
    for (const link of [this.#current, this.#opening, this.#replacement, ...this.#retiring]) {
      if (!link) continue;
      this.#detach(link);
      try {
        link.ws?.close(1000, 'client closed');
      } catch {
        // already closed
      }
    }
    this.#current = this.#opening = this.#replacement = null;
    this.#retiring.clear();
    if (hadCurrent) this.#o.onDown();
  }

  #setState(state, detail = {}) {
    const previous = this.#state;
    if (previous === state && state !== 'reconnecting') return;
    this.#state = state;
    this.#o.onState(state, { previous, ...detail });
  }
}
