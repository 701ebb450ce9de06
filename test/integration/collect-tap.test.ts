/** `starling collect --tap`: traffic to a real Prosody through the tap lands in the collector's own outputs. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CollectorSummary } from '../../src/collector/summary.ts';
import { openBoshSession } from '../../src/node/bosh-session.ts';
import { openWebSocketSession } from '../../src/node/websocket-session.ts';
import { startLocalServer } from '../../src/targets/index.ts';

test('collect --tap (twice: WebSocket and BOSH) proxies a real Prosody and reports per-frame parse times in /metrics and the summary', async (t) => {
  const server = await startLocalServer({ kind: 'prosody', users: 2 });
  const root = await mkdtemp(join(tmpdir(), 'starling-collect-tap-'));
  const child = spawn(
    process.execPath,
    [
      'bin/starling.js',
      'collect',
      '--port',
      '0',
      '--results-root',
      root,
      '--interval',
      '1s',
      '--tap',
      server.websocketUrl,
      '--tap',
      server.boshUrl,
      '--run-id',
      'tap-run',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [collectorUrl, tapUrl, boshTapUrl] = await new Promise<[string, string, string]>(
    (resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening lines in: ${output}`)), 15_000);
      child.stderr.on('data', () => {
        const c = /collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        const w = /tap on (ws:\/\/127\.0\.0\.1:\d+\/xmpp-websocket) .*instance tap-websocket\)/.exec(output);
        const b = /tap on (http:\/\/127\.0\.0\.1:\d+\/http-bind) .*instance tap-bosh\)/.exec(output);
        if (c && w && b) {
          clearTimeout(timer);
          resolve([c[1]!, w[1]!, b[1]!]);
        }
      });
      child.on('exit', () => reject(new Error(`collect exited: ${output}`)));
    },
  );

  const acct = server.account(1);
  const { session } = openWebSocketSession({
    url: tapUrl,
    domain: server.domain,
    credentials: { username: acct.username, password: acct.password },
  });
  await session.start();
  await session.ping();
  assert.equal((await session.close()).clean, true);
  const bosh = openBoshSession({
    url: boshTapUrl,
    domain: server.domain,
    credentials: { username: acct.username, password: acct.password },
  }).session;
  await bosh.start();
  await bosh.ping();
  assert.equal((await bosh.close()).clean, true);

  // The tap flushes every second; wait for its snapshot to reach /metrics.
  const series =
    'starling_tap_frame_parse_seconds_count{run_id="tap-run",transport="websocket",direction="c2s",element="auth"}';
  let metrics = '';
  for (let i = 0; i < 40 && !metrics.includes(series); i++) {
    await new Promise((r) => setTimeout(r, 250));
    metrics = await (await fetch(`${collectorUrl}/metrics`)).text();
  }
  assert.match(metrics, new RegExp(`^${series.replace(/[{}()[\]$^.|?*+\\]/g, '\\$&')} 1$`, 'm'));
  for (const transport of ['websocket', 'bosh']) {
    assert.match(
      metrics,
      new RegExp(
        `^starling_tap_iq_response_seconds_count\\{run_id="tap-run",transport="${transport}"\\} [1-9]\\d*$`,
        'm',
      ),
    );
  }

  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  const summary = JSON.parse(
    await readFile(join(root, 'tap-run', 'collector-summary.json'), 'utf8'),
  ) as CollectorSummary;
  assert.ok(JSON.stringify(summary).includes('tap_frame_parse'), 'the summary has the tap histograms');
  // Two taps, two producers: neither's snapshots were taken for the other's duplicates.
  assert.deepEqual(summary.instances, ['tap-bosh', 'tap-websocket']);
});
