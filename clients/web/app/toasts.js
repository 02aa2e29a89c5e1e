/**
 * In-app toasts: `notification.toast` frames (and the client's own notices).
 *
 * - at most 3 on screen; more wait in a queue and show as others go;
 * - a toast goes after 5 s (the timer waits while the pointer is on it); an urgent one stays
 *   until dismissed;
 * - a toast with an `id` already shown (or queued) replaces it: the server groups a burst of
 *   messages of one chat under one id ("3 new messages in #general"), and the replacement
 *   starts its 5 s again.
 */

export const TOAST_DEFAULTS = Object.freeze({ max: 3, durationMs: 5000 });

export class ToastQueue {
  #o;
  /** @type {object[]} */
  visible = [];
  /** @type {object[]} */
  queued = [];
  #timers = new Map();
  #held = new Set();

  /**
   * @param {object} [o]
   * @param {number} [o.max]
   * @param {number} [o.durationMs]
   * @param {(fn: () => void, ms: number) => any} [o.setTimer]
   * @param {(handle: any) => void} [o.clearTimer]
   * @param {() => void} [o.onChange]
   */
  constructor(o = {}) {
    this.#o = {
      ...TOAST_DEFAULTS,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (handle) => clearTimeout(handle),
      onChange: () => {},
      ...o,
    };
  }

  /** Shows (or replaces, by `id`) a toast `{id, title, body, priority, …}`. */
  show(toast) {
    const index = this.visible.findIndex((shown) => shown.id === toast.id);
    if (index >= 0) {
      this.visible[index] = toast;
      this.#arm(toast);
    } else {
      const waiting = this.queued.findIndex((shown) => shown.id === toast.id);
      if (waiting >= 0) this.queued[waiting] = toast;
      else if (this.visible.length < this.#o.max) {
        this.visible.push(toast);
        this.#arm(toast);
      } else this.queued.push(toast);
    }
    this.#o.onChange();
  }

  dismiss(id) {
    this.#disarm(id);
    this.#held.delete(id);
    const before = this.visible.length + this.queued.length;
    this.visible = this.visible.filter((toast) => toast.id !== id);
    this.queued = this.queued.filter((toast) => toast.id !== id);
    while (this.visible.length < this.#o.max && this.queued.length) {
      const next = this.queued.shift();
      this.visible.push(next);
      this.#arm(next);
    }
    if (this.visible.length + this.queued.length !== before) this.#o.onChange();
  }

  /** The pointer is on a toast: it stays until released. */
  hold(id) {
    this.#held.add(id);
    this.#disarm(id);
  }

  release(id) {
    this.#held.delete(id);
    const toast = this.visible.find((shown) => shown.id === id);
    if (toast) this.#arm(toast);
  }

  #arm(toast) {
    this.#disarm(toast.id);
    if (toast.priority === 'urgent' || this.#held.has(toast.id)) return; // urgent: until dismissed
    this.#timers.set(toast.id, this.#o.setTimer(() => this.dismiss(toast.id), this.#o.durationMs));
  }

  #disarm(id) {
    if (this.#timers.has(id)) this.#o.clearTimer(this.#timers.get(id));
    this.#timers.delete(id);
  }
}
