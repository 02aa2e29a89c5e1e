/**
 * A small event emitter. Handlers run synchronously in registration order; one that throws
 * does not stop the others or the SDK: the throw goes to `onHandlerError`.
 */
export class Emitter {
  /** @type {Map<string, Set<Function>>} */
  #handlers = new Map();
  #onHandlerError;

  /** @param {(error: unknown, type: string) => void} onHandlerError */
  constructor(onHandlerError) {
    this.#onHandlerError = onHandlerError;
  }

  /** @returns {() => void} unsubscribes */
  on(type, handler) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    // Wrapped, so the same function registered twice is two registrations.
    const registration = (...args) => handler(...args);
    set.add(registration);
    return () => {
      set.delete(registration);
      if (set.size === 0 && this.#handlers.get(type) === set) this.#handlers.delete(type);
    };
  }

  has(type) {
    return (this.#handlers.get(type)?.size ?? 0) > 0;
  }

  emit(type, ...args) {
    const set = this.#handlers.get(type);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(...args);
      } catch (error) {
        this.#onHandlerError(error, type);
      }
    }
  }

  clear() {
    this.#handlers.clear();
  }
}
