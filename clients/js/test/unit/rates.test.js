import assert from 'node:assert/strict';
import { test } from 'node:test';

import { harness } from '../support/harness.js';

const SECOND = 1000;

test('typing: at most one typing.start per 3 s while called, typing.stop after 3 s idle', async () => {
  const h = harness();
  await h.client.connect();
  const started = () => h.network.framesOf('typing.start').map((f) => f.payload.chatId);
  for (let i = 0; i < 40; i++) {
    h.client.typing('general'); // a keystroke every 250 ms for 10 s
    await h.clock.advance(250);
  }
  assert.equal(started().length, 4, 'at 0, 3, 6 and 9 s');
  assert.equal(h.network.framesOf('typing.stop').length, 0);
  await h.clock.advance(3 * SECOND);
  assert.deepEqual(h.network.framesOf('typing.stop').map((f) => f.payload), [{ chatId: 'general' }]);
  h.client.typing('project-x');
  h.client.typing('general');
  assert.deepEqual(started().slice(-2), ['project-x', 'general'], 'per chat');
  h.client.close();
});

test('typing: send() ends it (the server clears the indicator) and the next keystroke starts again at once', async () => {
  const h = harness();
  await h.client.connect();
  h.client.typing('general');
  await h.clock.advance(SECOND);
  await h.client.send('general', 'done typing');
  h.client.typing('general');
  assert.equal(h.network.framesOf('typing.start').length, 2);
  assert.equal(h.network.framesOf('typing.stop').length, 0);
  h.client.stopTyping('general');
  assert.equal(h.network.framesOf('typing.stop').length, 1);
  h.client.close();
});

test('typing while disconnected sends nothing (ephemeral); the first keystroke once connected does', async () => {
  const h = harness();
  h.client.typing('general');
  await h.client.connect();
  assert.equal(h.network.framesOf('typing.start').length, 0);
  h.client.typing('general');
  assert.equal(h.network.framesOf('typing.start').length, 1);
  h.client.close();
});

test('markRead: at most one read.mark per second per chat, the highest message wins', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  for (let seq = 1; seq <= 10; seq++) {
    h.network.last.deliver('message.new', { chatId: 'general', seq, message: { messageId: `m${seq}`, chatId: 'general', seq } });
  }
  const marks = () => h.network.framesOf('read.mark').map((f) => f.payload.messageId);
  const first = h.client.markRead('general', 'm1');
  assert.deepEqual(marks(), ['m1'], 'the first goes at once');
  const acks = [];
  for (const id of ['m3', 'm7', 'm5', 'm2']) h.client.markRead('general', id).then((ack) => acks.push(ack));
  h.client.markRead('project-x', 'p1');
  assert.deepEqual(marks(), ['m1', 'p1'], 'other chats are not held back');
  await h.clock.advance(999);
  assert.equal(marks().length, 2);
  await h.clock.advance(1);
  assert.deepEqual(marks(), ['m1', 'p1', 'm7']);
  assert.ok(await first);
  await h.settle();
  assert.equal(acks.length, 4, 'every caller gets the ack');
  // Marking an older message than one already sent sends nothing.
  await h.clock.advance(5 * SECOND);
  assert.equal(await h.client.markRead('general', 'm4'), null);
  assert.equal(marks().length, 3);
  h.client.close();
});

test('presence subscriptions are renewed before their 10-minute lapse and re-sent after a reconnect', async () => {
  const h = harness();
  await h.client.connect();
  await h.client.subscribePresence(['bob', 'carol']);
  await h.client.subscribePresence('dave');
  const subscribes = () => h.network.framesOf('presence.subscribe').map((f) => f.payload.userIds);
  assert.deepEqual(subscribes(), [['bob', 'carol'], ['dave']]);
  await h.clock.advance(5 * 60 * SECOND);
  assert.deepEqual(subscribes().at(-1), ['bob', 'carol', 'dave'], 'renewed after 5 minutes');
  await h.client.unsubscribePresence(['carol']);
  assert.deepEqual(h.network.framesOf('presence.unsubscribe').map((f) => f.payload.userIds), [['carol']]);
  const count = subscribes().length;
  h.network.last.serverClose();
  await h.clock.advance(2 * SECOND);
  assert.equal(h.client.state, 'connected');
  assert.deepEqual(h.network.last.framesOf('presence.subscribe').map((f) => f.payload.userIds), [['bob', 'dave']]);
  assert.equal(subscribes().length, count + 1);
  h.client.close();
});

test('presence.subscribe is split into batches of 100 (the server limit)', async () => {
  const h = harness();
  await h.client.connect();
  await h.client.subscribePresence(Array.from({ length: 230 }, (_, i) => `u${i}`));
  assert.deepEqual(h.network.framesOf('presence.subscribe').map((f) => f.payload.userIds.length), [100, 100, 30]);
  h.client.close();
});

