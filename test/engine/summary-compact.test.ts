/**
 * k6 1.x's end-of-test summary, `--summary-mode=compact` (default) and `full` (src/engine/summary-compact.ts).
 * The expected texts follow grafana/k6 v1.8.1 (summary.js is the same from v1.2 to v2.2):
 * - internal/js/summary.js: generate() L168-183 (THRESHOLDS when any, TOTAL RESULTS, GROUP: per top-level group,
 *   SCENARIO: per scenario by name); build() L333-344 (a title line `  █ NAME ` + blank line; each block ends
 *   with an empty line, each section with another); _renderMetrics L387-428 (CUSTOM first, then HTTP, EXECUTION,
 *   NETWORK, …, WEBSOCKET, in summary.Metrics field order); _computeGlobalMaxNameWidth L284-307 (its reduce has no
 *   initial value: the width is NaN, so each group's metric block aligns on its own longest name);
 *   renderMetricLine L927-954 (the longest name gets 3 dots); renderChecks L735-772 and renderCheck L689-724
 *   (checks_total / checks_succeeded / checks_failed, then ✓/✗ lines, `↳  66% — ✓ 2 / ✗ 1`); renderThresholds
 *   L822-870, renderThresholdResults L881-914, renderMetricValueForThresholds L992-1022 (`✓ 'p(95)<500'
 *   p(95)=77ms`, a sub-metric as `{tag:value}` one level in under its parent); nonTrendMetricValueForSum
 *   L1448-1469.
 * - internal/output/summary/data.go: populateSummaryGroup L171-233 (sections by name prefix), isSkippedMetric
 *   L361-374 (checks and group_duration never; compact also drops http_req_blocked/connecting/receiving/sending/
 *   tls_handshaking/waiting), populateSummaryChecks L277-316 (checks_failed counts the failures as its "passes"),
 *   summaryThresholds L235-275 (a p(N) threshold adds its percentile to the values).
 * - internal/output/summary/summary.go flushSample L84-117: checks counted by name over the run (setup's too);
 *   full mode: each sample also to its scenario unless `default`, and to its innermost group, setup/teardown not.
 * - internal/lib/summary/summary.go ValidateMode L93; internal/cmd/runtime_options.go L126-133 (the flag over
 *   K6_SUMMARY_MODE, then `invalid summary mode`).
 * Checked byte for byte against k6's summary.js run on the same report (colours on and off).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeSummaryMode } from '../../src/cli/run.ts';
import { RunInputError } from '../../src/cli/run-target.ts';
import { MetricStore } from '../../src/engine/metrics.ts';
import {
  buildSummaryReport,
  compactSummaryStdout,
  compactTextSummary,
  defaultSummaryText,
  InvalidSummaryModeError,
  metricSection,
  resolveSummaryMode,
  summaryColors,
  SummaryOutput,
  validateSummaryMode,
  type SummaryMode,
} from '../../src/engine/summary-compact.ts';
import { buildSummaryData, textSummary } from '../../src/engine/summary.ts';
import { ThresholdSet } from '../../src/engine/thresholds.ts';

/**
 * Three iterations of the `default` scenario and one of `chat`, 10 s: an HTTP request in group `login` (the
 * third fails its check and is not an expected response), a WebSocket session, a `connected` check and XMPP
 * custom metrics outside any group; a setup check; vus 2. Thresholds on http (one on a percentile outside
 * summaryTrendStats, one on the expected_response sub-metric), checks (crossed), ws and a custom counter.
 */
