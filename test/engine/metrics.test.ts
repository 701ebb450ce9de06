import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  MetricStore,
  MetricDefinitionError,
  parseSubmetricTags,
  trendStatResolver,
  validateSummaryTrendStats,
  TrendSink,
} from '../../src/engine/metrics.ts';
import { parseGoFloat } from '../../src/engine/go.ts';
import { createMetricsModule } from '../../src/engine/modules/metrics.ts';
import type { ExecutionState, MetricSink, Tags, VuPhase, VuRuntime } from '../../src/engine/runtime.ts';
import { XMPP_COUNTERS, XMPP_TRENDS } from '../../src/contract/metric-names.ts';
import { mulberry32 } from '../../src/engine/random.ts';

/** k6 TrendSink.P, written out independently: sort, i = p·(n−1), interpolate. */
function refPercentile(samples: number[], pct: number): number {
  const v = [...samples].sort((a, b) => a - b);
  if (v.length === 0) return 0;
  if (v.length === 1) return v[0] as number;
  const i = pct * (v.length - 1);
  const lo = v[Math.floor(i)] as number;
  const hi = v[Math.ceil(i)] as number;
  return lo + (hi - lo) * (i - Math.floor(i));
}

describe('metric definitions (k6 Registry.NewMetric)', () => {
  test('names: ^[a-zA-Z_][a-zA-Z0-9_]{1,128}$', () => {
    const store = new MetricStore({ builtins: false });
    for (const ok of ['ab', '_x', 'A1', 'xmpp_connect', 'a'.repeat(129)]) {
      assert.doesNotThrow(() => store.define(ok, 'counter'), ok);
    }
    for (const bad of ['a', '_', '1ab', 'a-b', 'a b', 'é1', '', 'a'.repeat(130), 'a{b:c}']) {
      assert.throws(
        () => store.define(bad, 'counter'),
        {
          name: 'MetricDefinitionError',
          message:
            `Invalid metric name: '${bad}'. Metric names must only include up to 128 ASCII letters, numbers, ` +
            'or underscores and start with a letter or an underscore.',
        },
        bad,
      );
    }
  });

  test('redefinition: same type idempotent, other type or value type throws', () => {
    const store = new MetricStore({ builtins: false });
    store.define('lat', 'trend', true);
    store.define('lat', 'trend', true);
    store.define('lat', 'trend'); // no value type given: not checked (k6's variadic)
    assert.equal(store.get('lat')?.contains, 'time');
    assert.throws(() => store.define('lat', 'counter'), {
      message: "metric 'lat' already exists but with type trend, instead of counter",
    });
    assert.throws(() => store.define('lat', 'trend', false), {
      message: "metric 'lat' already exists but with a value type time, instead of default",
    });
    assert.ok(new MetricDefinitionError('x') instanceof Error);
  });

  test('built-ins are registered up front with k6 types; data_sent contains data', () => {
    const store = new MetricStore();
    assert.equal(store.get('data_sent')?.contains, 'data');
    assert.equal(store.get('ws_connecting')?.contains, 'time');
    assert.equal(store.get('checks')?.type, 'rate');
    assert.equal(store.get('vus')?.type, 'gauge');
    store.define('data_sent', 'counter');
    assert.throws(() => store.define('data_sent', 'counter', false), /value type data, instead of default/);
    assert.deepEqual(store.observed(), []);
  });
});

