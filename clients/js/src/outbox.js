/**
 * The durable outbox: every mutation (`message.send`, `.edit`, `.delete`, `.react`) is stored
 * with its frame, id included, before it is sent, and removed only when the server has
 * answered it. After a reload the stored frame is sent again with the same id, so the server
 * (idempotent on the sender and the id) sees one request, never two.
 *
 * Entries wait in lanes: one per chat for sends, one per message for edits, deletes and
 * reactions. A lane sends its next entry only after the previous one's ack, so a client's own
 * messages in a chat keep the order they were written in; lanes do not wait for each other.
 *
 * Entries belong to the user who wrote them (`welcome.userId`): the same storage signed in as
 * another user leaves them alone, since sending them would post them as someone else.
 */

import { TidingsError } from './errors.js';

/**
 * What the storage keeps, one per pending mutation. Plain JSON.
 * @typedef {object} OutboxEntry
 * @property {string} id the frame id (the server's idempotency key)
 * @property {string | null} userId who wrote it; null until the first `welcome` names the user
 * @property {string} lane `chat:<chatId>` or `message:<messageId>`
 * @property {number} order the order it was written in
 * @property {{type: string, id: string, timestamp: string, payload: object, traceId?: string}} frame
 *   (entries stored before `traceId` existed have none, and are sent without)
 * @property {number} createdAt milliseconds since the epoch
 */

/**
 * Where the outbox keeps its entries. Every method may return a promise; the SDK awaits it.
 * `put` must not resolve before the entry would survive a reload.
 * @typedef {object} OutboxStorage
 * @property {() => Promise<OutboxEntry[]>} load every stored entry, in any order
 * @property {(entry: OutboxEntry) => Promise<void>} put stores or replaces the entry with that id
 * @property {(id: string) => Promise<void>} delete forgets it (no error if it is not there)
 */

export class Outbox {
  #o;
  /** @type {Map<string, OutboxEntry>} */
  #entries = new Map();
  /** @type {Map<string, {resolve: Function, reject: Function}[]>} */
  #waiters = new Map();
  #busyLanes = new Set();
  #loading = null;
  #userId = null;
  #order = 0;
  #running = false;

  /**
   * @param {object} o
   * @param {OutboxStorage} o.storage
   * @param {import('./requests.js').Requests} o.requests
   * @param {import('./clock.js').Clock} o.clock
   * @param {(action: string, detail: object) => void} o.onEvent queued / acked / failed
   * @param {(error: TidingsError) => void} o.onError
   */
  constructor(o) {
    this.#o = o;
  }

  /** Reads the stored entries once; later calls return the same promise. */
  load() {
    this.#loading ??= (async () => {
      let stored = [];
      try {
        stored = (await this.#o.storage.load()) ?? [];
      } catch (cause) {
        this.#o.onError(new TidingsError('STORAGE', `The outbox could not be read: ${cause?.message ?? cause}`, { cause }));
      }
      for (const entry of [...stored].sort((a, b) => a.order - b.order)) {
        if (!entry?.id || !entry.frame || this.#entries.has(entry.id)) continue;
        this.#entries.set(entry.id, entry);
        this.#order = Math.max(this.#order, entry.order);
      }
    })();
    return this.#loading;
  }

  /** Pending entries, oldest first (copies). */
  list() {
    return [...this.#entries.values()].map((entry) => structuredClone(entry));
  }

  has(id) {
    return this.#entries.has(id);
  }

  /**
   * Stores a mutation and sends it when its lane is free. Resolves with the ack's payload.
   * A second call with an id already pending joins the first one.
   */
  async enqueue(lane, frame) {
    await this.load();
    const result = this.#wait(frame.id);
    if (!this.#entries.has(frame.id)) {
      const entry = {
        id: frame.id,
        userId: this.#userId,
        lane,
        order: ++this.#order,
        frame,
        createdAt: this.#o.clock.now(),
      };
      this.#entries.set(entry.id, entry);
      await this.#store(entry);
      this.#o.onEvent('queued', { entry: structuredClone(entry) });
      this.#pump(lane);
    }
    return result;
  }

  /** The connected user is known: adopt unowned entries and start every lane. */
  async start(userId) {
    await this.load();
    this.#userId = userId;
    this.#running = true;
    for (const entry of this.#entries.values()) {
      if (entry.userId === null) {
        entry.userId = userId;
        await this.#store(entry);
      }
    }
    for (const lane of new Set([...this.#entries.values()].map((entry) => entry.lane))) this.#pump(lane);
  }

  /** No connection: lanes stop taking new entries (in-flight ones are re-sent by Requests). */
  pause() {
    this.#running = false;
  }

  #wait(id) {
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(id) ?? [];
      list.push({ resolve, reject });
      this.#waiters.set(id, list);
    });
  }

  #pump(lane) {
    if (!this.#running || this.#busyLanes.has(lane)) return;
    const head = [...this.#entries.values()].find((entry) => entry.lane === lane && entry.userId === this.#userId);
    if (!head) return;
    this.#busyLanes.add(lane);
    const { type, id, timestamp, payload, traceId } = head.frame;
    this.#o.requests.request(type, payload, { id, timestamp, traceId, durable: true }).then(
      (reply) => this.#finish(head, reply, null),
      (error) => this.#finish(head, null, error),
    );
  }

  async #finish(entry, reply, error) {
    this.#entries.delete(entry.id);
    try {
      await this.#o.storage.delete(entry.id);
    } catch (cause) {
      this.#o.onError(new TidingsError('STORAGE', `The outbox could not forget ${entry.id}: ${cause?.message ?? cause}`, { cause }));
    }
    this.#busyLanes.delete(entry.lane);
    const waiters = this.#waiters.get(entry.id) ?? [];
    this.#waiters.delete(entry.id);
    if (error) {
      this.#o.onEvent('failed', { entry: structuredClone(entry), error });
      for (const waiter of waiters) waiter.reject(error);
    } else {
      this.#o.onEvent('acked', { entry: structuredClone(entry), reply });
      for (const waiter of waiters) waiter.resolve(reply);
    }
    this.#pump(entry.lane);
  }

  async #store(entry) {
    try {
      await this.#o.storage.put(structuredClone(entry));
    } catch (cause) {
      // Still sent from memory; only a reload before the ack would lose it.
      this.#o.onError(new TidingsError('STORAGE', `The outbox could not store ${entry.id}: ${cause?.message ?? cause}`, { cause }));
    }
  }
}