function fixture(mode: SummaryMode) {
  const store = new MetricStore();
  const out = SummaryOutput.attach(store, mode);
  store.defineMetric('xmpp_logins', 'counter');
  store.defineMetric('xmpp_session_ready', 'trend', 'time');
  store.defineMetric('xmpp_sessions_open', 'gauge');
  store.defineMetric('xmpp_login_ok', 'rate');
  const thresholds = ThresholdSet.create(
    {
      http_req_duration: ['p(95)<500', 'p(99)<100'],
      'http_req_duration{expected_response:true}': ['max<1000'],
      http_req_failed: ['rate<0.5'],
      checks: ['rate>0.9'],
      xmpp_logins: ['count>1'],
      ws_connecting: ['avg<100'],
    },
    store,
  );
  store.addSubmetric('http_req_duration', 'expected_response:true');
  const iteration = (i: number, scenario: string): void => {
    const tags = { scenario };
    const login = { ...tags, group: '::login' };
    store.push('http_reqs', 1, login);
    store.push('http_req_duration', 40 + 20 * i, { ...login, expected_response: String(i !== 2) });
    store.push('http_req_failed', i === 2 ? 1 : 0, login);
    store.push('http_req_waiting', 30 + 20 * i, login);
    store.push('checks', i === 2 ? 0 : 1, { ...login, check: 'status is 200' });
    store.push('group_duration', 50 + 20 * i, login);
    store.push('ws_sessions', 1, tags);
    store.push('ws_connecting', 12.5 * (i + 1), tags);
    store.push('ws_msgs_sent', 4, tags);
    store.push('ws_msgs_received', 5, tags);
    store.push('ws_session_duration', 1500 + 250 * i, tags);
    store.push('checks', 1, { ...tags, check: 'connected' });
    store.push('xmpp_logins', 1, tags);
    store.push('xmpp_session_ready', 80 + 10 * i, tags);
    store.push('xmpp_sessions_open', i + 1, tags);
    store.push('xmpp_login_ok', i === 2 ? 0 : 1, tags);
    store.push('data_sent', 1200, tags);
    store.push('data_received', 34_000, tags);
    store.push('iterations', 1, tags);
    store.push('iteration_duration', 2000 + 100 * i, tags);
  };
  for (let i = 0; i < 3; i++) iteration(i, 'default');
  iteration(0, 'chat');
  store.push('vus', 2);
  store.push('checks', 1, { group: '::setup', check: 'server up' });
  const results = thresholds.evaluate(store, 10_000, true).results;
  const report = buildSummaryReport(store, out, results, { testRunDurationMs: 10_000 });
  return { store, out, results, report };
}

const THRESHOLDS = [
  '',
  '  █ THRESHOLDS ',
  '',
  '    checks',
  "    ✗ 'rate>0.9' rate=88.88%",
  '',
  '    http_req_duration',
  "    ✓ 'p(95)<500' p(95)=77ms",
  "    ✓ 'p(99)<100' p(99)=79.39ms",
  '',
  '      {expected_response:true}',
  "      ✓ 'max<1000' max=60ms",
  '',
  '    http_req_failed',
  "    ✓ 'rate<0.5' rate=25.00%",
  '',
  '    ws_connecting',
  "    ✓ 'avg<100' avg=21.87ms",
  '',
  '    xmpp_logins',
  "    ✓ 'count>1' count=4",
  '',
  '',
];

const TOTAL_RESULTS_COMPACT = [
  '  █ TOTAL RESULTS ',
  '',
  '    checks_total.......: 9      0.9/s',
  '    checks_succeeded...: 88.88% 8 out of 9',
  '    checks_failed......: 11.11% 1 out of 9',
  '',
  '    ✗ status is 200',
  '      ↳  75% — ✓ 3 / ✗ 1',
  '    ✓ connected',
  '    ✓ server up',
  '',
  '    CUSTOM',
  '    xmpp_login_ok..................: 75.00% 3 out of 4',
  '    xmpp_logins....................: 4      0.4/s',
  '    xmpp_session_ready.............: avg=87.5ms  min=80ms   med=85ms    max=100ms  p(90)=97ms    p(95)=98.5ms ',
  '    xmpp_sessions_open.............: 1      min=1      max=3',
  '',
  '    HTTP',
  '    http_req_duration..............: avg=55ms    min=40ms   med=50ms    max=80ms   p(90)=74ms    p(95)=77ms   ',
  '      { expected_response:true }...: avg=46.66ms min=40ms   med=40ms    max=60ms   p(90)=56ms    p(95)=58ms   ',
  '    http_req_failed................: 25.00% 1 out of 4',
  '    http_reqs......................: 4      0.4/s',
  '',
  '    EXECUTION',
  '    iteration_duration.............: avg=2.07s   min=2s     med=2.04s   max=2.2s   p(90)=2.17s   p(95)=2.18s  ',
  '    iterations.....................: 4      0.4/s',
  '    vus............................: 2      min=2      max=2',
  '',
  '    NETWORK',
  '    data_received..................: 136 kB 14 kB/s',
  '    data_sent......................: 4.8 kB 480 B/s',
  '',
  '    WEBSOCKET',
  '    ws_connecting..................: avg=21.87ms min=12.5ms med=18.75ms max=37.5ms p(90)=33.75ms p(95)=35.62ms',
  '    ws_msgs_received...............: 20     2/s',
  '    ws_msgs_sent...................: 16     1.6/s',
  '    ws_session_duration............: avg=1.68s   min=1.5s   med=1.62s   max=2s     p(90)=1.92s   p(95)=1.96s  ',
  '    ws_sessions....................: 4      0.4/s',
  '',
  '',
];

