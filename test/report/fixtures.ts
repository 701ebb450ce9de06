/**
 * Results directories for the report's tests, built by the code that builds real ones: summary.json from a
 * MetricStore through buildSummaryData and xmppSummary with real thresholds, merged.json and hdr/*.hlog from a
 * CollectorStore fed snapshots, as `starling run --collect` writes them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CapacityReport, Step } from '../../src/capacity/types.ts';
import { writeHlogs } from '../../src/collector/hlog.ts';
import { CollectorStore } from '../../src/collector/store.ts';
import { collectorSummary, mergedRun } from '../../src/collector/summary.ts';
import { MetricStore } from '../../src/engine/metrics.ts';
import { buildSummaryData } from '../../src/engine/summary.ts';
import { xmppSummary } from '../../src/report/xmpp-summary.ts';
import { ThresholdSet } from '../../src/engine/thresholds.ts';
import { encode, latencies, rng, snapshot } from '../collector/fixtures.ts';

export const T0 = 1_700_000_000_000;

/** What a fixture run measured, for the expected figures. */
export interface FixtureRun {
  /** session-ready samples, ms. */
  ready: number[];
  /** message-delivery samples, ms. */
  delivery: number[];
  lost: number;
  failures: Record<string, number>;
}

/**
 * summary.json of a chat run of the Node engine: `sessions` logins (`failed` of them failing, by reason),
 * messages delivered with latencies from a seeded PRNG, `lost` of them lost; thresholds as chat sets them plus one
 * that fails (`xmpp_message_delivery: p(99)<1`).
 */
export function chatSummary(seed = 7): { summary: Record<string, unknown>; run: FixtureRun } {
  const random = rng(seed);
  const store = new MetricStore();
  store.defineMetric('xmpp_session_ready', 'trend', 'time');
  store.defineMetric('xmpp_message_delivery', 'trend', 'time');
  store.defineMetric('xmpp_login_success', 'rate');
  store.defineMetric('xmpp_clean_close', 'rate');
  store.defineMetric('xmpp_message_loss', 'rate');
  store.defineMetric('xmpp_sessions_opened', 'counter');
  store.defineMetric('xmpp_session_failures', 'counter');
  store.defineMetric('xmpp_stanzas_sent', 'counter');
  store.defineMetric('xmpp_stream_errors', 'counter');
  const thresholds = ThresholdSet.create(
    {
      xmpp_session_ready: ['p(95)<3000'],
      xmpp_message_delivery: ['p(95)<1000', 'p(99)<1'],
      xmpp_message_loss: ['rate==0'],
      xmpp_sessions_opened: ['count>0'],
    },
    store,
  );
  const ready = latencies(random, 40).map((us) => Math.round(us / 100));
  const delivery = latencies(random, 300).map((us) => Math.round(us / 1000));
  const failures = { 'auth-failed:not-authorized': 3, 'timeout:connect': 1 };
  for (const v of ready) {
    store.push('xmpp_session_ready', v);
    store.push('xmpp_login_success', 1);
    store.push('xmpp_sessions_opened', 1);
    store.push('xmpp_clean_close', 1);
  }
  for (const [reason, n] of Object.entries(failures))
    for (let i = 0; i < n; i++) {
      store.push('xmpp_login_success', 0);
      store.push('xmpp_session_failures', 1, { reason });
    }
  store.push('xmpp_stream_errors', 1, { condition: 'conflict' });
  for (const v of delivery) {
    store.push('xmpp_message_delivery', v);
    store.push('xmpp_message_loss', 0);
    store.push('xmpp_stanzas_sent', 1, { kind: 'message' });
  }
  const lost = 2;
  for (let i = 0; i < lost; i++) {
    store.push('xmpp_message_loss', 1);
    store.push('xmpp_stanzas_sent', 1, { kind: 'message' });
  }
  const final = thresholds.evaluate(store, 12_000, true);
  const data = buildSummaryData(store, final.results, { testRunDurationMs: 12_000 });
  return {
    summary: { ...data, xmpp: xmppSummary(store) },
    run: { ready, delivery, lost, failures },
  };
}

/** Values (µs) per 1 s interval of a collector run: session-ready in the first, deliveries in all three. */
export interface CollectorFixture {
  ready: number[];
  delivery: number[][];
}

/**
 * merged.json, collector-summary.json and hdr/ of a run with two generators over three 1 s intervals, as the
 * collector writes them, into `dir`.
 */
