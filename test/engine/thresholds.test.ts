import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MetricStore } from '../../src/engine/metrics.ts';
import {
  parseK6Duration,
  parseMetricSelector,
  parseThresholdExpression,
  parseThresholds,
  thresholdAbortMessage,
  ThresholdConfigError,
  ThresholdSet,
  type ThresholdExpression,
} from '../../src/engine/thresholds.ts';
import { XMPP_COUNTERS, XMPP_RATES, XMPP_TRENDS } from '../../src/contract/metric-names.ts';

describe('threshold expression grammar (k6 parseThresholdExpression)', () => {
  const accepted: [string, ThresholdExpression][] = [
    ['p(95)<500', { method: 'p', percentile: 95, operator: '<', value: 500 }],
    ['p(99.9)<300', { method: 'p', percentile: 99.9, operator: '<', value: 300 }],
    ['p(0)<=1', { method: 'p', percentile: 0, operator: '<=', value: 1 }],
    ['p(100)>=1', { method: 'p', percentile: 100, operator: '>=', value: 1 }],
    ['rate>=0.99', { method: 'rate', operator: '>=', value: 0.99 }],
    ['rate<.5', { method: 'rate', operator: '<', value: 0.5 }],
    ['count==0', { method: 'count', operator: '==', value: 0 }],
    ['count===0', { method: 'count', operator: '===', value: 0 }],
    ['value!=3', { method: 'value', operator: '!=', value: 3 }],
    ['avg <= 200', { method: 'avg', operator: '<=', value: 200 }],
    ['  med  >  1.5  ', { method: 'med', operator: '>', value: 1.5 }],
    ['\tmax<1e3\n', { method: 'max', operator: '<', value: 1000 }],
    ['min>-1', { method: 'min', operator: '>', value: -1 }],
    ['p(95) < 500', { method: 'p', percentile: 95, operator: '<', value: 500 }],
    ['count<1_000', { method: 'count', operator: '<', value: 1000 }],
  ];
  for (const [src, want] of accepted) {
    test(`accepts ${JSON.stringify(src)}`, () => assert.deepEqual(parseThresholdExpression(src), want));
  }

  const rejected: [string, string][] = [
    ['p(95)', 'failed parsing threshold expression "p(95)"; reason: malformed threshold expression'],
    ['p(95)<', 'failed parsing threshold expression "p(95)<"; reason: malformed threshold expression'],
    ['foo&0', 'failed parsing threshold expression "foo&0"; reason: malformed threshold expression'],
    ['rate=0.9', 'failed parsing threshold expression "rate=0.9"; reason: malformed threshold expression'],
    ['', 'failed parsing threshold expression ""; reason: malformed threshold expression'],
    ['p(95) <', 'failed parsing threshold expression "p(95) <"; reason: malformed threshold expression'],
    [
      'p(95)< ',
      `failed parsing threshold expresion's "p(95)< " right hand side; reason: strconv.ParseFloat: parsing "": invalid syntax`,
    ],
    [
      'p(95)=<500',
      `failed parsing threshold expression's "p(95)=<500" left hand side; reason: failed parsing method from expression`,
    ],
    [
      'rate > = 0.9',
      `failed parsing threshold expresion's "rate > = 0.9" right hand side; reason: strconv.ParseFloat: parsing "= 0.9": invalid syntax`,
    ],
    [
      'p( 95 )<500',
      `failed parsing threshold expression's "p( 95 )<500" left hand side; reason: malformed percentile value; ` +
        `reason: strconv.ParseFloat: parsing " 95 ": invalid syntax`,
    ],
    [
      'p(101)<1',
      `failed parsing threshold expression's "p(101)<1" left hand side; reason: malformed percentile value, provide a number between 0 and 100`,
    ],
    [
      'p(-1)<1',
      `failed parsing threshold expression's "p(-1)<1" left hand side; reason: malformed percentile value, provide a number between 0 and 100`,
    ],
    [
      'p(NaN)<1',
      `failed parsing threshold expression's "p(NaN)<1" left hand side; reason: malformed percentile value, provide a number between 0 and 100`,
    ],
    [
      'P(95)<1',
      `failed parsing threshold expression's "P(95)<1" left hand side; reason: failed parsing method from expression`,
    ],
    [
      'average<5',
      `failed parsing threshold expression's "average<5" left hand side; reason: failed parsing method from expression`,
    ],
    [
      'avg<500ms',
      `failed parsing threshold expresion's "avg<500ms" right hand side; reason: strconv.ParseFloat: parsing "500ms": invalid syntax`,
    ],
    [
      'p(95)<500<600',
      `failed parsing threshold expresion's "p(95)<500<600" right hand side; reason: strconv.ParseFloat: parsing "500<600": invalid syntax`,
    ],
    [
      'rate<1e999',
      `failed parsing threshold expresion's "rate<1e999" right hand side; reason: strconv.ParseFloat: parsing "1e999": value out of range`,
    ],
  ];
  for (const [src, message] of rejected) {
    test(`rejects ${JSON.stringify(src)}`, () =>
      assert.throws(() => parseThresholdExpression(src), {
        name: 'ThresholdConfigError',
        message,
        kind: 'parse',
      }));
  }
});