test('suggest is debounced 300 ms: one request for a burst, every caller gets its answer', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('search.suggest', (socket, frame) => {
    socket.deliver('search.suggestions', { refId: frame.id, suggestions: [{ type: 'person', text: frame.payload.query }] });
    return true;
  });
  const calls = ['a', 'al', 'ali', 'alic'].map((q) => h.client.suggest(q));
  await h.clock.advance(299);
  assert.equal(h.network.framesOf('search.suggest').length, 0);
  await h.clock.advance(1);
  assert.deepEqual(h.network.framesOf('search.suggest').map((f) => f.payload.query), ['alic']);
  const answers = await Promise.all(calls);
  assert.ok(answers.every((a) => a[0].text === 'alic'));
  // Under 2 characters: [] without a request.
  const short = h.client.suggest('a');
  await h.clock.advance(300);
  assert.deepEqual(await short, []);
  assert.equal(h.network.framesOf('search.suggest').length, 1);
  h.client.close();
});

test('token.refresh: a fresh token from getToken goes out as auth.renew', async () => {
  const h = harness();
  await h.client.connect();
  h.network.last.deliver('token.refresh', { expiresAt: '2026-11-25T10:15:00.000Z' });
  await h.settle();
  assert.deepEqual(h.tokens.at(-1), { reason: 'refresh', expiresAt: '2026-11-25T10:15:00.000Z' });
  const renew = h.network.framesOf('auth.renew');
  assert.deepEqual(renew.map((f) => f.payload), [{ token: 'token-2' }]);
  assert.equal(h.errors.length, 0);
  h.client.close();
});

test('an auth.renew that does not move the expiry (a cached token) is an error event', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('auth.renew', (socket, frame) => {
    socket.deliver('ack', { refId: frame.id, status: 'ok', expiresAt: '2026-11-25T10:15:00.000Z' });
    return true;
  });
  h.network.last.deliver('token.refresh', { expiresAt: '2026-11-25T10:15:00.000Z' });
  await h.settle();
  assert.deepEqual(h.errors.map((e) => e.code), ['TOKEN']);
  h.client.close();
});

test('a refused auth.renew is an error event (the server closes at expiry; the reconnect gets a fresh token)', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('auth.renew', (socket, frame) => {
    socket.deliver('ack', { refId: frame.id, status: 'error', error: { code: 'UNAUTHORIZED', message: 'revoked' } });
    return true;
  });
  h.network.last.deliver('token.refresh', { expiresAt: 'x' });
  await h.settle();
  assert.deepEqual(h.errors.map((e) => e.code), ['UNAUTHORIZED']);
  h.client.close();
});

test('focus is re-sent on every new connection; quick changes go out one at a time, the last one last', async () => {
  const h = harness();
  await h.client.connect();
  const held = [];
  h.server.handle('chat.focus', (socket, frame) => {
    held.push({ socket, frame });
    return true;
  });
  const a = h.client.focus('general');
  const b = h.client.focus('project-x');
  const c = h.client.focus(null);
  await h.settle();
  assert.deepEqual(h.network.framesOf('chat.focus').map((f) => f.payload.chatId), ['general']);
  const answer = () => {
    const { socket, frame } = held.shift();
    socket.deliver('ack', { refId: frame.id, status: 'ok', chatId: frame.payload.chatId });
  };
  answer();
  await h.settle();
  assert.deepEqual(h.network.framesOf('chat.focus').map((f) => f.payload.chatId), ['general', null]);
  answer();
  await Promise.all([a, b, c]);
  h.network.last.serverClose();
  await h.clock.advance(2 * SECOND);
  assert.deepEqual(h.network.last.framesOf('chat.focus').map((f) => f.payload.chatId), [null]);
  h.client.close();
});

test('setPresence is remembered and re-sent after a reconnect', async () => {
  const h = harness();
  await h.client.connect();
  const ack = await h.client.setPresence('dnd');
  assert.equal(ack.status, undefined, 'the reply without refId/status');
  h.network.last.serverClose();
  await h.clock.advance(2 * SECOND);
  assert.deepEqual(h.network.last.framesOf('presence.update').map((f) => f.payload), [{ status: 'dnd' }]);
  h.client.close();
});

test('search resolves with {results, total, cursor}', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('search.query', (socket, frame) => {
    socket.deliver('search.results', { refId: frame.id, results: [{ type: 'message' }], total: 1, cursor: null });
    return true;
  });
  const result = await h.client.search('budget', { scope: 'messages', limit: 5 });
  assert.deepEqual(result, { results: [{ type: 'message' }], total: 1, cursor: null });
  assert.deepEqual(h.network.framesOf('search.query')[0].payload, { query: 'budget', scope: 'messages', limit: 5 });
  h.client.close();
});

test('close() first sends the read mark the interval was holding back, then closes', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  for (let seq = 1; seq <= 3; seq++) {
    h.network.last.deliver('message.new', { chatId: 'general', seq, message: { messageId: `m${seq}`, chatId: 'general', seq } });
  }
  const marks = () => h.network.framesOf('read.mark').map((f) => f.payload.messageId);
  h.client.markRead('general', 'm1');
  const held = h.client.markRead('general', 'm3'); // inside the 1-second interval: held back
  assert.deepEqual(marks(), ['m1']);
  const closed = h.client.close();
  assert.deepEqual(marks(), ['m1', 'm3'], 'the held-back mark goes out before the close');
  assert.ok(await held, 'and is acknowledged');
  await closed;
  assert.equal(h.client.state, 'closed');
});

test('close() with nothing held back closes at once', async () => {
  const h = harness();
  await h.client.connect();
  const closed = h.client.close();
  assert.equal(h.client.state, 'closed');
  await closed;
});
