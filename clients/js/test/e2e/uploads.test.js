/**
 * client.upload() against a real `tidings dev --demo`: the upload form from its HTTP API, the
 * file POSTed to its local S3 endpoint (Node has no XMLHttpRequest: fetch with FormData), the
 * scan's verdict over the WebSocket, the message that carries the attachment, and another
 * member's download through `GET /api/attachments/{id}` (302 to a presigned GET).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { InfectedError } from '../../src/index.js';
import { clientFor, Runtime, unique, waitFor } from '../support/runtime.js';

// What the local scanner flags: tidings.attachments.scanning.EICAR, byte for byte (it has no `$`
// before `H+H*`, unlike the published EICAR test file, which that scanner therefore passes).
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!H+H*';
const PNG = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='),
  (c) => c.charCodeAt(0),
);

let runtime;
const clients = [];

function open(userId) {
  const made = clientFor(runtime, userId);
  clients.push(made.client);
  return made;
}

before(async () => {
  runtime = await Runtime.start();
});

after(async () => {
  for (const client of clients) client.close();
  await runtime?.stop();
});

test('an upload is scanned clean, sent with a message, and another member downloads the same bytes', async () => {
  const alice = open('alice');
  const bob = open('bob');
  await Promise.all([alice.client.connect(), bob.client.connect()]);
  await Promise.all([alice.client.listChats(), bob.client.listChats()]);
  const progress = [];
  const uploaded = await alice.client.upload('project-x', new Blob([PNG], { type: 'image/png' }), {
    name: 'dot.png',
    onProgress: (p) => progress.push(p),
  });
  assert.equal(uploaded.status, 'clean');
  assert.deepEqual([uploaded.name, uploaded.size, uploaded.contentType], ['dot.png', PNG.length, 'image/png']);
  assert.deepEqual(progress.at(-1), { loaded: PNG.length, total: PNG.length });

  const tag = unique('attached');
  const sent = await alice.client.send('project-x', tag, { attachments: [{ attachmentId: uploaded.attachmentId }] });
  const expected = { attachmentId: uploaded.attachmentId, name: 'dot.png', size: PNG.length, contentType: 'image/png', status: 'clean' };
  assert.deepEqual(sent.attachments, [expected]);
  const arrived = await waitFor(() => bob.seen.messages.find((m) => m.message.content === tag), 10_000, "bob's copy");
  assert.deepEqual(arrived.message.attachments, [expected]);

  const answer = await fetch(`${runtime.apiUrl}/api/attachments/${uploaded.attachmentId}`, {
    headers: { Authorization: `Bearer ${await runtime.token('bob')}` },
    redirect: 'manual',
  });
  assert.equal(answer.status, 302);
  const file = await fetch(answer.headers.get('location'));
  assert.equal(file.status, 200);
  assert.equal(file.headers.get('content-type'), 'image/png');
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), PNG);
});

test('an infected upload rejects with InfectedError and cannot be sent', async () => {
  const carol = open('carol');
  await carol.client.connect();
  const error = await carol.client.upload('project-x', new Blob([EICAR], { type: 'text/plain' }), { name: 'eicar.txt' }).catch((e) => e);
  assert.ok(error instanceof InfectedError, `${error?.code}: ${error?.message}`);
  const attachmentId = error.extra.attachmentId;
  const refused = await carol.client.send('project-x', unique('infected'), { attachments: [{ attachmentId }] }).catch((e) => e);
  assert.equal(refused.code, 'CONFLICT');
});
