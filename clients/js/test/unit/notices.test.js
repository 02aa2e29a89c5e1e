import assert from 'node:assert/strict';
import { test } from 'node:test';

import { splitNotices } from '../../src/notices.js';
import { harness } from '../support/harness.js';

const BADGE = { chatId: 'general', unreadCount: 3, mentionCount: 1, totalUnreadCount: 7, totalMentionCount: 1 };
const TOAST = {
  id: 'toast-1', title: 'Alice in #general', body: 'hi @bob', chatId: 'general', messageId: 'id-general-1',
  priority: 'normal', timestamp: 't', actions: ['reply', 'markRead', 'mute'], count: 1,
};
const message = (seq) => ({ messageId: `id-general-${seq}`, chatId: 'general', seq, content: `m${seq}` });

function events(client) {
  const seen = [];
  for (const type of ['message.new', 'notification.badge', 'notification.toast']) {
    client.on(type, (payload, frame) => seen.push([frame.type, payload]));
  }
  return seen;
}

test('a v2 message.new\'s badge and toast are emitted as their own events, after the message', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seen = events(h.client);
  h.network.last.deliver('message.new', { chatId: 'general', seq: 1, message: message(1), badge: BADGE, toast: TOAST });
  assert.deepEqual(seen.map(([type]) => type), ['message.new', 'notification.badge', 'notification.toast']);
  assert.deepEqual(Object.keys(seen[0][1]).sort(), ['chatId', 'message', 'seq'], 'message.new as v1 sends it');
  assert.deepEqual([seen[1][1], seen[2][1]], [BADGE, TOAST]);
  h.client.close();
});

test('a badge alone is one event; a plain message.new none', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seen = events(h.client);
  h.network.last.deliver('message.new', { chatId: 'general', seq: 1, message: message(1), badge: BADGE });
  h.network.last.deliver('message.new', { chatId: 'general', seq: 2, message: message(2) });
  assert.deepEqual(seen.map(([type]) => type), ['message.new', 'notification.badge', 'message.new']);
  h.client.close();
});

test('a message held for a gap still tells its badge at once, as v1\'s separate frame would', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seen = events(h.client);
  h.network.last.deliver('message.new', { chatId: 'general', seq: 2, message: message(2), badge: BADGE });
  assert.deepEqual(seen.map(([type]) => type), ['notification.badge']);
  h.client.close();
});

test('splitNotices leaves other frames and malformed notices alone', () => {
  const plain = { type: 'message.new', id: 'x', payload: { chatId: 'c', seq: 1, message: message(1) } };
  assert.deepEqual(splitNotices(plain), [plain, []]);
  const badge = { type: 'notification.badge', id: 'b', payload: BADGE };
  assert.deepEqual(splitNotices(badge), [badge, []]);
  const [frame, notices] = splitNotices({ ...plain, payload: { ...plain.payload, badge: 'not an object', toast: null } });
  assert.deepEqual([frame.payload, notices], [plain.payload, []]);
  assert.deepEqual(splitNotices({ type: 'message.new', payload: null }), [{ type: 'message.new', payload: null }, []]);
});
