import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MemoryStorage, TidingsError } from '../../src/index.js';
import { harness } from '../support/harness.js';

const SECOND = 1000;

test('no ack within 5 s: the same frame is sent again, with the same id', async () => {
  const h = harness();
  await h.client.connect();
  let swallowed = 0;
  h.server.handle('message.send', () => (swallowed++ < 2 ? true : false)); // lose two, answer the third
  const sent = h.client.send('general', 'hello');
  await h.clock.advance(4.9 * SECOND);
  assert.equal(h.network.framesOf('message.send').length, 1);
  await h.clock.advance(0.1 * SECOND);
  assert.equal(h.network.framesOf('message.send').length, 2);
  await h.clock.advance(5 * SECOND);
  const frames = h.network.framesOf('message.send');
  assert.equal(frames.length, 3);
  assert.equal(new Set(frames.map((f) => f.id)).size, 1, 'one id');
  assert.equal(new Set(frames.map((f) => JSON.stringify(f))).size, 1, 'byte-for-byte the same frame');
  const message = await sent;
  assert.equal(message.content, 'hello');
  assert.equal(message.seq, 1);
  h.client.close();
});

test('a send that was in flight when the connection dropped is re-sent with the same id after the reconnect', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('message.send', () => true);
  const sent = h.client.send('general', 'in flight');
  await h.settle();
  const first = h.network.last.framesOf('message.send')[0];
  h.network.last.serverClose();
  h.server.handlers.delete('message.send');
  await h.clock.advance(2 * SECOND);
  assert.equal(h.client.state, 'connected');
  const again = h.network.last.framesOf('message.send');
  assert.equal(again.length, 1);
  assert.equal(again[0].id, first.id);
  assert.equal((await sent).content, 'in flight');
  h.client.close();
});

test('sends while disconnected wait in the outbox and go out in order, each after the previous ack', async () => {
  const h = harness();
  const outbox = [];
  h.client.on('outbox', (event) => outbox.push(event.action));
  const sends = ['one', 'two', 'three'].map((text) => h.client.send('general', text));
  const other = h.client.send('project-x', 'elsewhere');
  await h.settle();
  assert.equal(h.network.sockets.length, 0);
  assert.equal((await h.client.pendingMutations()).length, 4);

  // The server holds acks until the test releases them, to see what the client sends meanwhile.
  const held = [];
  h.server.handle('message.send', (socket, frame) => {
    held.push({ socket, frame });
    return true;
  });
  await h.client.connect();
  await h.settle();
  const inFlight = () => held.map((x) => x.frame.payload.content);
  assert.deepEqual(inFlight(), ['one', 'elsewhere'], 'one per chat in flight; chats do not wait for each other');
  const release = () => {
    const { socket, frame } = held.shift();
    h.server.handlers.delete('message.send');
    h.server.received(socket, frame);
    h.server.handle('message.send', (s, f) => {
      held.push({ socket: s, frame: f });
      return true;
    });
  };
  release(); // one's ack
  await h.settle();
  assert.deepEqual(inFlight(), ['elsewhere', 'two']);
  release();
  release();
  await h.settle();
  assert.deepEqual(inFlight(), ['three']);
  release();
  const messages = await Promise.all(sends);
  assert.deepEqual(messages.map((m) => [m.content, m.seq]), [['one', 1], ['two', 2], ['three', 3]]);
  assert.equal((await other).chatId, 'project-x');
  assert.deepEqual(await h.client.pendingMutations(), []);
  assert.equal(outbox.filter((a) => a === 'queued').length, 4);
  assert.equal(outbox.filter((a) => a === 'acked').length, 4);
  h.client.close();
});

test('the outbox survives a reload: a new client on the same storage sends the stored frame, same id', async () => {
  const storage = new MemoryStorage();
  const first = harness({ storage });
  first.client.send('general', 'written offline', { id: 'frame-1' }).catch(() => {});
  first.client.send('general', 'second', { id: 'frame-2' }).catch(() => {});
  await first.settle();
  first.client.close(); // the page goes away before any connection

  const stored = await storage.load();
  assert.deepEqual(stored.map((e) => e.id).sort(), ['frame-1', 'frame-2']);
  assert.equal(stored[0].frame.payload.content !== undefined, true);

  const second = harness({ storage });
  const acked = [];
  second.client.on('outbox', (event) => event.action === 'acked' && acked.push(event.reply.message.content));
  const delivered = [];
  second.client.on('message.new', (payload) => delivered.push(payload.message.content));
  await second.client.connect();
  await second.settle();
  const frames = second.network.framesOf('message.send');
  assert.deepEqual(frames.map((f) => f.id), ['frame-1', 'frame-2']);
  assert.deepEqual(acked, ['written offline', 'second']);
  assert.deepEqual(delivered, ['written offline', 'second'], 'the acks become message.new events in seq order');
  assert.deepEqual(await storage.load(), []);
  second.client.close();
});

