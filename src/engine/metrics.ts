/**
 * The Node engine's metrics registry and aggregation: k6's `metrics.Registry` + the metrics engine's sinks
 * (grafana/k6 metrics/registry.go, metrics/sink.go, internal/metrics/engine/ingester.go), in one class.
 *
 * Semantics kept from k6:
 * - names match `^[a-zA-Z_][a-zA-Z0-9_]{1,128}$` (so 2–129 characters; a one-letter name is rejected);
 * - redefining a name with another type, or with another `contains` when one is given, throws k6's message;
 * - sinks: Counter {count, rate = count / test seconds}, Gauge {value (last), min, max}, Rate {passes, fails,
 *   rate}, Trend {every sample kept; avg, min, med, max, p(N) by k6's sorted-sample linear interpolation};
 * - sub-metrics (`name{tag:value,…}`, registered from thresholds before the run) receive every sample of their
 *   parent whose tags contain all of the sub-metric's tags; a metric is "observed" (shown in the summary) once it
 *   has a sample or a threshold references it.
 *
 * Memory: a Trend keeps every sample, like k6, in a growable Float64Array: 8 bytes a sample (10 M samples =
 * 80 MB, about twice that for a moment while the array grows; growth is ×2 up to 1 M samples, ×1.5 beyond).
 * Percentiles sort incrementally (new samples sorted and merged), so periodic threshold runs stay cheap.
 * Counters additionally keep per-tag-value sums (one Map per tag key, at most `tagValueCap` distinct values per
 * key, the rest summed into `other`) so the XMPP table can break failures down by reason. Everything else is
 * a handful of numbers per metric.
 */
import type { MetricSink, MetricType, Tags } from './runtime.ts';
import { goTrim, goTrimSpace, parseGoFloat } from './go.ts';

export type ValueType = 'default' | 'time' | 'data';

/** k6 metrics/registry.go nameRegexString. */
const NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]{1,128}$/;
const BAD_NAME_WARNING =
  'Metric names must only include up to 128 ASCII letters, numbers, or underscores ' +
  'and start with a letter or an underscore.';

export class MetricDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricDefinitionError';
  }
}

/** k6's built-in metrics (metrics/builtin.go), registered before any script code runs, as k6 does. */
export const BUILTIN_METRICS: readonly { name: string; type: MetricType; contains: ValueType }[] = [
  { name: 'vus', type: 'gauge', contains: 'default' },
  { name: 'vus_max', type: 'gauge', contains: 'default' },
  { name: 'iterations', type: 'counter', contains: 'default' },
  { name: 'iteration_duration', type: 'trend', contains: 'time' },
  { name: 'dropped_iterations', type: 'counter', contains: 'default' },
  { name: 'checks', type: 'rate', contains: 'default' },
  { name: 'group_duration', type: 'trend', contains: 'time' },
  { name: 'http_reqs', type: 'counter', contains: 'default' },
  { name: 'http_req_failed', type: 'rate', contains: 'default' },
  { name: 'http_req_duration', type: 'trend', contains: 'time' },
  { name: 'http_req_blocked', type: 'trend', contains: 'time' },
  { name: 'http_req_connecting', type: 'trend', contains: 'time' },
  { name: 'http_req_tls_handshaking', type: 'trend', contains: 'time' },
  { name: 'http_req_sending', type: 'trend', contains: 'time' },
  { name: 'http_req_waiting', type: 'trend', contains: 'time' },
  { name: 'http_req_receiving', type: 'trend', contains: 'time' },
  { name: 'ws_sessions', type: 'counter', contains: 'default' },
  { name: 'ws_msgs_sent', type: 'counter', contains: 'default' },
  { name: 'ws_msgs_received', type: 'counter', contains: 'default' },
  { name: 'ws_ping', type: 'trend', contains: 'time' },
  { name: 'ws_session_duration', type: 'trend', contains: 'time' },
  { name: 'ws_connecting', type: 'trend', contains: 'time' },
  { name: 'grpc_req_duration', type: 'trend', contains: 'time' },
  { name: 'data_sent', type: 'counter', contains: 'data' },
  { name: 'data_received', type: 'counter', contains: 'data' },
];

