import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BYTES_BUCKETS,
  counterMetricName,
  gaugeMetricName,
  histogramMetricName,
  histogramUnit,
  percentileMetricName,
  renderMetrics,
} from '../../src/collector/prometheus.ts';
import { CollectorStore } from '../../src/collector/store.ts';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_TRENDS } from '../../src/contract/metric-names.ts';
import { encode, snapshot } from './fixtures.ts';

describe('names', () => {
  test('time histograms are seconds, tap frame sizes bytes, counters _total, gauges bare', () => {
    assert.equal(histogramMetricName(XMPP_TRENDS.sessionReady), 'starling_xmpp_session_ready_seconds');
    assert.equal(
      percentileMetricName(XMPP_TRENDS.sessionReady),
      'starling_xmpp_session_ready_seconds_percentile',
    );
    assert.equal(histogramMetricName('tap_frame_parse'), 'starling_tap_frame_parse_seconds');
    assert.equal(histogramMetricName('tap_frame_size'), 'starling_tap_frame_size_bytes');
    assert.equal(percentileMetricName('tap_frame_size'), 'starling_tap_frame_size_bytes_percentile');
    assert.equal(counterMetricName(XMPP_COUNTERS.stanzasSent), 'starling_xmpp_stanzas_sent_total');
    assert.equal(gaugeMetricName(XMPP_GAUGES.sessionsOpen), 'starling_xmpp_sessions_open');
    for (const name of Object.values(XMPP_TRENDS)) assert.equal(histogramUnit(name), 'seconds');
  });
});

const T0 = 1_700_000_000_000;

