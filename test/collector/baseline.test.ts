import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assertSameScenario,
  BaselineMismatchError,
  baselineCell,
  compareRuns,
  defaultRegressionRules,
  evaluateRegressions,
  formatCompareTable,
  formatRegressionTable,
  parseRegressionRule,
  percentileMinSamples,
  RegressionConfigError,
  regressionBand,
  runMetricTypes,
  type RegressionRule,
} from '../../src/collector/baseline.ts';
import { CollectorStore } from '../../src/collector/store.ts';
import { mergedRun } from '../../src/collector/summary.ts';
import { chatRun as run, medianAndTail as latency, snapshot, type ChatRunSpec } from './fixtures.ts';

// HDR (3 significant digits) reports the highest value of a sample's bucket: buckets are 8 µs wide from 8,192 µs,
// 16 from 16,384 and 32 from 32,768, so 12,000 µs reads 12.007 ms and 40,000 µs 40.031 ms.
const BASE: ChatRunSpec = {
  ready: latency(12_000, 40_000),
  delivery: latency(3_000, 5_000),
  login: [100, 0],
  loss: [0, 200],
};

const types = runMetricTypes([run('types', BASE)]);
const rule = (source: string): RegressionRule => parseRegressionRule(source, types);

describe('parseRegressionRule', () => {
  test('a share of a time also allows one ms tick; a given absolute part replaces it', () => {
    const r = rule('xmpp_session_ready:p(99)=+10%');
    assert.deepEqual(
      {
        key: r.key,
        metric: r.metric,
        tags: r.tags,
        stat: r.stat,
        aggregation: r.aggregation,
        type: r.type,
        kind: r.kind,
        tolerance: r.tolerance,
        allowance: r.allowance,
      },
      {
        key: 'xmpp_session_ready',
        metric: 'xmpp_session_ready',
        tags: {},
        stat: 'p(99)',
        aggregation: { method: 'p', percentile: 99 },
        type: 'trend',
        kind: 'time',
        tolerance: { worse: 'rise', relative: 0.1, absolute: 1 },
        allowance: '+10% or +1ms',
      },
    );
    assert.deepEqual(rule('xmpp_session_ready:p(50)=+10%,+2ms').tolerance, {
      worse: 'rise',
      relative: 0.1,
      absolute: 2,
    });
    assert.equal(rule('xmpp_session_ready:p(50)=+10%,+2ms').allowance, '+10% or +2ms');
    assert.deepEqual(rule('xmpp_session_ready:p(50)=+10%,+0ms').tolerance.absolute, 0);
    assert.deepEqual(rule('xmpp_session_ready:max=+1.5s').tolerance, {
      worse: 'rise',
      relative: undefined,
      absolute: 1500,
    });
  });

  test('a selector narrows the metric to its tags, as in thresholds', () => {
    const r = rule('xmpp_session_ready{transport:bosh}:med=+5ms');
    assert.deepEqual(
      [r.key, r.metric, r.tags, r.stat, r.allowance],
      ['xmpp_session_ready{transport:bosh}', 'xmpp_session_ready', { transport: 'bosh' }, 'med', '+5ms'],
    );
  });

  test('rates in points, counts in samples; the sign says which way is worse', () => {
    const login = rule('xmpp_login_success:rate=-0.5pt');
    assert.deepEqual(
      [login.kind, login.tolerance, login.allowance],
      ['rate', { worse: 'drop', relative: undefined, absolute: 0.005 }, '-0.5pt'],
    );
    const lost = rule('xmpp_message_loss:count=+0');
    assert.deepEqual(
      [lost.kind, lost.aggregation, lost.tolerance],
      ['count', { method: 'count' }, { worse: 'rise', relative: undefined, absolute: 0 }],
    );
    const failures = rule('xmpp_session_failures:count=+10%,+2');
    assert.deepEqual(
      [failures.type, failures.tolerance, failures.allowance],
      ['counter', { worse: 'rise', relative: 0.1, absolute: 2 }, '+10% or +2'],
    );
  });

  test('a size histogram takes bytes and gets no time floor', () => {
    const size = parseRegressionRule('tap_frame_size:p(99)=+10%', new Map([['tap_frame_size', 'trend']]));
    assert.deepEqual(
      [size.kind, size.tolerance, size.allowance],
      ['bytes', { worse: 'rise', relative: 0.1, absolute: 0 }, '+10%'],
    );
  });

  const invalid: [string, string][] = [
    ['xmpp_session_ready:p(99)', "expected 'metric:stat=tolerance', e.g. 'xmpp_session_ready:p(99)=+10%'"],
    ['nope_metric:p(99)=+10%', 'no metric named "nope_metric" in these runs, and it is not an XMPP metric'],
    [
      'xmpp_session_ready:rate=+10%',
      'xmpp_session_ready is a Trend: compare p(N), med, avg, min or max, not "rate"',
    ],
    [
      'xmpp_session_ready:p(101)=+10%',
      'xmpp_session_ready is a Trend: compare p(N), med, avg, min or max, not "p(101)"',
    ],
    [
      'xmpp_login_success:rate=-1%',
      '"-1%": give percentage points, e.g. -1pt (the rate may drop by one point) or +0pt',
    ],
    [
      'xmpp_login_success:avg=-1pt',
      'xmpp_login_success is a Rate: compare its rate (in points) or its count of trues, not "avg"',
    ],
    ['xmpp_session_failures:rate=+1', 'xmpp_session_failures is a Counter: compare its count, not "rate"'],
    [
      'xmpp_sessions_open:value=+1',
      'xmpp_sessions_open is a Gauge, a reading at one moment: it has no statistic to compare between runs',
    ],
    [
      'xmpp_session_ready:p(99)=+10%,-2ms',
      'both tolerances must have the same sign: + when a rise is the regression, - when a drop is',
    ],
    ['xmpp_session_ready:p(99)=+10%,+20%', 'give at most one share (%) and one absolute tolerance'],
    [
      'xmpp_session_ready:p(99)=+5',
      '"+5": give a share (+10%) or a time (+5ms, +1s), or both (+10%,+5ms: the larger applies)',
    ],
    [
      'xmpp_session_ready:p(99)=10%',
      '"10%" is not a tolerance: give a share (+10%) or a time (+5ms, +1s), or both (+10%,+5ms: the larger applies)',
    ],
    [
      'xmpp_session_ready{transport}:p(99)=+10%',
      'unable to validate threshold expressions; reason: parsing metric name failed, metric "transport" tag expression is malformed',
    ],
  ];
  for (const [source, why] of invalid) {
    test(`rejects ${source} (exit 104), naming the rule and the fix`, () => {
      assert.throws(
        () => rule(source),
        (err: unknown) =>
          err instanceof RegressionConfigError &&
          err.exitCode === 104 &&
          err.message === `--max-regression ${JSON.stringify(source)}: ${why}`,
      );
    });
  }
});

