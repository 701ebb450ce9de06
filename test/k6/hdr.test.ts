/**
 * HDR recording and collector snapshots from k6 scripts, through the Node engine (one JS context per VU, k6
 * globals only): the V2 encoding a VU writes decodes on the Node side to the same histogram, snapshots follow
 * the contract, failed POSTs are retried and counted, and without a collector no request is made.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { buildScenarios, type BuiltScenario } from '../../src/build/scenarios.ts';
import { HDR_CONFIG } from '../../src/contract/snapshot.ts';
import { hdrMicros } from '../../src/k6/hdr.ts';
import { SnapshotRecorder } from '../../src/k6/snapshot.ts';
import { runScriptText } from '../helpers/engine-run.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import {
  bundle,
  byVu,
  contractErrors,
  decode,
  merged,
  startRecordingServer,
  type RecordingServer,
} from './hdr-helpers.ts';

/** A VU that records VALUES (ms) as xmpp_iq_rtt across several 100 ms flushes, plus counters and a gauge. */
const SYNTHETIC = `
import { flushFinal, periodicFlush, recordCount, recordGauge, recordLatency, setTransport } from './src/k6/collector.ts';
export const options = {
  scenarios: { synth: { executor: 'per-vu-iterations', vus: Number(__ENV.VUS || 1), iterations: 1 } },
};
const VALUES: number[] = JSON.parse(__ENV.VALUES || '[1, 2, 3]');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export default async function (): Promise<void> {
  setTransport('bosh');
  periodicFlush(true);
  for (let i = 0; i < VALUES.length; i++) {
    recordLatency('xmpp_iq_rtt', VALUES[i]!);
    if (i % 60 === 59) await sleep(70);
  }
  recordCount('xmpp_stanzas_sent', 2, { kind: 'iq' });
  recordCount('xmpp_stanzas_sent', 3, { kind: 'iq' });
  recordCount('xmpp_sessions_opened', 1);
  recordGauge('xmpp_sessions_open', 7);
  await sleep(120);
  periodicFlush(false);
  recordGauge('xmpp_sessions_open', 0);
  await flushFinal();
}
`;

/** Edge values (negative, sub-ms, past the 1 h limit) and a spread of latencies, in ms. */
function testValues(): number[] {
  const edge = [
    -3, 0, 0.25, 0.5, 1, 1, 2, 17, 17, 17, 123.456, 999, 1000, 1001, 4321, 59_999, 3_600_000, 5e6,
  ];
  let x = 12345;
  const spread = Array.from({ length: 300 }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.round(Math.exp((x / 2 ** 31) * 9) * 10) / 10;
  });
  return [...edge, ...spread];
}

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];

const sumOf = (samples: { name: string; value: number }[], name: string) =>
  samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