const GROUP_LOGIN = [
  '  █ GROUP: login ',
  '',
  '    checks_total.......: 3      0.3/s',
  '    checks_succeeded...: 66.66% 2 out of 3',
  '    checks_failed......: 33.33% 1 out of 3',
  '',
  '    ✗ status is 200',
  '      ↳  66% — ✓ 2 / ✗ 1',
  '',
  '    HTTP',
  '    http_req_duration...: avg=60ms min=40ms med=60ms max=80ms p(90)=76ms p(95)=78ms',
  '    http_req_failed.....: 33.33% 1 out of 3',
  '    http_req_waiting....: avg=50ms min=30ms med=50ms max=70ms p(90)=66ms p(95)=68ms',
  '    http_reqs...........: 3      0.3/s',
  '',
  '',
];

const SCENARIO_CHAT = [
  '  █ SCENARIO: chat ',
  '',
  '    checks_total.......: 2       0.2/s',
  '    checks_succeeded...: 100.00% 2 out of 2',
  '    checks_failed......: 0.00%   0 out of 2',
  '',
  '    ✓ status is 200',
  '    ✓ connected',
  '',
  '    CUSTOM',
  '    xmpp_login_ok.........: 100.00% 1 out of 1',
  '    xmpp_logins...........: 1       0.1/s',
  '    xmpp_session_ready....: avg=80ms   min=80ms   med=80ms   max=80ms   p(90)=80ms   p(95)=80ms  ',
  '    xmpp_sessions_open....: 1       min=1      max=1',
  '',
  '    HTTP',
  '    http_req_duration.....: avg=40ms   min=40ms   med=40ms   max=40ms   p(90)=40ms   p(95)=40ms  ',
  '    http_req_failed.......: 0.00%   0 out of 1',
  '    http_req_waiting......: avg=30ms   min=30ms   med=30ms   max=30ms   p(90)=30ms   p(95)=30ms  ',
  '    http_reqs.............: 1       0.1/s',
  '',
  '    EXECUTION',
  '    iteration_duration....: avg=2s     min=2s     med=2s     max=2s     p(90)=2s     p(95)=2s    ',
  '    iterations............: 1       0.1/s',
  '',
  '    NETWORK',
  '    data_received.........: 34 kB   3.4 kB/s',
  '    data_sent.............: 1.2 kB  120 B/s',
  '',
  '    WEBSOCKET',
  '    ws_connecting.........: avg=12.5ms min=12.5ms med=12.5ms max=12.5ms p(90)=12.5ms p(95)=12.5ms',
  '    ws_msgs_received......: 5       0.5/s',
  '    ws_msgs_sent..........: 4       0.4/s',
  '    ws_session_duration...: avg=1.5s   min=1.5s   med=1.5s   max=1.5s   p(90)=1.5s   p(95)=1.5s  ',
  '    ws_sessions...........: 1       0.1/s',
  '',
  '    ↳ GROUP: login ',
  '',
  '      checks_total.......: 1       0.1/s',
  '      checks_succeeded...: 100.00% 1 out of 1',
  '      checks_failed......: 0.00%   0 out of 1',
  '',
  '      ✓ status is 200',
  '',
  '      HTTP',
  '      http_req_duration...: avg=40ms min=40ms med=40ms max=40ms p(90)=40ms p(95)=40ms',
  '      http_req_failed.....: 0.00% 0 out of 1',
  '      http_req_waiting....: avg=30ms min=30ms med=30ms max=30ms p(90)=30ms p(95)=30ms',
  '      http_reqs...........: 1     0.1/s',
  '',
  '',
];

/** Full mode's TOTAL RESULTS: compact's plus the HTTP timing phases that had samples (here http_req_waiting). */
const TOTAL_RESULTS_FULL = [
  ...TOTAL_RESULTS_COMPACT.slice(0, 21),
  '    http_req_waiting...............: avg=45ms    min=30ms   med=40ms    max=70ms   p(90)=64ms    p(95)=67ms   ',
  ...TOTAL_RESULTS_COMPACT.slice(21),
];

