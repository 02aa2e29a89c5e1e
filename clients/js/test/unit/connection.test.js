import assert from 'node:assert/strict';
import { test } from 'node:test';

import { VERSION } from '../../src/index.js';
import { harness } from '../support/harness.js';

const SECOND = 1000;

/** Times (ms after the first) at which the client opened its sockets. */
function openTimes(network, clockStart) {
  return network.sockets.map((socket) => socket.openedAt - clockStart);
}

test('hello {protocolVersion: 2, client: "tidings-js/<version>"} is the first frame of every connection', async () => {
  const h = harness();
  await h.client.connect();
  h.network.last.serverClose(1000);
  await h.clock.advance(30 * SECOND);
  assert.equal(h.network.sockets.length, 2);
  for (const socket of h.network.sockets) {
    assert.equal(socket.sent[0].type, 'hello');
    assert.deepEqual(socket.sent[0].payload, { protocolVersion: 2, client: `tidings-js/${VERSION}` });
    assert.ok(socket.sent[0].id);
  }
  assert.equal(h.client.state, 'connected');
  h.client.close();
});

test('connect() resolves with the welcome, the state goes connecting -> connected', async () => {
  const h = harness();
  const welcome = await h.client.connect();
  assert.equal(welcome.userId, 'alice');
  assert.equal(h.client.userId, 'alice');
  assert.equal(h.client.connectionId, 'conn-1');
  assert.deepEqual(h.states.map((s) => s.state), ['connecting', 'connected']);
  assert.deepEqual(h.tokens.map((t) => t.reason), ['connect']);
  assert.equal(h.network.last.token, 'token-1');
  h.client.close();
  assert.equal(h.client.state, 'closed');
});

test('reconnects after 1, 2, 4, 8, 16, 30, 30 s without jitter, with a fresh token each time', async () => {
  const h = harness({ client: { backoff: { jitter: 'none' } } });
  h.network.refuseAll = true;
  h.client.connect().catch(() => {});
  await h.clock.advance(5 * 60 * SECOND);
  const opened = h.network.sockets.map((socket) => socket.openedAt);
  const gaps = opened.slice(1).map((t, i) => t - opened[i]);
  assert.deepEqual(gaps.slice(0, 8), [1, 2, 4, 8, 16, 30, 30, 30].map((s) => s * SECOND));
  assert.deepEqual(h.tokens.slice(0, 4).map((t) => t.reason), ['connect', 'reconnect', 'reconnect', 'reconnect']);
  assert.equal(h.client.state, 'reconnecting');
  h.client.close();
});

test('full jitter: each delay is random(0..ceiling)', async () => {
  const h = harness(); // random() = 0.5
  h.network.refuseAll = true;
  h.client.connect().catch(() => {});
  await h.clock.advance(2 * 60 * SECOND);
  const opened = h.network.sockets.map((socket) => socket.openedAt);
  const gaps = opened.slice(1).map((t, i) => t - opened[i]);
  assert.deepEqual(gaps.slice(0, 7), [0.5, 1, 2, 4, 8, 15, 15].map((s) => s * SECOND));
  h.client.close();
});

test('a connection that stayed up resets the backoff', async () => {
  const h = harness({ client: { backoff: { jitter: 'none' } } });
  await h.client.connect();
  h.network.refuseAll = true;
  h.network.last.serverClose();
  await h.clock.advance(7 * SECOND); // refused after 1, 2 and 4 s
  assert.equal(h.network.sockets.length, 4);
  h.network.refuseAll = false;
  await h.clock.advance(8 * SECOND); // the 5th attempt (after 8 s) connects and stays up
  assert.equal(h.client.state, 'connected');
  await h.clock.advance(60 * SECOND);
  const before = h.network.sockets.length;
  const closedAt = h.clock.now();
  h.network.last.serverClose();
  await h.clock.advance(SECOND);
  assert.equal(h.network.sockets.length, before + 1);
  assert.equal(h.network.last.openedAt - closedAt, SECOND, 'the first delay again: 1 s');
  h.client.close();
});

test('pings every 30 s (welcome.heartbeatIntervalMs); pongs keep the connection', async () => {
  const h = harness();
  await h.client.connect();
  await h.clock.advance(10 * 60 * SECOND);
  assert.equal(h.network.sockets.length, 1);
  assert.equal(h.network.last.framesOf('ping').length, 20);
  h.client.close();
});