describe('sinks', () => {
  test('trend percentile: samples 1..10 → p(90) = 9.1, p(95) = 9.55, med = 5.5 (k6 interpolation)', () => {
    const store = new MetricStore({ builtins: false });
    store.define('tt', 'trend', true);
    for (const v of [7, 3, 10, 1, 9, 2, 8, 4, 6, 5]) store.push('tt', v);
    const m = store.get('tt');
    assert.ok(m);
    // i = 0.9·9 = 8.1 → v[8] + (v[9] − v[8])·0.1 = 9 + 0.1; i = 0.95·9 = 8.55 → 9 + 0.55
    const p90 = m.percentile(90) as number;
    const p95 = m.percentile(95) as number;
    assert.ok(Math.abs(p90 - 9.1) < 1e-12, String(p90));
    assert.ok(Math.abs(p95 - 9.55) < 1e-12, String(p95));
    // bit-exact with the same float operations as Go
    assert.equal(p90, 9.1);
    assert.equal(p95, 9.549999999999999);
    assert.deepEqual(m.values(1000), { avg: 5.5, min: 1, med: 5.5, max: 10, 'p(90)': 9.1, 'p(95)': p95 });
    assert.deepEqual(m.values(1000, ['count', 'p(0)', 'p(100)', 'p(99.9)']), {
      count: 10,
      'p(0)': 1,
      'p(100)': 10,
      'p(99.9)': 9 + (10 - 9) * ((99.9 / 100) * 9 - 8), // 9.991000000000001, as Go computes it
    });
  });

  test('trend: empty → zeros, one sample → that sample', () => {
    const t = new TrendSink();
    assert.equal(t.p(0.95), 0);
    assert.equal(t.avg, 0);
    t.add(42);
    assert.equal(t.p(0.1), 42);
    assert.equal(t.p(0.99), 42);
    assert.equal(t.min, 42);
    assert.equal(t.max, 42);
  });

  test('trend: 200k random samples across growth steps match the reference; adds after a sort re-sort', () => {
    const rand = mulberry32(7);
    const t = new TrendSink();
    const ref: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      const v = Math.round(rand() * 1e6) / 100;
      t.add(v);
      ref.push(v);
      if (i === 1000) assert.equal(t.p(0.5), refPercentile(ref, 0.5));
    }
    for (const p of [0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1])
      assert.equal(t.p(p), refPercentile(ref, p), String(p));
    assert.equal(t.count, 200_000);
    assert.ok(t.bytes >= 200_000 * 8 && t.bytes < 200_000 * 8 * 2);
  });

  test('trend: incremental sort (merge of new samples into the sorted prefix) matches a full sort', () => {
    const rand = mulberry32(11);
    const t = new TrendSink();
    const ref: number[] = [];
    const check = () => {
      for (const p of [0, 0.25, 0.5, 0.9, 0.99, 1])
        assert.equal(t.p(p), refPercentile(ref, p), `${ref.length} ${p}`);
    };
    for (let i = 0; i < 10_000; i++) ref.push(rand() * 100);
    for (const v of ref) t.add(v);
    check();
    for (let round = 0; round < 30; round++) {
      const n = 1 + Math.floor(rand() * 700);
      for (let i = 0; i < n; i++) {
        // some rounds only add values above everything seen (append path), others interleave (merge path)
        const v = round % 3 === 0 ? 1000 + round + rand() : rand() * 100;
        ref.push(v);
        t.add(v);
      }
      check();
    }
  });

  test('counter: count and rate = count / seconds; rate 0 for a zero duration', () => {
    const store = new MetricStore({ builtins: false });
    store.define('cc', 'counter');
    for (const v of [1, 2, 3, 4, 0]) store.push('cc', v);
    assert.deepEqual(store.get('cc')?.values(4000), { count: 10, rate: 2.5 });
    assert.deepEqual(store.get('cc')?.values(0), { count: 10, rate: 0 });
  });

  test('gauge: last value, min, max (first sample sets both)', () => {
    const store = new MetricStore({ builtins: false });
    store.define('gg1', 'gauge');
    for (const v of [5, -3, 12, 7]) store.push('gg1', v);
    assert.deepEqual(store.get('gg1')?.values(1), { value: 7, min: -3, max: 12 });
    store.define('gg2', 'gauge');
    store.push('gg2', 4);
    assert.deepEqual(store.get('gg2')?.values(1), { value: 4, min: 4, max: 4 });
  });

  test('rate: non-zero is a pass', () => {
    const store = new MetricStore({ builtins: false });
    store.define('rr', 'rate');
    for (const v of [1, 0, 5, -1, 0]) store.push('rr', v);
    assert.deepEqual(store.get('rr')?.values(1), { rate: 0.6, passes: 3, fails: 2 });
    store.define('rr0', 'rate');
    assert.deepEqual(store.get('rr0')?.values(1), { rate: 0, passes: 0, fails: 0 });
  });

  test('push: undefined metric throws; NaN dropped and counted', () => {
    const store = new MetricStore({ builtins: false });
    assert.throws(() => store.push('nope', 1), /metric 'nope' is not defined/);
    store.define('cc', 'counter');
    store.push('cc', NaN);
    assert.equal(store.droppedSamples, 1);
    assert.equal(store.get('cc')?.observed, false);
  });
});

