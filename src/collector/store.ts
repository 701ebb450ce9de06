/**
 * The collector's state: snapshots validated, de-duplicated per producer (runId + instance + vu, by seq) and
 * merged into fleet-wide series keyed by run, metric, scenario, transport and the entry's own labels (the
 * producing instance is not part of the key: that is what merging across a fleet means).
 *
 * - Histograms: one cumulative HDR histogram per series, plus per-interval ones on an aligned grid
 *   (`intervalMs`, 5 s by default). A snapshot goes to the interval that holds the middle of its own
 *   [intervalStartMs, intervalEndMs]. The two most recent intervals of a run stay as sparse counts; older ones
 *   are kept HDR-compressed (a late snapshot re-opens its interval).
 * - Counters: deltas summed.
 * - Gauges: the last value of each producer (by seq), summed across producers.
 */
import type * as hdr from 'hdr-histogram-js';
import { SNAPSHOT_VERSION } from './contract.ts';
import {
  addSparse,
  addSparseToMap,
  decodeSparse,
  encodeHistogram,
  HdrDecodeError,
  histogramFromSparse,
  newHistogram,
  sparseFromMap,
  type SparseCounts,
} from './histogram.ts';

export type Labels = Readonly<Record<string, string>>;

/** A snapshot the collector refuses; `field` names the offending part, e.g. `histograms[2].hdr`. */
export class SnapshotError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'SnapshotError';
  }
}

/**
 * Rate metrics (k6 `Rate`) travel as counters of the same name with this label set to `true` or `false`: the
 * rate is trues ÷ (trues + falses), in Prometheus as in `gate`.
 */
export const RATE_OUTCOME_LABEL = 'outcome';

/** k6's metric-name rule (so every name the collector accepts is one a k6 threshold can name). */
const METRIC_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]{1,128}$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;
/** Run ids name a directory under the results root: no separators, no dot-dot. */
const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Labels the collector sets itself (or Prometheus does): an entry may not carry them. */
export const RESERVED_LABELS: readonly string[] = [
  'run_id',
  'scenario',
  'transport',
  'instance',
  'job',
  'le',
  'percentile',
];
const MAX_LABELS = 16;
const MAX_LABEL_VALUE = 256;
/** Seqs above a producer's contiguous watermark remembered at most; older gaps count as lost. */
const MAX_PENDING_SEQS = 64;

export interface SeriesId {
  name: string;
  scenario: string;
  transport: string;
  labels: Labels;
}

export interface HistogramSeries extends SeriesId {
  key: string;
  cumulative: hdr.JsHistogram;
  /** Bumped on every merge, so renderers can cache. */
  version: number;
  /** Interval start (epoch ms) → sparse counts, for the recent intervals. */
  hot: Map<number, Map<number, number>>;
  /** Interval start → HDR compressed base64, for older ones. */
  frozen: Map<number, string>;
}

export interface ScalarSeries extends SeriesId {
  key: string;
  value: number;
}

export interface IntervalCounts {
  startMs: number;
  endMs: number;
  counts: SparseCounts;
}

interface Producer {
  instance: string;
  vu: number;
  /** Every seq below this one has been seen (or is given up as lost). */
  below: number;
  seen: Set<number>;
  snapshots: number;
  final: boolean;
  /** Gauge series key → the producer's latest reading. */
  gauges: Map<string, { seq: number; value: number }>;
}

interface ValidEntry {
  key: string;
  name: string;
  labels: Labels;
}

interface ValidSnapshot {
  runId: string;
  instance: string;
  scenario: string;
  transport: string;
  vu: number;
  seq: number;
  final: boolean;
  intervalStartMs: number;
  intervalEndMs: number;
  histograms: (ValidEntry & { counts: SparseCounts })[];
  counters: (ValidEntry & { delta: number })[];
  gauges: (ValidEntry & { value: number })[];
}

export class RunState {
  readonly histograms = new Map<string, HistogramSeries>();
  readonly counters = new Map<string, ScalarSeries>();
  readonly gauges = new Map<string, ScalarSeries>();
  readonly producers = new Map<string, Producer>();
  snapshots = 0;
  duplicates = 0;
  rejected = 0;
  /** Earliest intervalStartMs and latest intervalEndMs of the accepted snapshots. */
  startMs = Number.POSITIVE_INFINITY;
  endMs = Number.NEGATIVE_INFINITY;
  /** Wall-clock time of the last snapshot (accepted or duplicate). */
  lastSnapshotAt = 0;
  private latestInterval = Number.NEGATIVE_INFINITY;

