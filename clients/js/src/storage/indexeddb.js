/** @typedef {import('../outbox.js').OutboxStorage} OutboxStorage */

/**
 * An outbox storage in IndexedDB: the default in browsers, so messages written offline are
 * still sent after the page is reloaded or the browser restarted.
 *
 * One object store (`outbox`, keyed by the entry id) in a database of its own. Writes resolve
 * when their transaction completes, with the `strict` durability hint where the browser
 * supports it, so a stored entry is on disk before the frame is sent.
 * @implements {OutboxStorage}
 */
export class IndexedDBStorage {
  #name;
  #indexedDB;
  /** @type {Promise<IDBDatabase> | null} */
  #db = null;

  /**
   * @param {object} [options]
   * @param {string} [options.name='tidings-outbox'] the database name (one per app, or per
   *   account if a browser profile signs in as several users)
   * @param {IDBFactory} [options.indexedDB=globalThis.indexedDB]
   */
  constructor({ name = 'tidings-outbox', indexedDB = globalThis.indexedDB } = {}) {
    if (!indexedDB) throw new TypeError('IndexedDB is not available here; pass options.indexedDB or use another storage');
    this.#name = name;
    this.#indexedDB = indexedDB;
  }

  async load() {
    const db = await this.#open();
    return new Promise((resolve, reject) => {
      const request = db.transaction('outbox', 'readonly').objectStore('outbox').getAll();
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async put(entry) {
    await this.#write((store) => store.put(entry));
  }

  async delete(id) {
    await this.#write((store) => store.delete(id));
  }

  /** Closes the database (tests; an app normally keeps it open). */
  async close() {
    const opening = this.#db;
    this.#db = null;
    (await opening?.catch(() => null))?.close();
  }

  async #write(operation) {
    const db = await this.#open();
    await new Promise((resolve, reject) => {
      const transaction = db.transaction('outbox', 'readwrite', { durability: 'strict' });
      operation(transaction.objectStore('outbox'));
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  #open() {
    this.#db ??= new Promise((resolve, reject) => {
      const request = this.#indexedDB.open(this.#name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore('outbox', { keyPath: 'id' });
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the schema must not be blocked by this one.
        db.onversionchange = () => {
          db.close();
          this.#db = null;
        };
        resolve(db);
      };
      request.onerror = () => {
        this.#db = null;
        reject(request.error);
      };
    });
    return this.#db;
  }
}
