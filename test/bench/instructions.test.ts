/**
 * bench/instructions.ts end to end: the raw floor under valgrind's callgrind at two sizes against a real Prosody
 * (the bench starts it), and the table it prints; a bad pair of sizes is refused before anything runs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
const bench = (...flags: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'instructions', ...flags], {
    cwd: ROOT,
    timeout: 300_000,
  });

describe('bench instructions', () => {
  test('counts the floor at two sizes and prints instructions per session and fixed', async () => {
    const { stdout } = await bench('--only', 'raw', '--small', '1', '--users', '3', '--messages', '2');
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^instructions \(callgrind.*at 1 and 3 users, 20\/s, 2 messages, think 0\.2 s$/);
    const row = /^raw\s+([\d.]+)\s+([\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+([\d.]+)$/.exec(lines[2]!);
    assert.ok(row, `no raw row in:\n${stdout}`);
    const [small, large, perSession, , fixedCost] = row.slice(1).map(Number) as number[];
    // Node alone executes over a hundred million instructions before the first connection (about 180 M here, and
    // 600 M when NODE_EXTRA_CA_CERTS has it parse a CA bundle, as this machine's environment does but CI's need not).
    assert.ok(small! > 100 && large! > small!, stdout);
    // The table's own arithmetic: per session over the 2 users between, fixed = small − 1 × per session.
    assert.ok(Math.abs(perSession! - (large! - small!) / 2) < 0.01, stdout);
    assert.ok(Math.abs(fixedCost! - (small! - perSession!)) < 0.02, stdout);
    // With one generator there is no ratio to print.
    assert.equal(lines.length, 3, stdout);
  });

  test('--small must be below --users', async () => {
    await assert.rejects(bench('--small', '5', '--users', '5'), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr, /--small.*must be less than --users \(5\)/);
      return true;
    });
  });
});
