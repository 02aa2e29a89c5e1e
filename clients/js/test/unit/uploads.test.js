// client.upload(): the upload form, the multipart POST to S3 (fields as given, the file last),
// progress, the scan's verdict, and each refusal as its own error.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { InfectedError, TidingsError, UploadRefusedError } from '../../src/index.js';
import { harness } from '../support/harness.js';

const S3 = 'http://127.0.0.1:9000/tidings-attachments';
const FIELDS = { key: 'uploads/a-1', 'Content-Type': 'image/png', policy: 'cG9saWN5', 'x-amz-signature': 'ab12' };
const TICKET = { attachmentId: 'a-1', upload: { url: S3, fields: FIELDS }, expiresAt: '2026-11-25T10:15:00.000Z' };
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]);

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

function s3Error(status, code, message) {
  return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`, {
    status,
    headers: { 'Content-Type': 'application/xml' },
  });
}

/** A client whose fetch answers the form with `form` and S3's POST with `s3(body)`; calls recorded. */
async function uploading({ form = () => json(201, TICKET), s3 = () => new Response(null, { status: 204 }), client = { XMLHttpRequest: null } } = {}) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers ?? {}, body: init.body });
    return url.startsWith(S3) ? s3(init.body) : form(init);
  };
  const h = harness({ fetch, client });
  await h.client.connect();
  const scanned = (attachmentId, status) => h.network.last.deliver('attachment.scanned', { attachmentId, chatId: 'project-x', status });
  return { ...h, calls, scanned };
}

test('upload: the form is asked for the file, the fields go to S3 as given with the file last, and a clean verdict resolves', async () => {
  let h;
  const progress = [];
  h = await uploading({
    // The verdict arrives before S3's answer to the POST does: it must not be missed.
    s3: () => {
      h.scanned('a-1', 'clean');
      return new Response(null, { status: 204 });
    },
  });
  const file = new File([PNG], 'chart.png', { type: 'image/png' });
  const uploaded = await h.client.upload('project x', file, { onProgress: (p) => progress.push(p) });
  assert.deepEqual(uploaded, {
    attachmentId: 'a-1',
    name: 'chart.png',
    size: PNG.length,
    contentType: 'image/png',
    status: 'clean',
    expiresAt: TICKET.expiresAt,
  });
  const [form, post] = h.calls;
  assert.equal(form.url, 'http://127.0.0.1:8080/api/chats/project%20x/attachments');
  assert.equal(form.method, 'POST');
  assert.equal(form.headers.Authorization, 'Bearer token-1');
  assert.deepEqual(JSON.parse(form.body), { name: 'chart.png', size: PNG.length, contentType: 'image/png' });
  assert.equal(post.method, 'POST');
  assert.equal(post.headers.Authorization, undefined, 'S3 gets the form, not our token');
  const entries = [...post.body.entries()];
  assert.deepEqual(entries.map(([name]) => name), [...Object.keys(FIELDS), 'file']);
  assert.deepEqual(Object.fromEntries(entries.slice(0, -1)), FIELDS);
  const sent = entries.at(-1)[1];
  assert.equal(sent.name, 'chart.png');
  assert.deepEqual(new Uint8Array(await sent.arrayBuffer()), PNG);
  assert.deepEqual(progress, [{ loaded: PNG.length, total: PNG.length }], 'fetch alone: one final 100%');
  h.client.close();
});

test('upload: bytes need a name; their type is the one given', async () => {
  const h = await uploading();
  await assert.rejects(h.client.upload('project-x', PNG), TypeError);
  await assert.rejects(h.client.upload('project-x', 'not a file', { name: 'x.txt' }), TypeError);
  const uploaded = await h.client.upload('project-x', PNG.buffer, { name: 'raw.bin', waitScanned: false });
  assert.equal(uploaded.contentType, 'application/octet-stream');
  const typed = await h.client.upload('project-x', PNG, { name: 'x.png', contentType: 'image/png', waitScanned: false });
  assert.equal(typed.contentType, 'image/png');
  assert.equal(JSON.parse(h.calls.at(-2).body).contentType, 'image/png');
  h.client.close();
});

test('upload with waitScanned: false resolves pending once S3 has the file', async () => {
  const h = await uploading();
  const uploaded = await h.client.upload('project-x', new Blob(['notes']), { name: 'notes.txt', waitScanned: false });
  assert.equal(uploaded.status, 'pending');
  assert.equal(h.calls.length, 2);
  h.client.close();
});

test('upload: an infected verdict rejects with InfectedError naming the attachment', async () => {
  const h = await uploading();
  const pending = h.client.upload('project-x', new Blob(['X5O!P%@AP']), { name: 'eicar.com' });
  await h.settle(10);
  h.scanned('other', 'clean'); // someone else's upload's verdict is not ours
  h.scanned('a-1', 'infected');
  const error = await pending.catch((e) => e);
  assert.ok(error instanceof InfectedError && error instanceof TidingsError);
  assert.equal(error.code, 'INFECTED');
  assert.equal(error.extra.attachmentId, 'a-1');
  h.client.close();
});

test('upload: no verdict within scanTimeoutMs rejects with TIMEOUT', async () => {
  const h = await uploading();
  const pending = h.client.upload('project-x', new Blob(['slow']), { name: 'slow.txt', scanTimeoutMs: 5000 });
  const outcome = pending.catch((e) => e);
  await h.clock.advance(4999);
  await h.clock.advance(1);
  const error = await outcome;
  assert.equal(error.code, 'TIMEOUT');
  assert.equal(error.extra.attachmentId, 'a-1');
  h.client.close();
});

test("upload: S3's policy refusals reject with UploadRefusedError carrying S3's code and status", async () => {
  for (const [status, code] of [
    [400, 'EntityTooLarge'],
    [403, 'AccessDenied'],
  ]) {
    const h = await uploading({ s3: () => s3Error(status, code, 'Your proposed upload exceeds the maximum allowed size') });
    const error = await h.client.upload('project-x', new Blob(['x']), { name: 'x.txt' }).catch((e) => e);
    assert.ok(error instanceof UploadRefusedError, `${code}: ${error}`);
    assert.deepEqual([error.code, error.status], [code, status]);
    assert.match(error.message, /exceeds the maximum/);
    h.client.close();
  }
  const h = await uploading({ s3: () => new Response('gateway down', { status: 502 }) });
  const error = await h.client.upload('project-x', new Blob(['x']), { name: 'x.txt' }).catch((e) => e);
  assert.deepEqual([error.code, error.status], ['HTTP_502', 502]);
  h.client.close();
});

test("upload: the form's refusals keep our API's code (429 with retryAfterMs, 400 naming the field, 403)", async () => {
  const answers = [
    json(429, { error: { code: 'RATE_LIMITED', message: 'Too many uploads', retryAfterMs: 30000 } }, { 'Retry-After': '30' }),
    json(400, { error: { code: 'BAD_FRAME', message: 'size: must be at most 104857600' } }),
    json(403, { error: { code: 'FORBIDDEN', message: 'Not a member of the chat' } }),
  ];
  const h = await uploading({ form: () => answers.shift() });
  const limited = await h.client.upload('project-x', new Blob(['x']), { name: 'x.txt' }).catch((e) => e);
  assert.deepEqual([limited.code, limited.status, limited.retryAfterMs], ['RATE_LIMITED', 429, 30000]);
  assert.ok(!(limited instanceof UploadRefusedError));
  const bad = await h.client.upload('project-x', new Blob(['x']), { name: 'x.txt' }).catch((e) => e);
  assert.deepEqual([bad.code, bad.status], ['BAD_FRAME', 400]);
  assert.match(bad.message, /size/);
  const forbidden = await h.client.upload('project-x', new Blob(['x']), { name: 'x.txt' }).catch((e) => e);
  assert.deepEqual([forbidden.code, forbidden.status], ['FORBIDDEN', 403]);
  assert.equal(h.calls.filter((call) => call.url.startsWith(S3)).length, 0, 'nothing was posted to S3');
  h.client.close();
});

/** An XMLHttpRequest that reports two progress events, then answers `status` (and `text`). */
function fakeXhr(status, text = '') {
  const made = [];
  class FakeXhr {
    upload = {};
    constructor() {
      made.push(this);
    }
    open(method, url) {
      Object.assign(this, { method, url });
    }
    send(body) {
      this.body = body;
      queueMicrotask(() => {
        this.upload.onprogress?.({ lengthComputable: true, loaded: 100, total: 400 });
        this.upload.onprogress?.({ lengthComputable: true, loaded: 400, total: 400 });
        if (status === 0) return this.onerror?.();
        this.status = status;
        this.responseText = text;
        this.onload?.();
      });
    }
  }
  return { FakeXhr, made };
}

test('upload with XMLHttpRequest: upload progress as the body goes out, then 100%', async () => {
  const { FakeXhr, made } = fakeXhr(204);
  const h = await uploading({ client: { XMLHttpRequest: FakeXhr } });
  const progress = [];
  const uploaded = await h.client.upload('project-x', new Blob(['hello']), { name: 'hello.txt', waitScanned: false, onProgress: (p) => progress.push(p) });
  assert.equal(uploaded.attachmentId, 'a-1');
  assert.deepEqual(progress, [
    { loaded: 100, total: 400 },
    { loaded: 400, total: 400 },
    { loaded: 5, total: 5 },
  ]);
  assert.deepEqual([made[0].method, made[0].url], ['POST', S3]);
  assert.deepEqual([...made[0].body.keys()], [...Object.keys(FIELDS), 'file']);
  assert.equal(h.calls.length, 1, 'only the form went through fetch');
  h.client.close();
});

test('upload with XMLHttpRequest: a refusal is UploadRefusedError, a failed request NETWORK', async () => {
  const refused = fakeXhr(400, '<Error><Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the minimum allowed size</Message></Error>');
  let h = await uploading({ client: { XMLHttpRequest: refused.FakeXhr } });
  const error = await h.client.upload('project-x', new Blob(['x']), { name: 'x.txt' }).catch((e) => e);
  assert.ok(error instanceof UploadRefusedError);
  assert.deepEqual([error.code, error.status], ['EntityTooSmall', 400]);
  h.client.close();
  h = await uploading({ client: { XMLHttpRequest: fakeXhr(0).FakeXhr } });
  const failed = await h.client.upload('project-x', new Blob(['x']), { name: 'x.txt' }).catch((e) => e);
  assert.equal(failed.code, 'NETWORK');
  h.client.close();
});
