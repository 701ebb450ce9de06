/** The generator's saturation rule (a pure function of its samples), its words, and the monitor in a real run. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { COLLECTOR_URL_ENV, GENERATOR_METRICS, RUN_ID_ENV } from '../../src/contract/snapshot.ts';
import { histogramMetricName, renderMetrics } from '../../src/collector/prometheus.ts';
import { startCollector } from '../../src/collector/server.ts';
import {
  correctedCounts,
  DEFAULT_SATURATION_RULE,
  generatorText,
  judgeSaturation,
  saturationText,
  startHealthMonitor,
  type HealthSample,
  type SaturationRule,
} from '../../src/engine/health.ts';
import { decodeHistogram, encodeHistogram, newHistogram } from '../../src/collector/histogram.ts';
import { runScriptText } from '../helpers/engine-run.ts';

const RULE = DEFAULT_SATURATION_RULE;

/** `n` one-second samples from `fromS`: CPU and busy as shares of the second, delay values (≥ bound) per second. */
function seconds(
  n: number,
  o: { cpu?: number; busy?: number; over?: number; count?: number; fromS?: number } = {},
): HealthSample[] {
  return Array.from({ length: n }, (_, i) => ({
    startMs: ((o.fromS ?? 0) + i) * 1000,
    durationMs: 1000,
    cpuMs: (o.cpu ?? 0.2) * 1000,
    busyMs: (o.busy ?? o.cpu ?? 0.2) * 1000,
    delayCount: o.count ?? 90,
    delayOver: o.over ?? 0,
  }));
}

describe('the saturation rule', () => {
  test('a healthy run (CPU and busy under 90 %, delays short) is not saturated, whatever its length', () => {
    const v = judgeSaturation(seconds(600, { cpu: 0.6, busy: 0.7, over: 2 }));
    assert.equal(v.saturated, false);
    assert.deepEqual(v.reasons, []);
    assert.equal(v.saturatedMs, 0);
    assert.ok(Math.abs(v.peakSpanCpuShare - 0.6) < 1e-9);
    assert.equal(v.sampledMs, 600_000);
  });

  test('CPU ≥ 90 % of a core for 10 s is saturated; the stretch is reported from its first span', () => {
    // Light seconds around the hot ones at 10 %: no span that includes one of them averages 90 %.
    const samples = [
      ...seconds(12, { cpu: 0.1 }),
      ...seconds(14, { cpu: 0.98, fromS: 12 }),
      ...seconds(10, { cpu: 0.1, fromS: 26 }),
    ];
    const v = judgeSaturation(samples);
    assert.equal(v.saturated, true);
    assert.deepEqual(v.reasons, ['cpu', 'event-loop-busy']);
    assert.equal(v.fromMs, 12_000);
    assert.equal(v.saturatedMs, 14_000);
    assert.ok(v.saturatedPeak!.cpuShare >= 0.97);
  });

  test('the span is averaged: one hot second, or 9 of 10 s, is not sustained', () => {
    assert.equal(
      judgeSaturation([...seconds(5), ...seconds(1, { cpu: 1, fromS: 5 }), ...seconds(20, { fromS: 6 })])
        .saturated,
      false,
    );
    // 8 s at 100 % and 2 s at 40 %: 88 % over 10 s.
    const v = judgeSaturation([...seconds(8, { cpu: 1 }), ...seconds(10, { cpu: 0.4, fromS: 8 })]);
    assert.equal(v.saturated, false);
    assert.ok(Math.abs(v.peakSpanCpuShare - 0.88) < 1e-9);
  });

  test('a run shorter than the window is never judged saturated; a shorter window judges it', () => {
    const busy = seconds(6, { cpu: 1 });
    assert.equal(judgeSaturation(busy).saturated, false);
    const short: SaturationRule = { ...RULE, sustainMs: 3000 };
    assert.equal(judgeSaturation(busy, short).saturated, true);
  });

  test('an event loop busy ≥ 90 % without the CPU (starved by other processes) is saturated', () => {
    const v = judgeSaturation(seconds(15, { cpu: 0.3, busy: 0.95 }));
    assert.deepEqual(v.reasons, ['event-loop-busy']);
    assert.equal(v.fromMs, 0);
    assert.equal(v.saturatedMs, 15_000);
  });

  test('event-loop delay: p90 ≥ 100 ms over 10 s is saturated; a single stall of a few hundred ms is not', () => {
    // 10 % of the delay values at or above 100 ms, CPU low.
    const v = judgeSaturation(seconds(12, { cpu: 0.5, over: 9, count: 90 }));
    assert.deepEqual(v.reasons, ['event-loop-delay']);
    // One 300 ms stall: 21 values ≥ 100 ms among ~900 of a 10 s span (2 %).
    const stall = correctedCounts(300_000, 10_000, 100_000);
    assert.deepEqual(stall, { count: 30, over: 21 });
    const samples = seconds(30, { cpu: 0.3 });
    samples[5] = { ...samples[5]!, delayCount: 90 + stall.count, delayOver: stall.over };
    assert.equal(judgeSaturation(samples).saturated, false);
  });

  test('a loop blocked for seconds is one long sample; time, not the sample count, makes the span', () => {
    // What the monitor records after a 6 s block: one sample of 6 s, 600 delay values, 591 of them ≥ 100 ms.
    const block = correctedCounts(6_000_000, 10_000, 100_000);
    assert.deepEqual(block, { count: 600, over: 591 });
    const samples: HealthSample[] = [
      ...seconds(3, { cpu: 0.2 }),
      { startMs: 3000, durationMs: 6000, cpuMs: 5900, busyMs: 6000, delayCount: 600, delayOver: 591 },
      ...seconds(20, { cpu: 0.2, fromS: 9 }),
    ];
    const v = judgeSaturation(samples);
    assert.equal(v.saturated, true);
    assert.ok(v.reasons.includes('event-loop-delay'));
    assert.equal(v.fromMs, 0);
  });

  test('correctedCounts matches what HdrHistogram records with an expected interval', () => {
    for (const us of [0, 5_000, 10_000, 10_001, 99_999, 100_000, 105_000, 250_000, 1_234_567]) {
      // HdrHistogram's recordValueWithExpectedInterval: the value, then value − k·interval while ≥ interval.
      const values = [us];
      for (let missing = us - 10_000; missing >= 10_000; missing -= 10_000) values.push(missing);
      const want = { count: values.length, over: values.filter((v) => v >= 100_000).length };
      assert.deepEqual(correctedCounts(us, 10_000, 100_000), want, `${us} µs`);
      assert.equal(decodeHistogram(monitorHistogram(us)).totalCount, want.count, `${us} µs: HDR count`);
    }
  });
});

