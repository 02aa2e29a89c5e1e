/** @typedef {import('../outbox.js').OutboxStorage} OutboxStorage */

/**
 * An outbox storage in memory: the default outside browsers. Entries survive reconnects, not
 * a restart of the process.
 * @implements {OutboxStorage}
 */
export class MemoryStorage {
  #entries = new Map();

  async load() {
    return [...this.#entries.values()].map((entry) => structuredClone(entry));
  }

  async put(entry) {
    this.#entries.set(entry.id, structuredClone(entry));
  }

  async delete(id) {
    this.#entries.delete(id);
  }
}
