/**
 * Protocol version negotiation: the SDK says `hello` with version 2; a server that speaks only
 * version 1 answers `error UPGRADE_REQUIRED {supportedVersions: [1]}` and closes, and the SDK
 * reconnects saying 1 and keeps speaking it. With no version in common (or none listed)
 * UPGRADE_REQUIRED still closes the client for good.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PROTOCOL_VERSION, PROTOCOL_VERSIONS } from '../../src/index.js';
import { harness } from '../support/harness.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** The version each socket's `hello` said, in order. */
function hellos(network) {
  return network.sockets.map((socket) => socket.framesOf('hello')[0]?.payload.protocolVersion);
}

/** A server that refuses every hello with UPGRADE_REQUIRED listing `listed(version)`, then closes. */
function refuseEveryHello(h, listed) {
  h.server.handle('hello', (socket, frame) => {
    const version = frame.payload.protocolVersion;
    socket.deliver('error', { refId: frame.id, code: 'UPGRADE_REQUIRED', message: `no ${version}`, supportedVersions: listed(version) });
    socket.serverClose(1000);
  });
}

test('the SDK says 2 first and speaks 1 and 2', () => {
  assert.equal(PROTOCOL_VERSION, 2);
  assert.deepEqual([...PROTOCOL_VERSIONS], [1, 2]);
  assert.equal(harness().client.protocolVersion, 2);
});

test('a version 1 server: UPGRADE_REQUIRED [1], then hello 1 at once, and connect() resolves', async () => {
  const h = harness();
  h.server.supportedVersions = [1];
  const welcome = await h.client.connect();
  assert.deepEqual(hellos(h.network), [2, 1]);
  assert.equal(h.network.sockets[0].closedBy.side, 'server');
  assert.equal(h.network.sockets[1].openedAt, h.network.sockets[0].openedAt, 'no backoff wait before saying 1');
  assert.equal(welcome.protocolVersion, 1);
  assert.equal(h.client.protocolVersion, 1);
  assert.equal(h.client.state, 'connected');
  assert.deepEqual(h.errors, [], 'a fallback is not an error');
  assert.deepEqual(h.states.map((s) => s.state), ['connecting', 'connected']);
  h.client.close();
});

test('the fallback version is kept for every later connection, rotations included', async () => {
  const h = harness();
  h.server.supportedVersions = [1];
  await h.client.connect();
  h.server.supportedVersions = null; // the server is upgraded meanwhile: this client stays on 1
  h.network.last.serverClose(1000);
  await h.clock.advance(30 * SECOND);
  assert.deepEqual(hellos(h.network), [2, 1, 1]);
  await h.clock.advance(116 * MINUTE); // the replacement before API Gateway's 2-hour limit
  assert.deepEqual(hellos(h.network), [2, 1, 1, 1]);
  assert.equal(h.client.protocolVersion, 1);
  assert.equal(h.client.state, 'connected');
  h.client.close();
});

test('a server rolled back while connected: the reconnect falls back to 1', async () => {
  const h = harness();
  await h.client.connect();
  assert.equal(h.client.protocolVersion, 2);
  h.server.supportedVersions = [1];
  h.network.last.serverClose(1000);
  await h.clock.advance(30 * SECOND);
  assert.deepEqual(hellos(h.network), [2, 2, 1]);
  assert.equal(h.client.protocolVersion, 1);
  assert.equal(h.client.state, 'connected');
  assert.deepEqual(h.errors, []);
  h.client.close();
});

test('a rotation refused with UPGRADE_REQUIRED [1] is retried at once with 1, make-before-break', async () => {
  const h = harness();
  await h.client.connect();
  const old = h.network.last;
  h.server.supportedVersions = [1];
  h.states.length = 0;
  await h.clock.advance(115 * MINUTE);
  assert.deepEqual(hellos(h.network), [2, 2, 1]);
  assert.equal(old.closedBy?.side, 'client', 'the old one is retired once the version 1 one is welcomed');
  assert.equal(h.client.connectionId, 'conn-2');
  assert.ok(!h.states.some((s) => s.state !== 'connected'), 'never reconnecting on the way');
  h.client.close();
});