/** One lateness recorded as the monitor records it (10 ms expected interval), through the V2 encoding. */
function monitorHistogram(us: number): string {
  const h = newHistogram();
  h.recordValueWithExpectedInterval(us, 10_000);
  return encodeHistogram(h);
}

describe('the verdict in words', () => {
  const base = {
    pid: 1,
    sampledMs: 30_000,
    rule: { ...RULE },
    eventLoopDelay: { count: 2700, p50: 0.3, p90: 1.2, p99: 41, p999: 90, max: 120, hdr: '' },
    cpu: { mean: 0.5, peakSample: 0.99, peakSpan: 0.98 },
    eventLoopBusy: { mean: 0.5, peakSpan: 0.97 },
    saturatedMs: 0,
    reasons: [],
    saturated: false,
  };

  test('saturated: what, for how long, from when, and what to do', () => {
    const h = {
      ...base,
      saturated: true,
      reasons: ['cpu' as const],
      saturatedFromMs: 12_000,
      saturatedMs: 14_000,
      saturatedPeak: { cpuShare: 0.98, busyShare: 0.97, delayOverShare: 0.01 },
      worstSpan: {
        startMs: 12_000,
        durationMs: 10_000,
        cpuShare: 0.98,
        busyShare: 0.97,
        delayOverShare: 0.01,
      },
    };
    assert.equal(
      saturationText(h),
      'GENERATOR SATURATED: CPU 98 % of a core for 14 s (from 12 s); event-loop delay p99 41.0 ms, max 120 ms ' +
        'over the run. Latencies above describe starling, not the server: lower the load or add generator processes.',
    );
  });

  test('busy without the CPU: the text says the process waited for a core', () => {
    const h = {
      ...base,
      saturated: true,
      reasons: ['event-loop-busy' as const],
      saturatedFromMs: 0,
      saturatedMs: 15_000,
      saturatedPeak: { cpuShare: 0.3, busyShare: 0.95, delayOverShare: 0 },
      worstSpan: { startMs: 0, durationMs: 10_000, cpuShare: 0.3, busyShare: 0.95, delayOverShare: 0 },
    };
    assert.match(saturationText(h), /event loop busy 95 % of the time for 15 s/);
    assert.match(saturationText(h), /used only 30 % of a core while its event loop was busy 95 %/);
    assert.match(saturationText(h), /give the generator a core of its own/);
  });

  test('the summary section: figures, then the verdict or the rule', () => {
    const text = generatorText(base);
    assert.match(text, /^ generator \(this Node engine process, 30 s sampled every 1 s\)$/m);
    assert.match(text, /event-loop delay {2}p50 0\.30 ms {2}p90 1\.20 ms {2}p99 41\.0 ms {2}max 120 ms/);
    assert.match(text, /CPU +mean 50 % of a core, busiest sample 99 %, busiest 10 s 98 %/);
    assert.match(
      text,
      /not saturated \(saturated when, over any 10 s, CPU ≥ 90 % of a core, the event loop busy ≥ 90 % or event-loop delay p90 ≥ 100 ms\)/,
    );
    assert.match(generatorText({ ...base, sampledMs: 4000 }), /not judged: the run was shorter than 10 s/);
  });
});

