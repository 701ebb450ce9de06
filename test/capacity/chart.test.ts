import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { capacityChartSpec, capacityChartSvg, parseLatencyBound } from '../../src/capacity/chart.ts';
import type { CapacityReport, SearchResult, Step } from '../../src/capacity/types.ts';

const READY = 'xmpp_session_ready';
const LOGIN = 'xmpp_login_success';

/** A step of a login-rate run: `p99` its session-ready p99, `achieved` its completed logins/s. */
function step(
  index: number,
  phase: Step['phase'],
  offered: number,
  achieved: number,
  p50: number,
  p95: number,
  p99: number,
): Step {
  const pass = p99 < 1000;
  const start = Date.UTC(2025, 0, 1, 12, 0) + index * 90_000;
  const attempts = Math.round(offered * 60);
  const failures = pass ? 0 : Math.round(attempts * 0.004);
  return {
    index,
    phase,
    offered,
    achieved,
    runId: `cap-${index}`,
    startedAt: new Date(start).toISOString(),
    windowStartMs: start + 15_000,
    windowEndMs: start + 60_000,
    pass,
    rows: [
      { metric: READY, threshold: 'p(99)<1000', value: p99, display: `${p99} ms`, ok: pass },
      {
        metric: LOGIN,
        threshold: 'rate>0.999',
        value: 1 - failures / attempts,
        display: `${(100 * (1 - failures / attempts)).toFixed(2)} %`,
        ok: pass,
      },
    ],
    latency: { [READY]: { count: Math.round(achieved * 45), p50, p95, p99, max: Math.round(p99 * 1.4) } },
    logins: { attempts, failures, byReason: failures ? { 'timeout:connect': failures } : {} },
    generators: [
      {
        exitCode: pass ? 0 : 99,
        saturated: false,
        cpuMean: offered / 400,
        cpuPeakSpan: offered / 300,
        loopDelayP90: 12,
      },
    ],
    serverCpu: Math.min(1, offered / 150),
    serverCores: 1,
  };
}

function repeat(steps: Step[], overrides: Partial<SearchResult> = {}): SearchResult {
  const passed = steps.filter((s) => s.pass).map((s) => s.offered);
  const failed = steps.filter((s) => !s.pass).map((s) => s.offered);
  return {
    highestPass: passed.length ? Math.max(...passed) : undefined,
    firstFail: failed.length ? Math.min(...failed) : undefined,
    failedTerms: failed.length ? [`${READY} p(99)<1000 (1840 ms)`] : [],
    limit: 'server',
    limitText: 'the server: its CPU was at 100 % and the session-ready latency rose',
    isServerCapacity: true,
    steps,
    ...overrides,
  };
}

function report(repeats: SearchResult[]): CapacityReport {
  return {
    version: 1,
    generatedAt: '2025-01-01T12:30:00.000Z',
    dimension: 'login-rate',
    unit: 'logins/s',
    server: 'local prosody',
    transport: 'websocket',
    slo: { [READY]: ['p(99)<1000'], [LOGIN]: ['rate>0.999'] },
    settings: {
      start: 20,
      max: 2000,
      factor: 2,
      resolution: 0.1,
      stepSeconds: 60,
      warmupSeconds: 15,
      generators: 1,
      repeats: repeats.length,
      thinkSeconds: 5,
    },
    repeats,
    spread: undefined,
  };
}

/**
 * Two repeats: a coarse ramp ×2 to the first failure at 160 logins/s, then refining steps up to a capacity of 140
 * (repeat 1) and 150 logins/s (repeat 2).
 */
function fixture(): CapacityReport {
  const r = report([
    repeat([
      step(1, 'coarse', 20, 19.9, 38, 61, 84),
      step(2, 'coarse', 40, 39.8, 41, 70, 102),
      step(3, 'coarse', 80, 79.1, 52, 118, 240),
      step(4, 'coarse', 160, 131.4, 410, 1320, 1840),
      step(5, 'refine', 120, 117.6, 88, 305, 620),
      step(6, 'refine', 140, 133.9, 140, 520, 930),
    ]),
    repeat([
      step(1, 'coarse', 20, 20, 37, 59, 80),
      step(2, 'coarse', 40, 39.9, 40, 68, 97),
      step(3, 'coarse', 80, 78.8, 55, 124, 262),
      step(4, 'coarse', 160, 128.7, 455, 1410, 2010),
      step(5, 'refine', 120, 118.2, 92, 320, 655),
      step(6, 'refine', 140, 136.1, 120, 455, 810),
      step(7, 'refine', 150, 143.0, 190, 640, 970),
    ]),
  ]);
  return { ...r, spread: { min: 140, median: 145, max: 150 } };
}

