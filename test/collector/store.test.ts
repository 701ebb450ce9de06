import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { HDR_CONFIG, type Snapshot } from '../../src/contract/snapshot.ts';
import {
  CapacityError,
  CollectorStore,
  MAX_EXACT,
  MEMORY_COST,
  RunFinishedError,
  SnapshotError,
} from '../../src/collector/store.ts';
import { encode, latencies, producerHistogram, rng, snapshot } from './fixtures.ts';

const T0 = 1_700_000_000_000;

function run1(store: CollectorStore) {
  const run = store.run('run-1');
  assert.ok(run, 'run-1 exists');
  return run;
}

describe('merging across producers', () => {
  test('20 instances × 5 VUs × 6 flushes merge into the histogram of every raw value', () => {
    const store = new CollectorStore();
    const random = rng(1);
    const union = producerHistogram();
    let snapshots = 0;
    for (let inst = 0; inst < 20; inst++) {
      for (let vu = 1; vu <= 5; vu++) {
        for (let seq = 0; seq < 6; seq++) {
          const values = latencies(random, Math.floor(random() * 200));
          for (const v of values) union.recordValue(v);
          const start = T0 + seq * 5000;
          store.ingest(
            snapshot({
              instance: `pod-${inst}`,
              vu,
              seq,
              final: seq === 5,
              intervalStartMs: start,
              intervalEndMs: start + 5000,
              histograms: [{ name: 'xmpp_session_ready', hdr: encode(values) }],
            }),
          );
          snapshots++;
        }
      }
    }
    const run = run1(store);
    assert.equal(run.snapshots, snapshots);
    assert.equal(run.producers.size, 100);
    assert.equal(run.instances().length, 20);
    assert.ok(run.allFinal());
    const [series] = [...run.histograms.values()];
    assert.equal(series!.cumulative.totalCount, union.totalCount);
    for (const p of [0, 50, 90, 99, 99.9, 99.99, 100]) {
      assert.equal(series!.cumulative.getValueAtPercentile(p), union.getValueAtPercentile(p), `p(${p})`);
    }
    // Six 5 s intervals, whose counts add up to the cumulative histogram.
    const intervals = run.intervals(series!);
    assert.deepEqual(
      intervals.map((i) => i.startMs - T0),
      [0, 5000, 10000, 15000, 20000, 25000],
    );
    assert.equal(
      intervals.reduce((n, i) => n + i.counts.total, 0),
      union.totalCount,
    );
  });

  test('series are keyed by metric, scenario, transport and labels, not by instance', () => {
    const store = new CollectorStore();
    const h = (name: string, labels?: Record<string, string>) => ({ name, labels, hdr: encode([1000]) });
    store.ingest(
      snapshot({ instance: 'a', histograms: [h('xmpp_connect'), h('tap_frame_parse', { element: 'iq' })] }),
    );
    store.ingest(
      snapshot({ instance: 'b', histograms: [h('xmpp_connect'), h('tap_frame_parse', { element: 'iq' })] }),
    );
    store.ingest(snapshot({ instance: 'c', transport: 'bosh', histograms: [h('xmpp_connect')] }));
    store.ingest(snapshot({ instance: 'd', histograms: [h('tap_frame_parse', { element: 'message' })] }));
    const run = run1(store);
    const counts = [...run.histograms.values()]
      .map((s) => `${s.name} ${s.transport} ${JSON.stringify(s.labels)} ${s.cumulative.totalCount}`)
      .sort();
    assert.deepEqual(counts, [
      'tap_frame_parse websocket {"element":"iq"} 2',
      'tap_frame_parse websocket {"element":"message"} 1',
      'xmpp_connect bosh {} 1',
      'xmpp_connect websocket {} 2',
    ]);
  });

  test('a snapshot goes to the aligned interval holding the middle of its own', () => {
    const store = new CollectorStore({ intervalMs: 5000 });
    const at = (seq: number, start: number, end: number) =>
      store.ingest(
        snapshot({
          seq,
          intervalStartMs: T0 + start,
          intervalEndMs: T0 + end,
          histograms: [{ name: 'xmpp_connect', hdr: encode([seq + 1]) }],
        }),
      );
    at(0, 0, 4000); // middle 2000 → [0, 5000)
    at(1, 4000, 8000); // middle 6000 → [5000, 10000)
    at(2, 8000, 12000); // middle 10000 → [10000, 15000)
    at(3, 1000, 1000); // an empty interval at 1000 → [0, 5000)
    const run = run1(store);
    const [series] = [...run.histograms.values()];
    assert.deepEqual(
      run.intervals(series!).map((i) => [i.startMs - T0, i.endMs - T0, i.counts.total]),
      [
        [0, 5000, 2],
        [5000, 10000, 1],
        [10000, 15000, 1],
      ],
    );
  });

  test('old intervals are compressed and a late snapshot still lands in its own', () => {
    const store = new CollectorStore({ intervalMs: 1000 });
    const send = (seq: number, startS: number, values: number[]) =>
      store.ingest(
        snapshot({
          seq,
          intervalStartMs: T0 + startS * 1000,
          intervalEndMs: T0 + startS * 1000 + 1000,
          histograms: [{ name: 'xmpp_connect', hdr: encode(values) }],
        }),
      );
    for (let s = 0; s < 10; s++) send(s, s, [100 * (s + 1)]);
    const run = run1(store);
    const [series] = [...run.histograms.values()];
    assert.deepEqual(
      [...series!.hot.keys()].map((k) => (k - T0) / 1000),
      [8, 9],
    );
    assert.equal(series!.frozen.size, 8);
    send(10, 2, [7, 7]); // late, for second 2
    assert.deepEqual(
      run.intervals(series!).map((i) => i.counts.total),
      [1, 1, 3, 1, 1, 1, 1, 1, 1, 1],
    );
    assert.equal(series!.cumulative.totalCount, 12);
  });

  test('the load starts at the VUs’ first interval; a non-VU producer’s earlier one counts for the run only', () => {
    const store = new CollectorStore();
    // A Node generator's health (VU 0) reports from its process's start; its VUs' first samples come 2.5 s later.
    const health = { instance: 'node-gen-1', scenario: '', transport: '', vu: 0 };
    store.ingest(snapshot({ ...health, intervalStartMs: T0, intervalEndMs: T0 + 5000 }));
    const run = run1(store);
    assert.equal(run.startMs, T0);
    assert.equal(run.loadStartMs, Number.POSITIVE_INFINITY, 'no load yet');
    store.ingest(
      snapshot({ instance: 'node-gen-1', vu: 1, intervalStartMs: T0 + 2500, intervalEndMs: T0 + 5000 }),
    );
    store.ingest(
      snapshot({ instance: 'node-gen-2', vu: 1, intervalStartMs: T0 + 3100, intervalEndMs: T0 + 5000 }),
    );
    store.ingest(snapshot({ ...health, seq: 1, intervalStartMs: T0 + 5000, intervalEndMs: T0 + 10_000 }));
    assert.equal(run.startMs, T0);
    assert.equal(run.loadStartMs, T0 + 2500);
    assert.equal(run.endMs, T0 + 10_000);
  });
});