/** The built-ins' names (their counters keep no per-tag breakdown). */
const BUILTIN_NAMES: ReadonlySet<string> = new Set(BUILTIN_METRICS.map((m) => m.name));

/**
 * Registers k6 built-ins a module emits, with the type and value type k6 gives them: trends as times, the rest
 * without a value type, so the registry keeps its own (k6 registers data_sent/data_received as `data`).
 */
export function defineBuiltins(sink: MetricSink, names: readonly string[]): void {
  for (const name of names) {
    const m = BUILTIN_METRICS.find((b) => b.name === name);
    if (!m) throw new Error(`'${name}' is not one of k6's built-in metrics`);
    sink.define(name, m.type, m.contains === 'time' ? true : undefined);
  }
}

/** k6's default `summaryTrendStats`. */
export const DEFAULT_SUMMARY_TREND_STATS: readonly string[] = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];

// ---------------------------------------------------------------------------------------------------------------
// Sinks

export class CounterSink {
  readonly type = 'counter' as const;
  value = 0;
  samples = 0;
  /** tag key → tag value → the sum of the values of samples carrying it (past the cap, `other`). */
  private readonly byTag = new Map<string, { values: Map<string, Cell>; other: Cell }>();
  /**
   * The cells a frozen tag set adds to, found once: a frozen object cannot change, and each VU's tags and the
   * merges the metric module keeps are frozen, so a sample with them costs no Map lookup per tag (issue 13).
   */
  private readonly cellsOfFrozen = new WeakMap<Tags, Cell[]>();
  /**
   * `breakdown` false: no per-tag sums. k6's built-in counters (http_reqs, data_*, ws_msgs_*) get none: nothing
   * reads them, and a dozen system tags on each of the ~11 samples of every HTTP request made BOSH pay ~260 Map
   * operations per request.
   */
  constructor(
    private readonly tagValueCap: number,
    private readonly breakdown = true,
  ) {}

  add(value: number, tags: Tags | undefined): void {
    this.value += value;
    this.samples++;
    if (tags === undefined || !this.breakdown) return;
    // Looked up before asking Object.isFrozen (a call into C++): tags found here were frozen, and stay so.
    let cells = this.cellsOfFrozen.get(tags);
    if (cells === undefined) {
      if (!Object.isFrozen(tags)) {
        for (const key in tags) {
          const v = tags[key];
          if (v !== undefined) this.cell(key, v).sum += value;
        }
        return;
      }
      cells = [];
      for (const key in tags) {
        const v = tags[key];
        if (v !== undefined) cells.push(this.cell(key, v));
      }
      this.cellsOfFrozen.set(tags, cells);
    }
    for (const cell of cells) cell.sum += value;
  }

  /** The cell of one tag: its value's, or once the key has tagValueCap values, the key's `other`. */
  private cell(key: string, v: string): Cell {
    let entry = this.byTag.get(key);
    if (entry === undefined) {
      entry = { values: new Map(), other: { sum: 0 } };
      this.byTag.set(key, entry);
    }
    let cell = entry.values.get(v);
    if (cell === undefined) {
      if (entry.values.size < this.tagValueCap) entry.values.set(v, (cell = { sum: 0 }));
      else cell = entry.other;
    }
    return cell;
  }

  isEmpty(): boolean {
    return this.samples === 0;
  }

  /** count / test seconds; 0 for a zero duration (k6 CounterSink.Rate). */
  rate(testRunDurationMs: number): number {
    return testRunDurationMs === 0 ? 0 : this.value / (testRunDurationMs / 1000);
  }

  tagKeys(): string[] {
    return [...this.byTag.keys()];
  }

