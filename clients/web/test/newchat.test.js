import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseMembers } from '../app/newchat.js';

test('members are the ids typed, split on commas and spaces, once each, without @ or the caller', () => {
  assert.deepEqual(parseMembers('bob, carol  @dave;bob', 'alice'), ['bob', 'carol', 'dave']);
  assert.deepEqual(parseMembers('alice bob', 'alice'), ['bob']);
  assert.deepEqual(parseMembers('   ', 'alice'), []);
  assert.deepEqual(parseMembers(undefined, 'alice'), []);
});