describe('duplicates', () => {
  const h = [{ name: 'xmpp_connect', hdr: encode([1000, 2000]) }];

  test('a repeated seq from the same producer is dropped and reported as a duplicate', () => {
    const store = new CollectorStore();
    const c = [{ name: 'xmpp_stanzas_sent', labels: { kind: 'message' }, delta: 5 }];
    assert.deepEqual(store.ingest(snapshot({ seq: 0, histograms: h, counters: c })), {
      status: 'accepted',
      runId: 'run-1',
    });
    assert.deepEqual(store.ingest(snapshot({ seq: 0, histograms: h, counters: c })), {
      status: 'duplicate',
      runId: 'run-1',
    });
    const run = run1(store);
    assert.equal(run.snapshots, 1);
    assert.equal(run.duplicates, 1);
    assert.equal([...run.histograms.values()][0]!.cumulative.totalCount, 2);
    assert.equal([...run.counters.values()][0]!.value, 5);
  });

  test('the same seq from another VU or instance is not a duplicate', () => {
    const store = new CollectorStore();
    store.ingest(snapshot({ seq: 0, vu: 1, histograms: h }));
    store.ingest(snapshot({ seq: 0, vu: 2, histograms: h }));
    store.ingest(snapshot({ seq: 0, vu: 1, instance: 'pod-b', histograms: h }));
    store.ingest(snapshot({ seq: 0, vu: 1, runId: 'run-2', histograms: h }));
    assert.equal(run1(store).snapshots, 3);
    assert.equal(run1(store).duplicates, 0);
  });

  test('out-of-order seqs are all merged once, and their repeats dropped', () => {
    const store = new CollectorStore();
    for (const seq of [0, 2, 1, 4, 3, 2, 0, 4]) store.ingest(snapshot({ seq, histograms: h }));
    assert.equal(run1(store).snapshots, 5);
    assert.equal(run1(store).duplicates, 3);
  });

  test('a producer numbering from 1 is de-duplicated too, with bounded memory', () => {
    const store = new CollectorStore();
    for (let seq = 1; seq <= 200; seq++) store.ingest(snapshot({ seq, histograms: h }));
    const producer = [...run1(store).producers.values()][0]!;
    assert.ok(producer.seen.size <= 64, `${producer.seen.size} seqs remembered`);
    for (const seq of [1, 50, 150, 200]) {
      assert.equal(store.ingest(snapshot({ seq, histograms: h })).status, 'duplicate', `seq ${seq}`);
    }
    assert.equal(run1(store).snapshots, 200);
  });
});