test('send with a traceId: the frame carries it, and so does the stored entry a reload re-sends', async () => {
  const storage = new MemoryStorage();
  const first = harness({ storage });
  first.client.send('general', 'traced', { id: 'frame-1', traceId: 'order-4711-abc' }).catch(() => {});
  await first.settle();
  first.client.close();
  assert.deepEqual((await storage.load()).map((e) => e.frame.traceId), ['order-4711-abc']);

  const second = harness({ storage });
  await second.client.connect();
  await second.settle();
  const [frame] = second.network.framesOf('message.send');
  assert.equal(frame.id, 'frame-1');
  assert.equal(frame.traceId, 'order-4711-abc');
  assert.deepEqual(await storage.load(), []);
  const untraced = second.client.send('general', 'plain');
  await second.settle();
  assert.equal('traceId' in second.network.framesOf('message.send')[1], false, 'no traceId unless given');
  await untraced;
  second.client.close();
});

test('an entry stored before traceId existed still flushes, without one', async () => {
  const storage = new MemoryStorage();
  await storage.put({
    id: 'old-entry',
    userId: null,
    lane: 'chat:general',
    order: 1,
    frame: { type: 'message.send', id: 'old-entry', timestamp: '2026-11-25T09:00:00.000Z', payload: { chatId: 'general', content: 'from before' } },
    createdAt: 0,
  });
  const h = harness({ storage });
  const acked = new Promise((resolve) => h.client.on('outbox', (event) => event.action === 'acked' && resolve(event)));
  await h.client.connect();
  assert.equal((await acked).reply.message.content, 'from before');
  const [frame] = h.network.framesOf('message.send');
  assert.equal(frame.id, 'old-entry');
  assert.equal('traceId' in frame, false);
  assert.deepEqual(await storage.load(), []);
  h.client.close();
});

test('a traceId the server would replace is refused before it is stored', async () => {
  const h = harness();
  for (const traceId of ['short', 'has space in it', 'x'.repeat(65), 42]) {
    await assert.rejects(h.client.send('general', 'hi', { traceId }), TypeError);
  }
  assert.deepEqual(await h.client.pendingMutations(), []);
  h.client.close();
});

test('stored entries of another user are left alone', async () => {
  const storage = new MemoryStorage();
  await storage.put({
    id: 'bobs',
    userId: 'bob',
    lane: 'chat:general',
    order: 1,
    frame: { type: 'message.send', id: 'bobs', timestamp: '2026-11-25T09:00:00.000Z', payload: { chatId: 'general', content: 'from bob' } },
    createdAt: 0,
  });
  const h = harness({ storage }); // the fake server says userId alice
  const sent = h.client.send('general', 'from alice');
  await h.client.connect();
  await sent;
  await h.settle();
  const contents = h.network.framesOf('message.send').map((f) => f.payload.content);
  assert.deepEqual(contents, ['from alice']);
  assert.deepEqual((await storage.load()).map((e) => e.id), ['bobs']);
  h.client.close();
});

test('RATE_LIMITED: retried after retryAfterMs with the same id', async () => {
  const h = harness();
  await h.client.connect();
  let limited = true;
  h.server.handle('message.send', (socket, frame) => {
    if (!limited) return false;
    limited = false;
    socket.deliver('ack', { refId: frame.id, status: 'error', error: { code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 700 } });
    return true;
  });
  const sent = h.client.send('general', 'hi');
  await h.clock.advance(699);
  assert.equal(h.network.framesOf('message.send').length, 1);
  await h.clock.advance(1);
  const frames = h.network.framesOf('message.send');
  assert.equal(frames.length, 2);
  assert.equal(frames[0].id, frames[1].id);
  assert.equal((await sent).content, 'hi');
  h.client.close();
});

test('a RATE_LIMITED longer than maxRateLimitWaitMs (urgent: 3 an hour) rejects with retryAfterMs', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('message.send', (socket, frame) => {
    socket.deliver('ack', { refId: frame.id, status: 'error', error: { code: 'RATE_LIMITED', message: 'urgent limit', retryAfterMs: 40 * 60 * SECOND } });
    return true;
  });
  const error = await h.client.send('general', 'now!', { priority: 'urgent' }).catch((e) => e);
  assert.ok(error instanceof TidingsError);
  assert.equal(error.code, 'RATE_LIMITED');
  assert.equal(error.retryAfterMs, 40 * 60 * SECOND);
  assert.equal(error.message, 'urgent limit');
  h.client.close();
});

test('CONFLICT (an id reused with another payload) rejects; the chat\'s next message still goes', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('message.send', (socket, frame) => {
    if (frame.payload.content !== 'reused') return false;
    socket.deliver('ack', { refId: frame.id, status: 'error', error: { code: 'CONFLICT', message: 'id reused' } });
    return true;
  });
  const failed = [];
  h.client.on('outbox', (event) => event.action === 'failed' && failed.push(event.error.code));
  const conflict = h.client.send('general', 'reused').catch((e) => e);
  const next = h.client.send('general', 'next');
  assert.equal((await conflict).code, 'CONFLICT');
  assert.equal((await next).content, 'next');
  assert.deepEqual(failed, ['CONFLICT']);
  assert.deepEqual(await h.client.pendingMutations(), []);
  h.client.close();
});