describe('sub-metrics', () => {
  test('tag criteria split on the first colon; spaces and quotes trimmed', () => {
    assert.deepEqual(parseSubmetricTags('reason:timeout:bind'), { reason: 'timeout:bind' });
    assert.deepEqual(parseSubmetricTags(` a : "x" , b:'y',, c`), { a: 'x', b: 'y', c: '' });
    assert.deepEqual(parseSubmetricTags('name:http://${}.com'), { name: 'http://${}.com' });
  });

  test('samples reach sub-metrics whose tags they contain', () => {
    const store = new MetricStore({ builtins: false });
    const failures = XMPP_COUNTERS.sessionFailures;
    store.define(failures, 'counter');
    const bind = store.addSubmetric(failures, 'reason:timeout:bind');
    const both = store.addSubmetric(failures, 'reason:timeout:bind,scenario:login');
    assert.equal(bind.name, `${failures}{reason:timeout:bind}`);
    assert.equal(bind.suffix, 'reason:timeout:bind');
    assert.equal(
      store.addSubmetric(failures, ` reason: "timeout:bind" `),
      bind,
      'same tag set → same sub-metric',
    );
    assert.equal(store.get(`${failures}{reason:timeout:bind}`), bind);

    store.push(failures, 1, { reason: 'timeout:bind', scenario: 'login' });
    store.push(failures, 1, { reason: 'timeout:bind', scenario: 'other' });
    store.push(failures, 1, { reason: 'timeout' });
    store.push(failures, 1, { reason: 'auth-failed:not-authorized' });
    store.push(failures, 1);
    assert.equal(store.get(failures)?.values(1)['count'], 5);
    assert.equal(bind.values(1)['count'], 2);
    assert.equal(both.values(1)['count'], 1);
    assert.equal(bind.type, 'counter');
    assert.throws(() => store.push(bind.name, 1), /not defined/);
    assert.throws(() => store.addSubmetric('nope', 'a:b'), /metric 'nope' does not exist in the script/);
    assert.throws(
      () => store.addSubmetric(failures, '  '),
      /submetric criteria for metric .* cannot be empty/,
    );
  });

  test("k6's built-in counters keep no per-tag breakdown; custom counters do", () => {
    const store = new MetricStore({ tagValueCap: 10 });
    store.define('my_counter', 'counter');
    for (const name of ['http_reqs', 'data_sent', 'ws_msgs_received', 'my_counter']) {
      store.push(name, 2, { status: '200', scenario: 's' });
      store.push(name, 3, { status: '500', scenario: 's' });
    }
    for (const name of ['http_reqs', 'data_sent', 'ws_msgs_received']) {
      const sink = store.get(name)?.sink;
      assert.ok(sink?.type === 'counter');
      assert.equal(sink.value, 5, name);
      assert.deepEqual(sink.tagKeys(), [], name);
    }
    const mine = store.get('my_counter')?.sink;
    assert.ok(mine?.type === 'counter');
    assert.deepEqual(
      [...(mine.tagBreakdown('status')?.values ?? [])],
      [
        ['200', 2],
        ['500', 3],
      ],
    );
  });

  test('counter per-tag breakdown, capped per tag key; the same for frozen tag sets (kept cells)', () => {
    for (const frozen of [false, true]) {
      const store = new MetricStore({ builtins: false, tagValueCap: 2 });
      const sent = XMPP_COUNTERS.stanzasSent;
      store.define(sent, 'counter');
      const tagSet = (kind: string) =>
        frozen ? Object.freeze({ kind, scenario: 's' }) : { kind, scenario: 's' };
      const [message, presence, iq] = [tagSet('message'), tagSet('presence'), tagSet('iq')];
      for (const [tags, n] of [
        [message, 2],
        [presence, 1],
        [message, 3],
        [iq, 4],
        [iq, 5],
        [presence, 6],
      ] as const)
        store.push(sent, n, tags);
      const sink = store.get(sent)?.sink;
      assert.ok(sink?.type === 'counter');
      const kind = sink.tagBreakdown('kind');
      assert.deepEqual(
        [...(kind?.values ?? [])],
        [
          ['message', 5],
          ['presence', 7],
        ],
        `frozen: ${frozen}`,
      );
      assert.equal(kind?.other, 9);
      assert.deepEqual([...(sink.tagBreakdown('scenario')?.values ?? [])], [['s', 21]]);
      assert.equal(sink.value, 21);
      assert.deepEqual(sink.tagKeys(), ['kind', 'scenario']);
      assert.equal(sink.tagBreakdown('missing'), undefined);
    }
  });
});

