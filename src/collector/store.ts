/**
 * The collector's state: snapshots validated, de-duplicated per producer (runId + instance + vu, by seq) and
 * merged into fleet-wide series keyed by run, metric, scenario, transport and the entry's own labels (the
 * producing instance is not part of the key: that is what merging across a fleet means).
 *
 * - Histograms: one cumulative HDR histogram per series, plus per-interval ones on an aligned grid
 *   (`intervalMs`, 5 s by default). A snapshot goes to the interval that holds the middle of its own
 *   [intervalStartMs, intervalEndMs]. The two most recent intervals of a run stay as sparse counts; older ones
 *   are kept HDR-compressed (a late snapshot re-opens its interval).
 * - Counters: deltas summed. Gauges: the last value of each producer (by seq), summed across producers. Both
 *   stay within ±(2^53 − 1), where float64 still counts by ones: a snapshot that would leave that range is
 *   refused, so a merged value is never Infinity (which JSON writes as null).
 *
 * Memory is bounded (the server finishes runs and calls {@link CollectorStore.evict}): at most `maxRuns` runs,
 * `maxSeriesPerRun` series per run and `maxBytes` of estimated run data (see {@link RunState.estimatedBytes}).
 * Every check runs before anything is merged, so a refused snapshot changes nothing and its seq stays unused.
 */