test('INTERNAL on a mutation is retried (same id) with backoff; FORBIDDEN is final', async () => {
  const h = harness({ client: { backoff: { jitter: 'none' } } });
  await h.client.connect();
  let internal = 2;
  h.server.handle('message.send', (socket, frame) => {
    if (frame.payload.chatId === 'secret') {
      socket.deliver('ack', { refId: frame.id, status: 'error', error: { code: 'FORBIDDEN', message: 'not a member' } });
      return true;
    }
    if (internal-- <= 0) return false;
    socket.deliver('ack', { refId: frame.id, status: 'error', error: { code: 'INTERNAL', message: 'oops' } });
    return true;
  });
  const sent = h.client.send('general', 'eventually');
  await h.clock.advance(3 * SECOND); // 1 s, then 2 s
  assert.equal((await sent).content, 'eventually');
  assert.equal(new Set(h.network.framesOf('message.send').map((f) => f.id)).size, 1);
  const forbidden = await h.client.send('secret', 'x').catch((e) => e);
  assert.equal(forbidden.code, 'FORBIDDEN');
  h.client.close();
});

test('a frame over 64 KiB is refused before it is stored', async () => {
  const h = harness();
  const error = await h.client.send('general', 'x'.repeat(70_000)).catch((e) => e);
  assert.equal(error.code, 'FRAME_TOO_LARGE');
  assert.deepEqual(await h.client.pendingMutations(), []);
});

test('send with an explicit id twice is one request', async () => {
  const h = harness();
  const a = h.client.send('general', 'once', { id: 'same' });
  const b = h.client.send('general', 'once', { id: 'same' });
  await h.client.connect();
  const [x, y] = await Promise.all([a, b]);
  assert.equal(x.messageId, y.messageId);
  assert.equal(h.network.framesOf('message.send').length, 1);
  h.client.close();
});

test('edit, delete and react go through the outbox in one lane per message and become chat events', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('message.edit', (socket, frame) => {
    const seq = h.server.nextSeq('general');
    socket.deliver('ack', {
      refId: frame.id,
      status: 'ok',
      chatId: 'general',
      seq,
      messageId: frame.payload.messageId,
      message: { messageId: frame.payload.messageId, chatId: 'general', seq: 1, content: frame.payload.content },
    });
    return true;
  });
  h.server.handle('message.react', (socket, frame) => {
    const seq = h.server.nextSeq('general');
    socket.deliver('ack', { refId: frame.id, status: 'ok', chatId: 'general', seq, messageId: frame.payload.messageId, reactions: { '👍': ['alice'] } });
    return true;
  });
  h.server.handle('message.delete', (socket, frame) => {
    const seq = h.server.nextSeq('general');
    socket.deliver('ack', { refId: frame.id, status: 'ok', chatId: 'general', seq, messageId: frame.payload.messageId });
    return true;
  });
  const events = [];
  h.client.on('*', (payload, frame) => frame.type.startsWith('message.') && events.push([frame.type, payload.seq]));
  const message = await h.client.send('general', 'v1');
  const edited = await h.client.edit(message.messageId, 'v2');
  assert.equal(edited.content, 'v2');
  const reacted = await h.client.react(message.messageId, '👍', 'add');
  assert.deepEqual(reacted.reactions, { '👍': ['alice'] });
  const deleted = await h.client.delete(message.messageId);
  assert.equal(deleted.seq, 4);
  assert.deepEqual(events, [['message.new', 1], ['message.updated', 2], ['message.reaction', 3], ['message.deleted', 4]]);
  h.client.close();
});

test('close() rejects queries with CLOSED but keeps mutations for the next connect()', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('search.query', () => true);
  h.server.handle('message.send', () => true);
  const search = h.client.search('budget').catch((e) => e);
  const sent = h.client.send('general', 'later');
  await h.settle();
  h.client.close();
  assert.equal((await search).code, 'CLOSED');
  assert.equal((await h.client.pendingMutations()).length, 1);
  assert.equal((await h.client.search('x').catch((e) => e)).code, 'CLOSED');
  h.server.handlers.delete('message.send');
  await h.client.connect();
  assert.equal((await sent).content, 'later');
  h.client.close();
});

test('a query without an answer rejects with TIMEOUT after 3 attempts, same id each time', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('search.query', () => true);
  const result = h.client.search('nothing').catch((e) => e);
  await h.clock.advance(15 * SECOND);
  const error = await result;
  assert.equal(error.code, 'TIMEOUT');
  const frames = h.network.framesOf('search.query');
  assert.equal(frames.length, 3);
  assert.equal(new Set(frames.map((f) => f.id)).size, 1);
  h.client.close();
});

test('an error frame with our refId (BAD_FRAME, FRAME_TOO_LARGE) rejects that request', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('search.query', (socket, frame) => {
    socket.deliver('error', { code: 'BAD_FRAME', message: 'payload.query: required', refId: frame.id });
    return true;
  });
  const error = await h.client.search(undefined).catch((e) => e);
  assert.equal(error.code, 'BAD_FRAME');
  assert.equal(error.message, 'payload.query: required');
  assert.equal(h.errors.length, 0, 'answered to the caller, not as an error event');
  h.client.close();
});
