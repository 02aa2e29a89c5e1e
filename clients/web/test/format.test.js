import assert from 'node:assert/strict';
import { test } from 'node:test';

import { chatTitle, clockIn, dndScheduled, queryTerms, receiptFor, summedText, typingText } from '../app/format.js';

test('typing: one name, two names, then several people', () => {
  assert.equal(typingText([]), '');
  assert.equal(typingText(['Alice']), 'Alice is typing…');
  assert.equal(typingText(['Alice', 'Bob']), 'Alice and Bob are typing…');
  assert.equal(typingText(['Alice', 'Bob', 'Carol']), 'Several people are typing…');
});

test('a chat is named after the other person in a DM and with # for a channel', () => {
  const members = [{ userId: 'alice', displayName: 'Alice' }, { userId: 'bob', displayName: 'Bob' }];
  assert.equal(chatTitle({ chatId: 'dm', type: 'dm', name: null, members }, 'alice'), 'Bob');
  assert.equal(chatTitle({ chatId: 'general', type: 'channel', name: 'general', members }, 'alice'), '#general');
  assert.equal(chatTitle({ chatId: 'project-x', type: 'group', name: 'Project X', members }, 'alice'), 'Project X');
});

const dm = { type: 'dm', members: [{ userId: 'alice', displayName: 'Alice' }, { userId: 'bob', displayName: 'Bob' }] };
const group = {
  type: 'group',
  members: [
    { userId: 'alice', displayName: 'Alice' },
    { userId: 'bob', displayName: 'Bob' },
    { userId: 'carol', displayName: 'Carol' },
  ],
};

test('receipts in a DM: sending, delivered, read once the other watermark reaches the message', () => {
  assert.equal(receiptFor(dm, { seq: Infinity, status: 'pending' }, new Map(), 'alice').text, 'Sending…');
  assert.equal(receiptFor(dm, { seq: 4, status: 'failed', error: 'FORBIDDEN' }, new Map(), 'alice').state, 'failed');
  const message = { seq: 4, status: 'sent' };
  assert.equal(receiptFor(dm, message, new Map([['alice', 4], ['bob', 3]]), 'alice').text, '✓');
  assert.equal(receiptFor(dm, message, new Map([['alice', 4], ['bob', 4]]), 'alice').text, '✓✓');
  assert.equal(receiptFor(dm, message, new Map([['bob', 9]]), 'alice').state, 'read');
});

test('receipts in a group count the other members who have seen the message, never me', () => {
  const message = { seq: 10, status: 'sent' };
  assert.equal(receiptFor(group, message, new Map([['alice', 10]]), 'alice').text, '✓');
  const seen = receiptFor(group, message, new Map([['alice', 10], ['bob', 12], ['carol', 9]]), 'alice');
  assert.deepEqual(seen, { state: 'seen', text: 'Seen by 1', title: 'Seen by Bob' });
  assert.equal(receiptFor(group, message, new Map([['bob', 10], ['carol', 11]]), 'alice').text, 'Seen by 2');
});

test('the DND schedule: a window in its time zone, across midnight, empty when equal', () => {
  const at = (iso) => new Date(iso);
  const schedule = { enabled: true, startTime: '22:00', endTime: '08:00', timezone: 'UTC' };
  assert.equal(dndScheduled(schedule, at('2026-11-24T23:30:00Z')), true);
  assert.equal(dndScheduled(schedule, at('2026-11-24T07:59:00Z')), true);
  assert.equal(dndScheduled(schedule, at('2026-11-24T08:00:00Z')), false);
  assert.equal(dndScheduled(schedule, at('2026-11-24T12:00:00Z')), false);
  assert.equal(dndScheduled({ ...schedule, enabled: false }, at('2026-11-24T23:30:00Z')), false);
  assert.equal(dndScheduled({ ...schedule, startTime: '09:00', endTime: '09:00' }, at('2026-11-24T09:00:00Z')), false);
  // 13:30 UTC is 14:30 in Berlin (winter): inside 14:00–15:00 there, not in UTC.
  const berlin = { enabled: true, startTime: '14:00', endTime: '15:00', timezone: 'Europe/Berlin' };
  assert.equal(clockIn(at('2026-11-24T13:30:00Z'), 'Europe/Berlin'), '14:30');
  assert.equal(dndScheduled(berlin, at('2026-11-24T13:30:00Z')), true);
  assert.equal(dndScheduled({ ...berlin, timezone: 'Not/AZone' }, at('2026-11-24T13:30:00Z')), false);
  assert.equal(dndScheduled(null), false);
});

test('offline search matches the words of a query, not its operators', () => {
  assert.deepEqual(queryTerms('budget from:alice "next week" in:general'), ['budget', 'next', 'week']);
});

test('summedText: the banner of a chat whose messages came as a number', () => {
  assert.equal(summedText(0), '');
  assert.equal(summedText(1), '1 new message: catching up…');
  assert.equal(summedText(57), '57 new messages: catching up…');
});
