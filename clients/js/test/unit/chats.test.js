import assert from 'node:assert/strict';
import { test } from 'node:test';

import { harness } from '../support/harness.js';

const SECOND = 1000;

const message = (chatId, seq, content = `m${seq}`) => ({ messageId: `id-${chatId}-${seq}`, chatId, seq, content });
const newFrame = (chatId, seq, content) => ({ type: 'message.new', id: `e-${chatId}-${seq}`, timestamp: 't', payload: { chatId, seq, message: message(chatId, seq, content) } });

function live(socket, chatId, seq, content) {
  socket.deliver('message.new', { chatId, seq, message: message(chatId, seq, content) });
}

function received(client, chatId) {
  const seqs = [];
  client.on('*', (payload, frame) => {
    const isEvent = frame.type !== 'ack' && frame.type !== 'sync.response' && frame.type !== 'read.receipt';
    if (payload?.chatId === chatId && isEvent && payload.seq !== undefined) seqs.push(payload.seq);
  });
  return seqs;
}

test('live events are delivered in seq order: a later one waits for the missing one', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seqs = received(h.client, 'general');
  live(h.network.last, 'general', 2);
  live(h.network.last, 'general', 3);
  assert.deepEqual(seqs, []);
  live(h.network.last, 'general', 1);
  assert.deepEqual(seqs, [1, 2, 3]);
  assert.equal(h.client.lastKnownSeq('general'), 3);
  h.client.close();
});

test('handlers get the frame as the server sent it, its envelope traceId included (held ones too)', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const traced = [];
  h.client.on('message.new', (payload, frame) => traced.push([payload.seq, frame.traceId]));
  for (const seq of [2, 1]) {
    h.network.last.deliver('message.new', { chatId: 'general', seq, message: message('general', seq) }, { traceId: `trace-of-${seq}` });
  }
  assert.deepEqual(traced, [[1, 'trace-of-1'], [2, 'trace-of-2']]);
  h.client.close();
});

test('duplicates are dropped: by messageId for message.new, by seq for other events', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seqs = received(h.client, 'general');
  const s = h.network.last;
  live(s, 'general', 1);
  live(s, 'general', 1);
  s.deliver('message.updated', { chatId: 'general', seq: 2, message: message('general', 1, 'edited') });
  s.deliver('message.updated', { chatId: 'general', seq: 2, message: message('general', 1, 'edited') });
  // The same message under another seq (a replay after a reset would look like this).
  s.deliver('message.new', { chatId: 'general', seq: 3, message: message('general', 1) });
  assert.deepEqual(seqs, [1, 2]);
  h.client.close();
});

test('a gap still open after gapTimeoutMs is filled with sync.request {chatId, lastKnownSeq}', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seqs = received(h.client, 'general');
  h.server.handle('sync.request', (socket, frame) => {
    if (!frame.payload.chatId) return false;
    socket.deliver('sync.response', {
      refId: frame.id,
      chatId: 'general',
      // seq 1 arrived live already; seq 3 is a hole (a retried send left it): it does not exist
      events: [newFrame('general', 2), newFrame('general', 1)],
      hasMore: false,
      cursor: null,
      headSeq: 4,
      readWatermarks: { alice: 1 },
    });
    return true;
  });
  live(h.network.last, 'general', 1);
  live(h.network.last, 'general', 5);
  live(h.network.last, 'general', 4);
  assert.deepEqual(seqs, [1]);
  await h.clock.advance(0.9 * SECOND);
  assert.equal(h.network.framesOf('sync.request').filter((f) => f.payload.chatId).length, 0);
  await h.clock.advance(0.1 * SECOND);
  const requests = h.network.framesOf('sync.request').filter((f) => f.payload.chatId);
  assert.deepEqual(requests.map((f) => f.payload), [{ chatId: 'general', lastKnownSeq: 1 }]);
  await h.settle();
  assert.deepEqual(seqs, [1, 2, 4, 5], 'seq 1 once, seq 3 skipped');
  assert.equal(h.client.lastKnownSeq('general'), 5);
  h.client.close();
});