describe('counters and gauges', () => {
  test('counter deltas are summed across producers and snapshots', () => {
    const store = new CollectorStore();
    const c = (kind: string, delta: number) => ({ name: 'xmpp_stanzas_sent', labels: { kind }, delta });
    store.ingest(snapshot({ seq: 0, counters: [c('message', 3), c('iq', 1)] }));
    store.ingest(snapshot({ seq: 1, counters: [c('message', 4)] }));
    store.ingest(snapshot({ instance: 'pod-b', counters: [c('message', 10), c('message', 0.5)] }));
    const values = Object.fromEntries(
      [...run1(store).counters.values()].map((s) => [s.labels['kind'], s.value]),
    );
    assert.deepEqual(values, { message: 17.5, iq: 1 });
  });

  test('a gauge is the last value of each producer, summed across producers', () => {
    const store = new CollectorStore();
    const g = (value: number) => [{ name: 'xmpp_sessions_open', value }];
    store.ingest(snapshot({ instance: 'a', vu: 1, seq: 0, gauges: g(10) }));
    store.ingest(snapshot({ instance: 'a', vu: 1, seq: 1, gauges: g(7) }));
    store.ingest(snapshot({ instance: 'a', vu: 2, seq: 0, gauges: g(5) }));
    store.ingest(snapshot({ instance: 'b', vu: 1, seq: 3, gauges: g(20) }));
    store.ingest(snapshot({ instance: 'b', vu: 1, seq: 2, gauges: g(99) })); // older reading, arriving late
    assert.equal([...run1(store).gauges.values()][0]!.value, 7 + 5 + 20);
  });
});