export async function writeCollectorRun(dir: string, runId: string, seed = 3): Promise<CollectorFixture> {
  const random = rng(seed);
  const store = new CollectorStore({ intervalMs: 1000 });
  const fixture: CollectorFixture = { ready: [], delivery: [[], [], []] };
  for (const instance of ['gen-a', 'gen-b']) {
    for (let seq = 0; seq < 3; seq++) {
      const ready = seq === 0 ? latencies(random, 25) : [];
      const delivery = latencies(random, 60 + 40 * seq);
      fixture.ready.push(...ready);
      fixture.delivery[seq]!.push(...delivery);
      store.ingest(
        snapshot({
          runId,
          instance,
          seq,
          final: seq === 2,
          intervalStartMs: T0 + seq * 1000,
          intervalEndMs: T0 + seq * 1000 + 1000,
          histograms: [
            ...(ready.length ? [{ name: 'xmpp_session_ready', hdr: encode(ready) }] : []),
            { name: 'xmpp_message_delivery', hdr: encode(delivery) },
          ],
          counters: [
            { name: 'xmpp_login_success', labels: { outcome: 'true' }, delta: ready.length },
            { name: 'xmpp_message_loss', labels: { outcome: 'false' }, delta: delivery.length },
            ...(seq === 1
              ? [
                  { name: 'xmpp_message_loss', labels: { outcome: 'true' }, delta: 1 },
                  { name: 'xmpp_session_failures', labels: { reason: 'timeout:bind' }, delta: 2 },
                ]
              : []),
          ],
        }),
      );
    }
  }
  const run = store.run(runId)!;
  await mkdir(dir, { recursive: true });
  await writeHlogs(run, dir);
  await writeFile(join(dir, 'collector-summary.json'), JSON.stringify(collectorSummary(run)));
  await writeFile(join(dir, 'merged.json'), JSON.stringify(mergedRun(run)));
  return fixture;
}

/** A file in a run directory, as JSON. */
export async function writeJson(dir: string, file: string, data: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, file), `${JSON.stringify(data, null, 2)}\n`);
}

/** A capacity step as the runner records it. */
function step(index: number, runId: string, offered: number, pass: boolean): Step {
  return {
    index,
    phase: index === 1 ? 'coarse' : 'refine',
    offered,
    achieved: pass ? offered : offered * 0.8,
    runId,
    startedAt: new Date(T0).toISOString(),
    windowStartMs: T0,
    windowEndMs: T0 + 3000,
    pass,
    rows: [
      {
        metric: 'xmpp_message_delivery',
        threshold: 'p(99)<200',
        value: pass ? 12 : 480,
        display: pass ? '12 ms' : '480 ms',
        ok: pass,
      },
    ],
    latency: { xmpp_message_delivery: { count: 100, p50: 3, p95: 9, p99: pass ? 12 : 480, max: 600 } },
    logins: { attempts: 50, failures: 0, byReason: {} },
    generators: [{ exitCode: 0, saturated: false, cpuMean: 0.2, cpuPeakSpan: 0.31, loopDelayP90: 2 }],
    serverCpu: pass ? 0.4 : 0.97,
  };
}

/**
 * A messages capacity search of three steps into `dir`: 100/s passed, 200/s failed, 150/s passed. The first two
 * have their collector directories (merged.json, hdr/); the third has none (a step whose results are gone).
 * Its target URL carries a password, which the page must mask.
 */
export async function writeCapacityRun(dir: string): Promise<CapacityReport> {
  await writeCollectorRun(join(dir, 'r1-s01-100'), 'r1-s01-100', 5);
  await writeCollectorRun(join(dir, 'r1-s02-200'), 'r1-s02-200', 6);
  const steps = [
    step(1, 'r1-s01-100', 100, true),
    step(2, 'r1-s02-200', 200, false),
    step(3, 'r1-s03-150', 150, true),
  ];
  return {
    version: 1,
    generatedAt: new Date(T0).toISOString(),
    dimension: 'messages',
    unit: 'messages/s',
    server: 'wss://carol:pw-xyz@xmpp.example.org/xmpp-websocket',
    transport: 'websocket',
    slo: { xmpp_message_delivery: ['p(99)<200'] },
    settings: {
      start: 100,
      max: 400,
      factor: 2,
      resolution: 0.5,
      stepSeconds: 3,
      warmupSeconds: 0,
      generators: 1,
      repeats: 1,
    },
    repeats: [
      {
        highestPass: 150,
        firstFail: 200,
        failedTerms: ['xmpp_message_delivery p(99)<200 (480 ms)'],
        limit: 'server',
        limitText: 'the server: its CPU at 97 %',
        isServerCapacity: true,
        steps,
      },
    ],
    spread: { min: 150, median: 150, max: 150 },
  };
}

