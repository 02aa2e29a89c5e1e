/**
 * A runtime restart mid-session. `tidings dev` without `--data` keeps its state in memory, so
 * the restarted runtime has the demo chats again with their seqs starting over: the SDK must
 * reconnect, notice that a chat's headSeq went backwards (a `reset`), and take the new
 * history's events instead of dropping them as duplicates of seqs it had seen.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { clientFor, contents, Runtime, sleep, unique, waitFor } from '../support/runtime.js';

let runtime;
const clients = [];

after(async () => {
  for (const client of clients) client.close();
  await runtime?.stop();
});

test('the runtime restarts mid-session: clients reconnect, reset the chat, and carry on', async () => {
  runtime = await Runtime.start();
  const alice = clientFor(runtime, 'alice');
  const bob = clientFor(runtime, 'bob');
  clients.push(alice.client, bob.client);
  await Promise.all([alice.client.connect(), bob.client.connect()]);
  await Promise.all([alice.client.listChats(), bob.client.listChats()]);

  const tag = unique('before');
  for (let i = 1; i <= 3; i++) await alice.client.send('dm-alice-bob', `${tag} ${i}`);
  await waitFor(() => contents(bob.seen, 'dm-alice-bob', tag).length === 3, 10_000, 'the first messages');
  assert.equal(bob.client.lastKnownSeq('dm-alice-bob'), 3);

  await runtime.stop('SIGKILL'); // a crash: nothing is saved
  await waitFor(() => alice.client.state === 'reconnecting' && bob.client.state === 'reconnecting', 10_000, 'both notice');
  // Written while the runtime is down: waits in the outbox.
  const during = unique('during');
  const pending = alice.client.send('dm-alice-bob', during);
  await runtime.start();

  await waitFor(() => alice.client.state === 'connected' && bob.client.state === 'connected', 20_000, 'both reconnect');
  const stored = await pending;
  assert.equal(stored.content, during);
  assert.equal(stored.seq, 1, "the new runtime's history starts over");
  await waitFor(() => bob.seen.resets.some((r) => r.chatId === 'dm-alice-bob'), 10_000, "bob's reset");
  const reset = bob.seen.resets.find((r) => r.chatId === 'dm-alice-bob');
  assert.equal(reset.reason, 'headSeqBehind');

  // Seq 1 again, but a new message: delivered, not dropped as a duplicate of the old seq 1.
  await waitFor(() => contents(bob.seen, 'dm-alice-bob', during).length === 1, 10_000, 'the message written during the outage');
  const after = unique('after');
  await bob.client.send('dm-alice-bob', after);
  await waitFor(() => contents(alice.seen, 'dm-alice-bob', after).length === 1, 10_000, 'a message after the restart');
  await sleep(300);
  assert.equal(contents(alice.seen, 'dm-alice-bob', during).length, 1, 'once');
  assert.equal(contents(bob.seen, 'dm-alice-bob', during).length, 1, 'once');
  assert.equal(bob.client.lastKnownSeq('dm-alice-bob'), 2);
});