describe('the monitor', () => {
  test('a blocked event loop is measured: the delay histogram holds the block, CPU and busy near a core', async () => {
    const m = startHealthMonitor({ rule: { sustainMs: 1000 } });
    await new Promise((r) => setTimeout(r, 50));
    const end = Date.now() + 1200;
    while (Date.now() < end); // block
    await new Promise((r) => setTimeout(r, 50));
    const h = await m.stop();
    assert.ok(h.eventLoopDelay.max >= 1100 && h.eventLoopDelay.max <= 1400, `max ${h.eventLoopDelay.max} ms`);
    assert.ok(h.eventLoopDelay.count >= 100, 'corrected for coordinated omission');
    assert.equal(decodeHistogram(h.eventLoopDelay.hdr).totalCount, h.eventLoopDelay.count);
    assert.equal(h.saturated, true);
    assert.ok(
      h.reasons.includes('event-loop-busy') && h.reasons.includes('event-loop-delay'),
      h.reasons.join(),
    );
    assert.equal(await m.stop(), h, 'stop() twice gives the same report');
  });
});

describe('a run through the engine', () => {
  test('a script that blocks its VU for 3 s: saturated, from the test start', async () => {
    const { outcome } = await runScriptText(
      `export const options = { iterations: 1 };
       export default function () { const end = Date.now() + 3000; while (Date.now() < end) {} }`,
      { health: { sustainMs: 2000 } },
    );
    assert.equal(outcome.exitCode, 0, 'the engine leaves the exit code to its caller');
    const g = outcome.generator!;
    assert.equal(g.saturated, true);
    assert.ok(g.sampledMs >= 2900, String(g.sampledMs));
    assert.match(g.verdict!, /^GENERATOR SATURATED: /);
  });

  test('a light script (timers, 2 VUs): not saturated', async () => {
    const { outcome } = await runScriptText(
      `export const options = { vus: 2, duration: '3s' };
       export default async function () { await new Promise((r) => setTimeout(r, 50)); }`,
      { health: { sustainMs: 2000 } },
    );
    const g = outcome.generator!;
    assert.equal(g.saturated, false, JSON.stringify(g));
    assert.equal(g.verdict, undefined);
    assert.ok(g.eventLoopDelay.p99 < 50, `p99 ${g.eventLoopDelay.p99} ms`);
    assert.ok(g.cpu.peakSpan < 0.5, `CPU ${g.cpu.peakSpan}`);
  });

  test('health: false runs no monitor', async () => {
    const { outcome } = await runScriptText(`export default function () {}`, { health: false });
    assert.equal(outcome.generator, undefined);
  });
});

describe('the monitor → the collector', () => {
  test("snapshots of the generator's own producer: delay histogram, CPU and busy seconds, saturated gauge", async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'starling-health-'));
    const collector = await startCollector({ port: 0, resultsRoot: root, autoFinishMs: 0, log: () => {} });
    t.after(async () => {
      await collector.close();
      await rm(root, { recursive: true, force: true });
    });
    const m = startHealthMonitor({
      env: {
        [COLLECTOR_URL_ENV]: collector.url,
        [RUN_ID_ENV]: 'health-run',
        STARLING_INSTANCE: 'gen-1',
        STARLING_FLUSH_INTERVAL: '300ms',
      },
    });
    await new Promise((r) => setTimeout(r, 1100));
    const h = await m.stop();
    const run = collector.store.runs().find((r) => r.runId === 'health-run')!;
    assert.ok(run.snapshots >= 3, `${run.snapshots} snapshots: periodic ones and the final one`);
    assert.deepEqual(run.instances(), ['gen-1']);
    assert.equal(run.finalProducers(), 1);
    const text = renderMetrics(collector.store);
    const labels = 'run_id="health-run",generator="gen-1"';
    const count = new RegExp(
      `^${histogramMetricName(GENERATOR_METRICS.eventLoopDelay)}_count\\{${labels}\\} (\\d+)$`,
      'm',
    ).exec(text);
    assert.equal(
      histogramMetricName(GENERATOR_METRICS.eventLoopDelay),
      'starling_generator_event_loop_delay_seconds',
    );
    assert.equal(Number(count?.[1]), h.eventLoopDelay.count, 'every delay value reached the collector');
    assert.match(text, new RegExp(`^starling_generator_cpu_seconds_total\\{${labels}\\} [0-9.e-]+$`, 'm'));
    assert.match(
      text,
      new RegExp(`^starling_generator_event_loop_busy_seconds_total\\{${labels}\\} [0-9.e-]+$`, 'm'),
    );
    assert.match(text, new RegExp(`^starling_generator_saturated\\{${labels}\\} 0$`, 'm'));
    assert.match(
      text,
      new RegExp(
        `^starling_generator_event_loop_delay_seconds_percentile\\{${labels},percentile="99"\\} `,
        'm',
      ),
    );
  });

  test('without STARLING_RUN_ID nothing is sent, and the log says why', async () => {
    const lines: string[] = [];
    const m = startHealthMonitor({
      env: { [COLLECTOR_URL_ENV]: 'http://127.0.0.1:1' },
      log: (_level, line) => lines.push(line),
    });
    await m.stop();
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /not sent to the collector: STARLING_RUN_ID is not set/);
  });
});