import type * as hdr from 'hdr-histogram-js';
import { SNAPSHOT_VERSION } from '../contract/snapshot.ts';
import {
  addSparse,
  addSparseToMap,
  COUNTS_LENGTH,
  decodeSparse,
  encodeSparse,
  HdrDecodeError,
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

/** The collector's limits, by the `starling collect` flag that sets each. */
export type Cap = 'max-runs' | 'max-series' | 'max-memory';

/**
 * A snapshot refused because a limit is reached; `field` names the entry (or `runId`) that would cross it.
 * `retryable`: room frees up when other runs finish (runs, memory), so a later retry can succeed; a run's own
 * series count (max-series) only goes down when the run ends, so retrying the same snapshot never helps.
 */
export class CapacityError extends Error {
  constructor(
    readonly cap: Cap,
    readonly limit: number,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'CapacityError';
  }

  get retryable(): boolean {
    return this.cap !== 'max-series';
  }
}

/** Why a run was finished (written to results/<runId>/ and dropped from memory). */
export type FinishReason = 'final' | 'idle' | 'requested' | 'room' | 'on-disk';

const FINISH_REASONS: Record<FinishReason, string> = {
  final: 'every producer sent its final snapshot',
  idle: 'no snapshot came for the idle timeout (--run-idle-timeout)',
  requested: 'the collector was stopped or asked to finish it',
  room: 'every producer had sent its final snapshot, and a new run needed the room',
  'on-disk': 'its merged.json was already written, by this collector or an earlier one',
};

export interface FinishedRun {
  reason: FinishReason;
  /** Wall-clock ms when it was finished (undefined for a run found on disk). */
  atMs?: number;
}

/**
 * A snapshot for a finished run. Its results are written and its state is gone, so merging more would either
 * be lost or overwrite them with part of the data: the producer is told (HTTP 409) instead.
 */
export class RunFinishedError extends Error {
  readonly field = 'runId';
  constructor(
    readonly runId: string,
    readonly finished: FinishedRun,
  ) {
    super(
      `run ${runId} is finished (${FINISH_REASONS[finished.reason]}) and its results are written: it takes no ` +
        `more snapshots. Give a new run a new STARLING_RUN_ID` +
        (finished.reason === 'final' || finished.reason === 'room'
          ? '; if a generator of this run reports after the others finished, raise --finish-delay'
          : finished.reason === 'idle'
            ? '; if its generators pause for longer, raise --run-idle-timeout'
            : ''),
    );
    this.name = 'RunFinishedError';
  }
}

/**
 * Rate metrics (k6 `Rate`) travel as counters of the same name with this label set to `true` or `false`: the
 * rate is trues ÷ (trues + falses), in Prometheus as in `gate`.
 */
export const RATE_OUTCOME_LABEL = 'outcome';

/** Largest counter delta, gauge magnitude and merged sum: past 2^53 − 1 a float64 no longer counts by ones. */
export const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/**
 * What the parts of a run cost in memory, bytes: a heap census (heapUsed + external after GC, thousands of each
 * part) is within 12 % of these, the estimate being the larger. The cumulative histogram dominates: HDR_CONFIG's
 * 23,552 float64 counters; the rest of a histogram series is its object, key, labels and cached Prometheus lines.
 */
export const MEMORY_COST = {
  histogramSeries: COUNTS_LENGTH * 8 + 8 * 1024,
  /** One index → count entry of a recent interval's sparse counts. */
  hotEntry: 64,
  /** One older interval, besides its compressed text (one byte a character). */
  frozenInterval: 96,
  scalarSeries: 640,
  producer: 768,
  run: 4096,
} as const;

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
/** Finished run ids remembered (about 250 bytes each), so a late snapshot is told its run is finished. */
const MAX_FINISHED_REMEMBERED = 10_000;

export interface SeriesId {
  name: string;
  scenario: string;
  transport: string;
  labels: Labels;
}

/** `name{label="value",…}`, as a person reads a series in an error message. */
export function seriesName(name: string, labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`;
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

/** A series a snapshot would create, with the entry that creates it. */
interface NewSeries {
  field: string;
  name: string;
  labels: Labels;
  bytes: number;
}

/** A gauge series' sum after a producer's reading `value` at `seq` (older readings than the last are ignored). */
function gaugeAfter(
  sum: number,
  last: { seq: number; value: number } | undefined,
  seq: number,
  value: number,
): { sum: number; last: { seq: number; value: number } | undefined } {
  if (last === undefined) return { sum: sum + value, last: { seq, value } };
  if (seq < last.seq) return { sum, last };
  return { sum: sum + (value - last.value), last: { seq, value } };
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
  /**
   * Earliest intervalStartMs of the VUs' snapshots (vu > 0): when the load began. The non-VU producers (a Node
   * generator's health, the tap) start with their process, before the VUs' start-up.
   */
  loadStartMs = Number.POSITIVE_INFINITY;
  /** Wall-clock time of the last snapshot (accepted, duplicate or refused): what the idle timeout counts from. */
  lastSnapshotAt = 0;
  /** Set once the run is being written out: from then on it takes no new data. */
  finishing: FinishReason | undefined;
  private latestInterval = Number.NEGATIVE_INFINITY;
  private hotEntries = 0;
  private frozenIntervals = 0;
  private frozenChars = 0;

  constructor(
    readonly runId: string,
    readonly intervalMs: number,
  ) {}

  get seriesCount(): number {
    return this.histograms.size + this.counters.size + this.gauges.size;
  }

  /**
   * What this run holds in memory, estimated from its parts (MEMORY_COST) in O(1): kept up to date as
   * snapshots merge, so the store can check its budget on every snapshot.
   */
  get estimatedBytes(): number {
    return (
      MEMORY_COST.run +
      this.histograms.size * MEMORY_COST.histogramSeries +
      (this.counters.size + this.gauges.size) * MEMORY_COST.scalarSeries +
      this.producers.size * MEMORY_COST.producer +
      this.hotEntries * MEMORY_COST.hotEntry +
      this.frozenIntervals * MEMORY_COST.frozenInterval +
      this.frozenChars
    );
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

  /**
   * The series `snap` would create, in entry order, after checking that every merged value stays exact
   * (histogram sample counts and counter sums ≤ 2^53 − 1, gauge sums within ±(2^53 − 1)). Merges nothing.
   */
  preview(snap: ValidSnapshot, producer: Producer | undefined): NewSeries[] {
    const added: NewSeries[] = [];
    const totals = new Map<string, number>();
    snap.histograms.forEach((e, i) => {
      const s = this.histograms.get(e.key);
      if (!s && !totals.has(e.key)) {
        added.push({ field: `histograms[${i}]`, ...e, bytes: MEMORY_COST.histogramSeries });
      }
      const total = (totals.get(e.key) ?? s?.cumulative.totalCount ?? 0) + e.counts.total;
      if (total > MAX_EXACT) {
        throw new SnapshotError(
          `histograms[${i}].hdr`,
          `would take the sample count of ${seriesName(e.name, e.labels)} to ${total}, past 2^53 − 1 ` +
            `(${MAX_EXACT}), where counts stop being exact`,
        );
      }
      totals.set(e.key, total);
    });
    const sums = new Map<string, number>();
    snap.counters.forEach((e, i) => {
      const s = this.counters.get(e.key);
      if (!s && !sums.has(e.key))
        added.push({ field: `counters[${i}]`, ...e, bytes: MEMORY_COST.scalarSeries });
      const sum = (sums.get(e.key) ?? s?.value ?? 0) + e.delta;
      if (sum > MAX_EXACT) {
        throw new SnapshotError(
          `counters[${i}].delta`,
          `would take ${seriesName(e.name, e.labels)} to ${sum}, past 2^53 − 1 (${MAX_EXACT}), where sums ` +
            'stop being exact (a producer adding a wrong value?)',
        );
      }
      sums.set(e.key, sum);
    });
    const gauges = new Map<string, { sum: number; last: { seq: number; value: number } | undefined }>();
    snap.gauges.forEach((e, i) => {
      const s = this.gauges.get(e.key);
      if (!s && !gauges.has(e.key))
        added.push({ field: `gauges[${i}]`, ...e, bytes: MEMORY_COST.scalarSeries });
      const before = gauges.get(e.key) ?? { sum: s?.value ?? 0, last: producer?.gauges.get(e.key) };
      const after = gaugeAfter(before.sum, before.last, snap.seq, e.value);
      if (Math.abs(after.sum) > MAX_EXACT) {
        throw new SnapshotError(
          `gauges[${i}].value`,
          `would take ${seriesName(e.name, e.labels)}, summed across producers, to ${after.sum}, past ` +
            `±(2^53 − 1) (${MAX_EXACT}), where sums stop being exact`,
        );
      }
      gauges.set(e.key, after);
    });
    return added;
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
          this.frozenIntervals--;
          this.frozenChars -= frozen.length;
        }
        s.hot.set(interval, slot);
      }
      const before = slot.size;
      addSparseToMap(slot, e.counts);
      this.hotEntries += slot.size - before;
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
      const { sum, last } = gaugeAfter(s.value, producer.gauges.get(e.key), snap.seq, e.value);
      s.value = sum;
      if (last) producer.gauges.set(e.key, last);
    }
    producer.snapshots++;
    if (snap.final) producer.final = true;
    this.snapshots++;
    this.startMs = Math.min(this.startMs, snap.intervalStartMs);
    if (snap.vu > 0) this.loadStartMs = Math.min(this.loadStartMs, snap.intervalStartMs);
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
        const text = encodeSparse(sparseFromMap(slot));
        s.frozen.set(start, text);
        s.hot.delete(start);
        this.hotEntries -= slot.size;
        this.frozenIntervals++;
        this.frozenChars += text.length;
      }
    }
  }
}

function seriesId(snap: ValidSnapshot, e: ValidEntry): SeriesId {
  return { name: e.name, scenario: snap.scenario, transport: snap.transport, labels: e.labels };
}

export type IngestResult = { status: 'accepted' | 'duplicate'; runId: string };

/** The defaults of the collector's limits (`starling collect --max-runs`, `--max-series`, `--max-memory`). */
export const DEFAULT_LIMITS = {
  maxRuns: 100,
  maxSeriesPerRun: 10_000,
  maxBytes: 512 * 1024 * 1024,
} as const;

export interface CollectorStoreOptions {
  /** Per-interval histogram width, ms (default 5000). */
  intervalMs?: number;
  /** Runs held in memory at once (default 100); a snapshot for one more is refused until a run finishes. */
  maxRuns?: number;
  /** Histogram + counter + gauge series one run may have (default 10,000): guards against a label explosion. */
  maxSeriesPerRun?: number;
  /** Estimated bytes of run data held at once (default 512 MiB): new runs, series and producers wait below it. */
  maxBytes?: number;
  /** Tells whether a run id not in memory was finished before, e.g. its merged.json exists (default: never). */
  finishedOnDisk?: (runId: string) => boolean;
  now?: () => number;
}

function positiveInteger(name: string, v: number): number {
  if (!(Number.isSafeInteger(v) && v > 0))
    throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

export class CollectorStore {
  readonly intervalMs: number;
  readonly maxRuns: number;
  readonly maxSeriesPerRun: number;
  readonly maxBytes: number;
  private readonly runsById = new Map<string, RunState>();
  /** Finished run ids, oldest first, at most MAX_FINISHED_REMEMBERED. */
  private readonly finished = new Map<string, FinishedRun>();
  private readonly finishedOnDisk: (runId: string) => boolean;
  private readonly now: () => number;
  private bytes = 0;
  /** Snapshots refused, by reason (`invalid`, a cap, `run-finished`, or the HTTP layer's `unauthorized`, …). */
  readonly rejected = new Map<string, number>();
  /** Runs finished and dropped from memory, by reason. */
  readonly evicted = new Map<FinishReason, number>();

  constructor(opts: CollectorStoreOptions = {}) {
    this.intervalMs = positiveInteger('intervalMs', opts.intervalMs ?? 5000);
    this.maxRuns = positiveInteger('maxRuns', opts.maxRuns ?? DEFAULT_LIMITS.maxRuns);
    this.maxSeriesPerRun = positiveInteger(
      'maxSeriesPerRun',
      opts.maxSeriesPerRun ?? DEFAULT_LIMITS.maxSeriesPerRun,
    );
    this.maxBytes = positiveInteger('maxBytes', opts.maxBytes ?? DEFAULT_LIMITS.maxBytes);
    this.finishedOnDisk = opts.finishedOnDisk ?? (() => false);
    this.now = opts.now ?? Date.now;
  }

  run(runId: string): RunState | undefined {
    return this.runsById.get(runId);
  }

  runs(): RunState[] {
    return [...this.runsById.values()];
  }

  /** Estimated bytes of every run in memory (the sum of their {@link RunState.estimatedBytes}). */
  get estimatedBytes(): number {
    return this.bytes;
  }

  /** How a run that is no longer in memory was finished; undefined for a run this store never finished. */
  finishedRun(runId: string): FinishedRun | undefined {
    return this.finished.get(runId);
  }

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /**
   * Validates and merges one snapshot (the parsed JSON body). Throws {@link SnapshotError} for an invalid one
   * (counted against its run too, when there is room for it), {@link RunFinishedError} for a run already
   * finished, and {@link CapacityError} when a limit is reached (not counted in `rejected`: the caller may make
   * room and retry, and counts it if it gives up).
   */
  ingest(body: unknown): IngestResult {
    const now = this.now();
    let snap: ValidSnapshot;
    try {
      snap = validateSnapshot(body);
    } catch (err) {
      this.reject('invalid');
      const runId = (body as { runId?: unknown } | null)?.runId;
      if (typeof runId === 'string' && RUN_ID_RE.test(runId)) this.countRefused(runId, now);
      throw err;
    }
    let run = this.runsById.get(snap.runId);
    const pkey = `${snap.instance}\u0000${snap.vu}`;
    let producer = run?.producers.get(pkey);
    if (run && producer && (snap.seq < producer.below || producer.seen.has(snap.seq))) {
      // A retry of what was merged: still acknowledged while the run is being written.
      run.duplicates++;
      run.lastSnapshotAt = now;
      return { status: 'duplicate', runId: snap.runId };
    }
    const finished = run?.finishing
      ? { reason: run.finishing }
      : run
        ? undefined
        : this.finishedBefore(snap.runId);
    if (finished) {
      this.reject('run-finished');
      throw new RunFinishedError(snap.runId, finished);
    }
    let added: NewSeries[];
    try {
      added = (run ?? new RunState(snap.runId, this.intervalMs)).preview(snap, producer);
    } catch (err) {
      this.reject('invalid');
      this.countRefused(snap.runId, now);
      throw err;
    }
    if (!run && this.runsById.size >= this.maxRuns) {
      throw new CapacityError(
        'max-runs',
        this.maxRuns,
        'runId',
        `the collector holds ${plural(this.runsById.size, 'run')}, its limit (--max-runs ${this.maxRuns}), and none has ` +
          `finished: run ${snap.runId} must wait until one does (retry later), or raise --max-runs`,
      );
    }
    this.checkSeries(run, snap.runId, added);
    this.checkMemory(run, snap.runId, added, producer === undefined);
    run ??= this.register(snap.runId);
    const before = run.estimatedBytes;
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
    run.apply(snap, producer, now);
    this.bytes += run.estimatedBytes - before;
    return { status: 'accepted', runId: snap.runId };
  }

  /**
   * Starts finishing a run: from now on it takes no new data (a retried seq is still acknowledged). Returns
   * the run, to be written out and then {@link evict}ed; undefined when it is not in memory.
   */
  beginFinish(runId: string, reason: FinishReason): RunState | undefined {
    const run = this.runsById.get(runId);
    if (run) run.finishing ??= reason;
    return run;
  }

  /** Drops a finished run from memory, remembering that it finished so its late snapshots are told so. */
  evict(runId: string): void {
    const run = this.runsById.get(runId);
    if (!run) return;
    const reason = run.finishing ?? 'requested';
    this.runsById.delete(runId);
    this.bytes -= run.estimatedBytes;
    this.finished.delete(runId);
    this.finished.set(runId, { reason, atMs: this.now() });
    if (this.finished.size > MAX_FINISHED_REMEMBERED) {
      this.finished.delete(this.finished.keys().next().value as string);
    }
    this.evicted.set(reason, (this.evicted.get(reason) ?? 0) + 1);
  }

  private finishedBefore(runId: string): FinishedRun | undefined {
    const known = this.finished.get(runId);
    if (known) return known;
    return this.finishedOnDisk(runId) ? { reason: 'on-disk' } : undefined;
  }

  private register(runId: string): RunState {
    const run = new RunState(runId, this.intervalMs);
    this.runsById.set(runId, run);
    this.bytes += run.estimatedBytes;
    return run;
  }

  /** Counts a refused snapshot against its run, creating the run only when that breaks no limit. */
  private countRefused(runId: string, now: number): void {
    let run = this.runsById.get(runId);
    if (!run) {
      const room = this.runsById.size < this.maxRuns && this.bytes + MEMORY_COST.run <= this.maxBytes;
      if (!room || this.finishedBefore(runId)) return;
      run = this.register(runId);
    }
    run.rejected++;
    run.lastSnapshotAt = now;
  }

  private checkSeries(run: RunState | undefined, runId: string, added: readonly NewSeries[]): void {
    const have = run?.seriesCount ?? 0;
    const over = added[this.maxSeriesPerRun - have];
    if (over === undefined) return;
    if (run) run.rejected++;
    throw new CapacityError(
      'max-series',
      this.maxSeriesPerRun,
      over.field,
      `${over.field}: run ${runId} has ${have} series and this snapshot adds ${added.length}, past its limit ` +
        `(--max-series ${this.maxSeriesPerRun}): ${seriesName(over.name, over.labels)} is refused. A label with ` +
        'unbounded values (an id, a timestamp)? Otherwise raise --max-series',
    );
  }

  /**
   * Refuses what would grow past the memory budget: a new run, a new producer or a new series. Data for what a
   * run already holds still merges (refusing it would lose part of an admitted run).
   */
  private checkMemory(
    run: RunState | undefined,
    runId: string,
    added: readonly NewSeries[],
    newProducer: boolean,
  ): void {
    if (run && !newProducer && added.length === 0) return;
    // What is refused: a new run or producer that alone goes past the budget, else the first new series past it.
    let bytes = this.bytes + (run ? 0 : MEMORY_COST.run) + (newProducer ? MEMORY_COST.producer : 0);
    let field = run ? 'instance' : 'runId';
    let what = run ? `a new producer of run ${runId}` : `new run ${runId}`;
    if (bytes <= this.maxBytes || (run && !newProducer)) {
      for (const s of added) {
        bytes += s.bytes;
        if (bytes > this.maxBytes) {
          field = s.field;
          what = `${seriesName(s.name, s.labels)}, a new series of run ${runId},`;
          break;
        }
      }
    }
    if (bytes <= this.maxBytes) return;
    throw new CapacityError(
      'max-memory',
      this.maxBytes,
      field,
      `the collector holds ${mib(this.bytes)} of run data and ${what} would take it past its limit ` +
        `(--max-memory ${mib(this.maxBytes)}): retry once a run finishes, or raise --max-memory`,
    );
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
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
    if (typeof delta !== 'number' || !Number.isFinite(delta) || delta < 0 || delta > MAX_EXACT) {
      throw new SnapshotError(
        `${at}.delta`,
        `must be a finite number ≥ 0 and ≤ 2^53 − 1 (${MAX_EXACT}), got ${describe(delta)}`,
      );
    }
    return { delta };
  });
  const gauges = entriesOf(o, 'gauges', scenario, transport, (e, at) => {
    const value = e['value'];
    if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > MAX_EXACT) {
      throw new SnapshotError(
        `${at}.value`,
        `must be a finite number within ±(2^53 − 1) (${MAX_EXACT}), got ${describe(value)}`,
      );
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
