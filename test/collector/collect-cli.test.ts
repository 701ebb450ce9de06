import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { COLLECTOR_TOKEN_ENV, SNAPSHOT_PATH } from '../../src/contract/snapshot.ts';
import { parseByteSize } from '../../src/cli/run-target.ts';
import type { CollectorSummary } from '../../src/collector/summary.ts';
import { encode, post, snapshot } from './fixtures.ts';

/** `starling collect --port 0 --results-root <temp> …args`, once it has printed its start lines; killed and cleaned up after `t`. */
async function startCollect(
  t: TestContext,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; root: string; output: () => string }> {
  const root = await mkdtemp(join(tmpdir(), 'starling-collect-cli-'));
  const child = spawn(
    process.execPath,
    ['bin/starling.js', 'collect', '--port', '0', '--results-root', root, ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
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
      // The limits line is the last one printed at start.
      if (m && /limits: .*\n/.test(output)) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stderr.on('data', check);
    child.on('exit', () => reject(new Error(`collect exited: ${output}`)));
  });
  return { child, url, root, output: () => output };
}

function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

test('starling collect takes the token from the environment, never prints it, and writes results on SIGINT', async (t) => {
  const token = 'tok-7f3a9c-secret';
  const { child, url, root, output } = await startCollect(t, ['--interval', '1s'], {
    [COLLECTOR_TOKEN_ENV]: token,
  });
  assert.match(output(), /bearer token required/);

  const body = JSON.stringify(
    snapshot({ runId: 'cli-run', histograms: [{ name: 'xmpp_connect', hdr: encode([1000, 2000]) }] }),
  );
  const headers = { 'content-type': 'application/json' };
  assert.equal((await post(`${url}${SNAPSHOT_PATH}`, body, headers)).status, 401);
  assert.equal(
    (await post(`${url}${SNAPSHOT_PATH}`, body, { ...headers, authorization: `Bearer ${token}` })).status,
    202,
  );

  assert.equal(await stop(child), 0);
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
  assert.match(output(), /collector stopping: writing results/);
  assert.ok(!output().includes(token), 'the token is never printed');
});

test('starling collect states its finishing policy and limits, and enforces --max-runs', async (t) => {
  const { child, url, root, output } = await startCollect(t, [
    '--max-runs',
    '1',
    '--max-series',
    '50',
    '--max-memory',
    '64MiB',
    '--finish-delay',
    '0',
    '--run-idle-timeout',
    '2m',
  ]);
  assert.ok(
    output().includes(
      'starling: collector: a run is written and dropped from memory after 2m without a snapshot, or at stop; ' +
        'limits: --max-runs 1, --max-series 50 (a run), --max-memory 64MiB\n',
    ),
    output(),
  );
  const ingest = `${url}${SNAPSHOT_PATH}`;
  assert.equal((await post(ingest, JSON.stringify(snapshot({ runId: 'one', final: true })))).status, 202);
  // With --finish-delay 0, a finished run waits for the idle timeout or stop, unless a new run needs its room.
  const two = await post(ingest, JSON.stringify(snapshot({ runId: 'two' })));
  assert.equal(two.status, 202);
  assert.deepEqual((await readdir(root)).sort(), ['one']);
  const three = await post(ingest, JSON.stringify(snapshot({ runId: 'three' })));
  assert.equal(three.status, 429);
  assert.equal(three.headers['retry-after'], '120');
  assert.deepEqual(JSON.parse(three.body), {
    error:
      'the collector holds 1 run, its limit (--max-runs 1), and none has finished: run three must wait until ' +
      'one does (retry later), or raise --max-runs',
    field: 'runId',
    cap: 'max-runs',
    limit: 1,
  });
  assert.equal(await stop(child), 0);
  assert.deepEqual((await readdir(root)).sort(), ['one', 'two']);
});

test('--max-body sizes', () => {
  assert.equal(parseByteSize('4194304'), 4194304);
  assert.equal(parseByteSize('512KiB'), 512 * 1024);
  assert.equal(parseByteSize('4MiB'), 4 * 1024 * 1024);
  assert.equal(parseByteSize('2m'), 2 * 1024 * 1024);
  assert.throws(() => parseByteSize('4 GB'), /--max-body expects a size/);
  assert.throws(() => parseByteSize('0'), /--max-body expects a size/);
});
