/**
 * The issue's acceptance for the collector: two Node engine processes against one real Prosody send their VUs'
 * snapshots to one collector; the merged percentiles match those of every raw sample of both processes (their
 * `--out json` files) within HDR's precision, and the counts match exactly.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COLLECTOR_URL_ENV, GENERATOR_METRICS, RUN_ID_ENV } from '../../src/contract/snapshot.ts';
import { startCollector } from '../../src/collector/server.ts';
import type { CollectorSummary } from '../../src/collector/summary.ts';
import { XMPP_COUNTERS, XMPP_TRENDS } from '../../src/contract/metric-names.ts';
import { startLocalServer } from '../../src/targets/index.ts';
import { readPoints, runStarling, type CliResult } from '../helpers/cli.ts';

const VUS = 5;
const SESSIONS_PER_VU = 10;
const RUN_ID = 'fleet-acceptance';

const runGenerator = (args: string[]): Promise<CliResult> => runStarling(args);

/** Every Point of `metric` in a k6 JSON output file. */
async function rawSamples(file: string, metric: string): Promise<number[]> {
  return (await readPoints(file, metric)).map((p) => p.data.value);
}

/** HdrHistogram's definition: the value at rank ceil(p/100 · n) of the sorted samples. */
function atPercentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

test('two engine processes into one collector: merged percentiles match all raw samples; counts exact', async (t) => {
  const server = await startLocalServer({ kind: 'prosody', users: 2 * VUS * SESSIONS_PER_VU });
  const dir = await mkdtemp(join(tmpdir(), 'starling-fleet-'));
  const collector = await startCollector({ port: 0, resultsRoot: dir, autoFinishMs: 0 });
  t.after(async () => {
    await collector.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const generator = (name: string, offset: number) =>
    runGenerator([
      'run',
      'idle',
      '--engine',
      'node',
      '-q',
      '--results-root',
      join(dir, `results-${name}`),
      '--out',
      `json=${join(dir, `${name}.json`)}`,
      ...Object.entries({
        XMPP_URL: server.websocketUrl,
        XMPP_DOMAIN: server.domain,
        VUS: String(VUS),
        SESSIONS_PER_VU: String(SESSIONS_PER_VU),
        ACCOUNT_OFFSET: String(offset),
        DURATION: '3s',
        PING_INTERVAL: '500ms',
        STARLING_FLUSH_INTERVAL: '1s',
        [COLLECTOR_URL_ENV]: collector.url,
        [RUN_ID_ENV]: RUN_ID,
        STARLING_INSTANCE: name,
      }).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ]);
  const [a, b] = await Promise.all([generator('gen-a', 0), generator('gen-b', VUS * SESSIONS_PER_VU)]);
  assert.equal(a.code, 0, a.output);
  assert.equal(b.code, 0, b.output);

  await collector.finish(RUN_ID);
  const summary = JSON.parse(
    await readFile(join(dir, RUN_ID, 'collector-summary.json'), 'utf8'),
  ) as CollectorSummary;
  assert.deepEqual(summary.instances, ['gen-a', 'gen-b']);
  // Every VU, plus each engine process's own health (VU 0 of its instance).
  assert.equal(summary.producers, 2 * VUS + 2);
  assert.equal(summary.finalProducers, 2 * VUS + 2);
  for (const generator of ['gen-a', 'gen-b']) {
    const delay = summary.histograms.find(
      (h) => h.name === GENERATOR_METRICS.eventLoopDelay && h.labels.generator === generator,
    );
    assert.ok(delay && delay.count > 0, `${generator}: its event-loop delay reached the collector`);
    assert.ok(
      summary.counters.some(
        (c) => c.name === GENERATOR_METRICS.cpuSeconds && c.labels.generator === generator && c.value > 0,
      ),
      `${generator}: its CPU reached the collector`,
    );
  }
  assert.equal(summary.snapshots.rejected, 0);

  for (const metric of [
    XMPP_TRENDS.sessionReady,
    XMPP_TRENDS.iqRtt,
    XMPP_TRENDS.connect,
    XMPP_TRENDS.close,
  ]) {
    const raw = [
      ...(await rawSamples(join(dir, 'gen-a.json'), metric)),
      ...(await rawSamples(join(dir, 'gen-b.json'), metric)),
    ].sort((x, y) => x - y);
    const merged = summary.histograms.find((h) => h.name === metric);
    assert.ok(merged, `${metric} was merged`);
    assert.equal(merged.count, raw.length, `${metric}: count`);
    for (const [p, key] of [
      [50, 'p50'],
      [90, 'p90'],
      [99, 'p99'],
      [100, 'max'],
    ] as const) {
      const exact = atPercentile(raw, p);
      const got = merged[key];
      t.diagnostic(`${metric} ${key}: merged ${got} ms, raw ${exact} ms (n=${raw.length})`);
      // HDR with 3 significant digits reports the top of the value's bucket: at most 0.1 % above it.
      assert.ok(
        got >= exact && got <= exact * 1.001 + 0.001,
        `${metric} ${key}: merged ${got} ms vs ${exact} ms from ${raw.length} raw samples`,
      );
    }
  }
  if (summary.histograms.length === 0) assert.fail('no histograms');

  // Counters: the fleet total is the sum of both processes' samples, exactly.
  const opened = summary.counters
    .filter((c) => c.name === XMPP_COUNTERS.sessionsOpened)
    .reduce((s, c) => s + c.value, 0);
  assert.equal(opened, 2 * VUS * SESSIONS_PER_VU);
  const rawIq = [
    ...(await rawSamples(join(dir, 'gen-a.json'), XMPP_COUNTERS.stanzasSent)),
    ...(await rawSamples(join(dir, 'gen-b.json'), XMPP_COUNTERS.stanzasSent)),
  ].reduce((s, v) => s + v, 0);
  const mergedSent = summary.counters
    .filter((c) => c.name === XMPP_COUNTERS.stanzasSent)
    .reduce((s, c) => s + c.value, 0);
  assert.equal(mergedSent, rawIq);
});

test('starling run --collect hosts the collector in process: its outputs land beside summary.json', async (t) => {
  const server = await startLocalServer({ kind: 'prosody', users: 20 });
  const dir = await mkdtemp(join(tmpdir(), 'starling-run-collect-'));
  t.after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const r = await runGenerator([
    'run',
    'login',
    '--engine',
    'node',
    '-q',
    '--collect',
    '--results-root',
    dir,
    ...Object.entries({ XMPP_URL: server.websocketUrl, VUS: '2', SESSIONS_PER_VU: '10' }).flatMap(
      ([k, v]) => ['-e', `${k}=${v}`],
    ),
  ]);
  assert.equal(r.code, 0, r.output);
  const [runId] = await readdir(dir);
  const files = (await readdir(join(dir, runId!))).sort();
  assert.deepEqual(files, [
    'collector-summary.json',
    'hdr',
    'merged.json',
    'report.html',
    'run.json',
    'summary.json',
  ]);
  const summary = JSON.parse(
    await readFile(join(dir, runId!, 'collector-summary.json'), 'utf8'),
  ) as CollectorSummary;
  assert.equal(summary.runId, runId);
  assert.equal(summary.histograms.find((h) => h.name === XMPP_TRENDS.sessionReady)?.count, 20);
});