  constructor(
    readonly runId: string,
    readonly intervalMs: number,
  ) {}

  get seriesCount(): number {
    return this.histograms.size + this.counters.size + this.gauges.size;
  }

  /** Generator instances seen, sorted. */
  instances(): string[] {
    return [...new Set([...this.producers.values()].map((p) => p.instance))].sort();
  }

  /** Whether every producer seen so far has sent its final snapshot. */
  allFinal(): boolean {
    if (this.producers.size === 0) return false;
    for (const p of this.producers.values()) if (!p.final) return false;
    return true;
  }

  finalProducers(): number {
    let n = 0;
    for (const p of this.producers.values()) if (p.final) n++;
    return n;
  }

  /** A series' interval histograms, oldest first. */
  intervals(s: HistogramSeries): IntervalCounts[] {
    const starts = [...new Set([...s.hot.keys(), ...s.frozen.keys()])].sort((a, b) => a - b);
    return starts.map((startMs) => {
      const hot = s.hot.get(startMs);
      const counts = hot ? sparseFromMap(hot) : decodeSparse(s.frozen.get(startMs) as string);
      return { startMs, endMs: startMs + this.intervalMs, counts };
    });
  }

  /** Interval start for a snapshot: the aligned interval holding the middle of its own interval. */
  intervalOf(snap: { intervalStartMs: number; intervalEndMs: number }): number {
    const mid = (snap.intervalStartMs + snap.intervalEndMs) / 2;
    return Math.floor(mid / this.intervalMs) * this.intervalMs;
  }

  apply(snap: ValidSnapshot, producer: Producer, now: number): void {
    const interval = this.intervalOf(snap);
    for (const e of snap.histograms) {
      let s = this.histograms.get(e.key);
      if (!s) {
        s = {
          ...seriesId(snap, e),
          key: e.key,
          cumulative: newHistogram(),
          version: 0,
          hot: new Map(),
          frozen: new Map(),
        };
        this.histograms.set(e.key, s);
      }
      addSparse(s.cumulative, e.counts);
      s.version++;
      let slot = s.hot.get(interval);
      if (!slot) {
        slot = new Map();
        const frozen = s.frozen.get(interval);
        if (frozen !== undefined) {
          addSparseToMap(slot, decodeSparse(frozen));
          s.frozen.delete(interval);
        }
        s.hot.set(interval, slot);
      }
      addSparseToMap(slot, e.counts);
    }
    for (const e of snap.counters) {
      let s = this.counters.get(e.key);
      if (!s) {
        s = { ...seriesId(snap, e), key: e.key, value: 0 };
        this.counters.set(e.key, s);
      }
      s.value += e.delta;
    }
    for (const e of snap.gauges) {
      let s = this.gauges.get(e.key);
      if (!s) {
        s = { ...seriesId(snap, e), key: e.key, value: 0 };
        this.gauges.set(e.key, s);
      }
      const last = producer.gauges.get(e.key);
      if (last === undefined) {
        producer.gauges.set(e.key, { seq: snap.seq, value: e.value });
        s.value += e.value;
      } else if (snap.seq >= last.seq) {
        s.value += e.value - last.value;
        last.seq = snap.seq;
        last.value = e.value;
      }
    }
    producer.snapshots++;
    if (snap.final) producer.final = true;
    this.snapshots++;
    this.startMs = Math.min(this.startMs, snap.intervalStartMs);
    this.endMs = Math.max(this.endMs, snap.intervalEndMs);
    this.lastSnapshotAt = now;
    if (interval > this.latestInterval) {
      this.latestInterval = interval;
      this.freezeBefore(interval - this.intervalMs);
    }
  }

  /** Compresses every hot interval older than `startMs`. */
  private freezeBefore(startMs: number): void {
    for (const s of this.histograms.values()) {
      for (const [start, slot] of s.hot) {
        if (start >= startMs) continue;
        s.frozen.set(start, encodeHistogram(histogramFromSparse(sparseFromMap(slot))));
        s.hot.delete(start);
      }
    }
  }
}

function seriesId(snap: ValidSnapshot, e: ValidEntry): SeriesId {
  return { name: e.name, scenario: snap.scenario, transport: snap.transport, labels: e.labels };
}

export type IngestResult = { status: 'accepted' | 'duplicate'; runId: string };

