/**
 * The compiled scenarios through the Node engine against a real Prosody, with STARLING_COLLECTOR_URL pointing
 * at a recording server: the snapshots they send agree with the k6 metrics of the same run.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { buildScenarios } from '../../src/build/scenarios.ts';
import { TrendSink } from '../../src/engine/metrics.ts';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_RATES, XMPP_TRENDS } from '../../src/contract/metric-names.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { runScriptText, type RecordedSample } from '../helpers/engine-run.ts';
import { byVu, contractErrors, merged, startRecordingServer, type RecordingServer } from './hdr-helpers.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const VUS = 6;
const SESSIONS_PER_VU = 10;

/** The engine's percentile (k6 interpolation) of a metric's samples, and the sorted samples. */
function enginePercentiles(samples: RecordedSample[], name: string) {
  const sink = new TrendSink();
  const values = samples.filter((s) => s.name === name).map((s) => s.value);
  for (const v of values) sink.add(v);
  return { p: (pct: number) => sink.p(pct / 100), sorted: values.sort((a, b) => a - b) };
}

describe('scenario snapshots against Prosody (Node engine)', () => {
  let prosody: LocalServer;
  let collector: RecordingServer;
  const code: Record<string, string> = {};
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    XMPP_URL: prosody.websocketUrl,
    XMPP_DOMAIN: prosody.domain,
    VUS: String(VUS),
    SESSIONS_PER_VU: String(SESSIONS_PER_VU),
    DURATION: '2s',
    PING_INTERVAL: '250ms',
    ...extra,
  });

  before(async () => {
    const outDir = await tempDir('starling-hdr-scenarios-');
    const [server, built] = await Promise.all([
      startLocalServer({ kind: 'prosody', users: VUS * SESSIONS_PER_VU }),
      buildScenarios(['scenarios/idle.ts', 'scenarios/login.ts'], outDir),
    ]);
    prosody = server;
    for (const b of built) code[b.name] = await readFile(b.file, 'utf8');
    collector = await startRecordingServer();
  });
  after(async () => {
    await collector?.close();
    await prosody?.stop();
  });

  test('idle over WebSocket: valid snapshots per VU whose HDR counts and percentiles match the k6 trends', async () => {
    collector.requests.length = 0;
    collector.snapshots.length = 0;
    const r = await runScriptText(code.idle!, {
      env: env({
        STARLING_COLLECTOR_URL: collector.url,
        STARLING_COLLECTOR_TOKEN: 'tok',
        STARLING_RUN_ID: 'hdr-idle',
        STARLING_FLUSH_INTERVAL: '500ms',
      }),
      quiet: true,
    });
    assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
    assert.equal(r.count(XMPP_COUNTERS.sessionsOpened), VUS * SESSIONS_PER_VU);

    for (const req of collector.requests) assert.deepEqual(contractErrors(req), []);
    assert.ok(collector.requests.every((q) => q.headers.authorization === 'Bearer tok'));
    assert.equal(collector.snapshots.length, collector.requests.length, 'no POST failed');
    // The Node engine also reports its own health as VU 0 of its own instance: these checks are about the VUs.
    const generator = collector.snapshots.filter((s) => s.vu === 0);
    assert.ok(
      generator.length >= 1 && generator.at(-1)!.final,
      "the engine's own health snapshots, the last final",
    );
    const snaps = collector.snapshots.filter((s) => s.vu !== 0);
    assert.ok(
      snaps.every((s) => s.runId === 'hdr-idle' && s.scenario === 'idle' && s.transport === 'websocket'),
    );
    assert.equal(new Set(snaps.map((s) => s.instance)).size, 1);

    const vus = byVu(snaps);
    assert.deepEqual(
      [...vus.keys()].sort((a, b) => a - b),
      Array.from({ length: VUS }, (_, i) => i + 1),
    );
    for (const [vu, list] of vus) {
      assert.ok(list.length >= 3, `VU ${vu}: ${list.length} snapshots (periodic ones, then the final)`);
      assert.deepEqual(
        list.map((s) => s.seq),
        list.map((_, i) => i),
        `VU ${vu}: seq without gaps`,
      );
      assert.deepEqual(
        list.map((s) => s.final),
        list.map((_, i) => i === list.length - 1),
        `VU ${vu}: only the last is final`,
      );
      for (let i = 1; i < list.length; i++)
        assert.equal(list[i]!.intervalStartMs, list[i - 1]!.intervalEndMs);
      const last = list.at(-1)!;
      assert.deepEqual(last.gauges, [{ name: XMPP_GAUGES.sessionsOpen, value: 0 }]);
      assert.ok(
        list.some((s) => s.gauges.some((g) => g.value === SESSIONS_PER_VU)),
        `VU ${vu} reported its ${SESSIONS_PER_VU} open sessions`,
      );
    }

    // Every latency trend: the HDR count across snapshots is the k6 count, exactly.
    for (const name of Object.values(XMPP_TRENDS)) {
      const k6Count = r.samples.filter((s) => s.name === name).length;
      assert.equal(merged(snaps, name).totalCount, k6Count, `${name}: HDR count = k6 count`);
    }
    const ready = merged(snaps, XMPP_TRENDS.sessionReady);
    assert.equal(ready.totalCount, VUS * SESSIONS_PER_VU);
    assert.ok(merged(snaps, XMPP_TRENDS.iqRtt).totalCount >= VUS * SESSIONS_PER_VU * 4);

    // Percentiles: HDR returns the bucket of the nearest-rank sample (0.1 % wide at 3 significant digits,
    // reported as its highest value); k6 interpolates between neighbours of 1 ms resolution.
    const engine = enginePercentiles(r.samples, XMPP_TRENDS.sessionReady);
    const n = engine.sorted.length;
    for (const pct of [50, 99]) {
      const hdrMs = ready.getValueAtPercentile(pct) / 1000;
      const nearest = engine.sorted[Math.max(1, Math.ceil((pct / 100) * n)) - 1]!;
      assert.ok(
        Math.abs(hdrMs - nearest) <= nearest * 0.001 + 1,
        `p${pct}: HDR ${hdrMs} ms vs nearest-rank ${nearest} ms`,
      );
      const i = (pct / 100) * (n - 1);
      const gap = engine.sorted[Math.ceil(i)]! - engine.sorted[Math.floor(i)]!;
      const k6 = engine.p(pct);
      assert.ok(
        Math.abs(hdrMs - k6) <= k6 * 0.001 + 1 + gap,
        `p${pct}: HDR ${hdrMs} ms vs engine ${k6} ms (neighbours ${gap} ms apart)`,
      );
    }

    // Counters: deltas summed over snapshots are the k6 counters, per label set.
    const counterSum = (name: string, kind?: string) =>
      snaps
        .flatMap((s) => s.counters)
        .filter((c) => c.name === name && (kind === undefined || c.labels?.kind === kind))
        .reduce((a, c) => a + c.delta, 0);
    assert.equal(counterSum(XMPP_COUNTERS.sessionsOpened), VUS * SESSIONS_PER_VU);
    assert.equal(counterSum(XMPP_COUNTERS.sessionsClosed), VUS * SESSIONS_PER_VU);
    const sentIq = r.samples
      .filter((s) => s.name === XMPP_COUNTERS.stanzasSent && s.tags.kind === 'iq')
      .reduce((a, s) => a + s.value, 0);
    assert.ok(sentIq > 0);
    assert.equal(counterSum(XMPP_COUNTERS.stanzasSent, 'iq'), sentIq);

    // Rates travel as counts by outcome, so the collector can rebuild the fleet-wide rate.
    const outcomes = (name: string, outcome: string) =>
      snaps
        .flatMap((s) => s.counters)
        .filter((c) => c.name === name && c.labels?.outcome === outcome)
        .reduce((a, c) => a + c.delta, 0);
    assert.deepEqual(
      [outcomes(XMPP_RATES.loginSuccess, 'true'), outcomes(XMPP_RATES.loginSuccess, 'false')],
      [VUS * SESSIONS_PER_VU, 0],
    );
    assert.equal(outcomes(XMPP_RATES.cleanClose, 'true'), VUS * SESSIONS_PER_VU);

    // The VUs' collector POSTs are the run's only k6 HTTP requests, and carry their own name tag (the engine
    // sends its own health over node:http, outside k6's metrics).
    const reqs = r.samples.filter((s) => s.name === 'http_reqs');
    assert.equal(reqs.length, snaps.length);
    assert.ok(reqs.every((s) => s.tags.name === 'starling-collector'));
  });

  test('login over BOSH: snapshots name the transport; BOSH and collector requests are told apart', async () => {
    collector.requests.length = 0;
    collector.snapshots.length = 0;
    const r = await runScriptText(code.login!, {
      env: env({ XMPP_URL: prosody.boshUrl, VUS: '2', STARLING_COLLECTOR_URL: collector.url }),
      quiet: true,
    });
    assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
    for (const req of collector.requests) assert.deepEqual(contractErrors(req), []);
    const snaps = collector.snapshots;
    assert.ok(snaps.every((s) => s.transport === 'bosh' && s.scenario === 'login'));
    assert.equal(snaps.filter((s) => s.final).length, 2);
    assert.equal(merged(snaps, XMPP_TRENDS.sessionReady).totalCount, 2 * SESSIONS_PER_VU);
    const reqs = r.samples.filter((s) => s.name === 'http_reqs');
    const toCollector = reqs.filter((s) => s.tags.name === 'starling-collector').length;
    assert.equal(toCollector, collector.requests.length);
    assert.ok(reqs.length - toCollector >= 2 * SESSIONS_PER_VU * 5, 'the BOSH requests');
  });

  test('without STARLING_COLLECTOR_URL a WebSocket run makes no HTTP request', async () => {
    collector.requests.length = 0;
    const r = await runScriptText(code.login!, { env: env(), quiet: true });
    assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
    assert.equal(r.count(XMPP_COUNTERS.sessionsOpened), VUS * SESSIONS_PER_VU);
    assert.deepEqual(
      r.samples.filter((s) => s.name.startsWith('http_') || s.name === 'starling_collector_errors'),
      [],
      'no http_reqs',
    );
    assert.equal(collector.requests.length, 0);
  });
});