describe('/metrics text', () => {
  test('exact lines for a known input: buckets, sum, count, percentile gauges, counters, gauges', () => {
    const store = new CollectorStore();
    // 300, 800, 1500 µs are exact; 4000 sits in HDR bucket [4000, 4002), 20000 in [20000, 20016),
    // 700000 in [699904, 700416).
    store.ingest(
      snapshot({
        runId: 'r1',
        instance: 'pod-a',
        seq: 0,
        intervalStartMs: T0,
        intervalEndMs: T0 + 5000,
        histograms: [{ name: 'xmpp_session_ready', hdr: encode([300, 800, 1500, 4000]) }],
        counters: [
          { name: 'xmpp_stanzas_sent', labels: { kind: 'message' }, delta: 3 },
          { name: 'xmpp_session_failures', labels: { reason: 'auth-failed:not-authorized' }, delta: 2 },
        ],
        gauges: [{ name: 'xmpp_sessions_open', value: 10 }],
      }),
    );
    store.ingest(
      snapshot({
        runId: 'r1',
        instance: 'pod-b',
        seq: 0,
        final: true,
        intervalStartMs: T0,
        intervalEndMs: T0 + 5000,
        histograms: [{ name: 'xmpp_session_ready', hdr: encode([4000, 20_000, 700_000]) }],
        counters: [{ name: 'xmpp_stanzas_sent', labels: { kind: 'message' }, delta: 4 }],
        gauges: [{ name: 'xmpp_sessions_open', value: 5 }],
      }),
    );
    store.ingest(snapshot({ runId: 'r1', instance: 'pod-b', seq: 0 }));
    store.reject('unauthorized');

    const base = 'run_id="r1",scenario="chat",transport="websocket"';
    const bucket = (le: string, n: number) =>
      `starling_xmpp_session_ready_seconds_bucket{${base},le="${le}"} ${n}`;
    const pct = (p: string, v: string) =>
      `starling_xmpp_session_ready_seconds_percentile{${base},percentile="${p}"} ${v}`;
    const expected = [
      '# HELP starling_collector_duplicate_snapshots_total Snapshots dropped as repeated seqs',
      '# TYPE starling_collector_duplicate_snapshots_total counter',
      'starling_collector_duplicate_snapshots_total{run_id="r1"} 1',
      '# HELP starling_collector_final_producers Producers that sent their final snapshot',
      '# TYPE starling_collector_final_producers gauge',
      'starling_collector_final_producers{run_id="r1"} 1',
      '# HELP starling_collector_finished_runs_total Runs written out and dropped from memory',
      '# TYPE starling_collector_finished_runs_total counter',
      '# HELP starling_collector_memory_bytes Estimated bytes of the run data held in memory',
      '# TYPE starling_collector_memory_bytes gauge',
      `starling_collector_memory_bytes ${store.estimatedBytes}`,
      '# HELP starling_collector_producers Producers (instance + VU) seen',
      '# TYPE starling_collector_producers gauge',
      'starling_collector_producers{run_id="r1"} 2',
      '# HELP starling_collector_rejected_snapshots_total Snapshots refused, by reason',
      '# TYPE starling_collector_rejected_snapshots_total counter',
      'starling_collector_rejected_snapshots_total{reason="unauthorized"} 1',
      '# HELP starling_collector_runs Runs held in memory',
      '# TYPE starling_collector_runs gauge',
      'starling_collector_runs 1',
      '# HELP starling_collector_snapshots_total Snapshots merged',
      '# TYPE starling_collector_snapshots_total counter',
      'starling_collector_snapshots_total{run_id="r1"} 2',
      '# HELP starling_xmpp_session_failures_total xmpp_session_failures, summed across every producer of the run',
      '# TYPE starling_xmpp_session_failures_total counter',
      `starling_xmpp_session_failures_total{${base},reason="auth-failed:not-authorized"} 2`,
      '# HELP starling_xmpp_session_ready_seconds xmpp_session_ready (seconds), HDR-merged across every producer of the run',
      '# TYPE starling_xmpp_session_ready_seconds histogram',
      bucket('0.0001', 0),
      bucket('0.00025', 0),
      bucket('0.0005', 1),
      bucket('0.001', 2),
      bucket('0.0025', 3),
      bucket('0.005', 5),
      bucket('0.01', 5),
      bucket('0.025', 6),
      bucket('0.05', 6),
      bucket('0.1', 6),
      bucket('0.25', 6),
      bucket('0.5', 6),
      bucket('1', 7),
      bucket('2.5', 7),
      bucket('5', 7),
      bucket('10', 7),
      bucket('30', 7),
      bucket('60', 7),
      bucket('120', 7),
      bucket('300', 7),
      bucket('+Inf', 7),
      // Σ median equivalent values: 300 + 800 + 1500 + 2 × 4001 + 20008 + 700160 µs.
      `starling_xmpp_session_ready_seconds_sum{${base}} 0.73077`,
      `starling_xmpp_session_ready_seconds_count{${base}} 7`,
      '# HELP starling_xmpp_session_ready_seconds_percentile xmpp_session_ready (seconds) percentiles over the run so far, from the merged HDR histogram',
      '# TYPE starling_xmpp_session_ready_seconds_percentile gauge',
      // p50: the 4th of 7 values (4000, reported as its bucket's highest equivalent 4001); p90 and up: the 7th.
      pct('50', '0.004001'),
      pct('90', '0.700415'),
      pct('99', '0.700415'),
      pct('99.9', '0.700415'),
      pct('max', '0.700415'),
      '# HELP starling_xmpp_sessions_open xmpp_sessions_open, the last value of each producer, summed',
      '# TYPE starling_xmpp_sessions_open gauge',
      `starling_xmpp_sessions_open{${base}} 15`,
      '# HELP starling_xmpp_stanzas_sent_total xmpp_stanzas_sent, summed across every producer of the run',
      '# TYPE starling_xmpp_stanzas_sent_total counter',
      `starling_xmpp_stanzas_sent_total{${base},kind="message"} 7`,
      '',
    ].join('\n');
    assert.equal(renderMetrics(store), expected);
  });

  test('size histograms use byte buckets and no µs conversion; empty scenario and transport are left out', () => {
    const store = new CollectorStore();
    store.ingest(
      snapshot({
        runId: 'tap-run',
        instance: 'tap',
        vu: 0,
        scenario: '',
        transport: '',
        histograms: [{ name: 'tap_frame_size', labels: { direction: 'c2s' }, hdr: encode([100, 200, 3000]) }],
      }),
    );
    const text = renderMetrics(store);
    const lines = text.split('\n').filter((l) => l.startsWith('starling_tap_frame_size_bytes'));
    const labels = 'run_id="tap-run",direction="c2s"';
    assert.deepEqual(lines.slice(0, 3), [
      `starling_tap_frame_size_bytes_bucket{${labels},le="64"} 0`,
      `starling_tap_frame_size_bytes_bucket{${labels},le="128"} 1`,
      `starling_tap_frame_size_bytes_bucket{${labels},le="256"} 2`,
    ]);
    assert.equal(lines.filter((l) => l.includes('_bucket')).length, BYTES_BUCKETS.length + 1);
    assert.ok(lines.includes(`starling_tap_frame_size_bytes_sum{${labels}} 3301`));
    assert.ok(lines.includes(`starling_tap_frame_size_bytes_percentile{${labels},percentile="max"} 3001`));
    assert.match(text, /# TYPE starling_tap_frame_size_bytes histogram\n/);
  });

  test('label values are escaped, and several runs share one family block', () => {
    const store = new CollectorStore();
    const c = { name: 'xmpp_stream_errors', labels: { condition: 'a"b\\c\nd' }, delta: 1 };
    store.ingest(snapshot({ runId: 'b', counters: [c] }));
    store.ingest(snapshot({ runId: 'a', counters: [c] }));
    const text = renderMetrics(store);
    const block = text.slice(text.indexOf('# HELP starling_xmpp_stream_errors_total'));
    assert.deepEqual(block.split('\n').slice(0, 4), [
      '# HELP starling_xmpp_stream_errors_total xmpp_stream_errors, summed across every producer of the run',
      '# TYPE starling_xmpp_stream_errors_total counter',
      'starling_xmpp_stream_errors_total{run_id="a",scenario="chat",transport="websocket",condition="a\\"b\\\\c\\nd"} 1',
      'starling_xmpp_stream_errors_total{run_id="b",scenario="chat",transport="websocket",condition="a\\"b\\\\c\\nd"} 1',
    ]);
  });

  test('an evicted run leaves /metrics: its series and its per-run collector series are gone', () => {
    const store = new CollectorStore();
    for (const runId of ['kept', 'gone']) {
      store.ingest(
        snapshot({
          runId,
          final: true,
          histograms: [{ name: 'xmpp_connect', hdr: encode([1000]) }],
          counters: [{ name: 'xmpp_sessions_opened', delta: 1 }],
        }),
      );
    }
    assert.match(renderMetrics(store), /run_id="gone"/);
    store.beginFinish('gone', 'final');
    store.evict('gone');
    const text = renderMetrics(store);
    assert.doesNotMatch(text, /run_id="gone"/);
    assert.match(text, /^starling_xmpp_connect_seconds_count\{run_id="kept",[^}]*\} 1$/m);
    assert.match(text, /^starling_collector_runs 1$/m);
    assert.match(text, /^starling_collector_finished_runs_total\{reason="final"\} 1$/m);
    assert.match(
      text,
      new RegExp(`^starling_collector_memory_bytes ${store.run('kept')!.estimatedBytes}$`, 'm'),
    );
  });

  test('rendering again after new data reflects it (the per-series cache follows merges)', () => {
    const store = new CollectorStore();
    const send = (seq: number, v: number) =>
      store.ingest(snapshot({ seq, histograms: [{ name: 'xmpp_connect', hdr: encode([v]) }] }));
    send(0, 1000);
    assert.match(renderMetrics(store), /starling_xmpp_connect_seconds_count\{[^}]*\} 1\n/);
    send(1, 2000);
    assert.match(renderMetrics(store), /starling_xmpp_connect_seconds_count\{[^}]*\} 2\n/);
    assert.match(renderMetrics(store), /percentile="max"\} 0\.002\n/);
  });
});