export interface CollectorStoreOptions {
  /** Per-interval histogram width, ms (default 5000). */
  intervalMs?: number;
  /** Histogram + counter + gauge series one run may have (default 10,000): guards against a label explosion. */
  maxSeriesPerRun?: number;
  now?: () => number;
}

export class CollectorStore {
  readonly intervalMs: number;
  readonly maxSeriesPerRun: number;
  private readonly runsById = new Map<string, RunState>();
  private readonly now: () => number;
  /** Snapshots refused, by reason (`invalid`, or the HTTP layer's `unauthorized`, `too-large`, …). */
  readonly rejected = new Map<string, number>();

  constructor(opts: CollectorStoreOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 5000;
    if (!(Number.isInteger(this.intervalMs) && this.intervalMs > 0)) {
      throw new RangeError(`intervalMs must be a positive integer, got ${this.intervalMs}`);
    }
    this.maxSeriesPerRun = opts.maxSeriesPerRun ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  run(runId: string): RunState | undefined {
    return this.runsById.get(runId);
  }

  runs(): RunState[] {
    return [...this.runsById.values()];
  }

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /**
   * Validates and merges one snapshot (the parsed JSON body). Throws {@link SnapshotError} for an invalid one,
   * which is then counted as rejected (against its run too, when its runId is valid).
   */
  ingest(body: unknown): IngestResult {
    let snap: ValidSnapshot;
    try {
      snap = validateSnapshot(body);
    } catch (err) {
      this.reject('invalid');
      const runId = (body as { runId?: unknown } | null)?.runId;
      if (typeof runId === 'string' && RUN_ID_RE.test(runId)) this.runFor(runId).rejected++;
      throw err;
    }
    const run = this.runFor(snap.runId);
    const pkey = `${snap.instance}\u0000${snap.vu}`;
    let producer = run.producers.get(pkey);
    if (producer && (snap.seq < producer.below || producer.seen.has(snap.seq))) {
      run.duplicates++;
      run.lastSnapshotAt = this.now();
      return { status: 'duplicate', runId: snap.runId };
    }
    this.checkSeriesLimit(run, snap);
    if (!producer) {
      producer = {
        instance: snap.instance,
        vu: snap.vu,
        below: 0,
        seen: new Set(),
        snapshots: 0,
        final: false,
        gauges: new Map(),
      };
      run.producers.set(pkey, producer);
    }
    markSeen(producer, snap.seq);
    run.apply(snap, producer, this.now());
    return { status: 'accepted', runId: snap.runId };
  }

  private runFor(runId: string): RunState {
    let run = this.runsById.get(runId);
    if (!run) {
      run = new RunState(runId, this.intervalMs);
      this.runsById.set(runId, run);
    }
    return run;
  }

  private checkSeriesLimit(run: RunState, snap: ValidSnapshot): void {
    let added = 0;
    const check = (list: ValidEntry[], have: Map<string, unknown>, field: string): void => {
      list.forEach((e, i) => {
        if (have.has(e.key)) return;
        added++;
        if (run.seriesCount + added > this.maxSeriesPerRun) {
          this.reject('invalid');
          run.rejected++;
          throw new SnapshotError(
            `${field}[${i}]`,
            `run ${run.runId} already has ${run.seriesCount} series, the limit (a label with unbounded values?)`,
          );
        }
      });
    };
    check(snap.histograms, run.histograms, 'histograms');
    check(snap.counters, run.counters, 'counters');
    check(snap.gauges, run.gauges, 'gauges');
  }
}

function markSeen(p: Producer, seq: number): void {
  p.seen.add(seq);
  if (p.seen.size > MAX_PENDING_SEQS) p.below = Math.min(...p.seen);
  while (p.seen.has(p.below)) p.seen.delete(p.below++);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function str(o: Record<string, unknown>, field: string, max: number, allowEmpty: boolean): string {
  const v = o[field];
  if (typeof v !== 'string') throw new SnapshotError(field, `must be a string, got ${describe(v)}`);
  if (!allowEmpty && v === '') throw new SnapshotError(field, 'must not be empty');
  if (v.length > max) throw new SnapshotError(field, `longer than ${max} characters`);
  return v;
}

function count(o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new SnapshotError(field, `must be a non-negative integer, got ${describe(v)}`);
  }
  return v;
}

function epochMs(o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new SnapshotError(field, `must be epoch milliseconds, got ${describe(v)}`);
  }
  return v;
}