/** How many marks vega drew for the named vega-lite layer (one `<path>` per point, `<line>` per rule…). */
function marks(svg: string, name: string): number {
  const group = new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*?(/?)>(.*?)</g>`, 's').exec(svg);
  assert.ok(group, `${name}: no such mark`);
  return group[1] ? 0 : (group[2]!.match(/role="graphics-symbol"/g) ?? []).length;
}

const unescape = (svg: string): string =>
  svg.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&amp;', '&');

/** The texts of the SVG's `<text>` elements, a multi-line one's lines (`<tspan>`s) joined by newlines. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/gs)].map((m) => {
    const lines = [...m[1]!.matchAll(/<tspan[^>]*>(.*?)<\/tspan>/gs)].map((t) => t[1]!);
    return unescape(lines.length ? lines.join('\n') : m[1]!);
  });
}

test('parseLatencyBound reads p(NN)<X and p(NN)<=X only', () => {
  assert.deepEqual(parseLatencyBound('p(99)<1000'), {
    percentile: 99,
    operator: '<',
    ms: 1000,
    threshold: 'p(99)<1000',
  });
  assert.deepEqual(parseLatencyBound(' p(99.9) <= 250.5 '), {
    percentile: 99.9,
    operator: '<=',
    ms: 250.5,
    threshold: 'p(99.9) <= 250.5',
  });
  assert.equal(parseLatencyBound('rate>0.999'), undefined);
  assert.equal(parseLatencyBound('avg<200'), undefined);
  assert.equal(parseLatencyBound('p(99)>1000'), undefined);
});

test('the chart of two repeats: points per step, axes with the unit, the SLO and each capacity', async () => {
  const svg = await capacityChartSvg(fixture());
  if (process.env.CAPACITY_CHART_SVG) writeFileSync(process.env.CAPACITY_CHART_SVG, svg);

  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>$/);
  // 6 + 7 steps, one failed in each repeat: 11 passing, 2 failing; p50, p95 and p99 of each.
  assert.equal(marks(svg, 'latency_pass'), 11 * 3);
  assert.equal(marks(svg, 'latency_fail'), 2 * 3);
  assert.equal(marks(svg, 'latency_fail_ring'), 2 * 3);
  assert.equal(marks(svg, 'load_pass'), 11);
  assert.equal(marks(svg, 'load_fail'), 2);
  assert.equal(marks(svg, 'load_fail_ring'), 2);

  const text = unescape(svg);
  assert.ok(text.includes('offered load (logins/s)'), 'x axis title');
  assert.ok(text.includes('achieved load (logins/s)'), 'right axis title');
  assert.ok(text.includes('xmpp_session_ready latency (ms)'), 'left axis title');
  assert.ok(text.includes('SLO p(99)<1000 ms'), 'SLO label');
  assert.ok(texts(svg).includes('capacity 140 logins/s\nrepeat 1'), 'capacity of repeat 1');
  assert.ok(texts(svg).includes('capacity 150 logins/s\nrepeat 2'), 'capacity of repeat 2');
  assert.equal(marks(svg, 'capacity_rule'), 2);
  assert.ok(text.includes('login-rate capacity — local prosody'), 'title');
  for (const series of ['p50', 'p95', 'p99', 'achieved load', 'achieved = offered', 'failed step'])
    assert.ok(text.includes(`>${series}<`), series);

  // Nothing to fetch: the only URLs are the namespaces SVG and vega's xlink declaration name (never used).
  const urls = svg.match(/https?:\/\/[^\s"'<>)]*/g) ?? [];
  assert.deepEqual([...new Set(urls)].sort(), ['http://www.w3.org/1999/xlink', 'http://www.w3.org/2000/svg']);
  assert.equal(svg.match(/xmlns(:\w+)?="http/g)?.length, urls.length);
  assert.doesNotMatch(svg, /@import|@font-face|url\(|href=/);
});

test('repeats with the same capacity share one rule; a generator-limited one says so', async () => {
  const r = fixture();
  r.repeats = r.repeats.map((x) => ({ ...x, highestPass: 140, limit: 'generator', isServerCapacity: false }));
  const svg = await capacityChartSvg(r);
  assert.ok(texts(svg).includes('capacity ≥ 140 logins/s\ngenerator-limited · repeats 1, 2'));
  assert.equal(marks(svg, 'capacity_rule'), 1);
});

test('a capacity bounded by the server’s open-files limit says so on its rule', async () => {
  const r = fixture();
  r.repeats = r.repeats.map((x) => ({ ...x, highestPass: 140, limitResource: 'open-files' as const }));
  const svg = await capacityChartSvg(r);
  assert.ok(
    texts(svg).includes('capacity 140 logins/s\nopen-files limit · repeats 1, 2'),
    texts(svg).join(' | '),
  );
});

test('a verification: its steps drawn with the rest, its result on the capacity it checked', async () => {
  const r = fixture();
  // The median (145) failed again; 132 passed, 172 (1.3×) failed.
  r.verification = {
    candidate: 145,
    capacity: 132,
    overFactor: 1.3,
    over: { offered: 172, pass: false },
    text: 'verified lower',
    steps: [
      step(1, 'verify', 145, 139, 200, 700, 1100),
      step(2, 'verify', 132, 130, 120, 450, 780),
      step(3, 'verify', 172, 135, 500, 1500, 2300),
    ],
  };
  const svg = await capacityChartSvg(r);
  assert.ok(
    texts(svg).includes('capacity 132 logins/s\nverified; 172 (1.3×) failed'),
    texts(svg).join(' | '),
  );
  // 6 + 7 steps of the repeats and 3 of the verification; one failing in each repeat, two in the verification.
  assert.equal(marks(svg, 'load_pass'), 11 + 1);
  assert.equal(marks(svg, 'load_fail'), 2 + 2);
  // Checked on a capacity a repeat found: the same rule says so.
  r.verification = { ...r.verification, capacity: 140, over: { offered: 182, pass: true } };
  const same = texts(await capacityChartSvg(r));
  assert.ok(
    same.includes('capacity 140 logins/s\nrepeat 1\nverified; 182 (1.3×) passed too'),
    same.join(' | '),
  );
  r.verification = { ...r.verification, capacity: undefined, over: undefined };
  assert.ok(texts(await capacityChartSvg(r)).includes('not verified: every load tried failed again'));
});

test('capacity labels a few percent apart do not overlap: the later one goes right of its rule', async () => {
  // 140 and 150 logins/s are 53 px apart on this 900 px axis (0–170): room for two 2-line labels (34 px each).
  const apart = await capacityChartSvg(fixture());
  assert.equal(marks(apart, 'capacity_label'), 2);
  assert.equal(marks(apart, 'capacity_label_right'), 0);
  // 140 and 145: 26 px apart, so the second label goes right of its rule.
  const close = fixture();
  close.repeats[1]!.highestPass = 145;
  const svg = await capacityChartSvg(close);
  assert.equal(marks(svg, 'capacity_label'), 1);
  assert.equal(marks(svg, 'capacity_label_right'), 1);
});

test('a failing step far above the SLO turns the latency axis to a log scale', async () => {
  const r = fixture();
  const linear = texts(await capacityChartSvg(r));
  assert.ok(linear.includes('xmpp_session_ready latency (ms)'));
  // A login timeout: 12 s at p99, 12 times the SLO's bound.
  r.repeats[0]!.steps[3]!.latency[READY] = { count: 400, p50: 3000, p95: 9800, p99: 12_000, max: 15_000 };
  const log = texts(await capacityChartSvg(r));
  assert.ok(log.includes('xmpp_session_ready latency (ms, log scale)'));
  for (const tick of ['50', '100', '1,000', '10,000']) assert.ok(log.includes(tick), tick);
});

test('a run whose first step failed still has a chart, which says there was no passing step', async () => {
  const r = report([repeat([step(1, 'coarse', 20, 12.5, 900, 2400, 4100)], { limit: 'server' })]);
  assert.equal(r.repeats[0]!.highestPass, undefined);
  const svg = await capacityChartSvg(r);
  assert.match(svg, /^<svg/);
  assert.match(svg, /<\/svg>$/);
  const text = unescape(svg);
  assert.ok(text.includes('no passing step'));
  assert.doesNotMatch(text, /capacity \d/);
  assert.equal(marks(svg, 'latency_fail'), 3);
  assert.equal(marks(svg, 'latency_pass'), 0);
  assert.equal(marks(svg, 'load_fail'), 1);
});

test('the spec keeps its data inline and follows latencyMetric', () => {
  const spec = capacityChartSpec(fixture(), { latencyMetric: 'xmpp_iq_rtt' }) as {
    datasets: Record<string, unknown[]>;
  };
  assert.deepEqual(spec.datasets.latency, []);
  assert.equal(spec.datasets.slo!.length, 0);
  assert.equal(
    (capacityChartSpec(fixture()) as { datasets: Record<string, unknown[]> }).datasets.latency!.length,
    13 * 3,
  );
});