describe('validation', () => {
  const cases: [string, (s: Snapshot) => unknown, string, RegExp][] = [
    ['a non-object body', () => [1, 2], 'body', /must be a JSON object/],
    ['another version', (s) => ({ ...s, version: 2 }), 'version', /must be 1, got number 2/],
    ['a missing runId', (s) => ({ ...s, runId: undefined }), 'runId', /must be a string, got nothing/],
    ['a runId that is a path', (s) => ({ ...s, runId: '../etc' }), 'runId', /letters, digits/],
    ['an empty instance', (s) => ({ ...s, instance: '' }), 'instance', /must not be empty/],
    ['a negative vu', (s) => ({ ...s, vu: -1 }), 'vu', /non-negative integer/],
    ['a fractional seq', (s) => ({ ...s, seq: 1.5 }), 'seq', /non-negative integer/],
    ['a string final', (s) => ({ ...s, final: 'yes' }), 'final', /must be a boolean/],
    ['an interval ending before it starts', (s) => ({ ...s, intervalEndMs: 1 }), 'intervalEndMs', /before/],
    ['histograms not an array', (s) => ({ ...s, histograms: {} }), 'histograms', /must be an array/],
    [
      'a bad metric name',
      (s) => ({ ...s, histograms: [{ name: 'xmpp connect', hdr: encode([1]) }] }),
      'histograms[0].name',
      /k6 metric name/,
    ],
    [
      'a broken hdr',
      (s) => ({
        ...s,
        histograms: [
          { name: 'xmpp_connect', hdr: encode([1]) },
          { name: 'xmpp_auth', hdr: 'AAAA' },
        ],
      }),
      'histograms[1].hdr',
      /bad cookie/,
    ],
    [
      'a reserved label',
      (s) => ({ ...s, counters: [{ name: 'xmpp_stanzas_sent', labels: { run_id: 'x' }, delta: 1 }] }),
      'counters[0].labels.run_id',
      /reserved/,
    ],
    [
      'a non-string label value',
      (s) => ({ ...s, counters: [{ name: 'xmpp_stanzas_sent', labels: { kind: 3 }, delta: 1 }] }),
      'counters[0].labels.kind',
      /must be a string/,
    ],
    [
      'a negative counter delta',
      (s) => ({ ...s, counters: [{ name: 'xmpp_stanzas_sent', delta: -1 }] }),
      'counters[0].delta',
      /≥ 0/,
    ],
    [
      'a counter delta past 2^53 − 1 (the 1e308 that overflowed to Infinity)',
      (s) => ({ ...s, counters: [{ name: 'xmpp_stanzas_sent', delta: 1e308 }] }),
      'counters[0].delta',
      /^must be a finite number ≥ 0 and ≤ 2\^53 − 1 \(9007199254740991\), got number 1e\+308$/,
    ],
    [
      'a gauge past ±(2^53 − 1)',
      (s) => ({ ...s, gauges: [{ name: 'xmpp_sessions_open', value: -1e300 }] }),
      'gauges[0].value',
      /^must be a finite number within ±\(2\^53 − 1\) \(9007199254740991\), got number -1e\+300$/,
    ],
    [
      'a NaN-like gauge',
      (s) => ({ ...s, gauges: [{ name: 'xmpp_sessions_open', value: 'NaN' }] }),
      'gauges[0].value',
      /finite number/,
    ],
  ];
  for (const [what, mutate, field, message] of cases) {
    test(`refuses ${what}, naming ${field}`, () => {
      const store = new CollectorStore();
      assert.throws(
        () => store.ingest(mutate(snapshot())),
        (err: unknown) => err instanceof SnapshotError && err.field === field && message.test(err.reason),
      );
      assert.equal(store.rejected.get('invalid'), 1);
    });
  }

  test('a refused snapshot merges nothing, and counts against its run', () => {
    const store = new CollectorStore();
    assert.throws(() =>
      store.ingest(
        snapshot({
          histograms: [{ name: 'xmpp_connect', hdr: encode([1]) }],
          counters: [{ name: 'xmpp_stanzas_sent', delta: -1 }],
        }),
      ),
    );
    const run = run1(store);
    assert.equal(run.histograms.size, 0);
    assert.equal(run.rejected, 1);
    assert.equal(run.producers.size, 0);
  });
});

