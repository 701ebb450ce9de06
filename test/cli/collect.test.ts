import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tapInstances } from '../../src/cli/collect.ts';

test('tap instances: one tap is `tap`; several are named by transport, numbered when one repeats', () => {
  assert.deepEqual(tapInstances(['ws://a/x']), ['tap']);
  assert.deepEqual(tapInstances(['ws://a/x', 'http://a/b']), ['tap-websocket', 'tap-bosh']);
  assert.deepEqual(tapInstances(['wss://a/x', 'ws://b/x', 'https://a/b']), [
    'tap-websocket-1',
    'tap-websocket-2',
    'tap-bosh',
  ]);
});