test('on version 1 the badge and toast frames reach handlers as they come', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  h.server.supportedVersions = [1];
  await h.client.connect();
  const seen = [];
  for (const type of ['message.new', 'notification.badge', 'notification.toast']) {
    h.client.on(type, (payload, frame) => seen.push([frame.type, payload]));
  }
  const badge = { chatId: 'general', unreadCount: 1, mentionCount: 0, totalUnreadCount: 1, totalMentionCount: 0 };
  const toast = { id: 't-1', title: 'Bob in #general', body: 'hi', chatId: 'general', messageId: 'm-1', count: 1 };
  h.network.last.deliver('message.new', { chatId: 'general', seq: 1, message: { messageId: 'm-1', chatId: 'general', seq: 1 } });
  h.network.last.deliver('notification.badge', badge);
  h.network.last.deliver('notification.toast', toast);
  await h.settle();
  assert.deepEqual(seen.map(([type]) => type), ['message.new', 'notification.badge', 'notification.toast']);
  assert.deepEqual([seen[1][1], seen[2][1]], [badge, toast]);
  assert.deepEqual(Object.keys(seen[0][1]).sort(), ['chatId', 'message', 'seq']);
  h.client.close();
});

test('no version in common: UPGRADE_REQUIRED stays final', async () => {
  const h = harness();
  h.server.supportedVersions = [3];
  const refused = await h.client.connect().then(() => null, (error) => error);
  assert.equal(refused?.code, 'UPGRADE_REQUIRED');
  assert.deepEqual(refused.extra.supportedVersions, [3]);
  assert.equal(refused.extra.upgradeUrl, 'https://tidings.test/docs/protocol.md');
  await h.clock.advance(10 * MINUTE);
  assert.equal(h.network.sockets.length, 1);
  assert.equal(h.client.state, 'closed');
  assert.deepEqual(h.errors.map((e) => e.code), ['UPGRADE_REQUIRED']);
  assert.equal(h.client.protocolVersion, 2);
});

test('UPGRADE_REQUIRED without supportedVersions stays final', async () => {
  const h = harness();
  h.server.supportedVersions = [1];
  h.server.listVersions = false;
  const refused = await h.client.connect().then(() => null, (error) => error);
  assert.equal(refused?.code, 'UPGRADE_REQUIRED');
  await h.clock.advance(10 * MINUTE);
  assert.equal(h.network.sockets.length, 1);
  assert.equal(h.client.state, 'closed');
  assert.equal(h.client.protocolVersion, 2);
});

test('a server refusing the version it listed is not asked again', async () => {
  const h = harness();
  refuseEveryHello(h, () => [1]);
  const refused = await h.client.connect().then(() => null, (error) => error);
  assert.equal(refused?.code, 'UPGRADE_REQUIRED');
  await h.clock.advance(10 * MINUTE);
  assert.deepEqual(hellos(h.network), [2, 1]);
  assert.equal(h.client.state, 'closed');
});

test('servers disagreeing about versions: the first switch is at once, the next ones wait the backoff', async () => {
  const h = harness({ client: { backoff: { jitter: 'none' } } });
  refuseEveryHello(h, (version) => (version === 2 ? [1] : [2])); // a mixed fleet, each listing the other
  h.client.connect().catch(() => {});
  await h.settle();
  assert.deepEqual(hellos(h.network), [2, 1]);
  await h.clock.advance(SECOND);
  assert.deepEqual(hellos(h.network), [2, 1, 2]);
  await h.clock.advance(SECOND);
  assert.equal(h.network.sockets.length, 3, 'the next one waits the backoff\'s next step (2 s)');
  await h.clock.advance(SECOND);
  assert.deepEqual(hellos(h.network), [2, 1, 2, 1]);
  h.client.close();
});
