import assert from 'node:assert/strict';
import { test } from 'node:test';

import { jwtClaims, Session, SessionEnded } from '../app/session.js';

const config = { apiUrl: 'http://api.test', localSignIn: { sessionsUrl: '/_local/sessions', users: [] } };

function jwt(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.signature`;
}
const valid = (sub, seconds = 900) => jwt({ sub, exp: Math.floor(Date.now() / 1000) + seconds });

function memoryStorage() {
  const items = new Map();
  return { getItem: (key) => items.get(key) ?? null, setItem: (key, value) => items.set(key, value), removeItem: (key) => items.delete(key), items };
}

/** A fetch that answers from `routes` (`'POST /path'` → `[status, body]`) and records calls. */
function fakeFetch(routes) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const key = `${init.method ?? 'GET'} ${url}`;
    calls.push({ key, body: init.body ? JSON.parse(init.body) : undefined });
    const answer = routes[key];
    if (!answer) throw new Error(`unexpected ${key}`);
    const [status, body] = typeof answer === 'function' ? answer() : answer;
    return { ok: status < 300, status, json: async () => body };
  };
  return { fetch, calls };
}

test('jwtClaims reads a token (base64url, UTF-8) and gives null for junk', () => {
  assert.equal(jwtClaims(jwt({ sub: 'zoë' })).sub, 'zoë');
  assert.equal(jwtClaims('not-a-jwt'), null);
  assert.equal(jwtClaims(undefined), null);
});

test('?token= signs in with that token and takes it out of the address', async () => {
  const storage = memoryStorage();
  const replaced = [];
  const token = valid('dave');
  const session = await Session.fromLocation(
    config,
    { search: `?token=${token}&x=1`, pathname: '/', hash: '#general' },
    { storage, fetch: fakeFetch({}).fetch, history: { replaceState: (_, __, url) => replaced.push(url) } },
  );
  assert.equal(session.userId, 'dave');
  assert.deepEqual(replaced, ['/?x=1#general']);
  assert.equal(await session.token('connect'), token);
  assert.equal(session.canRefresh, false);
  // The tab keeps it: no address needed the next time.
  const again = await Session.fromLocation(config, { search: '', pathname: '/', hash: '' }, { storage, fetch: fakeFetch({}).fetch });
  assert.equal(again.userId, 'dave');
});

test('a token that names no user is refused', async () => {
  await assert.rejects(
    Session.fromLocation(config, { search: '?token=garbage', pathname: '/', hash: '' }, { storage: memoryStorage(), fetch: fakeFetch({}).fetch, history: null }),
    SessionEnded,
  );
});

test('?as= signs in through tidings dev, and a reload keeps that session', async () => {
  const storage = memoryStorage();
  const { fetch, calls } = fakeFetch({ 'POST /_local/sessions': [200, { token: valid('alice'), refreshToken: 'r1', expiresAt: 'x' }] });
  const location = { search: '?as=alice', pathname: '/', hash: '' };
  const session = await Session.fromLocation(config, location, { storage, fetch });
  assert.equal(session.userId, 'alice');
  assert.deepEqual(calls[0].body, { userId: 'alice' });
  await Session.fromLocation(config, location, { storage, fetch });
  assert.equal(calls.length, 1);
});

test('?as= is refused where there is no local sign-in (a deployment)', async () => {
  await assert.rejects(
    Session.fromLocation({ apiUrl: 'https://api' }, { search: '?as=alice', pathname: '/', hash: '' }, { storage: memoryStorage(), fetch: fakeFetch({}).fetch }),
    /only on tidings dev/,
  );
});

test('a refresh uses the refresh token once, even when asked twice at the same time', async () => {
  let served = 0;
  const { fetch, calls } = fakeFetch({
    'POST http://api.test/api/auth/refresh': () => {
      served += 1;
      return [200, { token: valid('alice'), refreshToken: `r${served + 1}`, expiresAt: 'later' }];
    },
  });
  const session = new Session({ token: valid('alice'), refreshToken: 'r1' }, { config, storage: memoryStorage(), fetch });
  await Promise.all([session.token('refresh'), session.token('unauthorized')]);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body, { refreshToken: 'r1' });
  await session.token('refresh');
  assert.deepEqual(calls[1].body, { refreshToken: 'r2' });
});

test('a token about to expire is refreshed before it is used', async () => {
  const { fetch, calls } = fakeFetch({ 'POST http://api.test/api/auth/refresh': [200, { token: valid('alice'), refreshToken: 'r2' }] });
  const session = new Session({ token: valid('alice', 10), refreshToken: 'r1' }, { config, storage: memoryStorage(), fetch });
  await session.token('reconnect');
  assert.equal(calls.length, 1);
});

test('a refused refresh ends the session; a local one signs in again instead', async () => {
  const refused = fakeFetch({ 'POST http://api.test/api/auth/refresh': [401, { error: { code: 'UNAUTHORIZED' } }] });
  const session = new Session({ token: valid('alice'), refreshToken: 'r1' }, { config, storage: memoryStorage(), fetch: refused.fetch });
  await assert.rejects(session.token('refresh'), SessionEnded);

  const local = fakeFetch({
    'POST http://api.test/api/auth/refresh': [401, { error: { code: 'UNAUTHORIZED' } }],
    'POST /_local/sessions': [200, { token: valid('alice'), refreshToken: 'fresh' }],
  });
  const demo = new Session({ token: valid('alice'), refreshToken: 'r1', localUser: 'alice' }, { config, storage: memoryStorage(), fetch: local.fetch });
  await demo.token('refresh');
  assert.deepEqual(local.calls.map((call) => call.key), ['POST http://api.test/api/auth/refresh', 'POST /_local/sessions']);
});

test('signing out revokes the session and forgets it', async () => {
  const storage = memoryStorage();
  const { fetch, calls } = fakeFetch({ 'POST http://api.test/api/auth/revoke': [204, null] });
  const session = new Session({ token: valid('alice') }, { config, storage, fetch });
  assert.equal(storage.items.size, 1);
  await session.signOut();
  assert.equal(calls[0].key, 'POST http://api.test/api/auth/revoke');
  assert.equal(storage.items.size, 0);
});

test('after signing out no token is handed out, and a racing reconnect cannot sign in again', async () => {
  const storage = memoryStorage();
  const { fetch, calls } = fakeFetch({
    'POST http://api.test/api/auth/revoke': [204, null],
    'POST http://api.test/api/auth/refresh': [401, { error: { code: 'UNAUTHORIZED' } }],
    'POST /_local/sessions': [200, { token: valid('alice'), refreshToken: 'fresh' }],
  });
  const session = new Session({ token: valid('alice'), refreshToken: 'r1', localUser: 'alice' }, { config, storage, fetch });
  await session.signOut();
  await assert.rejects(session.token('unauthorized'), SessionEnded);
  assert.equal(storage.items.size, 0);
  assert.deepEqual(calls.map((call) => call.key), ['POST http://api.test/api/auth/revoke']);
});
