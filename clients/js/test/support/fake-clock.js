/**
 * A clock whose time moves only when a test says so. `advance(ms)` runs every timer due in
 * that span, in order, letting promises settle between timers, so code that awaits between
 * timers (getToken, storage) behaves as with real time, without any real waiting.
 */
export class FakeClock {
  #now;
  #timers = new Map();
  #nextId = 1;

  constructor(start = Date.parse('2026-11-25T10:00:00.000Z')) {
    this.#now = start;
  }

  now = () => this.#now;

  setTimeout = (fn, ms) => {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn, id });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** How many timers are pending. */
  get pending() {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, running the timers that fall due. */
  async advance(ms) {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = [...this.#timers.values()].filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.#timers.delete(next.id);
      this.#now = next.at;
      next.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets pending promise callbacks run (a macrotask turn drains the microtask queue). */
export async function settle(turns = 3) {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}
