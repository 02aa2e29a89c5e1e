import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ToastQueue } from '../app/toasts.js';

/** A ToastQueue on a fake clock: `advance(ms)` runs the timers that are due. */
function queue() {
  let now = 0;
  let timers = [];
  let changes = 0;
  const toasts = new ToastQueue({
    setTimer: (fn, ms) => {
      const timer = { fn, at: now + ms };
      timers.push(timer);
      return timer;
    },
    clearTimer: (timer) => {
      timers = timers.filter((t) => t !== timer);
    },
    onChange: () => {
      changes += 1;
    },
  });
  const advance = (ms) => {
    now += ms;
    for (const timer of timers.filter((t) => t.at <= now)) {
      timers = timers.filter((t) => t !== timer);
      timer.fn();
    }
  };
  return { toasts, advance, changes: () => changes };
}

const ids = (list) => list.map((toast) => toast.id);

test('a toast goes after 5 seconds', () => {
  const { toasts, advance } = queue();
  toasts.show({ id: 'a', priority: 'normal' });
  advance(4999);
  assert.deepEqual(ids(toasts.visible), ['a']);
  advance(1);
  assert.deepEqual(ids(toasts.visible), []);
});

test('at most three on screen; the fourth waits and shows when one goes', () => {
  const { toasts, advance } = queue();
  for (const id of ['a', 'b', 'c', 'd']) toasts.show({ id, priority: 'normal' });
  assert.deepEqual(ids(toasts.visible), ['a', 'b', 'c']);
  assert.deepEqual(ids(toasts.queued), ['d']);
  toasts.dismiss('b');
  assert.deepEqual(ids(toasts.visible), ['a', 'c', 'd']);
  advance(5000); // a and c go; d has its own 5 s from when it showed
  assert.deepEqual(ids(toasts.visible), []);
});

test('the same id replaces the toast and starts its 5 seconds again', () => {
  const { toasts, advance } = queue();
  toasts.show({ id: 'g', priority: 'normal', count: 1, body: 'hi' });
  advance(4000);
  toasts.show({ id: 'g', priority: 'normal', count: 3, body: '3 new messages in #general' });
  assert.equal(toasts.visible.length, 1);
  assert.equal(toasts.visible[0].count, 3);
  advance(4000);
  assert.equal(toasts.visible.length, 1);
  advance(1000);
  assert.equal(toasts.visible.length, 0);
});

test('a queued toast is replaced in the queue, not shown twice', () => {
  const { toasts } = queue();
  for (const id of ['a', 'b', 'c', 'd']) toasts.show({ id, priority: 'normal' });
  toasts.show({ id: 'd', priority: 'normal', count: 2 });
  assert.deepEqual(ids(toasts.queued), ['d']);
  assert.equal(toasts.queued[0].count, 2);
});

test('urgent toasts stay until dismissed', () => {
  const { toasts, advance } = queue();
  toasts.show({ id: 'u', priority: 'urgent' });
  advance(60_000);
  assert.deepEqual(ids(toasts.visible), ['u']);
  toasts.dismiss('u');
  assert.deepEqual(ids(toasts.visible), []);
});

test('a toast under the pointer waits, and gets its 5 seconds again when left', () => {
  const { toasts, advance } = queue();
  toasts.show({ id: 'a', priority: 'normal' });
  toasts.hold('a');
  advance(20_000);
  assert.deepEqual(ids(toasts.visible), ['a']);
  toasts.release('a');
  advance(4999);
  assert.deepEqual(ids(toasts.visible), ['a']);
  advance(1);
  assert.deepEqual(ids(toasts.visible), []);
});
