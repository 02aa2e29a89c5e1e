/**
 * The SDK against a real `tidings dev --demo`, over real WebSockets: sending and receiving,
 * same-id retries, the outbox across a dropped connection, a server-side cut, gap-fill, token
 * refresh, revocation, and (last: it restarts the shared runtime) a runtime restart.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { clientFor, contents, networkControl, Runtime, sleep, unique, waitFor } from '../support/runtime.js';

let runtime;
const clients = [];

function open(userId, options) {
  const made = clientFor(runtime, userId, options);
  clients.push(made.client);
  return made;
}

/** Connects the clients, then tracks their chats from their headSeq (GET /api/chats). */
async function connectAll(...made) {
  await Promise.all(made.map(({ client }) => client.connect()));
  await Promise.all(made.map(({ client }) => client.listChats()));
}

before(async () => {
  runtime = await Runtime.start();
});

after(async () => {
  for (const client of clients) client.close();
  await runtime?.stop();
});

test('two users send and receive, in order, each message once', async () => {
  const alice = open('alice');
  const bob = open('bob');
  await connectAll(alice, bob);
  const tag = unique('hello');
  const sent = [];
  for (let i = 1; i <= 3; i++) sent.push(await alice.client.send('project-x', `${tag} ${i}`));
  assert.deepEqual(sent.map((m) => m.senderId), ['alice', 'alice', 'alice']);
  assert.ok(sent[0].seq < sent[1].seq && sent[1].seq < sent[2].seq);

  const expected = [1, 2, 3].map((i) => `${tag} ${i}`);
  await waitFor(() => contents(bob.seen, 'project-x', tag).length === 3, 10_000, "bob's messages");
  assert.deepEqual(contents(bob.seen, 'project-x', tag), expected);
  // Alice's own messages reach her handlers once each (the ack, then the live copy, dropped).
  await sleep(300);
  assert.deepEqual(contents(alice.seen, 'project-x', tag), expected);
  assert.deepEqual(contents(bob.seen, 'project-x', tag), expected);

  const reply = await bob.client.send('project-x', `${tag} reply`, { replyTo: sent[2].messageId });
  assert.equal(reply.replyTo, sent[2].messageId);
  await waitFor(() => contents(alice.seen, 'project-x', `${tag} reply`).length === 1, 10_000, 'the reply');
});

test('a lost ack: the SDK sends the same id again and the server stores the message once', async () => {
  const control = networkControl();
  const alice = open('alice', { control, client: { ackTimeoutMs: 400 } });
  const bob = open('bob');
  await connectAll(alice, bob);
  const tag = unique('retry');
  let dropped = 0;
  control.dropIncoming = (frame) => frame.type === 'ack' && frame.payload.message?.content === tag && dropped++ === 0;
  const message = await alice.client.send('general', tag);
  assert.ok(dropped >= 2, 'the first ack was lost, a later one arrived');
  const frames = control.sent.filter((f) => f.type === 'message.send' && f.payload.content === tag);
  assert.ok(frames.length >= 2, 'sent again');
  assert.equal(new Set(frames.map((f) => f.id)).size, 1, 'with the same id');

  await waitFor(() => contents(bob.seen, 'general', tag).length === 1, 10_000, "bob's copy");
  await sleep(500);
  assert.equal(contents(bob.seen, 'general', tag).length, 1, 'one message.new for bob');
  const history = await bob.client.history('general', { limit: 20 });
  const stored = history.messages.filter((m) => m.content === tag);
  assert.deepEqual(stored.map((m) => m.messageId), [message.messageId], 'stored once');
});

test('the outbox: sends made while the connection is down go out in order after the reconnect', async () => {
  const control = networkControl();
  const alice = open('alice', { control });
  const bob = open('bob');
  await connectAll(alice, bob);
  control.offline = true;
  await runtime.deleteConnection(alice.client.connectionId);
  await waitFor(() => alice.client.state === 'reconnecting', 5000, 'alice offline');

  const tag = unique('offline');
  const sends = [1, 2, 3, 4].map((i) => alice.client.send('dm-alice-bob', `${tag} ${i}`));
  await sleep(700);
  assert.equal(alice.client.state, 'reconnecting');
  assert.equal((await alice.client.pendingMutations()).length, 4);
  assert.deepEqual(contents(bob.seen, 'dm-alice-bob', tag), []);

  control.offline = false;
  const messages = await Promise.all(sends);
  assert.deepEqual(messages.map((m) => m.content), [1, 2, 3, 4].map((i) => `${tag} ${i}`));
  assert.ok(messages.every((m, i) => i === 0 || m.seq > messages[i - 1].seq), 'stored in the order written');
  await waitFor(() => contents(bob.seen, 'dm-alice-bob', tag).length === 4, 10_000, "bob's copies");
  assert.deepEqual(contents(bob.seen, 'dm-alice-bob', tag), [1, 2, 3, 4].map((i) => `${tag} ${i}`));
  assert.deepEqual(await alice.client.pendingMutations(), []);
});

