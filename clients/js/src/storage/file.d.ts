/** `@tidings/client/file-storage`: the outbox in a JSON file, for Node (src/storage/file.js). */

import type { OutboxEntry, OutboxStorage } from '../index.js';

export class FileStorage implements OutboxStorage {
  /** @param path the JSON file (created on the first write) */
  constructor(path: string);
  load(): Promise<OutboxEntry[]>;
  put(entry: OutboxEntry): Promise<void>;
  delete(id: string): Promise<void>;
}
