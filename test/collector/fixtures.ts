/** Snapshots and histograms for the collector tests: built the way producers build them. */
import * as hdr from 'hdr-histogram-js';
import { request } from 'node:http';
import {
  HDR_CONFIG,
  SNAPSHOT_VERSION,
  type CounterEntry,
  type HistogramEntry,
  type Snapshot,
} from '../../src/contract/snapshot.ts';
import { CollectorStore } from '../../src/collector/store.ts';
import { mergedRun, type MergedRun } from '../../src/collector/summary.ts';
import { mulberry32 } from '../../src/engine/random.ts';

/** A producer-side histogram (32-bit counts, HDR_CONFIG), as src/k6/hdr.ts and the tap build them. */
export function producerHistogram(values: readonly number[] = []): hdr.Histogram {
  const h = hdr.build({ ...HDR_CONFIG, useWebAssembly: false });
  for (const v of values) h.recordValue(v);
  return h;
}

/** `values` (µs) as a snapshot's `hdr` field. */
export function encode(values: readonly number[]): string {
  return hdr.encodeIntoCompressedBase64(producerHistogram(values));
}

/** A deterministic PRNG (mulberry32), so failures replay. */
export const rng = mulberry32;

/** Latency-like µs values: log-normal around ~2 ms with a long tail, as integers. */
export function latencies(random: () => number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = Math.max(random(), 1e-12);
    const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    out.push(Math.min(Math.round(Math.exp(7.6 + 1.2 * g)), 600_000_000));
  }
  return out;
}

export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    version: SNAPSHOT_VERSION,
    runId: 'run-1',
    instance: 'pod-a',
    scenario: 'chat',
    transport: 'websocket',
    vu: 1,
    seq: 0,
    final: false,
    intervalStartMs: 1_700_000_000_000,
    intervalEndMs: 1_700_000_005_000,
    histograms: [],
    counters: [],
    gauges: [],
    ...over,
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw POST (node:http, so a test controls headers and bodies that fetch would refuse to send). */
export function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** 90 samples of `median` and 10 of `tail` (µs): p(50) and p(90) read the median's HDR bucket, p(99) the tail's. */
export function medianAndTail(median: number, tail: number): number[] {
  return [...Array<number>(90).fill(median), ...Array<number>(10).fill(tail)];
}

export interface ChatRunSpec {
  /** xmpp_session_ready samples, µs. */
  ready?: number[];
  /** xmpp_message_delivery samples, µs. */
  delivery?: number[];
  /** Logins that succeeded, failed. */
  login?: [number, number];
  /** Messages lost, delivered. */
  loss?: [number, number];
  /** Session failures (reason timeout:bind). */
  failures?: number;
  scenario?: string;
}

/** A merged chat-like run over 10 s, built the way the collector builds one from a producer's snapshot. */
export function chatRun(runId: string, spec: ChatRunSpec): MergedRun {
  const histograms: HistogramEntry[] = [];
  if (spec.ready) histograms.push({ name: 'xmpp_session_ready', hdr: encode(spec.ready) });
  if (spec.delivery) histograms.push({ name: 'xmpp_message_delivery', hdr: encode(spec.delivery) });
  const counters: CounterEntry[] = [];
  const rate = (name: string, trues: number, falses: number): void => {
    // Producers send no zero deltas.
    if (trues > 0) counters.push({ name, labels: { outcome: 'true' }, delta: trues });
    if (falses > 0) counters.push({ name, labels: { outcome: 'false' }, delta: falses });
  };
  if (spec.login) rate('xmpp_login_success', ...spec.login);
  if (spec.loss) rate('xmpp_message_loss', ...spec.loss);
  if (spec.failures) {
    counters.push({
      name: 'xmpp_session_failures',
      labels: { reason: 'timeout:bind' },
      delta: spec.failures,
    });
  }
  const store = new CollectorStore();
  store.ingest(
    snapshot({
      runId,
      scenario: spec.scenario ?? 'chat',
      intervalEndMs: 1_700_000_010_000,
      histograms,
      counters,
    }),
  );
  return mergedRun(store.run(runId)!);
}
