/**
 * @tidings/client: the JavaScript client for Tidings (browsers and Node 20+).
 *
 *     import { TidingsClient } from '@tidings/client';
 *     const client = new TidingsClient({ url, getToken });
 *     client.on('message.new', ({ chatId, message }) => render(chatId, message));
 *     await client.connect();
 *     await client.send('general', 'hello');
 *
 * The file-backed outbox storage for Node is a separate entry, `@tidings/client/file-storage`,
 * so this one never loads `node:fs`.
 */

export { TidingsClient, eventFromAck } from './client.js';
export { TidingsError, SDK_ERROR_CODES } from './errors.js';
export { InfectedError, UploadRefusedError } from './uploads.js';
export { MemoryStorage } from './storage/memory.js';
export { IndexedDBStorage } from './storage/indexeddb.js';
export { CHAT_EVENT_TYPES } from './chats.js';
export { backoffDelay, backoffCeiling, DEFAULT_BACKOFF } from './backoff.js';
export { VERSION, PROTOCOL_VERSION, PROTOCOL_VERSIONS } from './version.js';