describe('range checks: merged values stay exact, never Infinity', () => {
  const sent = (delta: number, kind = 'message') => ({ name: 'xmpp_stanzas_sent', labels: { kind }, delta });

  test('a counter sum past 2^53 − 1 is refused naming the entry, and nothing of the snapshot merges', () => {
    const store = new CollectorStore();
    store.ingest(snapshot({ seq: 0, counters: [sent(MAX_EXACT - 10)] }));
    assert.throws(
      () =>
        store.ingest(
          snapshot({
            seq: 1,
            histograms: [{ name: 'xmpp_connect', hdr: encode([1000]) }],
            counters: [sent(3, 'iq'), sent(11)],
          }),
        ),
      (err: unknown) =>
        err instanceof SnapshotError &&
        err.field === 'counters[1].delta' &&
        err.message ===
          'counters[1].delta: would take xmpp_stanzas_sent{kind="message"} to 9007199254740992, past 2^53 − 1 ' +
            '(9007199254740991), where sums stop being exact (a producer adding a wrong value?)',
    );
    const run = run1(store);
    assert.deepEqual(
      [...run.counters.values()].map((c) => [c.labels['kind'], c.value]),
      [['message', MAX_EXACT - 10]],
    );
    assert.equal(run.histograms.size, 0);
    assert.equal(run.rejected, 1);
    assert.equal(store.rejected.get('invalid'), 1);
    // Up to the bound is fine, and the refused seq was not consumed.
    assert.equal(store.ingest(snapshot({ seq: 1, counters: [sent(10)] })).status, 'accepted');
    assert.equal([...run.counters.values()][0]!.value, MAX_EXACT);
  });

  test('two entries of one series in one snapshot are summed before the check', () => {
    const store = new CollectorStore();
    const half = 2 ** 52;
    assert.throws(
      () => store.ingest(snapshot({ counters: [sent(half), sent(half)] })),
      (err: unknown) => err instanceof SnapshotError && err.field === 'counters[1].delta',
    );
    assert.equal(run1(store).counters.size, 0);
  });

  test('a gauge summed across producers past 2^53 − 1 is refused naming the entry', () => {
    const store = new CollectorStore();
    const open = (value: number) => [{ name: 'xmpp_sessions_open', value }];
    store.ingest(snapshot({ instance: 'a', gauges: open(2 ** 52) }));
    // The same producer replacing its reading is fine; a second one adding as much is not.
    assert.equal(
      store.ingest(snapshot({ instance: 'a', seq: 1, gauges: open(2 ** 52 + 1) })).status,
      'accepted',
    );
    assert.throws(
      () => store.ingest(snapshot({ instance: 'b', gauges: open(2 ** 52) })),
      (err: unknown) =>
        err instanceof SnapshotError &&
        err.field === 'gauges[0].value' &&
        err.reason ===
          'would take xmpp_sessions_open, summed across producers, to 9007199254740992, past ±(2^53 − 1) ' +
            '(9007199254740991), where sums stop being exact',
    );
    assert.equal([...run1(store).gauges.values()][0]!.value, 2 ** 52 + 1);
  });

  test('a histogram whose merged sample count would pass 2^53 − 1 is refused naming its hdr', () => {
    const big = hdr.build({ ...HDR_CONFIG, bitBucketSize: 64, useWebAssembly: false });
    big.recordValueWithCount(1000, 2 ** 52);
    const entry = { name: 'xmpp_connect', hdr: hdr.encodeIntoCompressedBase64(big) };
    const store = new CollectorStore();
    store.ingest(snapshot({ seq: 0, histograms: [entry] }));
    assert.throws(
      () => store.ingest(snapshot({ seq: 1, histograms: [entry] })),
      (err: unknown) =>
        err instanceof SnapshotError &&
        err.field === 'histograms[0].hdr' &&
        err.reason ===
          'would take the sample count of xmpp_connect to 9007199254740992, past 2^53 − 1 (9007199254740991), ' +
            'where counts stop being exact',
    );
  });
});

