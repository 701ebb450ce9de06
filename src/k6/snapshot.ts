/**
 * What one VU has recorded since its last snapshot: HDR latencies, counter deltas and gauge readings, taken as
 * a collector Snapshot (src/contract/snapshot.ts). Pure: no k6 import, so it runs under plain Node as well.
 */
import {
  SNAPSHOT_VERSION,
  type CounterEntry,
  type GaugeEntry,
  type Snapshot,
  type SnapshotSource,
} from '../contract/snapshot.ts';
import { HdrSet, seriesKey, type Labels } from './hdr.ts';

export class SnapshotRecorder {
  private readonly hdr = new HdrSet();
  private readonly counters = new Map<string, CounterEntry>();
  private readonly gauges = new Map<string, GaugeEntry>();
  private nextSeq = 0;
  private intervalStart: number | undefined;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** A Trend value in ms, into the HDR histogram of `name` (µs). */
  latency(name: string, ms: number, labels?: Labels): void {
    this.begin();
    this.hdr.record(name, ms, labels);
  }

  /** A counter increment; snapshots carry the sum since the previous one. */
  count(name: string, delta: number, labels?: Labels): void {
    if (!Number.isFinite(delta) || delta === 0) return;
    this.begin();
    const k = seriesKey(name, labels);
    const c = this.counters.get(k);
    if (c !== undefined) c.delta += delta;
    else
      this.counters.set(k, labels === undefined ? { name, delta } : { name, labels: { ...labels }, delta });
  }

  /** A gauge's current value; every later snapshot reports the latest one. */
  gauge(name: string, value: number, labels?: Labels): void {
    this.begin();
    const k = seriesKey(name, labels);
    const g = this.gauges.get(k);
    if (g !== undefined) g.value = value;
    else this.gauges.set(k, labels === undefined ? { name, value } : { name, labels: { ...labels }, value });
  }

  /** Starts the first interval if nothing has yet (later intervals start where the previous one ended). */
  begin(): void {
    this.intervalStart ??= this.now();
  }

  /** Everything since the previous snapshot (histograms and counters are reset), and starts the next interval. */
  take(source: SnapshotSource, vu: number, final: boolean): Snapshot {
    const end = this.now();
    const counters: CounterEntry[] = [];
    for (const c of this.counters.values()) {
      if (c.delta === 0) continue;
      counters.push(
        c.labels === undefined ? { name: c.name, delta: c.delta } : { ...c, labels: { ...c.labels } },
      );
      c.delta = 0;
    }
    const snapshot: Snapshot = {
      version: SNAPSHOT_VERSION,
      runId: source.runId,
      instance: source.instance,
      scenario: source.scenario,
      transport: source.transport,
      vu,
      seq: this.nextSeq++,
      final,
      intervalStartMs: this.intervalStart ?? end,
      intervalEndMs: end,
      histograms: this.hdr.drain(),
      counters,
      gauges: [...this.gauges.values()].map((g) => ({ ...g })),
    };
    this.intervalStart = end;
    return snapshot;
  }
}
