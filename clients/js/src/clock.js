/**
 * Time, injectable. Every timer in the SDK goes through a clock so tests can run backoff,
 * heartbeats, ack retries and rates instantly (see test/support/fake-clock.js).
 *
 * @typedef {object} Clock
 * @property {() => number} now milliseconds since the epoch
 * @property {(fn: () => void, ms: number) => unknown} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/** @type {Clock} */
export const systemClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle),
});

/** One named, restartable timer on a clock: `start` replaces whatever was pending. */
export class Timer {
  #clock;
  #handle = null;

  /** @param {Clock} clock */
  constructor(clock) {
    this.#clock = clock;
  }

  get pending() {
    return this.#handle !== null;
  }

  start(ms, fn) {
    this.stop();
    this.#handle = this.#clock.setTimeout(() => {
      this.#handle = null;
      fn();
    }, Math.max(0, ms));
  }

  stop() {
    if (this.#handle !== null) {
      this.#clock.clearTimeout(this.#handle);
      this.#handle = null;
    }
  }
}
