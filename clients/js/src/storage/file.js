import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** @typedef {import('../outbox.js').OutboxStorage} OutboxStorage */

/**
 * An outbox storage in a JSON file, for Node (bots, CLIs, desktop shells): entries survive a
 * restart of the process. Import it from `@tidings/client/file-storage`; the main entry does
 * not load `node:fs`, so browsers never see it.
 *
 * Every change rewrites the file through a temporary file (synced to disk) and a rename, so a
 * crash leaves either the old or the new file, never half of one. Writes are serialized.
 * @implements {OutboxStorage}
 */
export class FileStorage {
  #path;
  #entries = null;
  #queue = Promise.resolve();

  /** @param {string} path the JSON file (created on the first write) */
  constructor(path) {
    if (typeof path !== 'string' || path === '') throw new TypeError('FileStorage needs a file path');
    this.#path = path;
  }

  async load() {
    return [...(await this.#read()).values()].map((entry) => structuredClone(entry));
  }

  put(entry) {
    return this.#change((entries) => entries.set(entry.id, structuredClone(entry)));
  }

  delete(id) {
    return this.#change((entries) => entries.delete(id));
  }

  async #read() {
    if (this.#entries) return this.#entries;
    let list = [];
    try {
      list = JSON.parse(await readFile(this.#path, 'utf8'));
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    this.#entries = new Map(list.map((entry) => [entry.id, entry]));
    return this.#entries;
  }

  #change(mutate) {
    const run = this.#queue.then(async () => {
      const entries = await this.#read();
      mutate(entries);
      await mkdir(dirname(this.#path), { recursive: true });
      const temporary = `${this.#path}.${process.pid}.tmp`;
      const file = await open(temporary, 'w');
      try {
        await file.writeFile(JSON.stringify([...entries.values()]));
        await file.sync(); // on disk before the frame is sent
      } finally {
        await file.close();
      }
      await rename(temporary, this.#path);
    });
    this.#queue = run.catch(() => {}); // one failed write does not block the next
    return run;
  }
}