describe('limits', () => {
  const c = (id: string) => ({ name: 'xmpp_stanzas_sent', labels: { id }, delta: 1 });

  test('a run is capped at maxSeriesPerRun series: the entry past it is named, and retrying will not help', () => {
    const store = new CollectorStore({ maxSeriesPerRun: 3 });
    store.ingest(snapshot({ seq: 0, counters: [c('1'), c('2')] }));
    assert.throws(
      () => store.ingest(snapshot({ seq: 1, counters: [c('1'), c('3'), c('4')] })),
      (err: unknown) =>
        err instanceof CapacityError &&
        err.cap === 'max-series' &&
        err.limit === 3 &&
        err.field === 'counters[2]' &&
        !err.retryable &&
        err.message ===
          'counters[2]: run run-1 has 2 series and this snapshot adds 2, past its limit (--max-series 3): ' +
            'xmpp_stanzas_sent{id="4"} is refused. A label with unbounded values (an id, a timestamp)? ' +
            'Otherwise raise --max-series',
    );
    assert.equal(run1(store).counters.size, 2);
    assert.equal(run1(store).rejected, 1);
    // The refused seq was not consumed: it can be sent again once fixed; existing series still merge.
    assert.equal(store.ingest(snapshot({ seq: 1, counters: [c('1'), c('3')] })).status, 'accepted');
    assert.equal(store.ingest(snapshot({ seq: 2, counters: [c('1'), c('2'), c('3')] })).status, 'accepted');
  });

  test('at maxRuns a new run is refused (retryable) until one is evicted; its own runs still merge', () => {
    const store = new CollectorStore({ maxRuns: 2 });
    store.ingest(snapshot({ runId: 'a', counters: [c('1')] }));
    store.ingest(snapshot({ runId: 'b', counters: [c('1')] }));
    assert.throws(
      () => store.ingest(snapshot({ runId: 'c', counters: [c('1')] })),
      (err: unknown) =>
        err instanceof CapacityError &&
        err.cap === 'max-runs' &&
        err.limit === 2 &&
        err.field === 'runId' &&
        err.retryable &&
        err.message ===
          'the collector holds 2 runs, its limit (--max-runs 2), and none has finished: run c must wait until ' +
            'one does (retry later), or raise --max-runs',
    );
    // Invalid snapshots for a run that has no room are counted, without creating it.
    assert.throws(() => store.ingest(snapshot({ runId: 'd', version: 9 as 1 })), SnapshotError);
    assert.deepEqual(
      store.runs().map((r) => r.runId),
      ['a', 'b'],
    );
    assert.equal(store.ingest(snapshot({ runId: 'a', seq: 1, counters: [c('2')] })).status, 'accepted');
    store.beginFinish('a', 'final');
    store.evict('a');
    assert.equal(store.ingest(snapshot({ runId: 'c', counters: [c('1')] })).status, 'accepted');
  });

  test('the memory budget refuses new runs, producers and series past it (retryable); known series still merge', () => {
    const seriesCost = MEMORY_COST.run + MEMORY_COST.producer + MEMORY_COST.histogramSeries;
    // Room for exactly one run with one histogram of one distinct value.
    const store = new CollectorStore({ maxBytes: seriesCost + MEMORY_COST.hotEntry });
    const h = (name: string) => ({ name, hdr: encode([1000]) });
    store.ingest(snapshot({ runId: 'a', histograms: [h('xmpp_connect')] }));
    assert.equal(store.estimatedBytes, seriesCost + MEMORY_COST.hotEntry);
    assert.throws(
      () => store.ingest(snapshot({ runId: 'a', seq: 1, histograms: [h('xmpp_connect'), h('xmpp_auth')] })),
      (err: unknown) =>
        err instanceof CapacityError &&
        err.cap === 'max-memory' &&
        err.field === 'histograms[1]' &&
        err.retryable &&
        /^the collector holds 0\.2 MiB of run data and xmpp_auth, a new series of run a, would take it past its limit \(--max-memory 0\.2 MiB\): retry once a run finishes, or raise --max-memory$/.test(
          err.message,
        ),
    );
    assert.throws(
      () => store.ingest(snapshot({ runId: 'b', counters: [c('1')] })),
      (err: unknown) => err instanceof CapacityError && err.cap === 'max-memory' && err.field === 'runId',
    );
    assert.throws(
      () => store.ingest(snapshot({ runId: 'a', instance: 'pod-b', histograms: [h('xmpp_connect')] })),
      (err: unknown) => err instanceof CapacityError && err.cap === 'max-memory' && err.field === 'instance',
    );
    assert.equal(
      store.ingest(snapshot({ runId: 'a', seq: 1, histograms: [h('xmpp_connect')] })).status,
      'accepted',
    );
    assert.equal(run1Of(store, 'a').histograms.size, 1);
  });

  test('estimatedBytes follows merges and freezes, and goes back to 0 when every run is evicted', () => {
    const store = new CollectorStore({ intervalMs: 1000 });
    const random = rng(7);
    for (let seq = 0; seq < 20; seq++) {
      store.ingest(
        snapshot({
          runId: seq % 2 === 0 ? 'a' : 'b',
          seq,
          intervalStartMs: T0 + seq * 1000,
          intervalEndMs: T0 + seq * 1000 + 1000,
          histograms: [{ name: 'xmpp_connect', hdr: encode(latencies(random, 200)) }],
          counters: [c('1')],
        }),
      );
    }
    const [a, b] = [run1Of(store, 'a'), run1Of(store, 'b')];
    assert.equal(store.estimatedBytes, a.estimatedBytes + b.estimatedBytes);
    const s = [...a.histograms.values()][0]!;
    const frozenChars = [...s.frozen.values()].reduce((n, t) => n + t.length, 0);
    const hotEntries = [...s.hot.values()].reduce((n, m) => n + m.size, 0);
    assert.equal(
      a.estimatedBytes,
      MEMORY_COST.run +
        MEMORY_COST.histogramSeries +
        MEMORY_COST.scalarSeries +
        MEMORY_COST.producer +
        hotEntries * MEMORY_COST.hotEntry +
        s.frozen.size * MEMORY_COST.frozenInterval +
        frozenChars,
    );
    for (const id of ['a', 'b']) {
      store.beginFinish(id, 'requested');
      store.evict(id);
    }
    assert.equal(store.estimatedBytes, 0);
    assert.deepEqual([...store.evicted], [['requested', 2]]);
  });
});