describe('regressionBand: the worst baseline plus the tolerance', () => {
  test('one baseline: the tolerance is all the slack', () => {
    assert.deepEqual(regressionBand([100], { worse: 'rise', relative: 0.1, absolute: 1 }), {
      reference: 100,
      worst: 100,
      bound: 110,
    });
  });

  test('the absolute part wins under it: 0.4 ms may become 1.4 ms at +10% or +1ms', () => {
    assert.deepEqual(regressionBand([0.4], { worse: 'rise', relative: 0.1, absolute: 1 }), {
      reference: 0.4,
      worst: 0.4,
      bound: 1.4,
    });
  });

  test('repeats widen the band to their spread; the change is measured against their median', () => {
    assert.deepEqual(regressionBand([100, 120, 110], { worse: 'rise', relative: 0.1, absolute: 0 }), {
      reference: 110,
      worst: 120,
      bound: 132,
    });
    assert.deepEqual(
      regressionBand([100, 120], { worse: 'rise', relative: 0.5, absolute: 0 }).reference,
      110,
    );
  });

  test('when a drop is worse, the bound sits under the lowest baseline', () => {
    assert.deepEqual(
      regressionBand([1, 0.995, 0.99], { worse: 'drop', relative: undefined, absolute: 0.01 }),
      {
        reference: 0.995,
        worst: 0.99,
        bound: 0.98,
      },
    );
  });
});

