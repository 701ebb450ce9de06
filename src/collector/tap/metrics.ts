/**
 * The tap's metric registry: HDR histograms, counters and one gauge, flushed as collector Snapshots (deltas per
 * interval, histograms reset after each flush). Values are recorded as integers; histograms use HDR_CONFIG so
 * the collector merges them losslessly with every other producer's.
 */
import * as hdr from 'hdr-histogram-js';
import {
  HDR_CONFIG,
  SNAPSHOT_VERSION,
  type CounterEntry,
  type GaugeEntry,
  type HistogramEntry,
  type Snapshot,
} from '../../contract/snapshot.ts';
import { TAP_METRICS } from '../../contract/tap-metric-names.ts';

type Labels = Record<string, string>;

/** One histogram series; hold on to it to record without a lookup. */
export interface HistSeries {
  readonly name: string;
  readonly labels: Labels | undefined;
  readonly h: hdr.Histogram;
}

/** One counter series; hold on to it to count without a lookup. */
export interface CounterSeries {
  readonly name: string;
  readonly labels: Labels | undefined;
  delta: number;
}

function key(name: string, labels: Labels | undefined): string {
  if (!labels) return name;
  let k = name;
  for (const l of Object.keys(labels).sort()) k += `\u0000${l}=${labels[l]}`;
  return k;
}

export function newHistogram(): hdr.Histogram {
  return hdr.build({ ...HDR_CONFIG, useWebAssembly: false });
}

/** Records `v` clamped into the range HDR_CONFIG can hold, as an integer. */
export function recordInto(s: HistSeries, v: number): void {
  s.h.recordValue(v > 0 ? Math.min(Math.round(v), HDR_CONFIG.highestTrackableValue) : 0);
}

export class TapMetrics {
  private readonly hists = new Map<string, HistSeries>();
  private readonly counters = new Map<string, CounterSeries>();
  private seq = 0;
  private intervalStart = Date.now();
  /** Current value of tap_connections. */
  connections = 0;

  constructor(
    private readonly source: { runId: string; instance: string; transport: 'websocket' | 'bosh' },
  ) {}

  /** The series for name + labels, created on first use; series live as long as the registry. */
  histogram(name: string, labels?: Labels): HistSeries {
    const k = key(name, labels);
    let s = this.hists.get(k);
    if (!s) {
      s = { name, labels: labels && { ...labels }, h: newHistogram() };
      this.hists.set(k, s);
    }
    return s;
  }

  counter(name: string, labels?: Labels): CounterSeries {
    const k = key(name, labels);
    let s = this.counters.get(k);
    if (!s) {
      s = { name, labels: labels && { ...labels }, delta: 0 };
      this.counters.set(k, s);
    }
    return s;
  }

  record(name: string, labels: Labels | undefined, value: number): void {
    recordInto(this.histogram(name, labels), value);
  }

  count(name: string, labels: Labels | undefined, n = 1): void {
    this.counter(name, labels).delta += n;
  }

  /** Everything recorded since the previous flush, then starts a new interval. */
  flush(final: boolean): Snapshot {
    const now = Date.now();
    const histograms: HistogramEntry[] = [];
    for (const s of this.hists.values()) {
      if (s.h.totalCount === 0) continue;
      const e: HistogramEntry = { name: s.name, hdr: hdr.encodeIntoCompressedBase64(s.h) };
      if (s.labels) e.labels = { ...s.labels };
      histograms.push(e);
      s.h.reset();
    }
    const counters: CounterEntry[] = [];
    for (const s of this.counters.values()) {
      if (s.delta === 0) continue;
      const e: CounterEntry = { name: s.name, delta: s.delta };
      if (s.labels) e.labels = { ...s.labels };
      counters.push(e);
      s.delta = 0;
    }
    const gauges: GaugeEntry[] = [{ name: TAP_METRICS.connections, value: this.connections }];
    const snap: Snapshot = {
      version: SNAPSHOT_VERSION,
      runId: this.source.runId,
      instance: this.source.instance,
      scenario: '',
      transport: this.source.transport,
      vu: 0,
      seq: this.seq++,
      final,
      intervalStartMs: this.intervalStart,
      intervalEndMs: now,
      histograms,
      counters,
      gauges,
    };
    this.intervalStart = now;
    return snap;
  }
}
