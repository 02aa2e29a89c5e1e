import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AttachmentFiles, isInline, uploadError, Uploads } from '../app/attachments.js';

/** A fake SDK client whose uploads the test settles: `calls[i].progress(...)`, `.resolve(...)`, `.reject(...)`. */
function fakeClient() {
  const calls = [];
  return {
    calls,
    upload(chatId, file, options) {
      return new Promise((resolve, reject) => calls.push({ chatId, file, options, progress: options.onProgress, resolve, reject }));
    },
  };
}

const png = () => new File([new Uint8Array(2048)], 'chart.png', { type: 'image/png' });
const states = (uploads, chatId) => uploads.of(chatId).map((upload) => [upload.name, upload.state]);

test('an upload shows its progress, then the scan, then is ready and is taken by the next message', async () => {
  const client = fakeClient();
  let changes = 0;
  const uploads = new Uploads({ client, onChange: () => changes++ });
  const done = uploads.add('c', png());
  assert.deepEqual(states(uploads, 'c'), [['chart.png', 'uploading']]);
  assert.equal(uploads.busy('c'), true);
  assert.equal(uploads.busy('other'), false);
  const [call] = client.calls;
  assert.equal(call.chatId, 'c');
  assert.equal(call.options.contentType, 'image/png');

  call.progress({ loaded: 1000, total: 2300 });
  assert.deepEqual([uploads.of('c')[0].loaded, uploads.of('c')[0].total, uploads.of('c')[0].state], [1000, 2300, 'uploading']);
  call.progress({ loaded: 2300, total: 2300 });
  assert.equal(uploads.of('c')[0].state, 'scanning', 'every byte is out: the scan is awaited');
  assert.deepEqual(uploads.take('c'), [], 'nothing to send while scanning');
  assert.equal(uploads.of('c').length, 1, 'and it stays');

  call.resolve({ attachmentId: 'a-1', name: 'chart.png', size: 2048, contentType: 'image/png', status: 'clean' });
  await done;
  assert.deepEqual(states(uploads, 'c'), [['chart.png', 'clean']]);
  assert.equal(uploads.busy('c'), false);
  assert.ok(changes >= 4);
  assert.deepEqual(uploads.take('c'), [{ attachmentId: 'a-1', name: 'chart.png', size: 2048, contentType: 'image/png', status: 'clean' }]);
  assert.deepEqual(uploads.of('c'), [], 'sent: the composer is empty again');
});

test('an infected or refused upload stays with its reason, is never taken, and can be removed', async () => {
  const client = fakeClient();
  const uploads = new Uploads({ client, onChange: () => {} });
  const infected = uploads.add('c', new File(['X5O'], 'eicar.txt', { type: 'text/plain' }));
  const refused = uploads.add('c', new File(['big'], 'big.bin'));
  const ready = uploads.add('c', png());
  assert.equal(client.calls[1].options.contentType, 'application/octet-stream', 'a file without a type');
  client.calls[0].reject(Object.assign(new Error('eicar.txt was found infected'), { code: 'INFECTED', extra: { attachmentId: 'a-bad' } }));
  client.calls[1].reject(Object.assign(new Error('S3 refused the upload'), { code: 'RATE_LIMITED', retryAfterMs: 12_000 }));
  client.calls[2].resolve({ attachmentId: 'a-ok' });
  await Promise.all([infected, refused, ready]);
  assert.deepEqual(states(uploads, 'c'), [
    ['eicar.txt', 'infected'],
    ['big.bin', 'failed'],
    ['chart.png', 'clean'],
  ]);
  assert.equal(uploads.of('c')[0].error, 'Infected: the file was removed');
  assert.equal(uploads.of('c')[1].error, 'Not uploaded: too many uploads, try again in 12 s');
  assert.deepEqual(uploads.take('c').map((a) => a.attachmentId), ['a-ok']);
  assert.deepEqual(states(uploads, 'c'), [
    ['eicar.txt', 'infected'],
    ['big.bin', 'failed'],
  ]);
  for (const upload of uploads.of('c')) uploads.remove(upload.id);
  assert.deepEqual(uploads.of('c'), []);
});

test("uploadError puts S3's and the API's refusals in words", () => {
  assert.match(uploadError({ code: 'EntityTooLarge' }), /changed size/);
  assert.match(uploadError({ code: 'AccessDenied' }), /refused/);
  assert.equal(uploadError({ code: 'BAD_FRAME', message: 'size: too big' }), 'Not uploaded: size: too big');
});

test('only scanned images are shown inline', () => {
  assert.equal(isInline({ contentType: 'image/png', status: 'clean' }), true);
  assert.equal(isInline({ contentType: 'image/png', status: 'pending' }), false);
  assert.equal(isInline({ contentType: 'application/pdf', status: 'clean' }), false);
  assert.equal(isInline({ status: 'clean' }), false);
});

test('a sent file is fetched once and kept as a blob URL; a failed fetch can be tried again; clear revokes', async () => {
  const fetched = [];
  const revoked = [];
  let fail = true;
  let changes = 0;
  const files = new AttachmentFiles({
    fetchFile: async (attachmentId) => {
      fetched.push(attachmentId);
      if (fail) throw new Error('still being scanned');
      return new Blob(['png']);
    },
    createUrl: () => `blob:${fetched.length}`,
    revokeUrl: (url) => revoked.push(url),
    onChange: () => changes++,
  });
  assert.equal(files.get('a-1'), undefined);
  await assert.rejects(files.load('a-1'), /scanned/);
  assert.deepEqual([files.get('a-1').state, files.get('a-1').error], ['error', 'still being scanned']);
  fail = false;
  const url = await files.load('a-1');
  assert.equal(url, 'blob:2');
  assert.equal(await files.load('a-1'), 'blob:2');
  assert.deepEqual(fetched, ['a-1', 'a-1'], 'fetched again after the failure, then not any more');
  assert.deepEqual([files.get('a-1').state, files.get('a-1').url], ['ready', 'blob:2']);
  assert.equal(changes, 2);
  files.clear();
  assert.deepEqual(revoked, ['blob:2']);
  assert.equal(files.get('a-1'), undefined);
});