  /** Sum of sample values per value of `tagKey`; `other` sums the values past the cap. */
  tagBreakdown(tagKey: string): { values: ReadonlyMap<string, number>; other: number } | undefined {
    const entry = this.byTag.get(tagKey);
    if (entry === undefined) return undefined;
    const values = new Map<string, number>();
    for (const [v, cell] of entry.values) values.set(v, cell.sum);
    return { values, other: entry.other.sum };
  }
}

/** A running sum of one tag value of a counter. */
interface Cell {
  sum: number;
}

export class GaugeSink {
  readonly type = 'gauge' as const;
  value = 0;
  min = 0;
  max = 0;
  private set = false;

  add(value: number): void {
    this.value = value;
    if (value > this.max || !this.set) this.max = value;
    if (value < this.min || !this.set) {
      this.min = value;
      this.set = true;
    }
  }

  isEmpty(): boolean {
    return !this.set;
  }
}

export class RateSink {
  readonly type = 'rate' as const;
  trues = 0;
  total = 0;

  add(value: number): void {
    this.total++;
    if (value !== 0) this.trues++;
  }

  isEmpty(): boolean {
    return this.total === 0;
  }

  get passes(): number {
    return this.trues;
  }

  get fails(): number {
    return this.total - this.trues;
  }

  /** trues / total; 0 when empty (k6 RateSink.Format). */
  get rate(): number {
    return this.total > 0 ? this.trues / this.total : 0;
  }
}

const TREND_INITIAL_CAPACITY = 64;

export class TrendSink {
  readonly type = 'trend' as const;
  private values = new Float64Array(TREND_INITIAL_CAPACITY);
  /** values[0, sortedCount) is sorted; samples after it arrived since the last percentile. */
  private sortedCount = 0;
  count = 0;
  min = 0;
  max = 0;
  sum = 0;