/** Join latencies (ms) per room size of the rooms fixture; one more join of the largest room timed out. */
export const ROOM_JOINS: Record<number, number[]> = {
  // Defined largest first: the report sorts by size as numbers (12 after 6).
  12: [100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200],
  3: [40, 50, 60],
  6: [60, 70, 80, 90, 100, 150],
};

/** Room broadcasts of the rooms fixture: fan-out per kind, and the loss samples of recipients in the sender's VU. */
export const ROOM_TRAFFIC = {
  message: { expected: 40, received: 39, lossSamples: 30, lost: 1 },
  presence: { expected: 200, received: 200, lossSamples: 150, lost: 0 },
} as const;

/**
 * summary.json of a multi-user chat run of the Node engine (the conference scenario's metrics): ROOM_JOINS tagged
 * room_size, one join that timed out, ROOM_TRAFFIC's fan-out and losses. `bySize` registers the sub-metrics
 * xmpp_muc_join{room_size:N} and `perKind` xmpp_muc_fanout_*{kind:…}, through thresholds that always hold, as the
 * scenario does; `trendStats` is summaryTrendStats (k6's default when omitted).
 */
export function roomsSummary(o: {
  bySize: boolean;
  perKind: boolean;
  trendStats?: string[];
}): Record<string, unknown> {
  const store = new MetricStore();
  store.defineMetric('xmpp_login_success', 'rate');
  store.defineMetric('xmpp_muc_join', 'trend', 'time');
  store.defineMetric('xmpp_muc_join_success', 'rate');
  store.defineMetric('xmpp_muc_fanout_expected', 'counter');
  store.defineMetric('xmpp_muc_fanout_received', 'counter');
  store.defineMetric('xmpp_muc_message_loss', 'rate');
  store.defineMetric('xmpp_muc_presence_loss', 'rate');
  const sizes = Object.keys(ROOM_JOINS);
  const thresholds = ThresholdSet.create(
    {
      xmpp_muc_join: ['p(95)<3000'],
      xmpp_muc_join_success: ['rate==1'],
      ...(o.bySize
        ? Object.fromEntries(sizes.map((s) => [`xmpp_muc_join{room_size:${s}}`, ['p(95)>=0']]))
        : {}),
      ...(o.perKind
        ? Object.fromEntries(
            ['expected', 'received'].flatMap((e) =>
              ['message', 'presence'].map((k) => [`xmpp_muc_fanout_${e}{kind:${k}}`, ['count>=0']]),
            ),
          )
        : {}),
    },
    store,
  );
  for (const [size, joins] of Object.entries(ROOM_JOINS))
    for (const ms of joins) {
      store.push('xmpp_login_success', 1);
      store.push('xmpp_muc_join', ms, { room_size: size });
      store.push('xmpp_muc_join_success', 1, { room_size: size });
    }
  store.push('xmpp_login_success', 1);
  store.push('xmpp_muc_join_success', 0, { room_size: '12', reason: 'timeout:muc-join' });
  for (const [kind, t] of Object.entries(ROOM_TRAFFIC)) {
    // Spread over the sizes, as the rooms sent them.
    sizes.forEach((room_size, i) => {
      const share = (n: number): number => Math.floor(n / sizes.length) + (i < n % sizes.length ? 1 : 0);
      store.push('xmpp_muc_fanout_expected', share(t.expected), { room_size, kind });
      store.push('xmpp_muc_fanout_received', share(t.received), { room_size, kind });
    });
    for (let i = 0; i < t.lossSamples; i++)
      store.push(`xmpp_muc_${kind}_loss`, i < t.lost ? 1 : 0, { room_size: '6' });
  }
  const final = thresholds.evaluate(store, 9_000, true);
  return {
    ...buildSummaryData(store, final.results, {
      testRunDurationMs: 9_000,
      ...(o.trendStats ? { options: { summaryTrendStats: o.trendStats } } : {}),
    }),
    xmpp: xmppSummary(store),
  };
}