test('a connection cut by the server (DeleteConnection): the SDK reconnects and syncs what it missed', async () => {
  const control = networkControl();
  const carol = open('carol', { control });
  const bob = open('bob');
  await connectAll(carol, bob);
  const before = carol.client.connectionId;
  control.offline = true; // keep carol away while bob writes
  await runtime.deleteConnection(before);
  await waitFor(() => carol.client.state === 'reconnecting', 5000, 'the cut');

  const tag = unique('missed');
  await bob.client.send('project-x', `${tag} 1`);
  await bob.client.send('project-x', `${tag} 2`);
  assert.deepEqual(contents(carol.seen, 'project-x', tag), []);

  control.offline = false;
  await waitFor(() => carol.client.state === 'connected', 10_000, 'the reconnect');
  assert.notEqual(carol.client.connectionId, before);
  const syncs = control.sent.filter((f) => f.type === 'sync.request' && f.payload.chats);
  assert.ok(syncs.length >= 1 && 'project-x' in syncs.at(-1).payload.chats, 'a multi-chat sync after the reconnect');
  await waitFor(() => contents(carol.seen, 'project-x', tag).length === 2, 10_000, 'the missed messages');
  assert.deepEqual(contents(carol.seen, 'project-x', tag), [`${tag} 1`, `${tag} 2`]);
  await bob.client.send('project-x', `${tag} 3`);
  await waitFor(() => contents(carol.seen, 'project-x', tag).length === 3, 10_000, 'live again');
});

test('gap-fill: frames lost on the way are fetched with sync.request and delivered in order', async () => {
  const control = networkControl();
  const bob = open('bob', { control });
  const alice = open('alice');
  await connectAll(alice, bob);
  const tag = unique('gap');
  control.dropIncoming = (frame) => frame.type === 'message.new' && frame.payload.message?.content?.startsWith(`${tag} lost`);
  await alice.client.send('general', `${tag} lost 1`);
  await alice.client.send('general', `${tag} lost 2`);
  await sleep(300);
  assert.deepEqual(contents(bob.seen, 'general', tag), []);
  const syncsBefore = control.sent.filter((f) => f.type === 'sync.request' && f.payload.chatId === 'general').length;
  await alice.client.send('general', `${tag} arrives`);
  await waitFor(() => contents(bob.seen, 'general', tag).length === 3, 10_000, 'the gap filled');
  assert.deepEqual(contents(bob.seen, 'general', tag), [`${tag} lost 1`, `${tag} lost 2`, `${tag} arrives`]);
  const gapSyncs = control.sent.filter((f) => f.type === 'sync.request' && f.payload.chatId === 'general');
  assert.equal(gapSyncs.length, syncsBefore + 1);
  assert.equal(typeof gapSyncs.at(-1).payload.lastKnownSeq, 'number');
});

test('token refresh: a token about to expire is renewed with auth.renew; the connection outlives it', async () => {
  const SHORT = 4; // inside the server's 70 s refresh lead: token.refresh comes at once
  let first = true;
  const carol = open('carol', {
    getToken: () => {
      const ttl = first ? SHORT : 900;
      first = false;
      return runtime.token('carol', ttl);
    },
  });
  const alice = open('alice');
  const refreshes = [];
  carol.client.on('token.refresh', (payload) => refreshes.push(payload.expiresAt));
  await connectAll(carol, alice);
  const connectionId = carol.client.connectionId;
  await waitFor(() => carol.tokens.includes('refresh') && refreshes.length === 1, 10_000, 'token.refresh');
  const renew = await waitFor(() => carol.control.sent.find((f) => f.type === 'auth.renew'), 10_000, 'auth.renew');
  assert.ok(renew.payload.token);
  // Past the first token's expiry, and the server's expiry check (SQS delays in whole seconds).
  await sleep(Date.parse(refreshes[0]) + 3000 - Date.now());
  assert.equal(carol.client.state, 'connected');
  assert.equal(carol.client.connectionId, connectionId, 'the same connection: renewed, not reconnected');
  assert.ok(!carol.tokens.includes('unauthorized'));
  assert.deepEqual(carol.seen.errors, []);
  assert.equal(refreshes.length, 1);
  const tag = unique('still');
  await alice.client.send('project-x', tag);
  await waitFor(() => contents(carol.seen, 'project-x', tag).length === 1, 10_000, 'a message after the expiry');
});