describe('compact summary (k6 1.x default)', () => {
  test('thresholds, then total results: checks, CUSTOM, HTTP (no timing phases), EXECUTION, NETWORK, WEBSOCKET', () => {
    const { report } = fixture('compact');
    assert.equal(compactTextSummary(report), [...THRESHOLDS, ...TOTAL_RESULTS_COMPACT].join('\n'));
    assert.deepEqual(report.groups, {});
    assert.deepEqual(report.scenarios, {});
  });

  test("stdout is k6's '\\n' + text + '\\n\\n'; no THRESHOLDS section without thresholds", () => {
    const { report } = fixture('compact');
    const text = compactTextSummary(report);
    assert.equal(compactSummaryStdout(report), `\n${text}\n\n`);
    assert.equal(
      compactTextSummary({ ...report, thresholds: {} }),
      ['', ...TOTAL_RESULTS_COMPACT].join('\n'),
    );
  });

  test('colours: bold titles and sections, green/red checks and marks, cyan values, faint dots', () => {
    const text = compactTextSummary(fixture('compact').report, { enableColors: true });
    const lines = text.split('\n');
    assert.ok(lines.includes('  █ \x1b[1mTHRESHOLDS\x1b[0m '));
    assert.ok(lines.includes('    \x1b[1mCUSTOM\x1b[0m'));
    assert.ok(
      lines.includes(
        "    \x1b[31m✗\x1b[0m \x1b[37m'rate>0.9'\x1b[0m \x1b[37mrate\x1b[0m=\x1b[36m88.88%\x1b[0m",
      ),
    );
    assert.ok(lines.includes('    \x1b[32m✓ connected\x1b[0m'));
    assert.ok(lines.includes('      \x1b[31m↳  75% — ✓ 3 / ✗ 1\x1b[0m'));
    assert.ok(
      lines.includes(
        '    xmpp_logins\x1b[2;37m....................:\x1b[0m \x1b[36m4\x1b[0m      \x1b[2;36m0.4/s\x1b[0m',
      ),
    );
  });

  test('summaryTrendStats and summaryTimeUnit apply to every trend line and threshold value', () => {
    const store = new MetricStore();
    const out = SummaryOutput.attach(store, 'compact');
    const thresholds = ThresholdSet.create({ iteration_duration: ['p(99)<3000', 'med<10'] }, store);
    for (const v of [1000, 1500, 2000]) {
      store.push('iterations', 1);
      store.push('iteration_duration', v);
    }
    const stats = ['avg', 'p(90)', 'count'];
    const report = buildSummaryReport(store, out, thresholds.evaluate(store, 2000, true).results, {
      testRunDurationMs: 2000,
      summaryTrendStats: stats,
    });
    // A threshold's aggregate that is neither a stat nor a percentile has no value: k6 prints `med=`.
    assert.equal(
      compactTextSummary(report, { summaryTrendStats: stats, summaryTimeUnit: 's' }),
      [
        '',
        '  █ THRESHOLDS ',
        '',
        '    iteration_duration',
        "    ✓ 'p(99)<3000' p(99)=1.99s",
        "    ✗ 'med<10' med=",
        '',
        '',
        '  █ TOTAL RESULTS ',
        '',
        '    EXECUTION',
        '    iteration_duration...: avg=1.50s p(90)=1.90s count=3',
        '    iterations...........: 3 1.5/s',
        '',
        '',
      ].join('\n'),
    );
  });

  test('a single metric name: no dots (k6 reduces the names without an initial value); none: the error', () => {
    const store = new MetricStore();
    const out = SummaryOutput.attach(store, 'compact');
    const empty = buildSummaryReport(store, out, [], { testRunDurationMs: 1000 });
    assert.throws(() => compactTextSummary(empty), /Reduce of empty array with no initial value/);
    store.push('iterations', 1);
    store.push('checks', 1, { check: 'ok' });
    const one = buildSummaryReport(store, out, [], { testRunDurationMs: 1000 });
    assert.equal(
      compactTextSummary(one).split('\n').slice(3).join('\n'),
      [
        '    checks_total.......: 1       1/s',
        '    checks_succeeded...: 100.00% 1 out of 1',
        '    checks_failed......: 0.00%   0 out of 1',
        '',
        '    ✓ ok',
        '',
        '    EXECUTION',
        '    iterations: 1 1/s',
        '',
        '',
      ].join('\n'),
    );
  });
});

