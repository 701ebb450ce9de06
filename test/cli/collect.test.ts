import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCountFlag, parseDurationFlag, tapInstances } from '../../src/cli/collect.ts';
import { parseByteSize } from '../../src/cli/run-target.ts';
import { RunInputError } from '../../src/cli/run-target.ts';

test('tap instances: one tap is `tap`; several are named by transport, numbered when one repeats', () => {
  assert.deepEqual(tapInstances(['ws://a/x']), ['tap']);
  assert.deepEqual(tapInstances(['ws://a/x', 'http://a/b']), ['tap-websocket', 'tap-bosh']);
  assert.deepEqual(tapInstances(['wss://a/x', 'ws://b/x', 'https://a/b']), [
    'tap-websocket-1',
    'tap-websocket-2',
    'tap-bosh',
  ]);
});

const inputError = (message: string) => (err: unknown) =>
  err instanceof RunInputError && err.message === message;

test('duration flags: k6 durations in whole ms; 0 only where it means something', () => {
  assert.equal(parseDurationFlag('10m', '--run-idle-timeout', 'never'), 600_000);
  assert.equal(parseDurationFlag('250ms', '--finish-delay', 'only on idle timeout or stop'), 250);
  assert.equal(parseDurationFlag('0', '--run-idle-timeout', 'never'), 0);
  assert.throws(
    () => parseDurationFlag('0s', '--interval'),
    inputError("--interval must be a whole number of milliseconds above 0, got '0s'"),
  );
  assert.throws(
    () => parseDurationFlag('-5s', '--run-idle-timeout', 'never'),
    inputError("--run-idle-timeout must be a whole number of milliseconds above 0 (or 0: never), got '-5s'"),
  );
  assert.throws(
    () => parseDurationFlag('soon', '--finish-delay', 'only on idle timeout or stop'),
    (err: unknown) =>
      err instanceof RunInputError &&
      err.message.startsWith('--finish-delay expects a duration such as 5s, 500ms or 10m: '),
  );
});

test('count flags are whole numbers above 0', () => {
  assert.equal(parseCountFlag(100, '--max-runs'), 100);
  assert.throws(
    () => parseCountFlag(0, '--max-runs'),
    inputError('--max-runs must be a whole number above 0, got 0'),
  );
  assert.throws(
    () => parseCountFlag(2.5, '--max-series'),
    inputError('--max-series must be a whole number above 0, got 2.5'),
  );
  assert.throws(
    () => parseCountFlag(Number.NaN, '--max-series'),
    inputError('--max-series must be a whole number above 0, got NaN'),
  );
});

test('--max-memory takes binary sizes up to GiB and names itself when wrong', () => {
  assert.equal(parseByteSize('512MiB', '--max-memory'), 512 * 1024 ** 2);
  assert.equal(parseByteSize('2GiB', '--max-memory'), 2 * 1024 ** 3);
  assert.throws(
    () => parseByteSize('lots', '--max-memory'),
    inputError("--max-memory expects a size such as 4194304, 512KiB or 4MiB, got 'lots'"),
  );
});