function labelsOf(v: unknown, field: string): Labels {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new SnapshotError(field, `must be an object of strings, got ${describe(v)}`);
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_LABELS) throw new SnapshotError(field, `more than ${MAX_LABELS} labels`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!LABEL_NAME_RE.test(k) || k.startsWith('__')) {
      throw new SnapshotError(`${field}.${k}`, 'is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)');
    }
    if (RESERVED_LABELS.includes(k)) {
      throw new SnapshotError(`${field}.${k}`, 'is reserved (the collector sets it)');
    }
    if (typeof val !== 'string')
      throw new SnapshotError(`${field}.${k}`, `must be a string, got ${describe(val)}`);
    if (val.length > MAX_LABEL_VALUE) {
      throw new SnapshotError(`${field}.${k}`, `longer than ${MAX_LABEL_VALUE} characters`);
    }
    out[k] = val;
  }
  return out;
}

function entriesOf<T>(
  o: Record<string, unknown>,
  field: 'histograms' | 'counters' | 'gauges',
  scenario: string,
  transport: string,
  each: (e: Record<string, unknown>, at: string) => T,
): (ValidEntry & T)[] {
  const list = o[field];
  if (!Array.isArray(list)) throw new SnapshotError(field, `must be an array, got ${describe(list)}`);
  return list.map((raw: unknown, i) => {
    const at = `${field}[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new SnapshotError(at, `must be an object, got ${describe(raw)}`);
    }
    const e = raw as Record<string, unknown>;
    const name = e['name'];
    if (typeof name !== 'string' || !METRIC_NAME_RE.test(name)) {
      throw new SnapshotError(
        `${at}.name`,
        `must be a k6 metric name ([a-zA-Z_][a-zA-Z0-9_]{1,128}), got ${describe(name)}`,
      );
    }
    const labels = labelsOf(e['labels'], `${at}.labels`);
    const key = JSON.stringify([name, scenario, transport, Object.entries(labels)]);
    return { key, name, labels, ...each(e, at) };
  });
}

/** Checks a parsed body against the Snapshot contract and decodes its histograms. */
function validateSnapshot(body: unknown): ValidSnapshot {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new SnapshotError('body', `must be a JSON object (a Snapshot), got ${describe(body)}`);
  }
  const o = body as Record<string, unknown>;
  if (o['version'] !== SNAPSHOT_VERSION) {
    throw new SnapshotError('version', `must be ${SNAPSHOT_VERSION}, got ${describe(o['version'])}`);
  }
  const runId = str(o, 'runId', 128, false);
  if (!RUN_ID_RE.test(runId)) {
    throw new SnapshotError('runId', 'must be letters, digits, ".", "_" or "-", not starting with a symbol');
  }
  const instance = str(o, 'instance', 256, false);
  const scenario = str(o, 'scenario', 128, true);
  const transport = str(o, 'transport', 64, true);
  const vu = count(o, 'vu');
  const seq = count(o, 'seq');
  if (typeof o['final'] !== 'boolean') {
    throw new SnapshotError('final', `must be a boolean, got ${describe(o['final'])}`);
  }
  const intervalStartMs = epochMs(o, 'intervalStartMs');
  const intervalEndMs = epochMs(o, 'intervalEndMs');
  if (intervalEndMs < intervalStartMs) throw new SnapshotError('intervalEndMs', 'is before intervalStartMs');
  const histograms = entriesOf(o, 'histograms', scenario, transport, (e, at) => {
    const b64 = e['hdr'];
    if (typeof b64 !== 'string')
      throw new SnapshotError(`${at}.hdr`, `must be a string, got ${describe(b64)}`);
    try {
      return { counts: decodeSparse(b64) };
    } catch (err) {
      if (err instanceof HdrDecodeError) throw new SnapshotError(`${at}.hdr`, err.message);
      throw err;
    }
  });
  const counters = entriesOf(o, 'counters', scenario, transport, (e, at) => {
    const delta = e['delta'];
    if (typeof delta !== 'number' || !Number.isFinite(delta) || delta < 0) {
      throw new SnapshotError(`${at}.delta`, `must be a finite number ≥ 0, got ${describe(delta)}`);
    }
    return { delta };
  });
  const gauges = entriesOf(o, 'gauges', scenario, transport, (e, at) => {
    const value = e['value'];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new SnapshotError(`${at}.value`, `must be a finite number, got ${describe(value)}`);
    }
    return { value };
  });
  return {
    runId,
    instance,
    scenario,
    transport,
    vu,
    seq,
    final: o['final'],
    intervalStartMs,
    intervalEndMs,
    histograms,
    counters,
    gauges,
  };
}
