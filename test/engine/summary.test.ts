import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MetricStore } from '../../src/engine/metrics.ts';
import { ThresholdSet, type ThresholdResult } from '../../src/engine/thresholds.ts';
import {
  buildSummaryData,
  childGroup,
  defaultSummaryStdout,
  groupCheck,
  humanizeBytes,
  humanizeDuration,
  humanizeValue,
  newGroup,
  strWidth,
  textSummary,
  type SummaryData,
} from '../../src/engine/summary.ts';
import { xmppTable } from '../../src/report/xmpp-summary.ts';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_RATES, XMPP_TRENDS } from '../../src/contract/metric-names.ts';

/**
 * The metrics of k6's internal/js/summary_test.go createTestMetrics: vus gauge 1; http_reqs 3 × 1 with a failed
 * `rate<100`; checks 45 passes / 15 fails with a passing `rate>70`; my_trend (time) 10, 15, 20 with a failed
 * threshold; root group → child → check1 (30/0), check3 (10/5), check2 (5/10); 1 s test.
 */
function k6Fixture(summaryTrendStats: string[]): SummaryData {
  const store = new MetricStore();
  store.push('vus', 1);
  for (let i = 0; i < 3; i++) store.push('http_reqs', 1);
  for (let i = 0; i < 45; i++) store.push('checks', 1);
  for (let i = 0; i < 15; i++) store.push('checks', 0);
  store.defineMetric('my_trend', 'trend', 'time');
  for (const v of [10, 15, 20]) store.push('my_trend', v);

  const root = newGroup('');
  const child = childGroup(root, 'child');
  groupCheck(child, 'check1').passes = 30;
  Object.assign(groupCheck(child, 'check3'), { passes: 10, fails: 5 }); // intentionally before check2
  Object.assign(groupCheck(child, 'check2'), { passes: 5, fails: 10 });

  const r = (metric: string, expr: string, ok: boolean): ThresholdResult => ({
    metric,
    expr,
    ok,
    value: undefined,
    evaluated: true,
    abortOnFail: false,
  });
  return buildSummaryData(
    store,
    [r('http_reqs', 'rate<100', false), r('checks', 'rate>70', true), r('my_trend', 'my_trend<1000', false)],
    { options: { summaryTrendStats }, testRunDurationMs: 1000, rootGroup: root },
  );
}

/** k6's expectedHandleSummaryRawData (internal/js/summary_test.go). */
const K6_HANDLE_SUMMARY_RAW_DATA = `{
  "root_group": {
    "groups": [
      {
        "name": "child",
        "path": "::child",
        "id": "f41cbb53a398ec1c9fb3d33e20c9b040",
        "groups": [],
        "checks": [
          { "id": "6289a7a06253a1c3f6137dfb25695563", "passes": 30, "fails": 0, "name": "check1", "path": "::child::check1" },
          { "fails": 5, "name": "check3", "path": "::child::check3", "id": "c7553eca92d3e034b5808332296d304a", "passes": 10 },
          { "name": "check2", "path": "::child::check2", "id": "06f5922794bef0d4584ba76a49893e1f", "passes": 5, "fails": 10 }
        ]
      }
    ],
    "checks": [],
    "name": "",
    "path": "",
    "id": "d41d8cd98f00b204e9800998ecf8427e"
  },
  "options": {
    "summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"],
    "summaryTimeUnit": "",
    "noColor": false
  },
  "state": { "isStdErrTTY": false, "isStdOutTTY": false, "testRunDurationMs": 1000 },
  "metrics": {
    "checks": {
      "contains": "default",
      "values": { "passes": 45, "fails": 15, "rate": 0.75 },
      "type": "rate",
      "thresholds": { "rate>70": { "ok": true } }
    },
    "my_trend": {
      "thresholds": { "my_trend<1000": { "ok": false } },
      "type": "trend",
      "contains": "time",
      "values": { "max": 20, "p(90)": 19, "p(95)": 19.5, "p(99)": 19.9, "count": 3, "avg": 15, "min": 10, "med": 15 }
    },
    "vus": {
      "contains": "default",
      "values": { "value": 1, "min": 1, "max": 1 },
      "type": "gauge"
    },
    "http_reqs": {
      "type": "counter",
      "contains": "default",
      "values": { "count": 3, "rate": 3 },
      "thresholds": { "rate<100": { "ok": false } }
    }
  }
}`;