test('a chat.summary syncs the tracked chat at once; one of a chat caught up or untracked syncs nothing', async () => {
  const h = harness({ client: { chats: { 'town-hall': 0 } } });
  await h.client.connect();
  const seqs = received(h.client, 'town-hall');
  const summaries = [];
  h.client.on('chat.summary', (payload) => summaries.push(payload.newMessages));
  h.server.handle('sync.request', (socket, frame) => {
    if (!frame.payload.chatId) return false;
    socket.deliver('sync.response', {
      refId: frame.id,
      chatId: 'town-hall',
      events: [newFrame('town-hall', 2), newFrame('town-hall', 3)],
      hasMore: false,
      cursor: null,
      headSeq: 3,
      readWatermarks: {},
    });
    return true;
  });
  live(h.network.last, 'town-hall', 1);
  h.network.last.deliver('chat.summary', { chatId: 'town-hall', newMessages: 2, lastSeq: 3 });
  const requests = () => h.network.framesOf('sync.request').filter((f) => f.payload.chatId);
  assert.deepEqual(requests().map((f) => f.payload), [{ chatId: 'town-hall', lastKnownSeq: 1 }], 'no gap timer to wait for');
  await h.settle();
  assert.deepEqual(seqs, [1, 2, 3]);
  assert.deepEqual(summaries, [2], 'the app gets the summary too');
  h.network.last.deliver('chat.summary', { chatId: 'town-hall', newMessages: 2, lastSeq: 3 });
  h.network.last.deliver('chat.summary', { chatId: 'elsewhere', newMessages: 9, lastSeq: 9 });
  await h.settle();
  assert.equal(requests().length, 1);
  h.client.close();
});

test('"listen, then sync" on every reconnect: one multi-chat sync; live frames wait for it', async () => {
  const h = harness({ client: { chats: { general: 4, 'project-x': 10 } } });
  await h.client.connect();
  const general = received(h.client, 'general');
  const badges = [];
  h.client.on('notification.badge', (badge) => badges.push(badge));
  let pendingSync;
  h.server.handle('sync.request', (socket, frame) => {
    if (!frame.payload.chats) return false;
    pendingSync = { socket, frame };
    return true;
  });
  h.network.last.serverClose();
  await h.clock.advance(2 * SECOND);
  assert.equal(h.client.state, 'connected');
  const sync = h.network.last.framesOf('sync.request');
  assert.deepEqual(sync.map((f) => f.payload), [{ chats: { general: 4, 'project-x': 10 } }]);
  const helloIndex = h.network.last.sent.findIndex((f) => f.type === 'hello');
  assert.equal(helloIndex, 0);

  // A live frame arrives before the sync answer: held.
  live(h.network.last, 'general', 7);
  assert.deepEqual(general, []);
  pendingSync.socket.deliver('sync.response', {
    refId: pendingSync.frame.id,
    chats: [
      { chatId: 'general', events: [newFrame('general', 5), newFrame('general', 6), newFrame('general', 7)], hasMore: false, cursor: null, headSeq: 7, readWatermarks: {} },
      { chatId: 'project-x', events: [], hasMore: false, cursor: null, headSeq: 10, readWatermarks: {} },
    ],
    badges: [{ chatId: 'general', unreadCount: 3, mentionCount: 0, totalUnreadCount: 3, totalMentionCount: 0 }],
    presence: [],
  });
  await h.settle();
  assert.deepEqual(general, [5, 6, 7], 'seq 7 once, in order');
  assert.deepEqual(badges.map((b) => b.unreadCount), [3]);
  h.client.close();
});

test('hasMore: the rest is fetched with the cursor before live frames are let through', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  const seqs = received(h.client, 'general');
  h.server.handle('sync.request', (socket, frame) => {
    if (frame.payload.chats) {
      socket.deliver('sync.response', {
        refId: frame.id,
        chats: [{ chatId: 'general', events: [newFrame('general', 1), newFrame('general', 2)], hasMore: true, cursor: 'c-2', headSeq: 4, readWatermarks: {} }],
        badges: [],
        presence: [],
      });
      live(socket, 'general', 5); // arrives while the rest is fetched
    } else {
      assert.deepEqual(frame.payload, { chatId: 'general', cursor: 'c-2' });
      socket.deliver('sync.response', { refId: frame.id, chatId: 'general', events: [newFrame('general', 3), newFrame('general', 4)], hasMore: false, cursor: null, headSeq: 5, readWatermarks: {} });
    }
    return true;
  });
  await h.client.connect();
  await h.settle();
  assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
  h.client.close();
});

