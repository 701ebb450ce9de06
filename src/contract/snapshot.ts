/**
 * The collector's contracts, shared by every producer (k6 VUs, the Node engine, the tap) and the collector
 * itself. Pure types and constants: no Node or k6 import, so k6 bundles can use them.
 *
 * Latencies travel as HdrHistogram V2 compressed-base64 snapshots (hdr-histogram-js
 * `encodeIntoCompressedBase64`), values in MICROSECONDS, so VU latencies (ms from Date.now(), × 1000) and
 * tap parse times (µs) share one format and merge losslessly.
 */

/** HDR configuration every producer uses; histograms only merge losslessly when these agree. */
export const HDR_CONFIG = {
  lowestDiscernibleValue: 1,
  /** One hour in µs. */
  highestTrackableValue: 3_600_000_000,
  numberOfSignificantValueDigits: 3,
} as const;

export const SNAPSHOT_VERSION = 1;

/** Where snapshots are POSTed (JSON body, `Content-Type: application/json`). */
export const SNAPSHOT_PATH = '/v1/snapshots';

/** The env var that tells a k6 script where the collector is (unset: no snapshots are sent). */
export const COLLECTOR_URL_ENV = 'STARLING_COLLECTOR_URL';
/** Optional bearer token for the collector (`Authorization: Bearer <token>`). */
export const COLLECTOR_TOKEN_ENV = 'STARLING_COLLECTOR_TOKEN';
/** Run id shared by every generator of one run (the collector groups results by it). */
export const RUN_ID_ENV = 'STARLING_RUN_ID';

/**
 * What the Node engine reports about itself (src/engine/health.ts), as a producer of its own: VU 0 of its
 * instance, every series labelled `generator` (its instance name, since the collector merges instances away).
 * k6 runs send none of these.
 */
export const GENERATOR_METRICS = {
  /** Histogram, µs: how late a timer due every 10 ms fired, coordinated-omission corrected. */
  eventLoopDelay: 'generator_event_loop_delay',
  /** Counter, seconds: CPU time (user + system) of the process; its rate is the share of one core. */
  cpuSeconds: 'generator_cpu_seconds',
  /** Counter, seconds: time the event loop was busy; its rate is the event-loop utilization. */
  eventLoopBusySeconds: 'generator_event_loop_busy_seconds',
  /** Gauge: 1 once the generator's saturation rule has tripped in this run, else 0. */
  saturated: 'generator_saturated',
} as const;

/** Labels that identify one producer's series. */
export interface SnapshotSource {
  runId: string;
  /** Generator instance: k6-operator pod / hostname + pid / 'tap'. */
  instance: string;
  scenario: string;
  /** 'websocket' | 'bosh' | '' when not applicable. */
  transport: string;
}

/** One histogram in a snapshot: a metric name plus extra labels (e.g. tap `direction`, `element`). */
export interface HistogramEntry {
  name: string;
  labels?: Record<string, string>;
  /** HdrHistogram V2 compressed, base64; values in µs; covers only this snapshot's interval. */
  hdr: string;
}

/** A counter increment over this snapshot's interval (deltas, so merging is a sum). */
export interface CounterEntry {
  name: string;
  labels?: Record<string, string>;
  /** Finite, 0 to 2^53 − 1; the collector refuses a snapshot that would take the merged sum past 2^53 − 1. */
  delta: number;
}

/** A gauge reading at the end of the interval (the collector sums gauges across instances). */
export interface GaugeEntry {
  name: string;
  labels?: Record<string, string>;
  /** Finite, within ±(2^53 − 1), and so must be the sum across producers. */
  value: number;
}

/**
 * One producer's data for one interval. Producers flush every few seconds and once more at the end of the
 * run with `final: true`. `seq` increases by one per producer (per runId + instance + vu) so the collector can
 * drop duplicates of a retried POST.
 */
export interface Snapshot extends SnapshotSource {
  version: typeof SNAPSHOT_VERSION;
  /** VU number inside the instance (0 for non-VU producers: the tap, the Node engine's own health). */
  vu: number;
  seq: number;
  final: boolean;
  /** Epoch ms. */
  intervalStartMs: number;
  intervalEndMs: number;
  histograms: HistogramEntry[];
  counters: CounterEntry[];
  gauges: GaugeEntry[];
}