describe('handleSummary data', () => {
  test("deep-equals k6's own fixture", () => {
    const data = k6Fixture(['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count']);
    assert.deepStrictEqual(JSON.parse(JSON.stringify(data)), JSON.parse(K6_HANDLE_SUMMARY_RAW_DATA));
    assert.equal('setup_data' in data, false);
  });

  test('defaults, setup_data, TTY state, data contains, unobserved metrics left out', () => {
    const store = new MetricStore();
    store.push('data_sent', 2048);
    store.define(XMPP_TRENDS.auth, 'trend', true); // defined, no samples, no threshold: not in the summary
    const data = buildSummaryData(store, [], {
      testRunDurationMs: 512,
      isStdOutTTY: true,
      noColor: true,
      setupData: { accounts: 3 },
    });
    assert.deepStrictEqual(data, {
      root_group: { name: '', path: '', id: 'd41d8cd98f00b204e9800998ecf8427e', groups: [], checks: [] },
      options: {
        summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'],
        summaryTimeUnit: '',
        noColor: true,
      },
      state: { isStdOutTTY: true, isStdErrTTY: false, testRunDurationMs: 512 },
      metrics: { data_sent: { type: 'counter', contains: 'data', values: { count: 2048, rate: 4000 } } },
      setup_data: { accounts: 3 },
    });
  });

  test('threshold results from a ThresholdSet land on the (sub-)metric; empty sub-metrics still listed', () => {
    const store = new MetricStore();
    store.define('one', 'counter');
    store.define('two', 'counter');
    const set = ThresholdSet.create({ 'one{tag:xyz}': [], 'two{tag:abc}': ['count>0'] }, store);
    store.push('two', 42);
    const { results } = set.evaluate(store, 1000, true);
    const data = buildSummaryData(store, results, { testRunDurationMs: 1000 });
    assert.deepStrictEqual(data.metrics, {
      one: { type: 'counter', contains: 'default', values: { count: 0, rate: 0 } },
      'one{tag:xyz}': { type: 'counter', contains: 'default', values: { count: 0, rate: 0 } },
      two: { type: 'counter', contains: 'default', values: { count: 42, rate: 42 } },
      'two{tag:abc}': {
        type: 'counter',
        contains: 'default',
        values: { count: 0, rate: 0 },
        thresholds: { 'count>0': { ok: false } },
      },
    });
  });
});

describe('classic text summary (summary-legacy.js)', () => {
  // k6 internal/js/summary_test.go TestTextSummary
  const checksOut =
    '     █ child\n\n' +
    '       ✓ check1\n' +
    '       ✗ check3\n        ↳  66% — ✓ 10 / ✗ 5\n' +
    '       ✗ check2\n        ↳  33% — ✓ 5 / ✗ 10\n\n' +
    '   ✓ checks......: 75.00% 45 out of 60\n';
  const countOut = '   ✗ http_reqs...: 3      3/s\n';
  const gaugeOut = '     vus.........: 1      min=1        max=1\n';
  const trendOut =
    '   ✗ my_trend....: avg=15ms min=10ms med=15ms max=20ms p(90)=19ms ' + 'p(95)=19.5ms p(99.9)=19.99ms\n';
  const cases: [string[], string][] = [
    [['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99.9)'], checksOut + countOut + trendOut + gaugeOut],
    [['count'], checksOut + countOut + '   ✗ my_trend....: count=3\n' + gaugeOut],
    [['avg', 'count'], checksOut + countOut + '   ✗ my_trend....: avg=15ms count=3\n' + gaugeOut],
  ];
  for (const [stats, expected] of cases) {
    test(`k6 TestTextSummary ${JSON.stringify(stats)}`, () => {
      const data = k6Fixture(stats);
      assert.equal(defaultSummaryStdout(data, false), '\n' + expected + '\n');
      assert.equal(textSummary(data), expected.slice(0, -1));
    });
  }

  test('k6 TestTextSummaryWithSubMetrics: sub-metrics under their parent', () => {
    const store = new MetricStore({ builtins: false });
    store.define('my_parent', 'counter');
    store.define('my_parent_post', 'counter');
    store.addSubmetric('my_parent', 'sub:1');
    store.addSubmetric('my_parent_post', 'sub:2');
    store.push('my_parent', 10);
    store.push('my_parent', 1, { sub: '1' });
    store.push('my_parent_post', 20);
    store.push('my_parent_post', 2, { sub: '2' });
    const data = buildSummaryData(store, [], { testRunDurationMs: 1000 });
    assert.equal(
      textSummary(data),
      '     my_parent........: 11 11/s\n' +
        '       { sub:1 }......: 1  1/s\n' +
        '     my_parent_post...: 22 22/s\n' +
        '       { sub:2 }......: 2  2/s',
    );
  });

  test('sorting (root collation: http_req_* before http_reqs), data and time units, colours', () => {
    const store = new MetricStore();
    store.push('http_reqs', 1);
    store.push('http_req_duration', 12.3456);
    store.push('data_received', 1_500_000);
    store.push('iterations', 2);
    const data = buildSummaryData(store, [], {
      testRunDurationMs: 2000,
      options: { summaryTrendStats: ['max'] },
    });
    assert.equal(
      textSummary(data),
      [
        '     data_received.......: 1.5 MB 750 kB/s',
        '     http_req_duration...: max=12.34ms',
        '     http_reqs...........: 1      0.5/s',
        '     iterations..........: 2      1/s',
      ].join('\n'),
    );
    assert.equal(
      textSummary(data, { summaryTimeUnit: 's', indent: '' }).split('\n')[1],
      '    http_req_duration...: max=0.01s',
    );
    const colored = textSummary(
      buildSummaryData(
        (() => {
          const s = new MetricStore();
          s.push('iterations', 2);
          return s;
        })(),
        [],
        { testRunDurationMs: 2000 },
      ),
      { enableColors: true },
    );
    assert.equal(colored, '     iterations\x1b[2m...:\x1b[0m \x1b[36m2\x1b[0m \x1b[36;2m1/s\x1b[0m');
    assert.equal(strWidth(colored), '     iterations...: 2 1/s'.length);
  });

  test('humanize helpers', () => {
    assert.equal(humanizeBytes(5), '5 B');
    assert.equal(humanizeBytes(12_345), '12 kB');
    assert.equal(humanizeBytes(1_500_000), '1.5 MB');
    assert.equal(humanizeDuration(0), '0s');
    assert.equal(humanizeDuration(0.0005), '500ns');
    assert.equal(humanizeDuration(0.5), '500µs');
    assert.equal(humanizeDuration(12.3456), '12.34ms');
    assert.equal(humanizeDuration(1500), '1.5s');
    assert.equal(humanizeDuration(65_000), '1m5s');
    assert.equal(humanizeDuration(3_723_000), '1h2m3s');
    assert.equal(humanizeDuration(1500, 's'), '1.50s');
    assert.equal(humanizeDuration(1.5, 'us'), '1500.00µs');
    assert.equal(humanizeValue(0.99999, { type: 'rate', contains: 'default' }), '99.99%');
    assert.equal(humanizeValue(1 / 3, { type: 'counter', contains: 'default' }), '0.333333');
  });
});