test('tooLarge: the newest page is refetched over REST (Bearer token) and a reset is emitted', async () => {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, authorization: init.headers.Authorization });
    return new Response(JSON.stringify({ messages: [message('general', 900), message('general', 899)], nextBefore: 899 }), { status: 200 });
  };
  const h = harness({ fetch, client: { chats: { general: 10 } } });
  const resets = [];
  h.client.on('reset', (reset) => resets.push(reset));
  const seqs = received(h.client, 'general');
  h.server.handle('sync.request', (socket, frame) => {
    if (!frame.payload.chats) return false;
    socket.deliver('sync.response', { refId: frame.id, chats: [{ chatId: 'general', tooLarge: true, headSeq: 900, readWatermarks: {} }], badges: [], presence: [] });
    return true;
  });
  await h.client.connect();
  await h.settle();
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, 'http://127.0.0.1:8080/api/chats/general/messages?limit=50');
  assert.equal(calls[0].authorization, 'Bearer token-1');
  assert.equal(resets.length, 1);
  assert.equal(resets[0].reason, 'tooLarge');
  assert.equal(resets[0].headSeq, 900);
  assert.deepEqual(resets[0].messages.map((m) => m.seq), [899, 900], 'oldest first');
  assert.equal(h.client.lastKnownSeq('general'), 900);
  live(h.network.last, 'general', 900); // already in the page
  live(h.network.last, 'general', 901);
  assert.deepEqual(seqs, [901]);
  h.client.close();
});

test('a headSeq below what the client knew (the server lost its history): reset, then replay from 0', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seqs = received(h.client, 'general');
  for (const seq of [1, 2, 3, 4, 5]) live(h.network.last, 'general', seq, `old ${seq}`);
  assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
  const resets = [];
  h.client.on('reset', (reset) => resets.push(reset));
  const contents = [];
  h.client.on('message.new', (payload) => contents.push(payload.message.content));

  // The server restarts with an empty store; one new message exists there (seq 1).
  const fresh = { ...message('general', 1, 'new 1'), messageId: 'fresh-1' };
  h.server.handle('sync.request', (socket, frame) => {
    if (frame.payload.chats) {
      socket.deliver('sync.response', { refId: frame.id, chats: [{ chatId: 'general', events: [], hasMore: false, cursor: null, headSeq: 1, readWatermarks: {} }], badges: [], presence: [] });
    } else {
      assert.deepEqual(frame.payload, { chatId: 'general', lastKnownSeq: 0 });
      socket.deliver('sync.response', {
        refId: frame.id, chatId: 'general', hasMore: false, cursor: null, headSeq: 1, readWatermarks: {},
        events: [{ type: 'message.new', id: 'x', timestamp: 't', payload: { chatId: 'general', seq: 1, message: fresh } }],
      });
    }
    return true;
  });
  h.network.last.serverClose();
  await h.clock.advance(2 * SECOND);
  assert.deepEqual(resets.map((r) => [r.reason, r.headSeq]), [['headSeqBehind', 1]]);
  assert.deepEqual(contents, ['new 1']);
  // The new history goes on from there.
  h.network.last.deliver('message.new', { chatId: 'general', seq: 2, message: { ...message('general', 2, 'new 2'), messageId: 'fresh-2' } });
  assert.deepEqual(contents, ['new 1', 'new 2']);
  assert.equal(h.client.lastKnownSeq('general'), 2);
  h.client.close();
});

test('a chat the user was removed from (sync error entry) is untracked with a reset', async () => {
  const h = harness({ client: { chats: { general: 3, secret: 7 } } });
  const resets = [];
  h.client.on('reset', (reset) => resets.push(reset));
  h.server.handle('sync.request', (socket, frame) => {
    socket.deliver('sync.response', {
      refId: frame.id,
      chats: [
        { chatId: 'general', events: [], hasMore: false, cursor: null, headSeq: 3, readWatermarks: {} },
        { chatId: 'secret', error: { code: 'FORBIDDEN', message: 'You are not a member' } },
      ],
      badges: [],
      presence: [],
    });
    return true;
  });
  await h.client.connect();
  await h.settle();
  assert.deepEqual(resets.map((r) => [r.chatId, r.reason, r.error.code]), [['secret', 'forbidden', 'FORBIDDEN']]);
  assert.deepEqual(h.client.chats, { general: 3 });
  h.client.close();
});

test('more than 100 chats: the reconnect sync is split into requests of 100', async () => {
  const chats = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`c${i}`, i]));
  const h = harness({ client: { chats } });
  await h.client.connect();
  await h.settle();
  const sizes = h.network.framesOf('sync.request').map((f) => Object.keys(f.payload.chats).length);
  assert.deepEqual(sizes, [100, 100, 50]);
  h.client.close();
});

test('your own send: its ack is the message.new, in seq order; the live copy is dropped', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const contents = [];
  h.client.on('message.new', (payload) => contents.push([payload.seq, payload.message.content]));
  h.server.heads.set('general', 1); // someone else's message took seq 1, not delivered yet
  const mine = await h.client.send('general', 'mine');
  assert.equal(mine.seq, 2);
  assert.deepEqual(contents, [], 'waits for seq 1');
  live(h.network.last, 'general', 1, 'theirs');
  assert.deepEqual(contents, [[1, 'theirs'], [2, 'mine']]);
  // The server's fan-out to the sending connection arrives as well: a duplicate.
  h.network.last.deliver('message.new', { chatId: 'general', seq: 2, message: mine });
  assert.equal(contents.length, 2);
  h.client.close();
});