describe('evaluateRegressions', () => {
  test('the default rules cover the XMPP latencies, rates and losses every baseline holds', () => {
    const { rules, skipped } = defaultRegressionRules([run('a', BASE), run('b', { ...BASE, failures: 1 })]);
    assert.deepEqual(
      rules.map((r) => r.source),
      [
        'xmpp_session_ready:p(50)=+20%,+10ms',
        'xmpp_session_ready:p(99)=+50%,+25ms',
        'xmpp_message_delivery:p(50)=+20%,+10ms',
        'xmpp_message_delivery:p(99)=+50%,+25ms',
        'xmpp_login_success:rate=-1pt',
        'xmpp_message_loss:count=+0',
        'xmpp_session_failures:count=+0',
      ],
    );
    assert.deepEqual(skipped, []);
    // A metric one baseline lacks is left out: it has nothing to compare with.
    assert.ok(
      !defaultRegressionRules([run('a', BASE), run('b', { ...BASE, delivery: undefined })]).rules.some(
        (r) => r.metric === 'xmpp_message_delivery',
      ),
    );
  });

  test('a tail is not judged by default where a baseline holds too few samples to tell it from the slowest', () => {
    assert.deepEqual([50, 90, 95, 99, 99.9, 100].map(percentileMinSamples), [2, 10, 20, 100, 1000, 1]);
    // 20 logins: their p(99) is the slowest login, which repeats of one load put anywhere from 14 to 50 ms.
    const few = run('few', { ...BASE, ready: latency(12_000, 40_000).slice(70) });
    const { rules, skipped } = defaultRegressionRules([run('b1', BASE), few]);
    assert.deepEqual(
      rules.filter((r) => r.metric === 'xmpp_session_ready').map((r) => r.stat),
      ['p(50)'],
    );
    assert.deepEqual(
      skipped.map((s) => s.reason),
      [
        'xmpp_session_ready p(99) not compared: baseline run few holds 30 samples, fewer than the 100 a p(99) ' +
          'needs to be more than its slowest one',
      ],
    );
    const result = evaluateRegressions(run('c', BASE), [few], rules, skipped);
    assert.deepEqual(result.skipped, skipped);
    assert.match(
      formatRegressionTable(result),
      /\nxmpp_session_ready p\(99\) not compared: [^\n]+\nall 6 comparisons/,
    );
  });

  test('the same load passes every default rule, with ratios of 1', () => {
    const base = run('base', BASE);
    const result = evaluateRegressions(run('again', BASE), [base], defaultRegressionRules([base]).rules);
    assert.equal(result.ok, true);
    assert.deepEqual(
      result.rows.map((r) => [r.rule.source, r.value, r.ratio, r.ok]),
      [
        ['xmpp_session_ready:p(50)=+20%,+10ms', 12.007, 1, true],
        ['xmpp_session_ready:p(99)=+50%,+25ms', 40.031, 1, true],
        ['xmpp_message_delivery:p(50)=+20%,+10ms', 3.001, 1, true],
        ['xmpp_message_delivery:p(99)=+50%,+25ms', 5.003, 1, true],
        ['xmpp_login_success:rate=-1pt', 1, undefined, true],
        ['xmpp_message_loss:count=+0', 0, undefined, true],
        ['xmpp_session_failures:count=+0', 0, undefined, true],
      ],
    );
  });

  test('a run three times slower at the median fails, naming the metric, the ratio and the bound', () => {
    const base = run('base', BASE);
    const slow = run('slow', { ...BASE, ready: latency(36_000, 60_000) });
    const result = evaluateRegressions(slow, [base], defaultRegressionRules([base]).rules);
    assert.equal(result.ok, false);
    const [p50, p99] = result.rows;
    // bound: 12.007 + max(20 % of it, 10 ms)
    assert.deepEqual(
      [p50!.value, p50!.reference, p50!.bound!.toFixed(4), p50!.ok],
      [36.031, 12.007, '22.0070', false],
    );
    assert.equal(
      p50!.note,
      'xmpp_session_ready p(50) rose to 36.031ms from 12.007ms (3.00×, +24.024ms), above its bound 22.007ms ' +
        '(+20% or +10ms over the baseline, 12.007ms)',
    );
    // p(99) went from 40 to 60 ms: 1.50×, inside its +50 % or +25 ms (bound 65.031 ms).
    assert.deepEqual([p99!.value, p99!.ok, p99!.note], [60.031, true, undefined]);
    assert.deepEqual(
      result.rows.filter((r) => !r.ok).map((r) => r.rule.source),
      ['xmpp_session_ready:p(50)=+20%,+10ms'],
    );
  });

  test('repeats tell noise from change: a value inside their spread passes, against one of them it fails', () => {
    const rules = [rule('xmpp_session_ready:p(50)=+10%')];
    const b1 = run('b1', { ready: latency(12_000, 40_000) });
    const b2 = run('b2', { ready: latency(13_000, 40_000) }); // 13.007 ms
    const candidate = run('c', { ready: latency(14_000, 40_000) }); // 14.007 ms
    const [both] = evaluateRegressions(candidate, [b1, b2], rules).rows;
    // worst 13.007 + max(10 %, 1 ms) = 14.3077 ms; the change is against the median, 12.507 ms
    assert.deepEqual(
      [both!.ok, both!.reference!.toFixed(3), both!.worst, both!.bound!.toFixed(4)],
      [true, '12.507', 13.007, '14.3077'],
    );
    assert.equal(both!.ratio!.toFixed(2), '1.12');
    // Repeats that agree show their number only.
    assert.equal(
      baselineCell(evaluateRegressions(candidate, [b1, b1, b1], rules).rows[0]!),
      '12.007ms (3 runs)',
    );
    const [one] = evaluateRegressions(candidate, [b1], rules).rows;
    assert.deepEqual([one!.ok, one!.bound!.toFixed(4)], [false, '13.2077']);
    assert.equal(
      formatRegressionTable(evaluateRegressions(candidate, [b1, b2], rules)),
      [
        'metric              stat   allowed       baseline                              this run  change          bound       ok',
        '------------------  -----  ------------  ------------------------------------  --------  --------------  ----------  --',
        'xmpp_session_ready  p(50)  +10% or +1ms  12.507ms (12.007ms–13.007ms, 2 runs)  14.007ms  1.12× (+1.5ms)  ≤ 14.308ms  ✓',
        '',
        'all 1 comparisons of run c with baseline runs b1, b2 passed',
        '',
      ].join('\n'),
    );
  });

  test('sub-millisecond medians: +50 % of 0.4 ms is within the one-tick floor unless the rule removes it', () => {
    const base = run('base', { ready: latency(400, 900) });
    const candidate = run('c', { ready: latency(600, 900) });
    const floor = evaluateRegressions(candidate, [base], [rule('xmpp_session_ready:p(50)=+10%')]).rows[0]!;
    assert.deepEqual([floor.value, floor.bound, floor.ok], [0.6, 1.4, true]);
    const strict = evaluateRegressions(candidate, [base], [rule('xmpp_session_ready:p(50)=+10%,+0ms')])
      .rows[0]!;
    assert.deepEqual([strict.bound!.toFixed(3), strict.ok], ['0.440', false]);
    assert.equal(
      strict.note,
      'xmpp_session_ready p(50) rose to 0.6ms from 0.4ms (1.50×, +0.2ms), above its bound 0.44ms ' +
        '(+10% or +0ms over the baseline, 0.4ms)',
    );
  });

  test('a login rate that drops past its points, and lost messages that rise, fail', () => {
    const base = run('base', BASE);
    const worse = run('worse', { ...BASE, login: [97, 3], loss: [2, 198], failures: 3 });
    const result = evaluateRegressions(
      worse,
      [base],
      [
        rule('xmpp_login_success:rate=-1pt'),
        rule('xmpp_message_loss:count=+0'),
        rule('xmpp_message_loss:rate=+1pt'),
        rule('xmpp_session_failures:count=+2'),
      ],
    );
    assert.deepEqual(
      result.rows.map((r) => [r.rule.source, r.ok, r.note]),
      [
        [
          'xmpp_login_success:rate=-1pt',
          false,
          'xmpp_login_success rate fell to 97% from 100% (-3pt), below its bound 99% (-1pt under the baseline, 100%)',
        ],
        [
          'xmpp_message_loss:count=+0',
          false,
          'xmpp_message_loss count rose to 2 from 0 (+2), above its bound 0 (+0 over the baseline, 0)',
        ],
        // 1 % of messages lost: exactly at the bound, which is allowed
        ['xmpp_message_loss:rate=+1pt', true, undefined],
        [
          'xmpp_session_failures:count=+2',
          false,
          'xmpp_session_failures count rose to 3 from 0 (+3), above its bound 2 (+2 over the baseline, 0)',
        ],
      ],
    );
  });

  test('a statistic this run or a baseline has no value for fails, saying which run lacks it', () => {
    const base = run('base', BASE);
    const noDelivery = run('quiet', { ...BASE, delivery: undefined });
    const rules = [rule('xmpp_message_delivery:p(50)=+10%')];
    assert.deepEqual(
      evaluateRegressions(noDelivery, [base], rules).rows.map((r) => [r.ok, r.note]),
      [
        [
          false,
          'xmpp_message_delivery has no samples: no value was recorded for it in run quiet, so ' +
            'xmpp_message_delivery p(50) cannot be compared',
        ],
      ],
    );
    assert.deepEqual(
      evaluateRegressions(base, [base, noDelivery], rules).rows.map((r) => [r.ok, r.baselines, r.note]),
      [
        [
          false,
          [3.001, undefined],
          'baseline: xmpp_message_delivery has no samples: no value was recorded for it in run quiet, so ' +
            'xmpp_message_delivery p(50) cannot be compared',
        ],
      ],
    );
  });

  test('a run that recorded nothing fails every rule, even a count that would read 0', () => {
    const base = run('base', BASE);
    const store = new CollectorStore();
    store.ingest(snapshot({ runId: 'empty', gauges: [{ name: 'xmpp_sessions_open', value: 0 }] }));
    const result = evaluateRegressions(
      mergedRun(store.run('empty')!),
      [base],
      [rule('xmpp_session_failures:count=+0')],
    );
    assert.deepEqual(
      result.rows.map((r) => [r.ok, r.note]),
      [
        [
          false,
          'run empty recorded nothing (no latency sample, no counter): no session was attempted, or no generator ' +
            'reached the collector, so xmpp_session_failures count cannot be compared',
        ],
      ],
    );
  });

  test('runs of another scenario are refused before anything is judged', () => {
    assert.throws(
      () => assertSameScenario(run('c', BASE), [run('b1', BASE), run('b2', { ...BASE, scenario: 'login' })]),
      (err: unknown) =>
        err instanceof BaselineMismatchError &&
        err.message ===
          'run c ran scenario chat but baseline run b2 ran login: compare runs of the same scenario at the same load',
    );
    assert.doesNotThrow(() => assertSameScenario(run('c', BASE), [run('b1', BASE)]));
  });
});