describe('XMPP table', () => {
  function xmppStore(): MetricStore {
    const store = new MetricStore();
    for (const name of Object.values(XMPP_TRENDS)) store.define(name, 'trend', true);
    for (const name of Object.values(XMPP_RATES)) store.define(name, 'rate');
    for (const name of Object.values(XMPP_COUNTERS)) store.define(name, 'counter');
    for (const name of Object.values(XMPP_GAUGES)) store.define(name, 'gauge');
    for (let i = 1; i <= 100; i++) store.push(XMPP_TRENDS.connect, i);
    for (let i = 0; i < 99; i++) store.push(XMPP_RATES.loginSuccess, 1);
    store.push(XMPP_RATES.loginSuccess, 0);
    store.push(XMPP_COUNTERS.sessionFailures, 1, { reason: 'timeout:bind', scenario: 'login' });
    for (let i = 0; i < 3; i++) store.push(XMPP_COUNTERS.stanzasSent, 1, { kind: 'message' });
    store.push(XMPP_COUNTERS.stanzasSent, 1, { kind: 'presence' });
    store.push(XMPP_GAUGES.sessionsOpen, 5);
    store.push(XMPP_GAUGES.sessionsOpen, 0);
    return store;
  }

  test('p50/p90/p99/max from the store with the default summaryTrendStats; breakdowns by tag', () => {
    const store = xmppStore();
    const data = buildSummaryData(store, [], { testRunDurationMs: 2000 });
    // p50 = 50.5, p90 = 90.1, p99 = 99.01 (k6 interpolation over 1..100)
    assert.equal(
      xmppTable(data, store),
      [
        ' XMPP',
        ' latency       count     p50     p90      p99    max',
        ' xmpp_connect    100  50.5ms  90.1ms  99.01ms  100ms',
        '',
        ' rate                     %  passes  total',
        ' xmpp_login_success  99.00%      99    100',
        '',
        ' counter                count  per s',
        ' xmpp_stanzas_sent          4      2',
        '   kind=message             3',
        '   kind=presence            1',
        ' xmpp_session_failures      1    0.5',
        '   reason=timeout:bind      1',
        '',
        ' gauge               value  min  max',
        ' xmpp_sessions_open      0    0    5',
      ].join('\n'),
    );
  });

  test('without the store: values from data (p50 = med, missing columns "-"), no breakdown', () => {
    const store = xmppStore();
    const data = buildSummaryData(store, [], { testRunDurationMs: 2000 });
    const lines = xmppTable(data, undefined, { indent: '' }).split('\n');
    assert.equal(lines[1], 'latency       count     p50     p90  p99    max');
    assert.equal(lines[2], 'xmpp_connect      -  50.5ms  90.1ms    -  100ms');
    assert.ok(!lines.some((l) => l.includes('kind=')));
  });

  test('nothing XMPP observed → empty string', () => {
    const store = new MetricStore();
    store.push('iterations', 1);
    assert.equal(xmppTable(buildSummaryData(store, [], { testRunDurationMs: 1 }), store), '');
  });
});