test('snapshot: cheap current values of observed metrics', () => {
  const store = new MetricStore();
  store.push('iterations', 1);
  store.push('iterations', 1);
  store.push('vus', 3);
  store.push('checks', 1);
  store.push('checks', 0);
  store.define(XMPP_TRENDS.connect, 'trend', true);
  store.push(XMPP_TRENDS.connect, 10);
  store.push(XMPP_TRENDS.connect, 30);
  assert.deepEqual(store.snapshot(), {
    vus: { type: 'gauge', contains: 'default', value: 3, min: 3, max: 3 },
    iterations: { type: 'counter', contains: 'default', count: 2 },
    checks: { type: 'rate', contains: 'default', rate: 0.5, passes: 1, fails: 1 },
    [XMPP_TRENDS.connect]: { type: 'trend', contains: 'time', count: 2, avg: 20, min: 10, max: 30 },
  });
});

test('summaryTrendStats columns (k6 GetResolversForTrendColumns)', () => {
  validateSummaryTrendStats(['avg', 'min', 'med', 'max', 'count', 'p(0)', 'p(99.99)', 'p(100)']);
  assert.throws(() => trendStatResolver('mean'), { message: "invalid trend stat 'mean', unknown format" });
  for (const bad of ['p(101)', 'p(-1)', 'p(x)', 'p()', 'p( 9)']) {
    assert.throws(() => trendStatResolver(bad), {
      message: `invalid percentile trend stat value '${bad}', provide a number between 0 and 100`,
    });
  }
});

test('Go ParseFloat emulation', () => {
  const ok: [string, number][] = [
    ['0', 0],
    ['500', 500],
    ['0.99', 0.99],
    ['.5', 0.5],
    ['5.', 5],
    ['-1', -1],
    ['+2', 2],
    ['1e3', 1000],
    ['1E-2', 0.01],
    ['1_000', 1000],
    ['0x1p4', 16],
    ['0x1.8p1', 3],
    ['Inf', Infinity],
    ['-infinity', -Infinity],
    ['1e-400', 0],
  ];
  for (const [s, v] of ok) assert.deepEqual(parseGoFloat(s), { ok: true, value: v }, s);
  const nan = parseGoFloat('NaN');
  assert.ok(nan.ok && Number.isNaN(nan.value));
  for (const s of [
    '',
    ' 1',
    '1 ',
    'abc',
    '1e',
    '_1',
    '1_',
    '1__0',
    '0x10',
    '1.2.3',
    '+nan',
    'infin',
    '1,5',
    '1ms',
  ]) {
    assert.deepEqual(parseGoFloat(s), { ok: false, reason: 'invalid syntax' }, s);
  }
  assert.deepEqual(parseGoFloat('1e400'), { ok: false, reason: 'value out of range' });
});

// -------------------------------------------------------------------------------------------------------------
// k6/metrics module

interface FakeRt extends VuRuntime {
  pushed: { name: string; value: number; tags: Tags | undefined }[];
}

function fakeRuntime(
  store: MetricSink & { define: MetricStore['define'] },
  opts: { throw?: boolean } = {},
): FakeRt {
  const pushed: FakeRt['pushed'] = [];
  const sink: MetricSink = {
    define: (n, t, i) => store.define(n, t, i),
    push: (n, v, tags, time) => {
      pushed.push({ name: n, value: v, tags });
      store.push(n, v, tags, time);
    },
  };
  const execution = {
    test: { options: opts.throw ? { throw: true } : {}, abort: () => undefined as never },
  } as unknown as ExecutionState;
  return {
    id: 1,
    phase: 'init' as VuPhase,
    env: {},
    metrics: sink,
    tags: () => ({ scenario: 'default', group: '' }),
    execution,
    beginOp: () => () => undefined,
    reportError: () => undefined,
    onInterrupt: () => undefined,
    pushed,
  };
}