describe('metric selectors (k6 ParseMetricName)', () => {
  test('plain names and sub-metrics; the value may contain colons and braces', () => {
    assert.deepEqual(parseMetricSelector('http_reqs'), { metric: 'http_reqs', criteria: undefined });
    assert.deepEqual(parseMetricSelector('xmpp_session_failures{reason:timeout:bind}'), {
      metric: 'xmpp_session_failures',
      criteria: 'reason:timeout:bind',
    });
    assert.deepEqual(parseMetricSelector('http_req_duration{name:http://${}.com}'), {
      metric: 'http_req_duration',
      criteria: 'name:http://${}.com',
    });
    assert.deepEqual(parseMetricSelector('m{a:1,b:2}'), { metric: 'm', criteria: 'a:1,b:2' });
  });

  const bad: [string, string][] = [
    ['m{a:1', 'metric "m{a:1" has unmatched opening/close curly brace'],
    ['m}a:1', 'metric "m}a:1" has unmatched opening/close curly brace'],
    ['m}a:1{', 'metric "m}a:1{" closing curly brace appears before opening one'],
    ['m{a:1}x', 'metric "m{a:1}x" lacks a closing curly brace in its last position'],
    ['m{a}', 'metric "a" tag expression is malformed'],
    ['m{a:}', 'metric "a:" tag expression is malformed'],
    ['m{a:1,}', 'metric "" tag expression is malformed'],
  ];
  for (const [key, what] of bad) {
    test(`rejects ${key}`, () =>
      assert.throws(() => parseMetricSelector(key), {
        message: `unable to validate threshold expressions; reason: parsing metric name failed, ${what}`,
        kind: 'metric',
      }));
  }
});

function storeWith(defs: [string, 'counter' | 'gauge' | 'rate' | 'trend', boolean?][]): MetricStore {
  const store = new MetricStore();
  for (const [name, type, isTime] of defs) store.define(name, type, isTime);
  return store;
}