describe('finished runs', () => {
  const h = [{ name: 'xmpp_connect', hdr: encode([1000]) }];

  test('a finishing run acknowledges retried seqs but refuses new data; once evicted, it refuses everything', () => {
    const store = new CollectorStore({ now: () => T0 });
    store.ingest(snapshot({ seq: 0, final: true, histograms: h }));
    assert.equal(store.beginFinish('run-1', 'final'), run1(store));
    assert.deepEqual(store.ingest(snapshot({ seq: 0, final: true, histograms: h })), {
      status: 'duplicate',
      runId: 'run-1',
    });
    const refused = (err: unknown) =>
      err instanceof RunFinishedError &&
      err.field === 'runId' &&
      err.message ===
        'run run-1 is finished (every producer sent its final snapshot) and its results are written: it takes ' +
          'no more snapshots. Give a new run a new STARLING_RUN_ID; if a generator of this run reports after ' +
          'the others finished, raise --finish-delay';
    assert.throws(() => store.ingest(snapshot({ seq: 1, histograms: h })), refused);
    store.evict('run-1');
    assert.equal(store.run('run-1'), undefined);
    assert.deepEqual(store.finishedRun('run-1'), { reason: 'final', atMs: T0 });
    assert.throws(() => store.ingest(snapshot({ seq: 0, final: true, histograms: h })), refused);
    assert.throws(() => store.ingest(snapshot({ seq: 2, instance: 'late', histograms: h })), refused);
    assert.equal(store.rejected.get('run-finished'), 3);
    assert.equal(store.run('run-1'), undefined, 'a refused snapshot does not bring the run back');
  });

  test('idle and on-disk runs are refused with their own hint', () => {
    const store = new CollectorStore({ finishedOnDisk: (id) => id === 'old' });
    store.ingest(snapshot({ runId: 'quiet' }));
    store.beginFinish('quiet', 'idle');
    store.evict('quiet');
    assert.throws(
      () => store.ingest(snapshot({ runId: 'quiet', seq: 1 })),
      (err: unknown) =>
        err instanceof RunFinishedError &&
        err.message.endsWith(
          '(no snapshot came for the idle timeout (--run-idle-timeout)) and its results are written: it ' +
            'takes no more snapshots. Give a new run a new STARLING_RUN_ID; if its generators pause for ' +
            'longer, raise --run-idle-timeout',
        ),
    );
    assert.throws(
      () => store.ingest(snapshot({ runId: 'old' })),
      (err: unknown) =>
        err instanceof RunFinishedError &&
        err.message ===
          'run old is finished (its merged.json was already written, by this collector or an earlier one) and ' +
            'its results are written: it takes no more snapshots. Give a new run a new STARLING_RUN_ID',
    );
    assert.equal(store.run('old'), undefined);
  });
});

function run1Of(store: CollectorStore, runId: string) {
  const run = store.run(runId);
  assert.ok(run, `${runId} exists`);
  return run;
}