  add(value: number): void {
    if (this.count === 0) {
      this.min = value;
      this.max = value;
    } else {
      if (value > this.max) this.max = value;
      if (value < this.min) this.min = value;
    }
    if (this.count === this.values.length) {
      const cap = this.values.length;
      const grown = new Float64Array(cap < 1 << 20 ? cap * 2 : Math.ceil(cap * 1.5));
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = value;
    this.sum += value;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  get avg(): number {
    return this.count > 0 ? this.sum / this.count : 0;
  }

  /**
   * k6 TrendSink.P (metrics/sink.go): `pct` in [0, 1]; sorts all samples, i = pct·(n−1), linear interpolation
   * between v[floor i] and v[ceil i]. 0 when empty, the only sample when n = 1.
   */
  p(pct: number): number {
    if (this.count === 0) return 0;
    if (this.count === 1) return this.values[0] as number;
    this.sort();
    const i = pct * (this.count - 1);
    const j = this.values[Math.floor(i)] as number;
    const k = this.values[Math.ceil(i)] as number;
    const f = i - Math.floor(i);
    return j + (k - j) * f;
  }

  /**
   * Sorts all samples, as k6 does before a percentile, but incrementally: only the samples added since the last
   * sort are sorted, then merged backwards into the sorted prefix. Same order (hence same percentiles) as a full
   * sort, without re-sorting 10 M samples on every 2-second threshold run.
   */
  private sort(): void {
    const s = this.sortedCount;
    const n = this.count;
    if (s === n) return;
    const v = this.values;
    if (s === 0 || n - s > s) {
      v.subarray(0, n).sort();
    } else {
      const tail = v.slice(s, n).sort();
      if ((tail[0] as number) < (v[s - 1] as number)) {
        let i = s - 1;
        let j = tail.length - 1;
        let k = n - 1;
        while (j >= 0) {
          if (i >= 0 && (v[i] as number) > (tail[j] as number)) v[k--] = v[i--] as number;
          else v[k--] = tail[j--] as number;
        }
      } else {
        v.set(tail, s);
      }
    }
    this.sortedCount = n;
  }

  /** Bytes held for samples (capacity, not count). */
  get bytes(): number {
    return this.values.byteLength;
  }
}

export type Sink = CounterSink | GaugeSink | RateSink | TrendSink;

// ---------------------------------------------------------------------------------------------------------------
// Trend stats (summaryTrendStats columns)

/**
 * Parses one `summaryTrendStats` column as k6 does (metrics/sample.go GetResolversForTrendColumns): `avg`, `min`,
 * `med`, `max`, `count`, or `p(N)` with 0 ≤ N ≤ 100. Throws k6's message otherwise.
 */
export function trendStatResolver(stat: string): (sink: TrendSink) => number {
  switch (stat) {
    case 'avg':
      return (s) => s.avg;
    case 'min':
      return (s) => s.min;
    case 'med':
      return (s) => s.p(0.5);
    case 'max':
      return (s) => s.max;
    case 'count':
      return (s) => s.count;
  }
  if (!stat.startsWith('p(') || !stat.endsWith(')')) {
    throw new MetricDefinitionError(`invalid trend stat '${stat}', unknown format`);
  }
  const pct = parseGoFloat(stat.slice(2, -1));
  if (!pct.ok || pct.value < 0 || pct.value > 100 || Number.isNaN(pct.value)) {
    throw new MetricDefinitionError(
      `invalid percentile trend stat value '${stat}', provide a number between 0 and 100`,
    );
  }
  const p = pct.value;
  return (s) => s.p(p / 100);
}

/** Throws k6's error for the first invalid `summaryTrendStats` entry. */
export function validateSummaryTrendStats(stats: readonly string[]): void {
  for (const s of stats) trendStatResolver(s);
}

// ---------------------------------------------------------------------------------------------------------------
// Metric

export class Metric {
  observed = false;
  readonly submetrics: Metric[] = [];
  readonly sink: Sink;

  constructor(
    readonly name: string,
    readonly type: MetricType,
    readonly contains: ValueType,
    tagValueCap: number,
    /** Set on sub-metrics: the parent and the tags a sample must carry. */
    readonly parent?: Metric,
    readonly subTags?: Readonly<Tags>,
  ) {
    switch (type) {
      case 'counter':
        this.sink = new CounterSink(tagValueCap, !BUILTIN_NAMES.has(name));
        break;
      case 'gauge':
        this.sink = new GaugeSink();
        break;
      case 'rate':
        this.sink = new RateSink();
        break;
      case 'trend':
        this.sink = new TrendSink();
        break;
    }
  }

  /** The sub-metric selector, e.g. `reason:timeout:bind` for `xmpp_session_failures{reason:timeout:bind}`. */
  get suffix(): string | undefined {
    return this.parent === undefined ? undefined : this.name.slice(this.parent.name.length + 1, -1);
  }

  isEmpty(): boolean {
    return this.sink.isEmpty();
  }

  /**
   * The summary's `values` for this metric (k6 internal/js/summary.go metricValueGetter): Counter {count, rate},
   * Gauge {value, min, max}, Rate {rate, passes, fails}, Trend one key per `trendStats` column.
   */
  values(
    testRunDurationMs: number,
    trendStats: readonly string[] = DEFAULT_SUMMARY_TREND_STATS,
  ): Record<string, number> {
    const s = this.sink;
    switch (s.type) {
      case 'counter':
        return { count: s.value, rate: s.rate(testRunDurationMs) };
      case 'gauge':
        return { value: s.value, min: s.min, max: s.max };
      case 'rate':
        return { rate: s.rate, passes: s.passes, fails: s.fails };
      case 'trend': {
        const out: Record<string, number> = {};
        for (const stat of trendStats) out[stat] = trendStatResolver(stat)(s);
        return out;
      }
    }
  }

  /** Trend percentile, `p` in [0, 100] (k6 interpolation); undefined for other types. */
  percentile(p: number): number | undefined {
    return this.sink.type === 'trend' ? this.sink.p(p / 100) : undefined;
  }
}

export type MetricSnapshot =
  | { type: 'counter'; contains: ValueType; count: number }
  | { type: 'gauge'; contains: ValueType; value: number; min: number; max: number }
  | { type: 'rate'; contains: ValueType; rate: number; passes: number; fails: number }
  | { type: 'trend'; contains: ValueType; count: number; avg: number; min: number; max: number };

/** A sample as it enters the store: the metric, its value, the sample's tags and its time (epoch ms). */
/** `time` is the sample's own (ms since the epoch) when it has one; otherwise it is now, which the observer reads if it needs it. */
export type SampleObserver = (
  metric: Metric,
  value: number,
  tags: Tags | undefined,
  time: number | undefined,
) => void;

export interface MetricStoreOptions {
  /** Register k6's built-in metrics up front (default true), as k6's registry always has them. */
  builtins?: boolean;
  /** Distinct values kept per tag key in a counter's breakdown (default 1000). */
  tagValueCap?: number;
}

function tagsContain(tags: Tags | undefined, want: Readonly<Tags>): boolean {
  for (const key in want) {
    if (tags === undefined || tags[key] !== want[key]) return false;
  }
  return true;
}

function sameTags(a: Readonly<Tags>, b: Readonly<Tags>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
}

/**
 * Parses the tag criteria of a sub-metric as k6's Metric.AddSubmetric does: split on `,`, skip empty parts, split
 * each on its FIRST `:` (so `reason:timeout:bind` is tag `reason` = `timeout:bind`), trim spaces then `"`/`'`.
 */
export function parseSubmetricTags(keyValues: string): Tags {
  const tags: Tags = {};
  for (const kv of keyValues.split(',')) {
    if (kv === '') continue;
    const at = kv.indexOf(':');
    const k = at < 0 ? kv : kv.slice(0, at);
    const v = at < 0 ? '' : kv.slice(at + 1);
    const key = goTrim(goTrimSpace(k), `"'`);
    tags[key] = v === '' ? '' : goTrim(goTrimSpace(v), `"'`);
  }
  return tags;
}

export class MetricStore implements MetricSink {
  private readonly metrics = new Map<string, Metric>();
  private readonly tagValueCap: number;
  /** NaN samples pushed by engine code (dropped: k6's JS API refuses NaN and built-ins never emit one). */
  droppedSamples = 0;

  constructor(opts: MetricStoreOptions = {}) {
    this.tagValueCap = opts.tagValueCap ?? 1000;
    if (opts.builtins ?? true) {
      for (const m of BUILTIN_METRICS) this.defineMetric(m.name, m.type, m.contains);
    }
  }

  /** MetricSink.define: `isTime` undefined means "no value type given" (k6's variadic), so no contains check. */
  define(name: string, type: MetricType, isTime?: boolean): void {
    this.defineMetric(name, type, isTime === undefined ? undefined : isTime ? 'time' : 'default');
  }

  /** k6 Registry.NewMetric: validates the name, returns the existing metric when compatible. */
  defineMetric(name: string, type: MetricType, contains?: ValueType): Metric {
    if (!NAME_RE.test(name)) {
      throw new MetricDefinitionError(`Invalid metric name: '${name}'. ${BAD_NAME_WARNING}`);
    }
    const old = this.metrics.get(name);
    if (old === undefined) {
      const m = new Metric(name, type, contains ?? 'default', this.tagValueCap);
      this.metrics.set(name, m);
      return m;
    }
    if (old.type !== type) {
      throw new MetricDefinitionError(
        `metric '${name}' already exists but with type ${old.type}, instead of ${type}`,
      );
    }
    if (contains !== undefined && contains !== old.contains) {
      throw new MetricDefinitionError(
        `metric '${name}' already exists but with a value type ${old.contains}, instead of ${contains}`,
      );
    }
    return old;
  }

  /**
   * Registers (or returns, when one with the same tag set exists) the sub-metric `parent{keyValues}`, named as k6
   * names it: `parent + "{" + trimmed keyValues + "}"`.
   */
  addSubmetric(parentName: string, keyValues: string): Metric {
    const parent = this.metrics.get(parentName);
    if (parent === undefined || parent.parent !== undefined) {
      throw new MetricDefinitionError(`metric '${parentName}' does not exist in the script`);
    }
    const criteria = goTrimSpace(keyValues);
    if (criteria.length === 0) {
      throw new MetricDefinitionError(`submetric criteria for metric '${parentName}' cannot be empty`);
    }
    const tags = parseSubmetricTags(criteria);
    for (const sm of parent.submetrics) {
      if (sameTags(sm.subTags ?? {}, tags)) return sm;
    }
    const name = `${parentName}{${criteria}}`;
    const sub = new Metric(name, parent.type, parent.contains, this.tagValueCap, parent, Object.freeze(tags));
    parent.submetrics.push(sub);
    this.metrics.set(name, sub);
    return sub;
  }

  /** Sees every accepted sample, as k6's outputs do (`--out json`). */
  private readonly observers: SampleObserver[] = [];

  observe(fn: SampleObserver): void {
    this.observers.push(fn);
  }

  /** Adds one sample to `name` and to each of its sub-metrics whose tags the sample's tags contain. */
  push(name: string, value: number, tags?: Tags, time?: number): void {
    const m = this.metrics.get(name);
    if (m === undefined || m.parent !== undefined) {
      throw new MetricDefinitionError(`metric '${name}' is not defined; define it before pushing samples`);
    }
    if (Number.isNaN(value)) {
      this.droppedSamples++;
      return;
    }
    for (const fn of this.observers) fn(m, value, tags, time);
    m.observed = true;
    addToSink(m.sink, value, tags);
    for (const sm of m.submetrics) {
      if (!tagsContain(tags, sm.subTags ?? {})) continue;
      sm.observed = true;
      addToSink(sm.sink, value, tags);
    }
  }

  /** Marks a metric observed (shown in the summary) without samples, as thresholds do. */
  markObserved(name: string): void {
    const m = this.metrics.get(name);
    if (m !== undefined) m.observed = true;
  }

  has(name: string): boolean {
    return this.metrics.has(name);
  }

  /** A metric or sub-metric (by its full `name{…}` name). */
  get(name: string): Metric | undefined {
    return this.metrics.get(name);
  }

  /** Every metric and sub-metric, in definition order. */
  all(): Metric[] {
    return [...this.metrics.values()];
  }

  /** The metrics k6 would put in the summary: those with samples or referenced by thresholds. */
  observed(): Metric[] {
    return this.all().filter((m) => m.observed);
  }

  /** Cheap current values of every observed metric (no percentiles: they need a sort), for progress output. */
  snapshot(): Record<string, MetricSnapshot> {
    const out: Record<string, MetricSnapshot> = {};
    for (const m of this.metrics.values()) {
      if (!m.observed) continue;
      const s = m.sink;
      const contains = m.contains;
      switch (s.type) {
        case 'counter':
          out[m.name] = { type: 'counter', contains, count: s.value };
          break;
        case 'gauge':
          out[m.name] = { type: 'gauge', contains, value: s.value, min: s.min, max: s.max };
          break;
        case 'rate':
          out[m.name] = { type: 'rate', contains, rate: s.rate, passes: s.passes, fails: s.fails };
          break;
        case 'trend':
          out[m.name] = { type: 'trend', contains, count: s.count, avg: s.avg, min: s.min, max: s.max };
          break;
      }
    }
    return out;
  }
}

function addToSink(sink: Sink, value: number, tags: Tags | undefined): void {
  if (sink.type === 'counter') sink.add(value, tags);
  else sink.add(value);
}
