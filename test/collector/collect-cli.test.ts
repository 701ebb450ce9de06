import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COLLECTOR_TOKEN_ENV, SNAPSHOT_PATH } from '../../src/collector/contract.ts';
import { parseByteSize } from '../../src/cli/collect.ts';
import type { CollectorSummary } from '../../src/collector/summary.ts';
import { encode, post, snapshot } from './fixtures.ts';

test('starling collect takes the token from the environment, never prints it, and writes results on SIGINT', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'starling-collect-cli-'));
  const token = 'tok-7f3a9c-secret';
  const child = spawn(
    process.execPath,
    ['bin/starling.js', 'collect', '--port', '0', '--results-root', root, '--interval', '1s'],
    { env: { ...process.env, [COLLECTOR_TOKEN_ENV]: token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in: ${output}`)), 15_000);
    const check = (): void => {
      const m = /collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stderr.on('data', check);
    child.on('exit', () => reject(new Error(`collect exited: ${output}`)));
  });
  assert.match(output, /bearer token required/);

  const body = JSON.stringify(
    snapshot({ runId: 'cli-run', histograms: [{ name: 'xmpp_connect', hdr: encode([1000, 2000]) }] }),
  );
  const headers = { 'content-type': 'application/json' };
  assert.equal((await post(`${url}${SNAPSHOT_PATH}`, body, headers)).status, 401);
  assert.equal(
    (await post(`${url}${SNAPSHOT_PATH}`, body, { ...headers, authorization: `Bearer ${token}` })).status,
    202,
  );

  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.deepEqual((await readdir(join(root, 'cli-run'))).sort(), [
    'collector-summary.json',
    'hdr',
    'merged.json',
  ]);
  const summary = JSON.parse(
    await readFile(join(root, 'cli-run', 'collector-summary.json'), 'utf8'),
  ) as CollectorSummary;
  assert.equal(summary.intervalMs, 1000);
  assert.equal(summary.histograms[0]!.count, 2);
  assert.match(output, /collector stopping: writing results/);
  assert.ok(!output.includes(token), 'the token is never printed');
});

test('--max-body sizes', () => {
  assert.equal(parseByteSize('4194304'), 4194304);
  assert.equal(parseByteSize('512KiB'), 512 * 1024);
  assert.equal(parseByteSize('4MiB'), 4 * 1024 * 1024);
  assert.equal(parseByteSize('2m'), 2 * 1024 * 1024);
  assert.throws(() => parseByteSize('4 GB'), /--max-body expects a size/);
  assert.throws(() => parseByteSize('0'), /--max-body expects a size/);
});