describe('compareRuns', () => {
  test('both runs side by side: samples and percentiles, rates, counts; ratios b against a', () => {
    const a = run('run-a', { ready: latency(12_000, 40_000), login: [100, 0] });
    const b = run('run-b', { ready: latency(36_000, 60_000), login: [97, 3], failures: 3 });
    assert.equal(
      formatCompareTable(compareRuns(a, b), 'run-a', 'run-b'),
      [
        'metric                 stat     run-a           run-b         change',
        '---------------------  -------  --------------  ------------  -----------------',
        'xmpp_session_ready     samples  100             100           1.00× (+0)',
        'xmpp_session_ready     p(50)    12.007ms        36.031ms      3.00× (+24.024ms)',
        'xmpp_session_ready     p(90)    12.007ms        36.031ms      3.00× (+24.024ms)',
        'xmpp_session_ready     p(99)    40.031ms        60.031ms      1.50× (+20ms)',
        'xmpp_session_ready     max      40.031ms        60.031ms      1.50× (+20ms)',
        'xmpp_login_success     rate     100% (100/100)  97% (97/100)  -3pt',
        'xmpp_session_failures  count    0               3             +3',
        '',
        'change: run-b against run-a (a ratio, and the difference)',
        '',
      ].join('\n'),
    );
  });
});
