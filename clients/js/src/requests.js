/**
 * Client frames that get a reply (PROTOCOL: every frame but ping and typing): sent when a
 * connection is up, retried **with the same id** when no reply comes within the ack timeout
 * (the server is idempotent on the id), re-sent on every new connection until answered, and
 * retried after `retryAfterMs` when the server says `RATE_LIMITED`.
 *
 * Durable requests (the outbox's mutations) are never given up for lack of an answer; the
 * others (queries, state updates) are rejected with `TIMEOUT` after `maxAttempts` sends.
 */

import { backoffDelay } from './backoff.js';
import { Timer } from './clock.js';
import { errorFromPayload, TidingsError } from './errors.js';
import { uuid } from './ids.js';
import { withDefaults } from './defaults.js';

export const REQUEST_DEFAULTS = Object.freeze({
  ackTimeoutMs: 5_000,
  maxAttempts: 3,
  // A RATE_LIMITED that asks for a longer wait (urgent messages: 3 an hour) is handed to the
  // caller instead: the app can say "try again in 40 minutes" better than a silent wait.
  maxRateLimitWaitMs: 60_000,
  // INTERNAL and UNAVAILABLE are safe to retry with the same id; durable requests try this often.
  maxServerErrorRetries: 5,
});

const SERVER_FAULTS = new Set(['INTERNAL', 'UNAVAILABLE']);

/**
 * @typedef {object} RequestOptions
 * @property {string} [id] the frame id (the outbox passes the stored one)
 * @property {string} [timestamp]
 * @property {string} [traceId] the envelope's `traceId` (message.send)
 * @property {boolean} [durable] retried until answered, never timed out
 * @property {number} [maxAttempts]
 * @property {boolean} [abortOnDisconnect] reject with DISCONNECTED instead of re-sending on the
 *   next connection (sync: the reconnect's own sync covers it)
 */

export class Requests {
  #o;
  /** @type {Map<string, object>} in creation order */
  #pending = new Map();

  /**
   * @param {object} o
   * @param {{send(frame: object): boolean, readonly linkId: number | null}} o.transport
   * @param {import('./clock.js').Clock} o.clock
   * @param {() => number} o.random
   * @param {import('./backoff.js').BackoffOptions} [o.backoff]
   * @param {number} [o.ackTimeoutMs]
   * @param {number} [o.maxRateLimitWaitMs]
   * @param {number} [o.maxAttempts]
   * @param {number} [o.maxServerErrorRetries]
   */
  constructor(o) {
    this.#o = withDefaults(REQUEST_DEFAULTS, o);
  }

  /** Ids of the requests waiting for a reply. */
  get pendingIds() {
    return [...this.#pending.keys()];
  }

  has(id) {
    return this.#pending.has(id);
  }

  /**
   * Sends `{type, id, timestamp, payload, traceId?}` and resolves with the reply's payload.
   * @param {string} type
   * @param {object} payload
   * @param {RequestOptions} [options]
   * @returns {Promise<object>}
   */
  request(type, payload, options = {}) {
    const id = options.id ?? uuid();
    const existing = this.#pending.get(id);
    if (existing) return existing.promise;
    const frame = { type, id, timestamp: options.timestamp ?? new Date(this.#o.clock.now()).toISOString(), payload };
    if (options.traceId !== undefined) frame.traceId = options.traceId;
    const entry = {
      frame,
      durable: Boolean(options.durable),
      maxAttempts: options.durable ? Infinity : (options.maxAttempts ?? this.#o.maxAttempts),
      abortOnDisconnect: Boolean(options.abortOnDisconnect),
      attempts: 0,
      serverFaults: 0,
      sentOn: null,
      waiting: false,
      ackTimer: new Timer(this.#o.clock),
      retryTimer: new Timer(this.#o.clock),
    };
    entry.promise = new Promise((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.#pending.set(id, entry);
    this.#transmit(entry);
    return entry.promise;
  }

  /** A new connection is up: send everything not yet sent on it, oldest first. */
  onConnected() {
    for (const entry of [...this.#pending.values()]) {
      if (!entry.waiting && entry.sentOn !== this.#o.transport.linkId) this.#transmit(entry);
    }
  }

  /** The connection is gone: stop the ack clocks (the next connection re-sends). */
  onDisconnected() {
    for (const entry of [...this.#pending.values()]) {
      entry.ackTimer.stop();
      entry.sentOn = null;
      if (entry.abortOnDisconnect) {
        this.#settle(entry);
        entry.reject(new TidingsError('DISCONNECTED', `The connection dropped before ${entry.frame.type} was answered`));
      }
    }
  }

  /**
   * A server frame: if it answers a pending request (`payload.refId`), settles it.
   * @returns {boolean} whether the frame was a reply to one of ours
   */
  handle(frame) {
    const payload = frame.payload ?? {};
    const entry = typeof payload.refId === 'string' ? this.#pending.get(payload.refId) : undefined;
    if (!entry) return false;
    if (frame.type === 'error' || (frame.type === 'ack' && payload.status === 'error')) {
      this.#failed(entry, errorFromPayload(frame.type === 'error' ? payload : payload.error, frame));
    } else {
      this.#settle(entry);
      entry.resolve(payload);
    }
    return true;
  }

  /** Rejects every request that is not durable (the client is closing); durable ones wait
   * for the next connection. */
  rejectTransient(error) {
    for (const entry of [...this.#pending.values()]) {
      entry.ackTimer.stop();
      entry.sentOn = null;
      if (!entry.durable) {
        this.#settle(entry);
        entry.reject(error);
      }
    }
  }

  #transmit(entry) {
    if (!this.#pending.has(entry.frame.id)) return;
    const linkId = this.#o.transport.linkId;
    if (linkId === null || !this.#o.transport.send(entry.frame)) return; // sent on the next connection
    entry.attempts++;
    entry.sentOn = linkId;
    entry.ackTimer.start(this.#o.ackTimeoutMs, () => {
      if (entry.attempts >= entry.maxAttempts) {
        this.#settle(entry);
        entry.reject(
          new TidingsError('TIMEOUT', `No reply to ${entry.frame.type} after ${entry.attempts} attempts`, {
            refId: entry.frame.id,
          }),
        );
      } else {
        this.#transmit(entry); // the same frame, the same id
      }
    });
  }

  #failed(entry, error) {
    entry.ackTimer.stop();
    let waitMs = null;
    if (error.code === 'RATE_LIMITED') {
      const asked = error.retryAfterMs ?? 1000;
      if (asked <= this.#o.maxRateLimitWaitMs) waitMs = asked;
    } else if (SERVER_FAULTS.has(error.code) && entry.durable && entry.serverFaults < this.#o.maxServerErrorRetries) {
      waitMs = backoffDelay(entry.serverFaults++, this.#o.backoff, this.#o.random);
    }
    if (waitMs === null) {
      this.#settle(entry);
      entry.reject(error);
      return;
    }
    entry.waiting = true;
    entry.retryTimer.start(waitMs, () => {
      entry.waiting = false;
      entry.sentOn = null;
      this.#transmit(entry);
    });
  }

  #settle(entry) {
    entry.ackTimer.stop();
    entry.retryTimer.stop();
    this.#pending.delete(entry.frame.id);
  }
}
