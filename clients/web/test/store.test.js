import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Store } from '../app/store.js';

const members = [
  { userId: 'alice', displayName: 'Alice', role: 'admin' },
  { userId: 'bob', displayName: 'Bob', role: 'member' },
];
const chat = (chatId, extra = {}) => ({ chatId, name: chatId, type: 'group', members, unreadCount: 0, mentionCount: 0, lastReadSeq: 0, headSeq: 0, muted: false, pinned: false, ...extra });
const message = (seq, extra = {}) => ({
  messageId: `m${seq}`,
  chatId: 'c',
  seq,
  senderId: 'bob',
  senderName: 'Bob',
  content: `message ${seq}`,
  createdAt: `2026-11-24T10:00:${String(seq).padStart(2, '0')}.000Z`,
  reactions: {},
  ...extra,
});
const contents = (store) => store.sortedMessages('c').map((m) => m.content);

test('messages are shown in seq order, the ones still in the outbox last, in the order written', () => {
  const store = new Store('alice');
  store.setChats([chat('c')]);
  store.upsertMessage(message(5));
  store.addPending('f1', { chatId: 'c', content: 'first draft' }, '2026-11-24T10:01:00.000Z');
  store.addPending('f2', { chatId: 'c', content: 'second draft' }, '2026-11-24T10:01:01.000Z');
  store.mergeHistory('c', [message(3), message(1)], null);
  assert.deepEqual(contents(store), ['message 1', 'message 3', 'message 5', 'first draft', 'second draft']);
  assert.equal(store.pendingCount(), 2);

  store.ackPending('f1', message(6, { senderId: 'alice', content: 'first draft' }));
  assert.deepEqual(contents(store), ['message 1', 'message 3', 'message 5', 'first draft', 'second draft']);
  assert.equal(store.sortedMessages('c').find((m) => m.content === 'first draft').status, 'sent');
  assert.equal(store.pendingCount(), 1);
});

test('a history page never overwrites a newer copy from an event', () => {
  const store = new Store('alice');
  store.setChats([chat('c')]);
  store.upsertMessage(message(2, { content: 'edited', editedAt: 'now' }));
  store.mergeHistory('c', [message(2, { content: 'old' })], null);
  assert.deepEqual(contents(store), ['edited']);
});

test('deletes erase the content; reactions replace the old ones', () => {
  const store = new Store('alice');
  store.setChats([chat('c')]);
  store.upsertMessage(message(1, { reactions: { '👍': ['alice'] } }));
  store.applyReaction('c', 'm1', { '🎉': ['bob'] });
  assert.deepEqual(store.message('c', 'm1').reactions, { '🎉': ['bob'] });
  store.applyDeleted('c', 'm1');
  assert.equal(store.message('c', 'm1').deleted, true);
  assert.equal(store.message('c', 'm1').content, null);
});

test('watermarks only move forward; a sender has read up to their own message', () => {
  const store = new Store('alice');
  store.setChats([chat('c')]);
  store.setWatermarks('c', { bob: 4, alice: 2 });
  store.applyReceipt({ chatId: 'c', userId: 'bob', seq: 3 });
  assert.equal(store.watermarksOf('c').get('bob'), 4);
  store.upsertMessage(message(7));
  assert.equal(store.watermarksOf('c').get('bob'), 7);
  store.upsertMessage(message(8, { senderId: 'alice' }));
  assert.equal(store.chats.get('c').lastReadSeq, 8);
});

test('badges: per chat from the server, totals summed, cleared at once when read', () => {
  const store = new Store('alice');
  store.setChats([chat('a'), chat('b')]);
  store.applyBadge({ chatId: 'a', unreadCount: 3, mentionCount: 1 });
  store.applyBadge({ chatId: 'b', unreadCount: 2, mentionCount: 0 });
  assert.deepEqual(store.totals(), { unread: 5, mentions: 1 });
  store.markedRead('a', 9);
  assert.deepEqual(store.totals(), { unread: 2, mentions: 0 });
  assert.equal(store.chats.get('a').lastReadSeq, 9);
  store.applyBadge({ chatId: 'unknown', unreadCount: 9, mentionCount: 9 });
  assert.deepEqual(store.totals(), { unread: 2, mentions: 0 });
});

test('typing: others only, ended by their message or by time', () => {
  const store = new Store('alice');
  store.setChats([chat('c')]);
  store.setTyping({ chatId: 'c', userId: 'alice', displayName: 'Alice', active: true }, 0);
  store.setTyping({ chatId: 'c', userId: 'bob', displayName: 'Bob', active: true }, 0);
  assert.deepEqual(store.typingNames('c', 1), ['Bob']);
  store.upsertMessage(message(1));
  assert.deepEqual(store.typingNames('c', 1), []);
  store.setTyping({ chatId: 'c', userId: 'bob', displayName: 'Bob', active: true }, 0);
  assert.equal(store.sweepTyping(6999), false);
  assert.equal(store.sweepTyping(7000), true);
  assert.deepEqual(store.typingNames('c', 7000), []);
});