test('no pong for 90 s: the link is dead, the client reconnects', async () => {
  const h = harness();
  await h.client.connect();
  const first = h.network.last;
  h.server.handle('ping', () => true); // pings go unanswered from now on
  await h.clock.advance(89 * SECOND);
  assert.equal(h.network.sockets.length, 1);
  assert.equal(h.client.state, 'connected');
  await h.clock.advance(1 * SECOND);
  assert.equal(first.closedBy.side, 'client');
  assert.notEqual(h.client.state, 'connected');
  h.server.handlers.delete('ping');
  await h.clock.advance(2 * SECOND);
  assert.equal(h.network.sockets.length, 2);
  assert.equal(h.client.state, 'connected');
  h.client.close();
});

test('no welcome within helloTimeoutMs: reconnect', async () => {
  const h = harness();
  h.server.handle('hello', () => true);
  h.client.connect().catch(() => {});
  await h.clock.advance(10 * SECOND);
  assert.equal(h.network.sockets[0].closedBy?.side, 'client');
  h.server.handlers.delete('hello');
  await h.clock.advance(2 * SECOND);
  assert.equal(h.client.state, 'connected');
  h.client.close();
});

test('before API Gateway\'s 2 h limit the connection is replaced, make-before-break', async () => {
  const h = harness();
  await h.client.connect();
  const old = h.network.last;
  h.states.length = 0;
  await h.clock.advance(114 * 60 * SECOND);
  assert.equal(h.network.sockets.length, 1);
  await h.clock.advance(60 * SECOND);
  assert.equal(h.network.sockets.length, 2, 'a new socket at 1 h 55 min');
  const fresh = h.network.last;
  assert.equal(fresh.sent[0].type, 'hello');
  assert.equal(h.tokens.at(-1).reason, 'rotate');
  assert.equal(old.closedBy?.side, 'client', 'the old one is closed once the new one is welcomed');
  assert.equal(old.closedBy.code, 1000);
  assert.equal(h.client.connectionId, 'conn-2');
  assert.ok(!h.states.some((s) => s.state !== 'connected'), 'never reconnecting on the way');
  // Frames go out on the new socket only.
  const sent = h.client.send('general', 'after rotation');
  await h.settle();
  assert.equal(fresh.framesOf('message.send').length, 1);
  assert.equal(old.framesOf('message.send').length, 0);
  await sent;
  h.client.close();
});

test('the old connection dropping while its replacement opens: one ordinary reconnect', async () => {
  const h = harness({ client: { backoff: { jitter: 'none' } } });
  await h.client.connect();
  h.server.handle('hello', (socket) => socket === h.network.sockets[1]); // the replacement gets no welcome
  await h.clock.advance(115 * 60 * SECOND);
  assert.equal(h.network.sockets.length, 2);
  const replacement = h.network.sockets[1];
  h.network.sockets[0].serverClose();
  await h.settle();
  assert.equal(replacement.closedBy?.side, 'client', 'the half-open replacement is dropped');
  await h.clock.advance(SECOND);
  assert.equal(h.network.sockets.length, 3);
  assert.equal(h.client.state, 'connected');
  assert.equal(h.client.connectionId, 'conn-2');
  h.client.close();
});

test('error UNAUTHORIZED then the close: one immediate reconnect with a fresh token', async () => {
  const h = harness();
  await h.client.connect();
  h.network.last.deliver('error', { code: 'UNAUTHORIZED', message: 'Token expired' });
  h.network.last.serverClose(1000);
  await h.settle();
  assert.equal(h.network.sockets.length, 2, 'no backoff wait');
  assert.equal(h.tokens.at(-1).reason, 'unauthorized');
  assert.equal(h.client.state, 'connected');
  assert.equal(h.errors.length, 0);
  // The retry budget is per outage: a later expiry gets its own retry.
  await h.clock.advance(60 * SECOND);
  h.network.last.deliver('error', { code: 'UNAUTHORIZED', message: 'Token expired' });
  h.network.last.serverClose(1000);
  await h.settle();
  assert.equal(h.client.state, 'connected');
  h.client.close();
});