describe('validation against the registry', () => {
  test('aggregation method must suit the metric type (exit code 104)', () => {
    const store = storeWith([]);
    const err = (() => {
      try {
        ThresholdSet.create({ http_reqs: ['value>0'] }, store);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ThresholdConfigError);
    assert.equal(err.exitCode, 104);
    assert.equal(err.kind, 'method');
    assert.equal(
      err.message,
      'invalid threshold "value>0" applied on metric http_reqs; reason: unsupported aggregation method value on ' +
        'metric of type counter. supported aggregation methods for this metric are: count, rate',
    );
    const table: [string, string, string][] = [
      ['checks', 'count>1', 'rate'],
      ['vus', 'rate>1', 'value'],
      ['http_req_duration', 'rate<1', 'avg, min, max, med, p'],
      ['http_req_failed', 'p(95)<1', 'rate'],
    ];
    for (const [metric, src, supported] of table) {
      assert.throws(() => ThresholdSet.create({ [metric]: [src] }, store), {
        message: new RegExp(
          `supported aggregation methods for this metric are: ${supported.replace(/[()]/g, '\\$&')}$`,
        ),
      });
    }
    for (const [metric, src] of [
      ['checks', 'rate>0.9'],
      ['vus', 'value<10'],
      ['http_reqs', 'count>1'],
      ['http_reqs', 'rate>1'],
      ['http_req_duration', 'p(99)<1'],
      ['http_req_duration', 'med<1'],
    ] as const) {
      assert.doesNotThrow(() => ThresholdSet.create({ [metric]: [src] }, store), `${metric} ${src}`);
    }
  });

  test('a metric that is neither built-in nor defined in init code is an error, sub-metric or not', () => {
    const store = storeWith([]);
    assert.throws(() => ThresholdSet.create({ 'non existing': ['rate>0'] }, store), {
      message: 'invalid threshold defined on non existing; reason: no metric name "non existing" found',
      kind: 'metric',
      exitCode: 104,
    });
    assert.throws(() => ThresholdSet.create({ 'xmpp_auth{phase:x}': ['p(95)<1'] }, store), {
      message:
        'invalid threshold defined on xmpp_auth{phase:x}; reason: no metric name "xmpp_auth{phase:x}" found',
    });
  });

  test('expressions are parsed before the metric is looked up', () => {
    assert.throws(() => ThresholdSet.create({ nope: ['foo&0'] }, storeWith([])), { kind: 'parse' });
  });

  test('config shapes: strings, objects, null; bad shapes rejected', () => {
    const parsed = parseThresholds({
      a: [
        'p(95)<1',
        { threshold: 'avg<2', abortOnFail: true, delayAbortEval: '10s' },
        { threshold: 'max<3' },
      ],
      b: null,
      c: [{ threshold: 'rate>0.5', abortOnFail: true, delayAbortEval: 1500 }],
    });
    assert.deepEqual(
      parsed.map((p) => ({ key: p.key, t: p.thresholds.map(({ expr: _e, ...rest }) => rest) })),
      [
        {
          key: 'a',
          t: [
            { source: 'p(95)<1', abortOnFail: false, delayAbortEvalMs: undefined },
            { source: 'avg<2', abortOnFail: true, delayAbortEvalMs: 10_000 },
            { source: 'max<3', abortOnFail: false, delayAbortEvalMs: undefined },
          ],
        },
        { key: 'b', t: [] },
        { key: 'c', t: [{ source: 'rate>0.5', abortOnFail: true, delayAbortEvalMs: 1500 }] },
      ],
    );
    assert.deepEqual(parseThresholds(undefined), []);
    assert.throws(() => parseThresholds({ a: 'p(95)<1' }), { kind: 'config' });
    assert.throws(() => parseThresholds([]), { kind: 'config' });
    assert.throws(() => parseThresholds({ a: [5] }), { kind: 'config' });
    assert.throws(() => parseThresholds({ a: [{ threshold: 'avg<1', abortOnFail: 'yes' }] }), {
      kind: 'config',
    });
    assert.throws(() => parseThresholds({ a: [{ threshold: 'avg<1', delayAbortEval: '10 parsecs' }] }), {
      kind: 'config',
    });
    assert.throws(() => parseThresholds({ a: [null] }), { kind: 'parse' }); // zero config → empty expression
  });

  test('k6 durations', () => {
    assert.equal(parseK6Duration('10s'), 10_000);
    assert.equal(parseK6Duration('1m30s'), 90_000);
    assert.equal(parseK6Duration('1.5s'), 1500);
    assert.equal(parseK6Duration('250ms'), 250);
    assert.equal(parseK6Duration('500'), 500);
    assert.equal(parseK6Duration('1d2h'), 26 * 3_600_000);
    assert.equal(parseK6Duration('0'), 0);
    for (const bad of ['', 'x', '1.2.3s', 's']) assert.throws(() => parseK6Duration(bad), bad);
    assert.throws(() => parseK6Duration('1y'), /unknown unit/);
  });
});

describe('evaluation', () => {
  test('sub-metric xmpp_session_failures{reason:timeout:bind}: only samples with that tag count', () => {
    const failures = XMPP_COUNTERS.sessionFailures;
    const store = storeWith([[failures, 'counter']]);
    const set = ThresholdSet.create(
      { [`${failures}{reason:timeout:bind}`]: ['count==0'], [failures]: ['count<3'] },
      store,
    );
    const sub = `${failures}{reason:timeout:bind}`;
    assert.equal(store.get(sub)?.observed, true, 'thresholds make the sub-metric observed');
    assert.equal(store.get(failures)?.observed, true);

    store.push(failures, 1, { reason: 'timeout' });
    store.push(failures, 1, { reason: 'auth-failed:not-authorized' });
    let ev = set.evaluate(store, 2000, false);
    assert.deepEqual(
      ev.results.map((r) => [r.metric, r.expr, r.ok, r.value, r.evaluated]),
      [
        [sub, 'count==0', true, undefined, false], // no samples yet: skipped by the periodic run
        [failures, 'count<3', true, 2, true],
      ],
    );
    assert.deepEqual(ev.breached, []);

    store.push(failures, 1, { reason: 'timeout:bind', scenario: 'login' });
    ev = set.evaluate(store, 4000, false);
    assert.deepEqual(
      ev.results.map((r) => [r.metric, r.ok, r.value]),
      [
        [sub, false, 1],
        [failures, false, 3],
      ],
    );
    assert.deepEqual(ev.breached, [failures, sub].sort());
    assert.equal(ev.abort, false);
  });

  test('abortOnFail with delayAbortEval: no abort until the delay has passed, then abort', () => {
    const login = XMPP_RATES.loginSuccess;
    const store = storeWith([[login, 'rate']]);
    const set = ThresholdSet.create(
      { [login]: [{ threshold: 'rate>=0.99', abortOnFail: true, delayAbortEval: '10s' }] },
      store,
    );
    store.push(login, 1);
    store.push(login, 0);
    let ev = set.evaluate(store, 2000, false);
    assert.equal(ev.results[0]?.ok, false);
    assert.equal(ev.results[0]?.value, 0.5);
    assert.equal(ev.abort, false, '2 s < 10 s delay');
    ev = set.evaluate(store, 10_000, false);
    assert.equal(ev.abort, false, 'the delay must be strictly exceeded');
    ev = set.evaluate(store, 10_001, false);
    assert.equal(ev.abort, true);
    assert.deepEqual(ev.breached, [login]);
    assert.equal(
      thresholdAbortMessage(ev.breached),
      `thresholds on metrics '${login}' were crossed; at least one has abortOnFail enabled, stopping test prematurely`,
    );
    // once passing again, that metric no longer asks for an abort
    for (let i = 0; i < 200; i++) store.push(login, 1);
    ev = set.evaluate(store, 12_000, false);
    assert.equal(ev.results[0]?.ok, true);
    assert.equal(ev.abort, false);
  });

  test('abortOnFail without delay aborts at the first failing evaluation; without abortOnFail never', () => {
    const connect = XMPP_TRENDS.connect;
    const store = storeWith([[connect, 'trend', true]]);
    const set = ThresholdSet.create(
      { [connect]: ['p(95)<100', { threshold: 'max<1000', abortOnFail: true }] },
      store,
    );
    store.push(connect, 500);
    let ev = set.evaluate(store, 1, false);
    assert.deepEqual(
      ev.results.map((r) => [r.expr, r.ok, r.abortOnFail]),
      [
        ['p(95)<100', false, false],
        ['max<1000', true, true],
      ],
    );
    assert.equal(ev.abort, false);
    store.push(connect, 5000);
    ev = set.evaluate(store, 2, false);
    assert.equal(ev.abort, true);
  });

  test('final run evaluates metrics without samples (empty Trend = 0, empty Rate passes)', () => {
    const store = storeWith([
      [XMPP_TRENDS.bind, 'trend', true],
      [XMPP_RATES.cleanClose, 'rate'],
      ['my_counter', 'counter'],
    ]);
    const set = ThresholdSet.create(
      {
        [XMPP_TRENDS.bind]: ['p(95)>0', 'avg==0'],
        [XMPP_RATES.cleanClose]: ['rate>0.9'],
        'my_counter{kind:iq}': ['count>0', 'rate>=0'],
        vus: [],
      },
      store,
    );
    assert.equal(set.size, 5);
    assert.equal(store.get('vus')?.observed, true, 'an empty threshold list still shows the metric');
    let ev = set.evaluate(store, 1000, false);
    assert.ok(ev.results.every((r) => r.ok && !r.evaluated));
    ev = set.evaluate(store, 1000, true);
    assert.deepEqual(
      ev.results.map((r) => [r.metric, r.expr, r.ok, r.value]),
      [
        [XMPP_TRENDS.bind, 'p(95)>0', false, 0],
        [XMPP_TRENDS.bind, 'avg==0', true, 0],
        [XMPP_RATES.cleanClose, 'rate>0.9', true, undefined],
        ['my_counter{kind:iq}', 'count>0', false, 0],
        ['my_counter{kind:iq}', 'rate>=0', true, 0],
      ],
    );
    // a zero test duration gives Counter no rate: the threshold passes
    ev = set.evaluate(store, 0, true);
    assert.deepEqual(ev.results[4], {
      metric: 'my_counter{kind:iq}',
      expr: 'rate>=0',
      ok: true,
      value: undefined,
      evaluated: true,
      abortOnFail: false,
    });
  });

  test('Counter rate is count per second of test time; == and === compare the same way', () => {
    const store = storeWith([]);
    const set = ThresholdSet.create({ iterations: ['rate==5', 'rate===5', 'count!=10'] }, store);
    for (let i = 0; i < 10; i++) store.push('iterations', 1);
    const ev = set.evaluate(store, 2000, true);
    assert.deepEqual(
      ev.results.map((r) => [r.expr, r.ok, r.value]),
      [
        ['rate==5', true, 5],
        ['rate===5', true, 5],
        ['count!=10', false, 10],
      ],
    );
  });

  test('two keys naming the same sub-metric share it and keep both thresholds', () => {
    const store = storeWith([['tagged', 'counter']]);
    const set = ThresholdSet.create({ 'tagged{a:1}': ['count<1'], 'tagged{ a: "1" }': ['count<2'] }, store);
    store.push('tagged', 1, { a: '1' });
    const ev = set.evaluate(store, 1000, true);
    assert.deepEqual(
      ev.results.map((r) => [r.metric, r.expr, r.ok]),
      [
        ['tagged{a:1}', 'count<1', false],
        ['tagged{a:1}', 'count<2', true],
      ],
    );
  });
});