test('the chat list: pinned first, then the latest activity, then by name', () => {
  const store = new Store('alice');
  store.setChats([chat('zeta'), chat('alpha'), chat('pinned', { pinned: true }), chat('busy')]);
  store.upsertMessage(message(1, { chatId: 'busy' }));
  assert.deepEqual(store.chatList().map((c) => c.chatId), ['pinned', 'busy', 'alpha', 'zeta']);
  store.setChats([chat('alpha')]);
  assert.deepEqual(store.chatList().map((c) => c.chatId), ['alpha']);
  assert.equal(store.messages.has('busy'), false);
});

test('a refused message stays, marked failed, until retried or discarded', () => {
  const store = new Store('alice');
  store.setChats([chat('c')]);
  store.addPending('f', { chatId: 'c', content: 'hello' });
  store.failPending('f', new Error('You are not a member'));
  const failed = store.sortedMessages('c')[0];
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error, 'You are not a member');
  store.dropPending('f');
  assert.deepEqual(contents(store), []);
});

test('listeners hear every change', () => {
  const store = new Store('alice');
  const topics = [];
  const off = store.subscribe((topic) => topics.push(topic));
  store.setChats([chat('c')]);
  store.upsertMessage(message(1));
  assert.equal(topics[0], 'chats');
  assert.ok(topics.includes('messages:c'));
  const heard = topics.length;
  off();
  store.applyBadge({ chatId: 'c', unreadCount: 1 });
  assert.equal(topics.length, heard);
});

test('my DM with someone, when there is one', () => {
  const store = new Store('alice');
  store.setChats([chat('project-x'), chat('dm-alice-bob', { type: 'dm' })]);
  assert.equal(store.dmWith('bob').chatId, 'dm-alice-bob');
  assert.equal(store.dmWith('carol'), null);
});

test('chat.summary: "N new messages" adds up until a message at its lastSeq lands', () => {
  const store = new Store('alice');
  store.setChats([chat('c'), chat('d')]);
  store.upsertMessage(message(10));
  const topics = [];
  store.subscribe((topic) => topics.push(topic));
  store.applySummary({ chatId: 'c', newMessages: 57, lastSeq: 70 });
  store.applySummary({ chatId: 'c', newMessages: 30, lastSeq: 100 });
  assert.equal(store.summaryOf('c'), 87);
  assert.equal(store.summaryOf('d'), 0);
  assert.ok(topics.includes('chats') && topics.includes('messages:c'), 'the list and the open chat re-render');

  store.upsertMessage(message(70)); // the sync brings them in seq order: not there yet
  assert.equal(store.summaryOf('c'), 87);
  store.upsertMessage(message(100));
  assert.equal(store.summaryOf('c'), 0, 'the newest summed-up message is here');
});

test('chat.summary: a landed sync, a history page or a reset settles it; one already overtaken is ignored', () => {
  const store = new Store('alice');
  store.setChats([chat('c')]);
  store.upsertMessage(message(50));
  store.applySummary({ chatId: 'c', newMessages: 5, lastSeq: 40 });
  assert.equal(store.summaryOf('c'), 0, 'the sync already brought seq 50');
  store.applySummary({ chatId: 'c', newMessages: 0, lastSeq: 60 });
  store.applySummary({ chatId: 'c', newMessages: 3 });
  assert.equal(store.summaryOf('c'), 0, 'malformed or empty summaries are ignored');

  store.applySummary({ chatId: 'c', newMessages: 9, lastSeq: 60 });
  store.syncedTo('c', 59);
  assert.equal(store.summaryOf('c'), 9, 'a sync short of lastSeq leaves it');
  store.syncedTo('c', 60);
  assert.equal(store.summaryOf('c'), 0);

  store.applySummary({ chatId: 'c', newMessages: 4, lastSeq: 70 });
  store.mergeHistory('c', [message(70), message(69)], 40);
  assert.equal(store.summaryOf('c'), 0, 'a history page that reaches it');

  store.applySummary({ chatId: 'c', newMessages: 800, lastSeq: 900 });
  store.replaceMessages('c', [message(899)]); // tooLarge: the newest page over REST
  assert.equal(store.summaryOf('c'), 0);
  store.applySummary({ chatId: 'c', newMessages: 1, lastSeq: 901 });
  store.removeChat('c');
  assert.equal(store.summaryOf('c'), 0);
});