test('UNAUTHORIZED again right after the fresh token: closed, with an error event', async () => {
  const h = harness();
  await h.client.connect();
  h.server.handle('hello', (socket) => {
    socket.deliver('error', { code: 'UNAUTHORIZED', message: 'Session revoked' });
    socket.serverClose(1000);
  });
  h.network.sockets[0].deliver('error', { code: 'UNAUTHORIZED', message: 'Session revoked' });
  h.network.sockets[0].serverClose(1000);
  await h.clock.advance(120 * SECOND);
  assert.equal(h.client.state, 'closed');
  assert.equal(h.network.sockets.length, 2);
  assert.deepEqual(h.errors.map((e) => e.code), ['UNAUTHORIZED']);
  assert.equal(h.states.at(-1).error.code, 'UNAUTHORIZED');
});

test('a refused handshake after UNAUTHORIZED: closed, with an error event', async () => {
  const h = harness();
  await h.client.connect();
  h.network.refuseAll = true;
  h.network.last.deliver('error', { code: 'UNAUTHORIZED', message: 'Token expired' });
  h.network.last.serverClose(1000);
  await h.clock.advance(120 * SECOND);
  assert.equal(h.client.state, 'closed');
  assert.equal(h.network.sockets.length, 2);
  assert.equal(h.errors[0].code, 'UNAUTHORIZED');
});

for (const code of ['CONNECTION_LIMIT', 'UPGRADE_REQUIRED']) {
  test(`${code} then the close: closed, no reconnect (the slot is not fought for)`, async () => {
    const h = harness();
    await h.client.connect();
    h.server.handle('search.query', () => true);
    const pendingSearch = h.client.search('x').catch((error) => error);
    h.network.last.deliver('error', { code, message: 'bye', upgradeUrl: 'https://example.test/upgrade' });
    h.network.last.serverClose(1000);
    await h.clock.advance(10 * 60 * SECOND);
    assert.equal(h.client.state, 'closed');
    assert.equal(h.network.sockets.length, 1);
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].code, code);
    assert.equal((await pendingSearch).code, 'CLOSED');
    // connect() again is the app's decision, and works.
    await h.client.connect();
    assert.equal(h.client.state, 'connected');
    h.client.close();
  });
}

test('a server close without a reason (DeleteConnection, idle, 2 h) reconnects with backoff', async () => {
  const h = harness({ client: { backoff: { jitter: 'none' } } });
  await h.client.connect();
  h.network.last.serverClose(1000);
  await h.settle();
  assert.equal(h.client.state, 'reconnecting');
  assert.equal(h.states.at(-1).delayMs, SECOND);
  await h.clock.advance(SECOND);
  assert.equal(h.client.state, 'connected');
  assert.equal(h.client.connectionId, 'conn-2');
  h.client.close();
});

test('getToken failing counts as a failed attempt: error event, backoff, retry', async () => {
  let fail = true;
  const h = harness({
    client: {
      backoff: { jitter: 'none' },
      getToken: async () => {
        if (fail) throw new Error('refresh endpoint down');
        return 'good';
      },
    },
  });
  const connected = h.client.connect();
  await h.settle();
  assert.equal(h.errors[0].code, 'TOKEN');
  assert.equal(h.client.state, 'reconnecting');
  assert.equal(h.network.sockets.length, 0);
  fail = false;
  await h.clock.advance(SECOND);
  await connected;
  assert.equal(h.network.last.token, 'good');
  h.client.close();
});

test('close() during a backoff wait stops reconnecting; connect() after it works', async () => {
  const h = harness();
  await h.client.connect();
  h.network.last.serverClose();
  await h.settle();
  h.client.close();
  await h.clock.advance(5 * 60 * SECOND);
  assert.equal(h.network.sockets.length, 1);
  await h.client.connect();
  assert.equal(h.network.sockets.length, 2);
  assert.equal(h.tokens.at(-1).reason, 'reconnect');
  h.client.close();
});

test('options are checked: a ws(s) URL, getToken, a WebSocket', async () => {
  const { TidingsClient } = await import('../../src/index.js');
  const WebSocket = class {};
  assert.throws(() => new TidingsClient({ url: 'http://x/ws', getToken: () => 't', WebSocket }), /url/);
  assert.throws(() => new TidingsClient({ url: 'ws://x/ws', WebSocket }), /getToken/);
  const saved = globalThis.WebSocket;
  delete globalThis.WebSocket;
  try {
    assert.throws(() => new TidingsClient({ url: 'ws://x/ws', getToken: () => 't' }), /WebSocket/);
  } finally {
    if (saved) globalThis.WebSocket = saved;
  }
});
