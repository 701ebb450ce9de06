/**
 * The figures of one run, as plain data for the HTML report: what ran (credentials masked), how it ended, its
 * thresholds, latency percentiles and distributions, latency and rates over time, sessions, failures by reason,
 * losses, stream errors, rooms (multi-user chat), the generator's health and a tap's framing violations. Each
 * figure comes from one named file: the merged HDR histograms (merged.json) when a collector ran, else
 * summary.json; intervals from hdr/*.hlog. A figure that cannot be had says why.
 */
import { basename } from 'node:path';
import { GENERATOR_METRICS } from '../contract/snapshot.ts';
import {
  addSparseToMap,
  decodeSparse,
  sparseFromMap,
  withHistogram,
  type SparseCounts,
} from '../collector/histogram.ts';
import { TAP_METRICS } from '../contract/tap-metric-names.ts';
import type { MergedRun } from '../collector/summary.ts';
import { EXIT_GENERATOR_SATURATED, type GeneratorHealth } from '../engine/health.ts';
import { parseSubmetricTags } from '../engine/metrics.ts';
import { EXIT } from '../engine/run.ts';
import { XMPP_COUNTERS, XMPP_RATES, XMPP_TRENDS } from '../contract/metric-names.ts';
import { maskUrlPasswords, redactEnv } from '../xmpp/redact.ts';
import type { IntervalSeries, RunFiles, RunSummaryData } from './run-data.ts';

/** Percentiles of a latency table, by column. */
export const TABLE_PERCENTILES = ['p50', 'p90', 'p95', 'p99', 'p99.9'] as const;
export type TablePercentile = (typeof TABLE_PERCENTILES)[number];

/** One row of a latency table, ms; undefined where the source does not have it. */
export interface LatencyRow {
  metric: string;
  count: number | undefined;
  values: Partial<Record<TablePercentile | 'max', number>>;
}

export interface LatencyTable {
  /** Which file the figures come from, in words. */
  source: string;
  rows: LatencyRow[];
  /** Columns the source lacks, and why. */
  note?: string;
}

export interface Distribution {
  metric: string;
  count: number | undefined;
  /** (percentile, ms), percentile 100 = max. */
  points: { percentile: number; ms: number }[];
}