test('revoked: a fresh token reconnects once; a refused one closes the client with an error', async () => {
  const user = unique('revokee');
  let issueFresh = true;
  let current = await runtime.token(user, 900); // a ttl: a new token each time, never the cached one
  const made = open(user, {
    getToken: async ({ reason }) => {
      if (reason === 'unauthorized' && issueFresh) {
        await sleep(1100); // revocation has one-second granularity
        current = await runtime.token(user, 900);
      }
      return current;
    },
  });
  await made.client.connect();
  const first = made.client.connectionId;
  const revoke = (token) => fetch(`${runtime.apiUrl}/api/auth/revoke`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  assert.equal((await revoke(current)).status, 200);
  await waitFor(() => made.tokens.includes('unauthorized') && made.client.state === 'connected' && made.client.connectionId !== first, 15_000, 'the reconnect with a fresh token');
  assert.deepEqual(made.seen.errors, []);

  issueFresh = false; // this time the app has nothing better than the revoked token
  assert.equal((await revoke(current)).status, 200);
  await waitFor(() => made.client.state === 'closed', 15_000, 'closed');
  assert.deepEqual(made.seen.errors.map((e) => e.code), ['UNAUTHORIZED']);
  await sleep(1500);
  assert.equal(made.client.state, 'closed', 'no reconnect after giving up');
});

// Last, since it restarts the runtime the other tests share. `tidings dev` keeps its state in
// memory, so the restarted runtime has the demo chats again with their seqs
// starting over: the SDK must reconnect, notice that the chat's headSeq went backwards (a
// `reset`), and take the new history's events instead of dropping them as seqs it had seen.
test('the runtime restarts mid-session: clients reconnect, reset the chat, and carry on', async () => {
  const alice = open('alice');
  const bob = open('bob');
  await connectAll(alice, bob);
  const baseline = bob.client.lastKnownSeq('dm-alice-bob');

  const tag = unique('before');
  for (let i = 1; i <= 3; i++) await alice.client.send('dm-alice-bob', `${tag} ${i}`);
  await waitFor(() => contents(bob.seen, 'dm-alice-bob', tag).length === 3, 10_000, 'the first messages');
  assert.equal(bob.client.lastKnownSeq('dm-alice-bob'), baseline + 3);

  await runtime.stop('SIGKILL'); // a crash: nothing is saved
  await waitFor(() => alice.client.state === 'reconnecting' && bob.client.state === 'reconnecting', 10_000, 'both notice');
  const during = unique('during'); // written while the runtime is down: waits in the outbox
  const pending = alice.client.send('dm-alice-bob', during);
  await runtime.start();

  await waitFor(() => alice.client.state === 'connected' && bob.client.state === 'connected', 20_000, 'both reconnect');
  const stored = await pending;
  assert.equal(stored.content, during);
  assert.equal(stored.seq, 1, "the new runtime's history starts over");
  await waitFor(() => bob.seen.resets.some((r) => r.chatId === 'dm-alice-bob'), 10_000, "bob's reset");
  assert.equal(bob.seen.resets.find((r) => r.chatId === 'dm-alice-bob').reason, 'headSeqBehind');

  // Seq 1 again, but a new message: delivered, not dropped as a duplicate of the old seq 1.
  await waitFor(() => contents(bob.seen, 'dm-alice-bob', during).length === 1, 10_000, 'the message written during the outage');
  const later = unique('after');
  await bob.client.send('dm-alice-bob', later);
  await waitFor(() => contents(alice.seen, 'dm-alice-bob', later).length === 1, 10_000, 'a message after the restart');
  await sleep(300);
  assert.equal(contents(alice.seen, 'dm-alice-bob', during).length, 1, 'once');
  assert.equal(contents(bob.seen, 'dm-alice-bob', during).length, 1, 'once');
  assert.equal(bob.client.lastKnownSeq('dm-alice-bob'), 2);
});
