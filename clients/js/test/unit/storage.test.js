import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { IDBFactory } from 'fake-indexeddb';

import { IndexedDBStorage, MemoryStorage } from '../../src/index.js';
import { FileStorage } from '../../src/storage/file.js';
import { harness } from '../support/harness.js';

const entry = (id, order) => ({
  id,
  userId: 'alice',
  lane: 'chat:general',
  order,
  frame: { type: 'message.send', id, timestamp: '2026-11-25T10:00:00.000Z', payload: { chatId: 'general', content: `c${order} ✓` } },
  createdAt: 1,
});

/** The storage contract every implementation keeps. `reopen` gives a new instance on the same data. */
async function contract(first, reopen) {
  assert.deepEqual(await first.load(), []);
  await first.put(entry('a', 1));
  await first.put(entry('b', 2));
  await first.put({ ...entry('a', 1), userId: null }); // replace by id
  await first.delete('missing'); // no error
  const second = await reopen();
  const loaded = (await second.load()).sort((x, y) => x.order - y.order);
  assert.deepEqual(loaded, [{ ...entry('a', 1), userId: null }, entry('b', 2)]);
  await second.delete('a');
  const third = await reopen();
  assert.deepEqual(await third.load(), [entry('b', 2)]);
  // Callers cannot change stored entries through the objects they passed or got.
  const got = await third.load();
  got[0].frame.payload.content = 'mutated';
  assert.equal((await third.load())[0].frame.payload.content, 'c2 ✓');
}

test('MemoryStorage keeps the storage contract (within one instance)', async () => {
  const storage = new MemoryStorage();
  await contract(storage, async () => storage);
});

test('IndexedDBStorage keeps the storage contract across instances', async () => {
  const indexedDB = new IDBFactory();
  const opened = [];
  const make = async () => {
    const storage = new IndexedDBStorage({ name: 'outbox-test', indexedDB });
    opened.push(storage);
    return storage;
  };
  await contract(await make(), make);
  for (const storage of opened) await storage.close();
});

test('IndexedDBStorage needs an IndexedDB', () => {
  assert.throws(() => new IndexedDBStorage({ indexedDB: null }), /IndexedDB/);
});

test('FileStorage keeps the storage contract across instances (a process restart)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-outbox-'));
  try {
    const path = join(dir, 'nested', 'outbox.json');
    await contract(new FileStorage(path), async () => new FileStorage(path));
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')).map((e) => e.id), ['b']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('FileStorage serializes concurrent writes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-outbox-'));
  try {
    const path = join(dir, 'outbox.json');
    const storage = new FileStorage(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => storage.put(entry(`e${i}`, i))));
    assert.equal((await new FileStorage(path).load()).length, 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a client on IndexedDB: a message written offline is sent by the next client after a reload, trace id included', async () => {
  const indexedDB = new IDBFactory();
  const first = harness({ storage: new IndexedDBStorage({ name: 'app', indexedDB }) });
  first.client.send('general', 'offline', { id: 'kept', traceId: 'trace-of-kept' }).catch(() => {});
  await first.settle(10);
  first.client.close();

  const second = harness({ storage: new IndexedDBStorage({ name: 'app', indexedDB }) });
  const message = new Promise((resolve) => second.client.on('message.new', resolve));
  await second.client.connect();
  assert.equal((await message).message.content, 'offline');
  assert.deepEqual(second.network.framesOf('message.send').map((f) => [f.id, f.traceId]), [['kept', 'trace-of-kept']]);
  second.client.close();
});

test('a storage that fails: the message is still sent from memory, with a STORAGE error event', async () => {
  const broken = { load: async () => [], put: async () => { throw new Error('quota exceeded'); }, delete: async () => {} };
  const h = harness({ storage: broken });
  await h.client.connect();
  const message = await h.client.send('general', 'still goes');
  assert.equal(message.content, 'still goes');
  assert.deepEqual(h.errors.map((e) => e.code), ['STORAGE']);
  h.client.close();
});
