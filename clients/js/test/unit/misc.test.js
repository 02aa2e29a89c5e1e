import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { backoffCeiling, backoffDelay, TidingsError, VERSION } from '../../src/index.js';
import { apiUrlFromWebSocketUrl } from '../../src/rest.js';
import { uuid } from '../../src/ids.js';

test('VERSION is package.json\'s version', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(VERSION, pkg.version);
  assert.equal(pkg.name, '@tidings/client');
  assert.deepEqual(pkg.dependencies ?? {}, {}, 'no runtime dependencies');
});

test('backoff ceilings: 1, 2, 4, 8, 16, 30, 30 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => backoffCeiling(n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});

test('full jitter stays within [0, ceiling)', () => {
  for (let n = 0; n < 8; n++) {
    assert.equal(backoffDelay(n, {}, () => 0), 0);
    assert.ok(backoffDelay(n, {}, () => 0.999999) < backoffCeiling(n));
  }
  assert.equal(backoffDelay(3, { jitter: 'none' }), 8000);
  assert.equal(backoffDelay(2, { initialMs: 10, maxMs: 25 }, () => 0.5), 12);
});

test('apiUrl is derived from a local …/ws URL only', () => {
  assert.equal(apiUrlFromWebSocketUrl('ws://127.0.0.1:8080/ws'), 'http://127.0.0.1:8080');
  assert.equal(apiUrlFromWebSocketUrl('wss://chat.example.com/ws'), 'https://chat.example.com');
  assert.equal(apiUrlFromWebSocketUrl('wss://abc.execute-api.eu-west-1.amazonaws.com/prod'), undefined);
});

test('uuid() is a v4 UUID, with or without crypto.randomUUID', () => {
  const pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(uuid(), pattern);
  const original = globalThis.crypto.randomUUID;
  Object.defineProperty(globalThis.crypto, 'randomUUID', { value: undefined, configurable: true });
  try {
    assert.match(uuid(), pattern);
  } finally {
    Object.defineProperty(globalThis.crypto, 'randomUUID', { value: original, configurable: true });
  }
});

test('TidingsError carries code, message, retryAfterMs', () => {
  const error = new TidingsError('RATE_LIMITED', 'slow down', { retryAfterMs: 500 });
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'TidingsError');
  assert.equal(error.code, 'RATE_LIMITED');
  assert.equal(error.retryAfterMs, 500);
});

test('REST: Bearer token, one retry with a fresh token after 401, errors as TidingsError', async () => {
  const { harness } = await import('../support/harness.js');
  const calls = [];
  const answers = [
    new Response(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'expired' } }), { status: 401 }),
    new Response(JSON.stringify({ messages: [], nextBefore: null }), { status: 200 }),
    new Response(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down' } }), { status: 429, headers: { 'Retry-After': '2' } }),
  ];
  const fetch = async (url, init) => {
    calls.push([url, init.method, init.headers.Authorization]);
    return answers.shift();
  };
  const h = harness({ fetch });
  await h.client.connect();
  const page = await h.client.history('project x', { before: 5, limit: 10 });
  assert.deepEqual(page, { messages: [], nextBefore: null });
  assert.deepEqual(calls, [
    ['http://127.0.0.1:8080/api/chats/project%20x/messages?before=5&limit=10', 'GET', 'Bearer token-1'],
    ['http://127.0.0.1:8080/api/chats/project%20x/messages?before=5&limit=10', 'GET', 'Bearer token-2'],
  ]);
  assert.equal(h.tokens.at(-1).reason, 'unauthorized');
  const error = await h.client.api('PUT', '/api/prefs', { global: {} }).catch((e) => e);
  assert.ok(error instanceof TidingsError);
  assert.deepEqual([error.code, error.status, error.retryAfterMs], ['RATE_LIMITED', 429, 2000]);
  h.client.close();
});

test('REST: chats and members calls send what the API takes', async () => {
  const { harness } = await import('../support/harness.js');
  const calls = [];
  const chat = { chatId: 'c1', type: 'group', name: 'Launch' };
  const answers = [
    new Response(JSON.stringify({ chat }), { status: 201 }),
    new Response(JSON.stringify({ chat: { chatId: 'dm-1', type: 'dm' } }), { status: 200 }),
    new Response(JSON.stringify({ chat: { ...chat, archived: true } }), { status: 200 }),
    new Response(JSON.stringify({ chatId: 'c1', userId: 'bob@x', role: 'admin' }), { status: 201 }),
    new Response(null, { status: 204 }),
    new Response(JSON.stringify({ channels: [], nextCursor: null }), { status: 200 }),
  ];
  const fetch = async (url, init) => {
    calls.push([init.method, url.replace('http://127.0.0.1:8080', ''), init.body === undefined ? undefined : JSON.parse(init.body)]);
    return answers.shift();
  };
  const h = harness({ fetch });
  await h.client.connect();
  assert.deepEqual(await h.client.createChat({ type: 'group', name: 'Launch', members: ['bob'] }), chat);
  assert.equal((await h.client.openDm('bob')).chatId, 'dm-1');
  assert.equal((await h.client.updateChat('c1', { archived: true })).archived, true);
  assert.equal((await h.client.addMember('c1', 'bob@x', { role: 'admin' })).role, 'admin');
  assert.equal(await h.client.removeMember('c1', 'bob@x'), undefined);
  assert.deepEqual(await h.client.channels('gen', { cursor: 'k' }), { channels: [], nextCursor: null });
  assert.deepEqual(calls, [
    ['POST', '/api/chats', { type: 'group', name: 'Launch', members: ['bob'] }],
    ['POST', '/api/chats', { type: 'dm', members: ['bob'] }],
    ['PATCH', '/api/chats/c1', { archived: true }],
    ['PUT', '/api/chats/c1/members/bob%40x', { role: 'admin' }],
    ['DELETE', '/api/chats/c1/members/bob%40x', undefined],
    ['GET', '/api/channels?query=gen&cursor=k', undefined],
  ]);
  h.client.close();
});