test('frames of unknown types are delivered as they are (new server features need no SDK change)', async () => {
  const h = harness();
  await h.client.connect();
  const got = [];
  const all = [];
  const off = h.client.on('poll.created', (payload, frame) => got.push([payload, frame.type]));
  h.client.on('*', (payload, frame) => all.push(frame.type));
  h.network.last.deliver('poll.created', { chatId: 'general', question: '?' });
  h.network.last.deliver('typing.indicator', { chatId: 'general', userId: 'bob', active: true });
  assert.deepEqual(got, [[{ chatId: 'general', question: '?' }, 'poll.created']]);
  assert.ok(all.includes('poll.created') && all.includes('typing.indicator'));
  off();
  h.network.last.deliver('poll.created', { chatId: 'general', question: '!' });
  assert.equal(got.length, 1, 'unsubscribed');
  h.client.close();
});

test('a new chat type of event can be ordered too (chatEventTypes)', async () => {
  const h = harness({ client: { chats: { general: 0 }, chatEventTypes: ['poll.created'] } });
  await h.client.connect();
  const seqs = received(h.client, 'general');
  h.network.last.deliver('poll.created', { chatId: 'general', seq: 2 });
  h.network.last.deliver('poll.created', { chatId: 'general', seq: 1 });
  assert.deepEqual(seqs, [1, 2]);
  h.client.close();
});

test('read.receipt has a seq but is not a chat event: it is not held or reordered', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const receipts = [];
  h.client.on('read.receipt', (r) => receipts.push(r.seq));
  h.network.last.deliver('read.receipt', { chatId: 'general', userId: 'bob', messageId: 'x', seq: 40 });
  assert.deepEqual(receipts, [40]);
  assert.equal(h.client.lastKnownSeq('general'), 0);
  h.client.close();
});

test('a handler that throws does not stop the others; it becomes an error event', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const seen = [];
  h.client.on('message.new', () => {
    throw new Error('app bug');
  });
  h.client.on('message.new', (payload) => seen.push(payload.seq));
  live(h.network.last, 'general', 1);
  live(h.network.last, 'general', 2);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(h.errors.filter((e) => e.code === 'HANDLER').length, 2);
  h.client.close();
});

test('sync(chatId) on a new chat replays its history; listChats() tracks chats from headSeq', async () => {
  const fetch = async () => new Response(JSON.stringify([{ chatId: 'project-x', headSeq: 12 }, { chatId: 'general', headSeq: 3 }]), { status: 200 });
  const h = harness({ fetch });
  await h.client.connect();
  h.server.handle('sync.request', (socket, frame) => {
    if (!frame.payload.chatId) return false;
    socket.deliver('sync.response', { refId: frame.id, chatId: 'dm', events: [newFrame('dm', 1), newFrame('dm', 2)], hasMore: false, cursor: null, headSeq: 2, readWatermarks: {} });
    return true;
  });
  const seqs = received(h.client, 'dm');
  await h.client.sync('dm');
  assert.deepEqual(seqs, [1, 2]);
  const chats = await h.client.listChats();
  assert.equal(chats.length, 2);
  assert.deepEqual(h.client.chats, { dm: 2, 'project-x': 12, general: 3 });
  h.client.close();
});

test('a big chat\'s partial readWatermarks and its readSummary reach `synced`', async () => {
  const h = harness({ client: { chats: { general: 0 } } });
  await h.client.connect();
  const synced = [];
  h.client.on('synced', (event) => synced.push(event));
  const readSummary = { members: 1200, readToHead: 340 };
  h.server.handle('sync.request', (socket, frame) => {
    if (!frame.payload.chatId) return false;
    socket.deliver('sync.response', {
      refId: frame.id, chatId: 'general', events: [newFrame('general', 2)], hasMore: false, cursor: null,
      headSeq: 3, readWatermarks: { me: 1, bob: 3 }, readSummary,
    });
    return true;
  });
  live(h.network.last, 'general', 1);
  live(h.network.last, 'general', 3);
  await h.clock.advance(SECOND);
  await h.settle();
  assert.deepEqual(synced, [{ chatId: 'general', headSeq: 3, readWatermarks: { me: 1, bob: 3 }, readSummary }]);
  h.client.close();
});