describe('HDR snapshots from k6 VUs', () => {
  let synthetic: string;
  before(async () => {
    synthetic = await bundle(SYNTHETIC);
  });

  test('VU-encoded histograms decode on the Node side with identical counts and percentiles', async () => {
    const server = await startRecordingServer();
    try {
      const values = testValues();
      const r = await runScriptText(synthetic, {
        env: {
          VUS: '2',
          VALUES: JSON.stringify(values),
          STARLING_COLLECTOR_URL: `${server.url}/`,
          STARLING_COLLECTOR_TOKEN: 's3cret',
          STARLING_FLUSH_INTERVAL: '100ms',
        },
      });
      assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
      assert.ok(server.requests.length >= 4, `${server.requests.length} snapshots`);
      for (const req of server.requests) {
        assert.deepEqual(contractErrors(req), []);
        assert.equal(req.headers.authorization, 'Bearer s3cret');
      }

      // The same values recorded and V2-encoded on the Node side (zlib), then decoded like the VUs' ones.
      const direct = hdr.build({ ...HDR_CONFIG, useWebAssembly: false });
      for (const v of values) direct.recordValue(hdrMicros(v));
      const expected = decode(hdr.encodeIntoCompressedBase64(direct));
      const vus = byVu(server.snapshots);
      assert.deepEqual([...vus.keys()].sort(), [1, 2]);
      for (const [vu, snaps] of vus) {
        const withValues = snaps.filter((s) => s.histograms.length > 0);
        assert.ok(withValues.length >= 3, `VU ${vu}: values spread over ${withValues.length} snapshots`);
        const h = merged(snaps, 'xmpp_iq_rtt');
        assert.equal(h.totalCount, values.length);
        assert.deepEqual(
          PERCENTILES.map((p) => h.getValueAtPercentile(p)),
          PERCENTILES.map((p) => expected.getValueAtPercentile(p)),
        );
        assert.equal(h.outputPercentileDistribution(), expected.outputPercentileDistribution());
        const counts = (x: hdr.Histogram) => {
          const j = x as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
          return Array.from({ length: j.countsArrayLength }, (_, i) => j.getCountAtIndex(i));
        };
        assert.deepEqual(counts(h), counts(direct), 'the same count in every bucket');
        assert.equal(h.minNonZeroValue, direct.minNonZeroValue);
        // Clamped, not dropped: -3 ms and 0 count as 0, 5e6 ms as the 1 h limit.
        assert.equal(counts(h)[0], 2);
        assert.equal(h.maxValue, expected.maxValue);
        assert.ok(Math.abs(h.maxValue / HDR_CONFIG.highestTrackableValue - 1) < 0.001, `max ${h.maxValue}`);

        // Counters are deltas (summed over snapshots), the gauge a reading; labels carry the tags.
        const sent = snaps.flatMap((s) => s.counters).filter((c) => c.name === 'xmpp_stanzas_sent');
        assert.deepEqual(
          sent.map((c) => c.labels),
          sent.map(() => ({ kind: 'iq' })),
        );
        assert.equal(
          sent.reduce((a, c) => a + c.delta, 0),
          5,
        );
        const opened = snaps.flatMap((s) => s.counters).filter((c) => c.name === 'xmpp_sessions_opened');
        assert.deepEqual(opened, [{ name: 'xmpp_sessions_opened', delta: 1 }]);
        const last = snaps.at(-1)!;
        assert.deepEqual(last.gauges, [{ name: 'xmpp_sessions_open', value: 0 }]);
        assert.ok(
          snaps.some((s) => s.gauges.some((g) => g.value === 7)),
          'the gauge was read while 7',
        );
      }
    } finally {
      await server.close();
    }
  });

  test('snapshots: seq from 0 without gaps per VU, one final (last), contiguous intervals, one instance', async () => {
    const server = await startRecordingServer();
    try {
      const r = await runScriptText(synthetic, {
        env: {
          VUS: '3',
          VALUES: JSON.stringify(testValues()),
          STARLING_COLLECTOR_URL: server.url,
          STARLING_FLUSH_INTERVAL: '100ms',
        },
      });
      assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
      const vus = byVu(server.snapshots);
      assert.equal(vus.size, 3);
      for (const [vu, snaps] of vus) {
        assert.deepEqual(
          snaps.map((s) => s.seq),
          snaps.map((_, i) => i),
          `VU ${vu}`,
        );
        assert.deepEqual(
          snaps.map((s) => s.final),
          snaps.map((_, i) => i === snaps.length - 1),
        );
        for (let i = 1; i < snaps.length; i++) {
          assert.equal(snaps[i]!.intervalStartMs, snaps[i - 1]!.intervalEndMs);
        }
      }
      const all = server.snapshots;
      assert.equal(new Set(all.map((s) => s.instance)).size, 1, 'every VU names the same instance');
      assert.equal(new Set(all.map((s) => s.runId)).size, 1);
      assert.match(all[0]!.instance, /^k6-[0-9a-f]{8}$/);
      assert.match(all[0]!.runId, /^k6-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
      assert.ok(all[0]!.runId.endsWith(all[0]!.instance.slice(3)), 'run id and instance share the drawn id');
      assert.deepEqual(new Set(all.map((s) => `${s.scenario}/${s.transport}`)), new Set(['synth/bosh']));
      // The POSTs are ordinary k6 requests, named so they can be told from BOSH traffic.
      const reqs = r.samples.filter((s) => s.name === 'http_reqs');
      assert.equal(reqs.length, server.requests.length);
      assert.ok(reqs.every((s) => s.tags.name === 'starling-collector'));
    } finally {
      await server.close();
    }
  });

  test('STARLING_RUN_ID and STARLING_INSTANCE name the source when set', async () => {
    const server = await startRecordingServer();
    try {
      const r = await runScriptText(synthetic, {
        env: {
          VUS: '2',
          STARLING_COLLECTOR_URL: server.url,
          STARLING_RUN_ID: 'run-42',
          STARLING_INSTANCE: 'pod-a',
        },
      });
      assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
      // Each VU's, plus the Node engine's own health as VU 0 of the same instance.
      assert.deepEqual(
        server.snapshots.map((s) => s.vu).sort(),
        [0, 1, 2],
        'a final snapshot per VU (the 5 s default interval never fired) and one of the engine',
      );
      assert.ok(server.snapshots.every((s) => s.runId === 'run-42' && s.instance === 'pod-a' && s.final));
    } finally {
      await server.close();
    }
  });

  test('a failed POST is retried once and counted in starling_collector_errors', async () => {
    const server = await startRecordingServer((i) => (i === 0 ? 503 : 204));
    try {
      const r = await runScriptText(synthetic, {
        env: { STARLING_COLLECTOR_URL: server.url, STARLING_FLUSH_INTERVAL: '1h' },
      });
      assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
      assert.equal(server.requests.length, 2);
      assert.equal(server.requests[0]!.body, server.requests[1]!.body, 'the same snapshot, same seq');
      assert.equal(server.snapshots[0]!.final, true);
      assert.equal(sumOf(r.samples, 'starling_collector_errors'), 1);
      assert.doesNotMatch(r.lines.join('\n'), /not delivered/);
    } finally {
      await server.close();
    }
  });

  test('a collector that always fails never fails the test: errors counted, one warning per VU', async () => {
    let server: RecordingServer | undefined = await startRecordingServer(() => 500);
    try {
      const r = await runScriptText(synthetic, {
        env: { VUS: '2', STARLING_COLLECTOR_URL: server.url, STARLING_FLUSH_INTERVAL: '100ms' },
      });
      assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
      assert.equal(server.snapshots.length, 0);
      assert.ok(server.requests.length >= 4);
      assert.equal(sumOf(r.samples, 'starling_collector_errors'), server.requests.length);
      const warnings = r.lines.filter((l) =>
        /starling collector \(VU \d\): snapshot seq 0 not delivered/.test(l),
      );
      assert.equal(warnings.length, 2, r.lines.join('\n'));

      // Nobody listening at all: network errors, same outcome.
      const url = server.url;
      await server.close();
      server = undefined;
      const down = await runScriptText(synthetic, { env: { STARLING_COLLECTOR_URL: url } });
      assert.equal(down.outcome.exitCode, 0, down.lines.join('\n'));
      assert.equal(sumOf(down.samples, 'starling_collector_errors'), 2);
    } finally {
      await server?.close();
    }
  });

  test('a collector that refuses the token: not retried, counted in starling_collector_lost, the warning names the variable', async () => {
    const server = await startRecordingServer(() => ({
      status: 401,
      headers: { 'Content-Type': 'application/json' },
      body: '{"error":"missing or wrong bearer token"}',
    }));
    try {
      const r = await runScriptText(synthetic, {
        env: { STARLING_COLLECTOR_URL: server.url, STARLING_COLLECTOR_TOKEN: 'wrong-token' },
      });
      assert.equal(r.outcome.exitCode, 0, 'a script of its own decides with its thresholds');
      assert.equal(server.requests.length, 1, 'the same token would be refused again');
      assert.equal(sumOf(r.samples, 'starling_collector_errors'), 1);
      assert.equal(sumOf(r.samples, 'starling_collector_lost'), 1, 'the one final snapshot');
      const text = r.lines.join('\n');
      assert.match(
        text,
        /snapshot seq 0 not delivered to .*: HTTP 401: \{"error":"missing or wrong bearer token"\} \(the collector wants a token: set STARLING_COLLECTOR_TOKEN to the one its --token was given\)/,
      );
      assert.doesNotMatch(text, /wrong-token/);
    } finally {
      await server.close();
    }
  });

  test('a 429 is retried once after its Retry-After', async () => {
    const at: number[] = [];
    const server = await startRecordingServer((i) => {
      at.push(Date.now());
      return i > 0 ? 202 : { status: 429, headers: { 'Retry-After': '1' } };
    });
    try {
      const r = await runScriptText(synthetic, { env: { STARLING_COLLECTOR_URL: server.url } });
      assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
      assert.equal(server.snapshots.length, 1);
      assert.equal(sumOf(r.samples, 'starling_collector_lost'), 0);
      assert.equal(at.length, 2);
      assert.ok(at[1]! - at[0]! >= 950, `retried ${at[1]! - at[0]!} ms after the 429`);
    } finally {
      await server.close();
    }
  });

  test('without STARLING_COLLECTOR_URL nothing is recorded or sent', async () => {
    const r = await runScriptText(synthetic, { env: { VUS: '2', STARLING_FLUSH_INTERVAL: '10ms' } });
    assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
    assert.deepEqual(
      r.samples.filter((s) => s.name.startsWith('http_') || s.name === 'starling_collector_errors'),
      [],
    );
  });

  test('in a VU, deflate is pako (no require), and package modules that require ./wasm run on the stubs', async () => {
    // The package entry itself cannot run in k6 (HistogramLogWriter calls Intl at import); these modules are
    // the ones that require('./wasm').
    const code = await bundle(`
import { build } from 'hdr-histogram-js/dist/HistogramBuilder.js';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js/dist/encoding.js';
import { initWebAssemblySync } from 'hdr-histogram-js/dist/wasm/index.js';
import { HdrSet } from './src/k6/hdr.ts';
export default function (): void {
  const h = build({ useWebAssembly: true, bitBucketSize: 32 });
  h.recordValue(1234);
  let wasm = 'usable';
  try { initWebAssemblySync(); } catch (e) { wasm = String(e); }
  const set = new HdrSet();
  set.record('x', 1.5);
  console.log(JSON.stringify({
    require: typeof (globalThis as { require?: unknown }).require,
    builder: encodeIntoCompressedBase64(h),
    wasm,
    set: set.drain(),
  }));
}
`);
    const r = await runScriptText(code);
    assert.equal(r.outcome.exitCode, 0, r.lines.join('\n'));
    const line = r.lines.find((l) => l.includes('"require"'));
    assert.ok(line, r.lines.join('\n'));
    const out = JSON.parse(line.slice(line.indexOf('{'), line.lastIndexOf('}') + 1)) as {
      require: string;
      builder: string;
      wasm: string;
      set: { name: string; hdr: string }[];
    };
    assert.equal(out.require, 'undefined');
    assert.match(out.wasm, /WebAssembly is not bundled into k6 scripts/);
    assert.equal(decode(out.builder).getValueAtPercentile(50), 1234, 'useWebAssembly fell back to JS');
    assert.equal(out.set.length, 1);
    const bytes = Buffer.from(out.set[0]!.hdr, 'base64');
    // After the V2 cookie and length: a zlib header for a 512-byte window (0x18), i.e. the bundled pako
    // deflate; Node's zlib would have written 0x78.
    assert.equal(bytes[8], 0x18);
    assert.equal(decode(out.set[0]!.hdr).getValueAtPercentile(50), 1500);
  });
});

describe('scenario bundles with HDR recording', () => {
  let built: BuiltScenario[];
  before(async () => {
    built = await buildScenarios(undefined, await tempDir('starling-hdr-bundles-'));
  });

  test('carry no WebAssembly, no loader, no pako inflate, and stay under 360 KB', async () => {
    for (const b of built) {
      const text = await readFile(b.file, 'utf8');
      assert.doesNotMatch(text, /AGFzbQ/, `${b.name}: no base64 wasm`);
      assert.doesNotMatch(text, /TextDecoder|instantiateStreaming\(|WebAssembly\./, b.name);
      assert.doesNotMatch(text, /inflateInit2|inflate_fast/, `${b.name}: no pako inflate`);
      assert.match(text, /deflateInit2/, `${b.name}: pako deflate`);
      // 325-345 KB (conference and muc, with XEP-0045, the largest); the budget catches a library pulled in whole
      // (hdr-histogram-js's wasm build, say), not a few KB of protocol code.
      assert.ok(b.bytes < 360_000, `${b.name}: ${b.bytes} bytes`);
    }
  });
});

describe('SnapshotRecorder', () => {
  test('deltas reset, gauges persist, seq counts from 0, intervals chain', () => {
    let t = 1000;
    const rec = new SnapshotRecorder(() => t);
    const src = { runId: 'r', instance: 'i', scenario: 's', transport: 'websocket' };
    rec.count('c', 2, { kind: 'iq' });
    rec.count('c', 1, { kind: 'iq' });
    rec.count('c', 0, { kind: 'message' });
    rec.gauge('g', 3);
    rec.latency('l', 12.3456);
    t = 1500;
    const a = rec.take(src, 4, false);
    assert.deepEqual(
      { ...a, histograms: a.histograms.map((h) => h.name) },
      {
        version: 1,
        ...src,
        vu: 4,
        seq: 0,
        final: false,
        intervalStartMs: 1000,
        intervalEndMs: 1500,
        histograms: ['l'],
        counters: [{ name: 'c', labels: { kind: 'iq' }, delta: 3 }],
        gauges: [{ name: 'g', value: 3 }],
      },
    );
    assert.equal(decode(a.histograms[0]!.hdr).getValueAtPercentile(100), 12_351); // 12 346 µs, 0.1 % bucket
    t = 2500;
    const b = rec.take(src, 4, true);
    assert.deepEqual(
      [b.seq, b.final, b.intervalStartMs, b.intervalEndMs, b.histograms, b.counters, b.gauges],
      [1, true, 1500, 2500, [], [], [{ name: 'g', value: 3 }]],
    );
  });

  test('hdrMicros: µs integers, clamped into HDR_CONFIG', () => {
    assert.deepEqual([-1, 0, 0.0004, 0.0006, 1.5, 3_600_000, 3_600_001].map(hdrMicros), [
      0,
      0,
      0,
      1,
      1500,
      HDR_CONFIG.highestTrackableValue,
      HDR_CONFIG.highestTrackableValue,
    ]);
  });
});