type Ctor = new (name?: unknown, isTime?: unknown) => { name: string; add: (...a: unknown[]) => boolean };

describe('k6/metrics module', () => {
  test('declaration only in init; name read-only; classes named as in k6', () => {
    const store = new MetricStore({ builtins: false });
    const rt = fakeRuntime(store);
    const mod = createMetricsModule()(rt);
    const Trend = mod['Trend'] as Ctor;
    const Counter = mod['Counter'] as Ctor;
    assert.equal(Trend.name, 'Trend');
    const t = new Trend('lat', true);
    assert.equal(t.name, 'lat');
    assert.deepEqual(Object.keys(t), ['name', 'add']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(t, 'name'), {
      value: 'lat',
      writable: false,
      enumerable: true,
      configurable: false,
    });
    assert.throws(() => {
      (t as { name: string }).name = 'other';
    }, TypeError);
    assert.equal(store.get('lat')?.contains, 'time');
    new Trend('plain');
    assert.equal(store.get('plain')?.contains, 'default');
    assert.throws(() => new Counter('lat'), /already exists but with type trend, instead of counter/);
    assert.throws(() => new Trend('lat'), /already exists but with a value type time, instead of default/);
    assert.throws(() => new Counter('x'), /Invalid metric name: 'x'/);

    assert.throws(() => t.add(1), { message: 'Adding to metrics in the init context is not supported' });
    rt.phase = 'iteration';
    assert.throws(() => new Counter('late'), { message: 'metrics must be declared in the init context' });
  });

  test('add: values coerced as k6 does, tags merged over the VU tags', () => {
    const store = new MetricStore({ builtins: false });
    const rt = fakeRuntime(store);
    const warnings: string[] = [];
    const mod = createMetricsModule({ warn: (m) => warnings.push(m) })(rt);
    const Rate = mod['Rate'] as Ctor;
    const Counter = mod['Counter'] as Ctor;
    const r = new Rate('ok_rate');
    const c = new Counter('cnt');
    rt.phase = 'iteration';

    assert.equal(r.add(true), true);
    assert.equal(r.add(false), true);
    assert.equal(r.add(0), true);
    assert.equal(r.add('0'), true); // Number("0") = 0 but truthy → 1
    assert.equal(r.add([]), true); // same
    assert.equal(r.add(''), true); // 0, falsy → 0
    assert.deepEqual(store.get('ok_rate')?.values(1), { rate: 0.5, passes: 3, fails: 3 });

    assert.equal(c.add('2.5', { kind: 'message', n: 3, b: true }), true);
    assert.deepEqual(rt.pushed.at(-1), {
      name: 'cnt',
      value: 2.5,
      tags: { scenario: 'default', group: '', kind: 'message', n: '3', b: 'true' },
    });
    assert.equal(c.add(1, { scenario: 'mine' }), true);
    assert.equal(rt.pushed.at(-1)?.tags?.['scenario'], 'mine');

    assert.equal(c.add(), false);
    assert.equal(c.add(null), false);
    assert.equal(c.add('abc'), false);
    assert.equal(c.add(undefined), false);
    assert.equal(c.add('x'.repeat(150)), false);
    assert.deepEqual(warnings, [
      "no value was provided for metric 'cnt', a number or a boolean value is expected",
      "'null' is an invalid value for metric 'cnt', a number or a boolean value is expected",
      "'abc' is an invalid value for metric 'cnt', a number or a boolean value is expected",
      "'undefined' is an invalid value for metric 'cnt', a number or a boolean value is expected",
      `'${'x'.repeat(50)}... omitting 50 characters ...${'x'.repeat(50)}' is an invalid value for metric 'cnt', ` +
        'a number or a boolean value is expected',
    ]);
    assert.throws(() => c.add(1, { bad: { nested: 1 } }), {
      message:
        "cannot add tags for the 'cnt' custom metric: invalid value for metric tag 'bad': " +
        'only String, Boolean and Number types are accepted as a metric tag values',
    });
    assert.throws(() => c.add(1, { bad: null }), /invalid value for metric tag 'bad'/);
    assert.equal(store.get('cnt')?.values(1000)['count'], 3.5);
  });

  test('a frozen tag object is merged with the VU tags once, and again when the VU tags change', () => {
    const store = new MetricStore({ builtins: false, tagValueCap: 10 });
    const rt = fakeRuntime(store);
    const vuTags = [Object.freeze({ scenario: 'a', group: '' }), Object.freeze({ scenario: 'b', group: '' })];
    let current = vuTags[0]!;
    (rt as { tags: () => Record<string, string> }).tags = () => current;
    const mod = createMetricsModule({ warn: () => undefined })(rt);
    const c = new (mod['Counter'] as Ctor)('cnt');
    rt.phase = 'iteration';
    const kind = Object.freeze({ kind: 'message' });
    c.add(1, kind);
    c.add(2, kind);
    const [first, second] = rt.pushed.map((p) => p.tags!);
    assert.deepEqual(first, { scenario: 'a', group: '', kind: 'message' });
    assert.equal(second, first, 'the same merge, kept');
    assert.ok(Object.isFrozen(first));
    current = vuTags[1]!;
    c.add(4, kind);
    assert.deepEqual(rt.pushed.at(-1)!.tags, { scenario: 'b', group: '', kind: 'message' });
    // A tag object that is not frozen may change between samples: each sample reads it as it is then.
    const open: Record<string, string> = { kind: 'iq' };
    c.add(8, open);
    open['kind'] = 'presence';
    c.add(16, open);
    assert.deepEqual(
      rt.pushed.slice(-2).map((p) => p.tags!['kind']),
      ['iq', 'presence'],
    );
    const sink = store.get('cnt')!.sink;
    assert.ok(sink.type === 'counter');
    assert.deepEqual(
      [...sink.tagBreakdown('kind')!.values],
      [
        ['message', 7],
        ['iq', 8],
        ['presence', 16],
      ],
    );
    assert.deepEqual(
      [...sink.tagBreakdown('scenario')!.values],
      [
        ['a', 3],
        ['b', 28],
      ],
    );
  });

  test("errors and objects belong to the VU's own context when it has a realm", async () => {
    const vm = await import('node:vm');
    const ctx = vm.createContext({});
    const realm = vm.runInContext(
      '({ Object, Array, Error, TypeError, Promise, ArrayBuffer, Uint8Array, JSON })',
      ctx,
    );
    const store = new MetricStore({ builtins: false });
    const rt = { ...fakeRuntime(store), realm: { ...realm, global: vm.runInContext('globalThis', ctx) } };
    const Counter = createMetricsModule()(rt)['Counter'] as Ctor;
    const c = new Counter('in_realm');
    assert.equal(c instanceof (realm.Object as ObjectConstructor), true);
    let caught: unknown;
    try {
      c.add(1);
    } catch (e) {
      caught = e;
    }
    assert.equal(caught instanceof (realm.Error as ErrorConstructor), true);
    assert.equal((caught as Error).message, 'Adding to metrics in the init context is not supported');
    rt.phase = 'iteration';
    assert.throws(
      () => c.add(Symbol('s')),
      (e) => e instanceof (realm.TypeError as TypeErrorConstructor),
    );
  });

  test('add: the throw option turns warnings into exceptions', () => {
    const store = new MetricStore({ builtins: false });
    const rt = fakeRuntime(store, { throw: true });
    const Gauge = createMetricsModule({ warn: () => assert.fail('no warning expected') })(rt)[
      'Gauge'
    ] as Ctor;
    const g = new Gauge('gg');
    rt.phase = 'iteration';
    assert.throws(() => g.add(NaN), {
      message: "'NaN' is an invalid value for metric 'gg', a number or a boolean value is expected",
    });
    assert.equal(g.add(-4), true);
    assert.deepEqual(store.get('gg')?.values(1), { value: -4, min: -4, max: -4 });
  });
});