describe('full summary', () => {
  test('adds the timing phases, a GROUP section per top-level group and a SCENARIO section per named scenario', () => {
    const { report } = fixture('full');
    assert.equal(
      compactTextSummary(report),
      [...THRESHOLDS, ...TOTAL_RESULTS_FULL, ...GROUP_LOGIN, ...SCENARIO_CHAT].join('\n'),
    );
  });

  test('setup/teardown samples reach no group; scenarios sort by name, groups keep first-sample order', () => {
    const store = new MetricStore();
    const out = SummaryOutput.attach(store, 'full');
    store.push('checks', 1, { group: '::setup', check: 's' });
    store.push('iterations', 1, { scenario: 'zeta', group: '::b' });
    store.push('iterations', 1, { scenario: 'zeta', group: '::a::deep' });
    store.push('iterations', 1, { scenario: 'alpha' });
    store.push('iterations', 1, { group: '::b' });
    const report = buildSummaryReport(store, out, [], { testRunDurationMs: 1000 });
    assert.deepEqual(Object.keys(report.groups), ['b']);
    assert.deepEqual(Object.keys(report.scenarios['zeta']!.groups), ['b', 'a']);
    assert.deepEqual(Object.keys(report.scenarios['zeta']!.groups['a']!.groups), ['deep']);
    assert.deepEqual(report.scenarios['zeta']!.groups['a']!.metrics.execution, {});
    const titles = compactTextSummary(report)
      .split('\n')
      .filter((l) => /[█↳] /.test(l));
    assert.deepEqual(titles, [
      '  █ TOTAL RESULTS ',
      '  █ GROUP: b ',
      '  █ SCENARIO: alpha ',
      '  █ SCENARIO: zeta ',
      '    ↳ GROUP: b ',
      '    ↳ GROUP: a ',
      '      ↳ GROUP: deep ',
    ]);
  });
});

describe('sections', () => {
  test('by name prefix, as k6 files them: sub-metrics follow their parent, checks* and group_duration* never show', () => {
    assert.equal(metricSection('http_req_duration{expected_response:true}', 'compact'), 'http');
    assert.equal(metricSection('http_req_waiting', 'compact'), undefined);
    assert.equal(metricSection('http_req_waiting', 'full'), 'http');
    assert.equal(metricSection('vus_max', 'full'), 'execution');
    assert.equal(metricSection('data_received', 'full'), 'network');
    assert.equal(metricSection('ws_ping', 'full'), 'websocket');
    assert.equal(metricSection('grpc_req_duration', 'full'), 'grpc');
    assert.equal(metricSection('browser_web_vital_lcp', 'full'), 'web_vitals');
    assert.equal(metricSection('browser_data_sent', 'full'), 'browser');
    assert.equal(metricSection('checks_custom', 'full'), undefined);
    assert.equal(metricSection('xmpp_stanzas_sent', 'full'), 'custom');
  });
});

describe('--summary-mode', () => {
  test('the flag over K6_SUMMARY_MODE over compact; empty is compact', () => {
    assert.equal(resolveSummaryMode(undefined, {}), 'compact');
    assert.equal(resolveSummaryMode(undefined, { K6_SUMMARY_MODE: 'full' }), 'full');
    assert.equal(resolveSummaryMode('legacy', { K6_SUMMARY_MODE: 'full' }), 'legacy');
    assert.equal(resolveSummaryMode('', { K6_SUMMARY_MODE: 'full' }), 'compact');
    assert.equal(resolveSummaryMode(undefined, { K6_SUMMARY_MODE: '' }), 'compact');
    assert.equal(validateSummaryMode('disabled'), 'disabled');
  });

  test("an invalid value is k6's `invalid summary mode`, checked even when the flag is not given", () => {
    assert.throws(() => validateSummaryMode('Compact'), InvalidSummaryModeError);
    assert.throws(
      () => resolveSummaryMode(undefined, { K6_SUMMARY_MODE: 'short' }),
      /^InvalidSummaryModeError: invalid summary mode$/,
    );
    assert.throws(
      () => nodeSummaryMode('short', { K6_SUMMARY_MODE: 'full' }),
      (e: Error) =>
        e instanceof RunInputError &&
        e.message === 'invalid summary mode: --summary-mode "short" (compact, full, legacy or disabled)',
    );
    assert.throws(
      () => nodeSummaryMode(undefined, { K6_SUMMARY_MODE: 'x' }),
      /^RunInputError: invalid summary mode: K6_SUMMARY_MODE "x"/,
    );
  });

  test('the default summary by mode: legacy is textSummary, disabled prints nothing', () => {
    const { store, report } = fixture('compact');
    const data = buildSummaryData(store, [], { testRunDurationMs: 10_000 });
    assert.equal(
      defaultSummaryText('legacy', data, () => report, false),
      `\n${textSummary(data)}\n\n`,
    );
    assert.equal(
      defaultSummaryText('compact', data, () => report, false),
      compactSummaryStdout(report),
    );
    assert.equal(
      defaultSummaryText('disabled', data, () => report, false),
      '',
    );
  });

  test('colours only on a TTY without NO_COLOR / K6_NO_COLOR', () => {
    assert.equal(summaryColors(true, {}), true);
    assert.equal(summaryColors(false, {}), false);
    assert.equal(summaryColors(true, { NO_COLOR: '' }), false);
    assert.equal(summaryColors(true, { K6_NO_COLOR: '1' }), false);
    assert.equal(summaryColors(true, { K6_NO_COLOR: '' }), true);
  });
});