/** One interval (or a few merged, on a long run) of a latency metric. */
export interface IntervalFigure {
  /** Seconds since the first interval started. */
  t: number;
  /** Length, s. */
  seconds: number;
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface OverTime {
  metric: string;
  points: IntervalFigure[];
}

export type OverTimeFigures =
  | {
      available: true;
      intervalSeconds: number;
      /** Seconds from the first interval's start to the last one's end: every chart's time axis. */
      spanSeconds: number;
      latency: OverTime[];
      generatorDelay?: OverTime;
    }
  | { available: false; why: string };

export interface ThresholdFigure {
  metric: string;
  expr: string;
  ok: boolean;
  /** The aggregate the threshold tests (`p(95)`, `rate`, …) and its value at the end, when summary.json has it. */
  observed?: { stat: string; value: number; unit: 'ms' | '%' | '' };
}

export interface Outcome {
  exitCode: number | undefined;
  /** passed, failed or undetermined (no exit code and no thresholds). */
  verdict: 'passed' | 'failed' | 'unknown';
  text: string;
  error?: string;
}

export interface Tally {
  total: number | undefined;
  /** By tag value, largest first; undefined when no file breaks the total down. */
  by: [string, number][] | undefined;
  /** Where `by` comes from, or why there is none. */
  note?: string;
}

export interface Loss {
  what: 'messages' | 'directed presences';
  metric: string;
  sent: number;
  delivered: number;
  lost: number;
}

export interface SessionFigures {
  attempted: number;
  loggedIn: number;
  failedLogins: number;
  cleanCloses: number | undefined;
  closes: number | undefined;
}

export interface GeneratorFigures {
  /** From summary.json (this Node engine process). */
  health?: GeneratorHealth;
  /** From merged.json, per generator instance (a collector run): event-loop delay, ms, and CPU seconds. */
  fleet?: {
    generator: string;
    delay: LatencyRow['values'] & { count: number };
    cpuSeconds?: number;
    saturated?: boolean;
  }[];
  /** Why there is nothing, when there is nothing. */
  why?: string;
}

export interface TapFigures {
  ran: boolean;
  why?: string;
  frames?: [string, number][];
  violations?: { kind: string; direction: string; count: number }[];
  latency?: LatencyTable;
}

export interface MetricLine {
  name: string;
  type: string | undefined;
  values: Record<string, number>;
}

/** Join latency of the rooms of one size, from summary.json's sub-metric `xmpp_muc_join{room_size:N}`, ms. */
export interface RoomSizeJoins {
  size: number;
  /** The sub-metric as summary.json names it. */
  metric: string;
  /** Joins of rooms of this size (the trend's count), when summaryTrendStats has it. */
  count: number | undefined;
  values: Partial<Record<'p50' | 'p95' | 'p99' | 'max', number>>;
}

/** Room broadcasts sent against received: each kind (message, presence), or both together (`all`). */
export interface RoomFanout {
  kind: 'message' | 'presence' | 'all';
  expected: number;
  received: number;
}

/** Room broadcasts whose recipients were in the sender's VU: each recipient's fate (xmpp_muc_*_loss). */
export interface RoomLoss {
  what: 'groupchat messages' | 'room presences';
  metric: string;
  /** Recipients accounted for. */
  samples: number;
  lost: number;
}

/** Multi-user chat (XEP-0045): joins, fan-out, losses, and the join latency per room size when measured. */
export interface RoomFigures {
  /** xmpp_muc_join_success: joins that got in, of all joins tried. */
  joins?: { ok: number; total: number };
  fanout: RoomFanout[];
  /** Where the fan-out comes from (per kind or totals only, and why). */
  fanoutSource: string;
  losses: RoomLoss[];
  /** Ascending by size; empty when summary.json has no `xmpp_muc_join{room_size:N}` sub-metric. */
  bySize: RoomSizeJoins[];
  /** Columns of `bySize` that summaryTrendStats left out. */
  bySizeNote?: string;
}

export interface RunFigures {
  title: string;
  /** Whether the run measured any XMPP metric (a plain k6 script does not). */
  xmpp: boolean;
  runId: string | undefined;
  outcome: Outcome;
  /** label → value, credentials masked. */
  config: [string, string][];
  env: [string, string][];
  thresholds: ThresholdFigure[] | { why: string };
  latency: LatencyTable | { why: string };
  distributions: Distribution[];
  overTime: OverTimeFigures;
  sessions?: SessionFigures;
  losses: Loss[];
  failures: Tally;
  streamErrors: Tally;
  stanzasSent: Tally;
  stanzasReceived: Tally;
  generator: GeneratorFigures;
  tap: TapFigures;
  /** Multi-user chat; undefined when the run measured no xmpp_muc_* metric. */
  rooms?: RoomFigures;
  /** Every metric of summary.json, as k6 reports it. */
  metrics: MetricLine[];
  /** What the report could not read, and why (no summary.json, no merged.json, …). */
  missing: string[];
}

const XMPP_TREND_NAMES: readonly string[] = Object.values(XMPP_TRENDS);
/** Most points a chart over time gets: longer runs merge neighbouring intervals. */
export const MAX_TIME_POINTS = 240;

const EXIT_TEXT: Record<number, string> = {
  [EXIT.ok]: 'passed: every threshold held',
  [EXIT.thresholdsFailed]: 'failed: thresholds crossed',
  [EXIT.setupTimeout]: 'failed: setup() timed out',
  [EXIT.teardownTimeout]: 'failed: teardown() timed out',
  [EXIT.invalidConfig]: 'failed: invalid options',
  [EXIT.externalAbort]: 'interrupted (Ctrl+C or a signal)',
  [EXIT.scriptException]: 'failed: the script threw an exception',
  [EXIT.scriptAborted]: 'failed: the script aborted the test (exec.test.abort())',
  [EXIT.markedAsFailed]: 'failed: the script marked the test as failed',
  [EXIT_GENERATOR_SATURATED]:
    'not a pass: the generator was saturated, so its latencies are not the server’s',
};

// ---------------------------------------------------------------------------------------------------------------
// HDR

/**
 * Percentiles of a distribution chart: 0, then five per decade (…, 90, 93.7, 96, 97.5, 98.4, 99, …) up to the
 * last decade `count` samples resolve, then the maximum.
 */
export function distributionPercentiles(count: number): number[] {
  const decades = Math.max(1, Math.floor(Math.log10(Math.max(count, 1))));
  const out = [0];
  for (let i = 1; i <= 5 * decades; i++) out.push(Number((100 * (1 - 10 ** (-i / 5))).toPrecision(6)));
  out.push(100);
  return out;
}

interface HdrFigures {
  count: number;
  values: Record<TablePercentile | 'max', number>;
  distribution: { percentile: number; ms: number }[];
}

/** Table percentiles and distribution of sparse µs counts, in ms, as HdrHistogram computes them. */
function hdrFigures(s: SparseCounts, withDistribution: boolean): HdrFigures {
  return withHistogram(s, (h) => {
    const at = (p: number): number => h.getValueAtPercentile(p) / 1000;
    return {
      count: h.totalCount,
      values: {
        p50: at(50),
        p90: at(90),
        p95: at(95),
        p99: at(99),
        'p99.9': at(99.9),
        max: at(100),
      },
      distribution: withDistribution
        ? distributionPercentiles(h.totalCount).map((percentile) => ({ percentile, ms: at(percentile) }))
        : [],
    };
  });
}

/** Merged histograms by metric, summed over scenarios, transports and labels (µs series only). */
function mergedByName(merged: MergedRun, keep: (name: string) => boolean): Map<string, SparseCounts> {
  const sums = new Map<string, Map<number, number>>();
  for (const h of merged.histograms) {
    if (h.unit !== 'us' || !keep(h.name)) continue;
    const sum = sums.get(h.name) ?? new Map<number, number>();
    addSparseToMap(sum, decodeSparse(h.hdr));
    sums.set(h.name, sum);
  }
  return new Map([...sums].map(([name, m]) => [name, sparseFromMap(m)]));
}

function latencyFromMerged(
  merged: MergedRun,
  names: readonly string[],
): { table: LatencyTable; distributions: Distribution[] } {
  const byName = mergedByName(merged, (n) => names.includes(n));
  const rows: LatencyRow[] = [];
  const distributions: Distribution[] = [];
  for (const metric of names) {
    const s = byName.get(metric);
    if (!s || s.total === 0) continue;
    const f = hdrFigures(s, true);
    rows.push({ metric, count: f.count, values: f.values });
    distributions.push({ metric, count: f.count, points: f.distribution });
  }
  return {
    table: {
      source: 'merged.json: the collector’s merged HDR histograms (3 significant digits)',
      rows,
    },
    distributions,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// summary.json

const SUMMARY_KEYS: Record<TablePercentile | 'max', string> = {
  p50: 'med',
  p90: 'p(90)',
  p95: 'p(95)',
  p99: 'p(99)',
  'p99.9': 'p(99.9)',
  max: 'max',
};

function latencyFromSummary(
  summary: RunSummaryData,
  names: readonly string[],
): { table: LatencyTable; distributions: Distribution[] } {
  const rows: LatencyRow[] = [];
  const distributions: Distribution[] = [];
  let exact = false;
  for (const metric of names) {
    const x = summary.xmpp?.latency[metric];
    const m = summary.metrics[metric];
    if (x) {
      exact = true;
      const { count, min, ...values } = x;
      if (count === 0) continue;
      rows.push({ metric, count, values });
      distributions.push({
        metric,
        count,
        points: [
          { percentile: 0, ms: min },
          ...TABLE_PERCENTILES.map((p) => ({ percentile: Number(p.slice(1)), ms: x[p] })),
          { percentile: 100, ms: x.max },
        ],
      });
    } else if (m) {
      const values: LatencyRow['values'] = {};
      for (const [col, key] of Object.entries(SUMMARY_KEYS) as [TablePercentile | 'max', string][]) {
        const v = m.values[key] ?? (col === 'p50' ? m.values['p(50)'] : undefined);
        if (v !== undefined) values[col] = v;
      }
      const count = m.values.count;
      if (count === 0) continue;
      rows.push({ metric, count, values });
      const min = m.values.min;
      distributions.push({
        metric,
        count,
        points: [
          ...(min !== undefined ? [{ percentile: 0, ms: min }] : []),
          ...TABLE_PERCENTILES.flatMap((p) => {
            const ms = values[p];
            return ms === undefined ? [] : [{ percentile: Number(p.slice(1)), ms }];
          }),
          ...(values.max !== undefined ? [{ percentile: 100, ms: values.max }] : []),
        ],
      });
    }
  }
  const missing = TABLE_PERCENTILES.filter((p) => rows.some((r) => r.values[p] === undefined));
  return {
    table: {
      source: exact
        ? 'summary.json: every sample of this run (k6’s percentile definition)'
        : `summary.json: k6’s trend stats (${(summary.summaryTrendStats ?? []).join(', ') || 'as exported'})`,
      rows,
      ...(missing.length > 0
        ? {
            note:
              `${missing.join(', ')} not in summary.json: its summaryTrendStats leave them out. ` +
              'With --collect the report has every percentile from the merged histograms.',
          }
        : {}),
    },
    distributions,
  };
}

/** `p(95)<3000` → `p(95)`: the aggregate a k6 threshold tests. */
export function thresholdStat(expr: string): string | undefined {
  const m = /^\s*(avg|min|max|med|count|rate|value|p\(\s*\d+(?:\.\d+)?\s*\))\s*(?:<=|>=|===|==|!=|<|>)/.exec(
    expr,
  );
  return m?.[1]?.replace(/\s+/g, '');
}

function thresholds(summary: RunSummaryData): ThresholdFigure[] {
  const out: ThresholdFigure[] = [];
  for (const [metric, m] of Object.entries(summary.metrics)) {
    for (const [expr, ok] of Object.entries(m.thresholds)) {
      const stat = thresholdStat(expr);
      let value = stat === undefined ? undefined : m.values[stat];
      if (value === undefined && stat !== undefined) {
        // A percentile summaryTrendStats left out: starling's own section has the exact one.
        const x = summary.xmpp?.latency[metric.split('{')[0] as string];
        const key = stat === 'med' ? 'p50' : stat.replace(/^p\((.*)\)$/, 'p$1');
        value = x?.[key as keyof typeof x];
      }
      const unit: 'ms' | '%' | '' =
        stat === 'rate' && (m.type === 'rate' || m.values.passes !== undefined)
          ? '%'
          : m.contains === 'time' ||
              (m.contains === undefined && m.values.avg !== undefined && stat !== 'count')
            ? 'ms'
            : '';
      out.push({
        metric,
        expr,
        ok,
        ...(stat !== undefined && value !== undefined ? { observed: { stat, value, unit } } : {}),
      });
    }
  }
  return out.sort((a, b) => Number(a.ok) - Number(b.ok) || a.metric.localeCompare(b.metric));
}

// ---------------------------------------------------------------------------------------------------------------
// Counts

/** Sums of merged counters named `name`, per value of label `tag` (the empty string: no such label). */
function mergedCounterBy(merged: MergedRun | undefined, name: string, tag: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of merged?.counters ?? []) {
    if (c.name !== name) continue;
    const v = c.labels[tag] ?? '';
    out.set(v, (out.get(v) ?? 0) + c.value);
  }
  return out;
}

const byCount = (entries: Iterable<[string, number]>): [string, number][] =>
  [...entries].filter(([, n]) => n !== 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

function tally(files: RunFiles, name: string, tag: string): Tally {
  const { summary, merged } = files;
  const fromSummary = summary?.metrics[name]?.values.count;
  const fromMerged = mergedCounterBy(merged, name, tag);
  const mergedTotal = fromMerged.size > 0 ? [...fromMerged.values()].reduce((a, b) => a + b, 0) : undefined;
  // A counter that never moved is in neither file: with either file present, that is a count of 0.
  const total = fromSummary ?? mergedTotal ?? (summary || merged ? 0 : undefined);
  const b = summary?.xmpp?.breakdowns[name];
  if (b) {
    const by = byCount(Object.entries(b.values));
    if (b.other > 0) by.push([`(other ${tag}s)`, b.other]);
    return { total, by, note: `by ${tag}, from summary.json` };
  }
  if (fromMerged.size > 0)
    return { total, by: byCount(fromMerged), note: `by ${tag}, from merged.json (every generator)` };
  if (total === undefined || total === 0) return { total, by: [] };
  return {
    total,
    by: undefined,
    note: `summary.json has no breakdown by ${tag} (k6 writes totals only); with --collect merged.json has it`,
  };
}

/** passes and fails of a k6 Rate, from summary.json, else from merged.json's counters by `outcome`. */
function rateCounts(files: RunFiles, name: string): { passes: number; fails: number } | undefined {
  const v = files.summary?.metrics[name]?.values;
  if (v?.passes !== undefined && v.fails !== undefined) return { passes: v.passes, fails: v.fails };
  const m = mergedCounterBy(files.merged, name, 'outcome');
  if (m.size === 0) return undefined;
  return { passes: m.get('true') ?? 0, fails: m.get('false') ?? 0 };
}

function sessions(files: RunFiles): SessionFigures | undefined {
  const login = rateCounts(files, XMPP_RATES.loginSuccess);
  if (!login) return undefined;
  const close = rateCounts(files, XMPP_RATES.cleanClose);
  return {
    attempted: login.passes + login.fails,
    loggedIn: login.passes,
    failedLogins: login.fails,
    cleanCloses: close?.passes,
    closes: close === undefined ? undefined : close.passes + close.fails,
  };
}

function losses(files: RunFiles): Loss[] {
  const out: Loss[] = [];
  for (const [metric, what] of [
    [XMPP_RATES.messageLoss, 'messages'],
    [XMPP_RATES.presenceLoss, 'directed presences'],
  ] as const) {
    const r = rateCounts(files, metric);
    if (!r || r.passes + r.fails === 0) continue;
    // passes are the lost ones (src/contract/metric-names.ts).
    out.push({ what, metric, sent: r.passes + r.fails, delivered: r.fails, lost: r.passes });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Rooms (multi-user chat)

const MUC_PREFIX = 'xmpp_muc_';

/** `xmpp_muc_join{room_size:20}` → 20; undefined for any other metric (another tag, or more than one). */
export function roomSizeOf(metric: string): number | undefined {
  const m = /^(.+?)\{(.*)\}$/.exec(metric);
  if (m?.[1] !== XMPP_TRENDS.mucJoin) return undefined;
  const tags = Object.entries(parseSubmetricTags(m[2] as string));
  if (tags.length !== 1 || tags[0]![0] !== 'room_size' || !/^\d+$/.test(tags[0]![1])) return undefined;
  return Number(tags[0]![1]);
}

const ROOM_SIZE_KEYS = { p50: 'med', p95: 'p(95)', p99: 'p(99)', max: 'max' } as const;

function roomSizes(summary: RunSummaryData | undefined): { rows: RoomSizeJoins[]; note?: string } {
  const rows: RoomSizeJoins[] = [];
  for (const [metric, m] of Object.entries(summary?.metrics ?? {})) {
    const size = roomSizeOf(metric);
    if (size === undefined) continue;
    const values: RoomSizeJoins['values'] = {};
    for (const [col, key] of Object.entries(ROOM_SIZE_KEYS) as [keyof typeof ROOM_SIZE_KEYS, string][]) {
      const v = m.values[key] ?? (col === 'p50' ? m.values['p(50)'] : undefined);
      if (v !== undefined) values[col] = v;
    }
    rows.push({ size, metric, count: m.values.count, values });
  }
  rows.sort((a, b) => a.size - b.size);
  const missing = [
    ...(rows.some((r) => r.count === undefined) ? ['count'] : []),
    ...(['p50', 'p95', 'p99', 'max'] as const).filter((p) => rows.some((r) => r.values[p] === undefined)),
  ];
  return {
    rows,
    ...(missing.length > 0
      ? { note: `${missing.join(', ')} not in summary.json: its summaryTrendStats leave them out` }
      : {}),
  };
}

const FANOUT_KINDS = ['message', 'presence'] as const;

function fanout(files: RunFiles): { rows: RoomFanout[]; source: string } {
  const metrics = files.summary?.metrics ?? {};
  const count = (name: string): number | undefined => metrics[name]?.values.count;
  const { mucFanoutExpected: expected, mucFanoutReceived: received } = XMPP_COUNTERS;
  const kinds = FANOUT_KINDS.filter(
    (k) => metrics[`${expected}{kind:${k}}`] !== undefined || metrics[`${received}{kind:${k}}`] !== undefined,
  );
  if (kinds.length > 0)
    return {
      rows: kinds.map((kind) => ({
        kind,
        expected: count(`${expected}{kind:${kind}}`) ?? 0,
        received: count(`${received}{kind:${kind}}`) ?? 0,
      })),
      source: `by kind, from summary.json (the sub-metrics ${expected}{kind:…} and ${received}{kind:…})`,
    };
  const e = mergedCounterBy(files.merged, expected, 'kind');
  const r = mergedCounterBy(files.merged, received, 'kind');
  if (e.size > 0 || r.size > 0)
    return {
      rows: FANOUT_KINDS.filter((k) => e.has(k) || r.has(k)).map((kind) => ({
        kind,
        expected: e.get(kind) ?? 0,
        received: r.get(kind) ?? 0,
      })),
      source: 'by kind, from merged.json (every generator)',
    };
  return {
    rows: [{ kind: 'all', expected: count(expected) ?? 0, received: count(received) ?? 0 }],
    source:
      `messages and presences together: summary.json has no ${expected}{kind:message} sub-metric ` +
      '(a threshold on it puts it there, as the muc and conference scenarios do)',
  };
}

function rooms(files: RunFiles): RoomFigures | undefined {
  const names = [
    ...Object.keys(files.summary?.metrics ?? {}),
    ...(files.merged?.histograms ?? []).map((h) => h.name),
    ...(files.merged?.counters ?? []).map((c) => c.name),
  ];
  if (!names.some((n) => n.startsWith(MUC_PREFIX))) return undefined;
  const join = rateCounts(files, XMPP_RATES.mucJoinSuccess);
  const losses: RoomLoss[] = [];
  for (const [metric, what] of [
    [XMPP_RATES.mucMessageLoss, 'groupchat messages'],
    [XMPP_RATES.mucPresenceLoss, 'room presences'],
  ] as const) {
    const r = rateCounts(files, metric);
    // passes are the lost ones (src/contract/metric-names.ts).
    if (r && r.passes + r.fails > 0)
      losses.push({ what, metric, samples: r.passes + r.fails, lost: r.passes });
  }
  const f = fanout(files);
  const sizes = roomSizes(files.summary);
  return {
    ...(join && join.passes + join.fails > 0
      ? { joins: { ok: join.passes, total: join.passes + join.fails } }
      : {}),
    fanout: f.rows,
    fanoutSource: f.source,
    losses,
    bySize: sizes.rows,
    ...(sizes.note !== undefined ? { bySizeNote: sizes.note } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Over time

function overTime(files: RunFiles): OverTimeFigures {
  const series = files.intervals;
  if (series === undefined || series.length === 0) {
    return {
      available: false,
      why: files.merged
        ? 'the collector wrote no interval logs (hdr/*.hlog) for this run'
        : 'run without --collect: no interval histograms (hdr/*.hlog), so nothing over time; ' +
          '`starling run --collect` records them',
    };
  }
  const all = series.filter((s) => s.entry.unit === 'us');
  // A loop, not Math.min(...): a long run has more intervals than a call takes arguments.
  let t0 = Infinity;
  let t1 = -Infinity;
  let shortest = Infinity;
  for (const s of all)
    for (const i of s.intervals) {
      t0 = Math.min(t0, i.startMs);
      t1 = Math.max(t1, i.endMs);
      shortest = Math.min(shortest, i.endMs - i.startMs);
    }
  if (!Number.isFinite(t0)) return { available: false, why: 'the interval logs hold no interval' };
  const intervalMs = files.merged?.intervalMs ?? shortest;
  const bucketMs = intervalMs * Math.max(1, Math.ceil((t1 - t0) / intervalMs / MAX_TIME_POINTS));
  const of = (name: string): OverTime | undefined => {
    const mine = all.filter((s) => s.entry.name === name);
    return mine.length === 0 ? undefined : { metric: name, points: bucketed(mine, t0, t1, bucketMs) };
  };
  const latency = XMPP_TREND_NAMES.map(of).filter(
    (o): o is OverTime => o !== undefined && o.points.length > 0,
  );
  const generatorDelay = of(GENERATOR_METRICS.eventLoopDelay);
  return {
    available: true,
    intervalSeconds: bucketMs / 1000,
    spanSeconds: (t1 - t0) / 1000,
    latency,
    ...(generatorDelay && generatorDelay.points.length > 0 ? { generatorDelay } : {}),
  };
}

/** The series' intervals summed per bucket of `bucketMs` from `t0`, each bucket's figures. */
function bucketed(series: IntervalSeries[], t0: number, t1: number, bucketMs: number): IntervalFigure[] {
  const buckets = new Map<number, Map<number, number>>();
  for (const s of series)
    for (const iv of s.intervals) {
      const b = Math.floor((iv.startMs - t0) / bucketMs);
      const sum = buckets.get(b) ?? new Map<number, number>();
      addSparseToMap(sum, iv.counts);
      buckets.set(b, sum);
    }
  return [...buckets.keys()]
    .sort((a, b) => a - b)
    .flatMap((b) => {
      const counts = sparseFromMap(buckets.get(b) as Map<number, number>);
      if (counts.total === 0) return [];
      const f = hdrFigures(counts, false);
      const start = t0 + b * bucketMs;
      return [
        {
          t: (start - t0) / 1000,
          seconds: Math.max(0.001, Math.min(bucketMs, t1 - start)) / 1000,
          count: f.count,
          p50: f.values.p50,
          p99: f.values.p99,
          max: f.values.max,
        },
      ];
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Generator and tap

function generator(files: RunFiles): GeneratorFigures {
  const health = files.summary?.generator;
  const merged = files.merged;
  const delays = new Map<string, Map<number, number>>();
  for (const h of merged?.histograms ?? []) {
    if (h.name !== GENERATOR_METRICS.eventLoopDelay) continue;
    const g = h.labels.generator ?? '';
    const sum = delays.get(g) ?? new Map<number, number>();
    addSparseToMap(sum, decodeSparse(h.hdr));
    delays.set(g, sum);
  }
  const cpu = mergedCounterBy(merged, GENERATOR_METRICS.cpuSeconds, 'generator');
  const saturated = new Map<string, number>();
  for (const g of merged?.gauges ?? [])
    if (g.name === GENERATOR_METRICS.saturated) saturated.set(g.labels.generator ?? '', g.value);
  const fleet = [...delays.keys()].sort().map((g) => {
    const f = hdrFigures(sparseFromMap(delays.get(g) as Map<number, number>), false);
    return {
      generator: g,
      delay: { count: f.count, ...f.values },
      ...(cpu.has(g) ? { cpuSeconds: cpu.get(g) } : {}),
      ...(saturated.has(g) ? { saturated: saturated.get(g) === 1 } : {}),
    };
  });
  if (!health && fleet.length === 0) {
    return {
      why:
        files.summary?.format === 'k6-export'
          ? 'a k6 run: k6 does not report its own health (the Node engine does)'
          : files.summary
            ? 'summary.json has no generator section: the run ended before its scenarios started'
            : 'no summary.json and no generator series in merged.json',
    };
  }
  return { ...(health ? { health } : {}), ...(fleet.length > 0 ? { fleet } : {}) };
}

const TAP_LATENCY = [TAP_METRICS.iqResponse, TAP_METRICS.messageTransit, TAP_METRICS.frameParse] as const;

function tap(files: RunFiles): TapFigures {
  const merged = files.merged;
  const ran =
    merged !== undefined &&
    [...merged.counters, ...merged.histograms, ...merged.gauges].some((s) => s.name.startsWith('tap_'));
  if (!ran) {
    return {
      ran: false,
      why: merged
        ? 'no tap ran: merged.json has no tap_* series (`starling collect --tap <endpoint>` puts one in front of the server)'
        : 'no tap ran (a tap reports to a collector: `starling collect --tap <endpoint>`)',
    };
  }
  const violations = new Map<string, { kind: string; direction: string; count: number }>();
  for (const c of merged.counters) {
    if (c.name !== TAP_METRICS.framingViolations) continue;
    const kind = c.labels.kind ?? '';
    const direction = c.labels.direction ?? '';
    const v = violations.get(`${kind}\n${direction}`) ?? { kind, direction, count: 0 };
    v.count += c.value;
    violations.set(`${kind}\n${direction}`, v);
  }
  return {
    ran: true,
    frames: byCount(mergedCounterBy(merged, TAP_METRICS.frames, 'direction')),
    violations: [...violations.values()]
      .filter((v) => v.count > 0)
      .sort((a, b) => b.count - a.count || a.kind.localeCompare(b.kind)),
    latency: latencyFromMerged(merged, TAP_LATENCY).table,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The run

function outcome(files: RunFiles, ths: ThresholdFigure[] | undefined): Outcome {
  const code = files.run?.exitCode;
  const error = files.run?.error === undefined ? undefined : maskUrlPasswords(files.run.error);
  if (code !== undefined) {
    return {
      exitCode: code,
      verdict: code === EXIT.ok ? 'passed' : 'failed',
      text: `exit ${code}: ${EXIT_TEXT[code] ?? 'failed'}`,
      ...(error !== undefined ? { error } : {}),
    };
  }
  if (ths && ths.length > 0) {
    const failed = ths.filter((t) => !t.ok).length;
    return {
      exitCode: undefined,
      verdict: failed > 0 ? 'failed' : 'passed',
      text:
        failed > 0 ? `${failed} of ${ths.length} thresholds crossed` : `all ${ths.length} thresholds held`,
    };
  }
  return { exitCode: undefined, verdict: 'unknown', text: 'no run.json and no thresholds: no verdict' };
}

function scenarioName(files: RunFiles): string {
  const script = files.run?.script;
  if (script) return basename(script).replace(/\.(js|ts|mjs)$/, '');
  return files.merged?.runId ?? basename(files.dir);
}

const ms = (n: number): string => `${Number(n.toFixed(3))} ms`;

function config(files: RunFiles): [string, string][] {
  const rows: [string, string][] = [];
  const { run, summary, merged } = files;
  if (run?.runId !== undefined) rows.push(['run id', run.runId]);
  if (run?.script !== undefined) rows.push(['script', maskUrlPasswords(run.script)]);
  if (summary) {
    rows.push([
      'engine',
      summary.format === 'k6-export'
        ? 'k6 (--summary-export)'
        : summary.generator
          ? 'Node engine'
          : 'Node engine or k6 handleSummary',
    ]);
    if (summary.testRunDurationMs !== undefined)
      rows.push(['test duration', `${(summary.testRunDurationMs / 1000).toFixed(1)} s`]);
    if (summary.summaryTrendStats) rows.push(['summaryTrendStats', summary.summaryTrendStats.join(', ')]);
  }
  if (merged) {
    rows.push(['collector run', merged.runId]);
    if (merged.startMs !== null && merged.endMs !== null)
      rows.push([
        'collector span',
        `${new Date(merged.startMs).toISOString()} – ${new Date(merged.endMs).toISOString()} (${((merged.endMs - merged.startMs) / 1000).toFixed(1)} s)`,
      ]);
    rows.push(['collector interval', ms(merged.intervalMs)]);
  }
  const rule = summary?.generator?.rule;
  if (rule)
    rows.push([
      'saturation rule',
      `over any ${rule.sustainMs / 1000} s: CPU ≥ ${rule.cpuShare * 100} % of a core, event loop busy ≥ ` +
        `${rule.busyShare * 100} %, or event-loop delay p${rule.delayPercentile} ≥ ${rule.delayMs} ms`,
    ]);
  return rows;
}

function metricLines(summary: RunSummaryData | undefined): MetricLine[] {
  return Object.entries(summary?.metrics ?? {})
    .map(([name, m]) => ({ name, type: m.type, values: m.values }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Every figure of the run in `files`. */
export function runFigures(files: RunFiles): RunFigures {
  const { summary, merged } = files;
  const missing: string[] = [];
  if (!files.run)
    missing.push('no run.json: not written by `starling run` (a collector’s own run directory?)');
  if (!summary)
    missing.push(
      files.run
        ? 'no summary.json: the run ended before the engine wrote its summary (see the error above)'
        : 'no summary.json: each generator writes its own, in its own results directory',
    );
  if (!merged)
    missing.push(
      'no merged.json: run without --collect, so figures come from summary.json and nothing is over time',
    );
  const ths = summary ? thresholds(summary) : undefined;
  const sessionFigures = sessions(files);
  const roomFigures = rooms(files);
  const lat = merged
    ? latencyFromMerged(merged, XMPP_TREND_NAMES)
    : summary
      ? latencyFromSummary(summary, XMPP_TREND_NAMES)
      : undefined;
  return {
    title: scenarioName(files),
    runId: files.run?.runId ?? merged?.runId,
    outcome: outcome(files, ths),
    config: config(files),
    env: Object.entries(redactEnv(files.run?.env ?? {})),
    thresholds: ths ?? { why: 'no summary.json: no thresholds were evaluated' },
    latency:
      lat && lat.table.rows.length > 0 ? lat.table : { why: 'no XMPP latency was measured in this run' },
    distributions: lat?.distributions ?? [],
    overTime: overTime(files),
    xmpp: [
      ...Object.keys(summary?.metrics ?? {}),
      ...(merged?.histograms ?? []).map((h) => h.name),
      ...(merged?.counters ?? []).map((c) => c.name),
    ].some((n) => n.startsWith('xmpp_')),
    ...(sessionFigures ? { sessions: sessionFigures } : {}),
    losses: losses(files),
    failures: tally(files, XMPP_COUNTERS.sessionFailures, 'reason'),
    streamErrors: tally(files, XMPP_COUNTERS.streamErrors, 'condition'),
    stanzasSent: tally(files, XMPP_COUNTERS.stanzasSent, 'kind'),
    stanzasReceived: tally(files, XMPP_COUNTERS.stanzasReceived, 'kind'),
    generator: generator(files),
    tap: tap(files),
    ...(roomFigures ? { rooms: roomFigures } : {}),
    metrics: metricLines(summary),
    missing,
  };
}
