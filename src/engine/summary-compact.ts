/**
 * k6 1.x's end-of-test text summary, `--summary-mode=compact` (the default) and `--summary-mode=full`; the
 * `legacy` layout stays in summary.ts (textSummary). Written from a reading of grafana/k6 v1.6–v1.8:
 * - the modes and their parsing: internal/lib/summary/summary.go (Mode, ValidateMode: "" is compact, anything but
 *   compact/full/legacy/disabled is `invalid summary mode`), internal/cmd/runtime_options.go (the flag, when given,
 *   wins over K6_SUMMARY_MODE; the value is validated before the test loads), internal/cmd/run.go getSummaryMode;
 * - what the summary holds: internal/output/summary/summary.go and data.go (an output that sees every sample:
 *   checks counted by name across the whole run; in full mode, also per group and per scenario other than
 *   `default`, with their own sinks; setup/teardown samples in no group; metrics sorted into sections by name
 *   prefix; checks, group_duration and — compact only — the http_req_ timing phases left out);
 * - how it is printed: internal/js/summary.js (generateTextSummary) and summary-wrapper.js (`'\n' + text + '\n\n'`).
 * handleSummary()'s `data` is the same in every mode (internal/js/runner.go prepareHandleSummaryCall hands it the
 * legacy data unless --new-machine-readable-summary), so buildSummaryData in summary.ts serves them all.
 */
import { DEFAULT_SUMMARY_TREND_STATS, Metric, type MetricStore, type ValueType } from './metrics.ts';
import type { MetricType, Tags } from './runtime.ts';
import type { ThresholdResult } from './thresholds.ts';
import {
  defaultSummaryStdout,
  humanizeValue,
  rootCollation,
  sortMetricNames,
  strWidth,
  type SummaryData,
} from './summary.ts';

// ---------------------------------------------------------------------------------------------------------------
// The mode

export const SUMMARY_MODES = ['compact', 'full', 'legacy', 'disabled'] as const;
export type SummaryMode = (typeof SUMMARY_MODES)[number];

/** k6 summary.ErrInvalidSummaryMode. */
export class InvalidSummaryModeError extends Error {
  constructor(readonly value: string) {
    super('invalid summary mode');
    this.name = 'InvalidSummaryModeError';
  }
}

/** k6 summary.ValidateMode: '' is compact; an unknown value throws `invalid summary mode`. */
export function validateSummaryMode(value: string): SummaryMode {
  if (value === '') return 'compact';
  if ((SUMMARY_MODES as readonly string[]).includes(value)) return value as SummaryMode;
  throw new InvalidSummaryModeError(value);
}

/**
 * `--summary-mode` when given (even empty), else K6_SUMMARY_MODE when set (even empty), else compact; validated
 * either way (k6 populateRuntimeOptionsFromEnv).
 */
export function resolveSummaryMode(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SummaryMode {
  return validateSummaryMode(flag ?? env.K6_SUMMARY_MODE ?? '');
}

/** k6's `NoColor` (--no-color, K6_NO_COLOR non-empty, NO_COLOR set) and the summary's `enableColors = !noColor && stdout is a TTY`. */
export function summaryColors(
  stdoutIsTTY: boolean,
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  const noColor = (env.K6_NO_COLOR ?? '') !== '' || env.NO_COLOR !== undefined;
  return stdoutIsTTY && !noColor;
}

// ---------------------------------------------------------------------------------------------------------------
// The report (the object summary.js renders, as internal/js/summary.go summarizeReportToObject hands it over)

export interface ReportMetric {
  name: string;
  type: MetricType;
  contains: ValueType;
  values: Record<string, number>;
}

export interface ReportCheck {
  name: string;
  passes: number;
  fails: number;
}

export interface ReportChecks {
  /** checks_total (counter), checks_succeeded (rate), checks_failed (rate), in this order. */
  metrics: Record<string, ReportMetric>;
  ordered_checks: ReportCheck[];
}

/** Sections in the order of k6's summary.Metrics fields, named as sobek exposes them (snake_case). */
export const METRIC_SECTIONS = [
  'http',
  'execution',
  'network',
  'browser',
  'web_vitals',
  'grpc',
  'websocket',
  'custom',
] as const;
export type MetricSection = (typeof METRIC_SECTIONS)[number];
export type ReportMetrics = Record<MetricSection, Record<string, ReportMetric>>;

export interface ReportGroup {
  checks: ReportChecks | null;
  metrics: ReportMetrics;
  /** In first-sample order (a JS object, as k6's, so the same key order rules apply). */
  groups: Record<string, ReportGroup>;
}

export interface ReportThreshold {
  metric: ReportMetric;
  thresholds: { source: string; ok: boolean }[];
}

export interface SummaryReport extends ReportGroup {
  thresholds: Record<string, ReportThreshold>;
  scenarios: Record<string, ReportGroup>;
}

const HTTP_METRICS = [
  'http_reqs',
  'http_req_failed',
  'http_req_duration',
  'http_req_blocked',
  'http_req_connecting',
  'http_req_tls_handshaking',
  'http_req_sending',
  'http_req_waiting',
  'http_req_receiving',
];
const EXECUTION_METRICS = ['vus', 'vus_max', 'iterations', 'iteration_duration', 'dropped_iterations'];
const NETWORK_METRICS = ['data_sent', 'data_received'];
const ALWAYS_SKIPPED = ['checks', 'group_duration'];
const COMPACT_SKIPPED = [
  ...ALWAYS_SKIPPED,
  'http_req_blocked',
  'http_req_connecting',
  'http_req_receiving',
  'http_req_sending',
  'http_req_tls_handshaking',
  'http_req_waiting',
];

/** k6 oneOfMetrics: a name prefix match (so sub-metrics follow their parent, and `checks_x` is skipped too). */
const oneOf = (name: string, prefixes: readonly string[]): boolean =>
  prefixes.some((p) => name.startsWith(p));

/** Where k6 (internal/output/summary/data.go populateSummaryGroup) files a metric; undefined: left out. */
export function metricSection(name: string, mode: SummaryMode): MetricSection | undefined {
  if (oneOf(name, mode === 'compact' ? COMPACT_SKIPPED : ALWAYS_SKIPPED)) return undefined;
  if (oneOf(name, HTTP_METRICS)) return 'http';
  if (oneOf(name, EXECUTION_METRICS)) return 'execution';
  if (oneOf(name, NETWORK_METRICS)) return 'network';
  const webVitals = name.startsWith('browser_web_vital_');
  if (name.startsWith('browser_') && !webVitals) return 'browser';
  if (name.startsWith('grpc_')) return 'grpc';
  if (name.startsWith('ws_')) return 'websocket';
  if (webVitals) return 'web_vitals';
  return 'custom';
}

const emptyMetrics = (): ReportMetrics => ({
  http: {},
  execution: {},
  network: {},
  browser: {},
  web_vitals: {},
  grpc: {},
  websocket: {},
  custom: {},
});

/** The checks of one group (or the whole run), counted by check name in first-seen order. */
class CheckCounts {
  readonly byName = new Map<string, ReportCheck>();

  add(name: string, value: number): void {
    let c = this.byName.get(name);
    if (c === undefined) this.byName.set(name, (c = { name, passes: 0, fails: 0 }));
    if (value === 0) c.fails++;
    else c.passes++;
  }
}

/** A group's or scenario's own copy of the metrics its samples went to (k6 aggregatedGroupData). */
class GroupData {
  readonly checks = new CheckCounts();
  readonly metrics = new Map<string, Metric>();
  readonly groups: Record<string, GroupData> = {};

  child(name: string): GroupData {
    return (this.groups[name] ??= new GroupData());
  }

  add(metric: Metric, value: number, tags: Tags | undefined): void {
    let own = this.metrics.get(metric.name);
    if (own === undefined) {
      own = new Metric(metric.name, metric.type, metric.contains, 0);
      this.metrics.set(metric.name, own);
    }
    if (own.sink.type === 'counter') own.sink.add(value, undefined);
    else own.sink.add(value);
    const check = tags?.check;
    if (check !== undefined && metric.name === 'checks') this.checks.add(check, value);
  }
}

/**
 * k6's summary output (internal/output/summary/summary.go): attach it to the store before the run. Every `checks`
 * sample with a `check` tag counts for the run's checks; in full mode each sample also goes to its scenario
 * (unless `default`) and to its innermost group (setup/teardown excluded).
 */
export class SummaryOutput {
  readonly checks = new CheckCounts();
  readonly root = new GroupData();
  readonly scenarios: Record<string, GroupData> = {};

  constructor(readonly mode: SummaryMode) {}

  static attach(store: MetricStore, mode: SummaryMode): SummaryOutput {
    const out = new SummaryOutput(mode);
    store.observe((metric, value, tags) => out.sample(metric, value, tags));
    return out;
  }

  sample(metric: Metric, value: number, tags: Tags | undefined): void {
    if (metric.name === 'checks') {
      const check = tags?.check;
      if (check !== undefined) this.checks.add(check, value);
    }
    if (this.mode !== 'full') return; // compact: every other sample (one per WebSocket frame) costs a compare
    let data = this.root;
    const scenario = tags?.scenario;
    if (scenario !== undefined && scenario !== 'default') {
      data = this.scenarios[scenario] ??= new GroupData();
      data.add(metric, value, tags);
    }
    const group = tags?.group;
    if (group === undefined || group.length === 0) return;
    const path = group.startsWith('::') ? group.slice(2) : group;
    if (path === 'setup' || path === 'teardown') return;
    for (const name of path.split('::')) data = data.child(name);
    data.add(metric, value, tags);
  }
}

const reportMetric = (m: Metric, durationMs: number, trendStats: readonly string[]): ReportMetric => ({
  name: m.name,
  type: m.type,
  contains: m.contains,
  values: m.values(durationMs, trendStats),
});

/** k6 populateSummaryChecks: from the `checks` rate of the group and its checks by name. */
function reportChecks(
  checksMetric: Metric | undefined,
  counts: CheckCounts,
  durationMs: number,
  trendStats: readonly string[],
): ReportChecks | null {
  if (checksMetric === undefined || checksMetric.sink.type !== 'rate') return null;
  const total = checksMetric.sink.passes + checksMetric.sink.fails;
  const succeeded = checksMetric.sink.passes;
  const info = { type: 'rate' as const, contains: 'default' as const };
  return {
    metrics: {
      checks_total: {
        name: 'checks_total',
        type: 'counter',
        contains: 'default',
        values: { count: total, rate: durationMs === 0 ? 0 : total / (durationMs / 1000) },
      },
      checks_succeeded: { ...reportMetric(checksMetric, durationMs, trendStats), name: 'checks_succeeded' },
      checks_failed: {
        name: 'checks_failed',
        ...info,
        // k6 stores the failed count as `passes`, the succeeded count as `fails`: the line reads "N out of total".
        values: {
          passes: total - succeeded,
          fails: succeeded,
          rate: total > 0 ? (total - succeeded) / total : 0,
        },
      },
    },
    ordered_checks: [...counts.byName.values()].map((c) => ({ ...c })),
  };
}

function reportGroup(
  mode: SummaryMode,
  metrics: Iterable<Metric>,
  checks: CheckCounts,
  groups: Record<string, GroupData>,
  durationMs: number,
  trendStats: readonly string[],
): ReportGroup {
  const all = [...metrics];
  const out: ReportGroup = {
    checks: reportChecks(
      all.find((m) => m.name === 'checks'),
      checks,
      durationMs,
      trendStats,
    ),
    metrics: emptyMetrics(),
    groups: {},
  };
  for (const m of all) {
    const section = metricSection(m.name, mode);
    if (section !== undefined) out.metrics[section][m.name] = reportMetric(m, durationMs, trendStats);
  }
  for (const [name, g] of Object.entries(groups)) {
    out.groups[name] = reportGroup(mode, g.metrics.values(), g.checks, g.groups, durationMs, trendStats);
  }
  return out;
}

const PERCENTILE_SOURCE = /^p\((\d+(?:\.\d+)?)\)\s*[<>=]/;

/**
 * The report k6 renders (internal/output/summary/summary.go Summary): the run's metrics (every observed one) and
 * checks, the thresholds with their metric's values (plus the percentile each `p(N)` threshold reads), and in full
 * mode the groups and scenarios.
 */
export function buildSummaryReport(
  store: MetricStore,
  output: SummaryOutput,
  thresholdResults: readonly ThresholdResult[],
  opts: { testRunDurationMs: number; summaryTrendStats?: readonly string[] | null },
): SummaryReport {
  const trendStats = opts.summaryTrendStats ?? DEFAULT_SUMMARY_TREND_STATS;
  const ms = opts.testRunDurationMs;
  const thresholds: Record<string, ReportThreshold> = {};
  for (const r of thresholdResults) {
    const m = store.get(r.metric);
    if (m === undefined) continue;
    const t = (thresholds[r.metric] ??= { metric: reportMetric(m, ms, trendStats), thresholds: [] });
    t.thresholds.push({ source: r.expr, ok: r.ok });
    const p = PERCENTILE_SOURCE.exec(r.expr.trim());
    if (p && m.sink.type === 'trend') t.metric.values[`p(${p[1]})`] = m.sink.p(Number(p[1]) / 100);
  }
  const root = reportGroup(output.mode, store.observed(), output.checks, output.root.groups, ms, trendStats);
  const scenarios: Record<string, ReportGroup> = {};
  for (const [name, s] of Object.entries(output.scenarios)) {
    scenarios[name] = reportGroup(output.mode, s.metrics.values(), s.checks, s.groups, ms, trendStats);
  }
  return { thresholds, ...root, scenarios };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering (internal/js/summary.js)

export interface CompactSummaryOptions {
  /** ANSI colours: k6 passes `!noColor && stdout is a TTY` (see summaryColors). */
  enableColors?: boolean;
  summaryTrendStats?: readonly string[] | null;
  /** '' or null: automatic units; 's', 'ms' or 'us'. */
  summaryTimeUnit?: string | null;
}

interface Opts {
  enableColors: boolean;
  summaryTrendStats: readonly string[];
  summaryTimeUnit: string | null | undefined;
}

const COLORS = { red: '31', green: '32', cyan: '36', white: '37' } as const;
const FAINT = '2';

class Formatter {
  constructor(private readonly colors: boolean) {}

  decorate(text: string, color: keyof typeof COLORS, faint = false): string {
    if (!this.colors) return text;
    return `\x1b[${faint ? `${FAINT};` : ''}${COLORS[color]}m${text}\x1b[0m`;
  }

  bold(text: string): string {
    return this.colors ? `\x1b[1m${text}\x1b[0m` : text;
  }
}

/** Indentation: two spaces per level, one level deeper than the context's base by default (RenderContext). */
class Ctx {
  constructor(readonly base = 0) {}

  level(level = 1): string {
    return ' '.repeat((this.base + level) * 2);
  }

  indent(text: string, level = 1): string {
    return this.level(level) + text;
  }

  deeper(by = 1): Ctx {
    return new Ctx(this.base + by);
  }
}

/** A section break in the line list: the join turns it into an empty line (ReportBuilder.build). */
const BREAK = '\n';

function displayName(name: string): string {
  const at = name.indexOf('{');
  return at >= 0 ? `  { ${name.substring(at + 1, name.length - 1)} }` : name;
}

function nonTrendValues(m: ReportMetric, timeUnit: string | null | undefined): string[] {
  const v = m.values;
  const h = (x: number | undefined): string => humanizeValue(x as number, m, timeUnit);
  switch (m.type) {
    case 'counter':
      return [h(v.count), `${h(v.rate)}/s`];
    case 'gauge':
      return [h(v.value), `min=${h(v.min)}`, `max=${h(v.max)}`];
    case 'rate':
      return [h(v.rate), `${v.passes} out of ${(v.passes as number) + (v.fails as number)}`];
    default:
      return ['[no data]'];
  }
}

const trendValue = (value: number, stat: string, m: ReportMetric, o: Opts): string =>
  stat === 'count' ? String(value) : humanizeValue(value, m, o.summaryTimeUnit);

/**
 * Widths and formatted values for one block of metric lines (computeSummaryInfo). The block measures its own names
 * unless `noDots` (see nameWidthMode), where the width is NaN and so are the dots.
 */
interface Info {
  maxNameWidth: number;
  nonTrend: Record<string, string[]>;
  trendCols: Record<string, string[]>;
  trendKeys: Record<string, Record<string, string>>;
  trendColMax: number[];
  mainMax: number;
  extraMax: number[];
}

function summaryInfo(metrics: Record<string, ReportMetric>, ctx: Ctx, o: Opts, noDots = false): Info {
  const stats = o.summaryTrendStats;
  const info: Info = {
    maxNameWidth: noDots ? Number.NaN : 0,
    nonTrend: {},
    trendCols: {},
    trendKeys: {},
    trendColMax: new Array<number>(stats.length).fill(0),
    mainMax: 0,
    extraMax: [],
  };
  for (const name of sortMetricNames(Object.keys(metrics))) {
    const m = metrics[name] as ReportMetric;
    if (!noDots) info.maxNameWidth = Math.max(info.maxNameWidth, strWidth(ctx.indent(displayName(name))));
    if (m.type === 'trend') {
      const keys: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.values)) if (!stats.includes(k)) keys[k] = trendValue(v, k, m, o);
      const cols = stats.map((s) => trendValue(m.values[s] as number, s, m, o));
      cols.forEach((c, i) => (info.trendColMax[i] = Math.max(info.trendColMax[i] as number, strWidth(c))));
      info.trendCols[name] = cols;
      info.trendKeys[name] = keys;
    } else {
      const values = nonTrendValues(m, o.summaryTimeUnit);
      info.nonTrend[name] = values;
      info.mainMax = Math.max(info.mainMax, strWidth(values[0] as string));
      values.slice(1).forEach((x, i) => {
        const w = strWidth(x);
        if (info.extraMax[i] === undefined || w > (info.extraMax[i] as number)) info.extraMax[i] = w;
      });
    }
  }
  return info;
}

function trendData(name: string, info: Info, f: Formatter, o: Opts): string {
  return (info.trendCols[name] as string[])
    .map(
      (col, i) =>
        `${o.summaryTrendStats[i]}=${f.decorate(col, 'cyan')}${' '.repeat((info.trendColMax[i] as number) - strWidth(col))}`,
    )
    .join(' ');
}

function nonTrendData(name: string, info: Info, f: Formatter): string {
  const [main, ...extras] = info.nonTrend[name] as string[];
  let out = f.decorate(main as string, 'cyan') + ' '.repeat(info.mainMax - strWidth(main as string));
  if (extras.length === 1) out += ' ' + f.decorate(extras[0] as string, 'cyan', true);
  else if (extras.length > 1) {
    out +=
      ' ' +
      extras
        .map((x, i) => f.decorate(x, 'cyan', true) + ' '.repeat((info.extraMax[i] as number) - strWidth(x)))
        .join(' ');
  }
  return out;
}

/** One `name.....: values` line: the longest name gets three dots (renderMetricLine). */
function metricLine(name: string, m: ReportMetric, info: Info, f: Formatter, ctx: Ctx, o: Opts): string {
  const shown = displayName(name);
  const dots = Math.max(3, info.maxNameWidth - (strWidth(shown) + strWidth(ctx.level())) + 3);
  const dotted = shown + f.decorate('.'.repeat(Number.isNaN(dots) ? 0 : dots) + ':', 'white', true);
  const data = m.type === 'trend' ? trendData(name, info, f, o) : nonTrendData(name, info, f);
  return ctx.indent(`${dotted} ${data}`);
}

function metricLines(
  metrics: Record<string, ReportMetric>,
  info: Info,
  f: Formatter,
  ctx: Ctx,
  o: Opts,
  sort = true,
): string[] {
  const names = sort ? sortMetricNames(Object.keys(metrics)) : Object.keys(metrics);
  return names.map((n) => metricLine(n, metrics[n] as ReportMetric, info, f, ctx, o));
}

const title = (text: string, f: Formatter, ctx: Ctx, prefix = '█'): string =>
  ctx.indent(`${prefix} ${f.bold(text)} ${BREAK}`);

function checkLine(c: ReportCheck, f: Formatter, ctx: Ctx): string {
  if (c.fails === 0) return ctx.indent(f.decorate(`✓ ${c.name}`, 'green'));
  const pct = Math.floor((100 * c.passes) / (c.passes + c.fails));
  const results = f.decorate(`↳  ${pct}% — ✓ ${c.passes} / ✗ ${c.fails}`, 'red');
  // k6 indents the results by (base + base + 1) levels, which is one level deeper only at the top.
  return `${ctx.indent(f.decorate(`✗ ${c.name}`, 'red'))}\n${ctx.indent(results, ctx.base + 1)}`;
}

/** renderChecks + ReportBuilder._renderChecks: the three checks_ lines, the checks, each block then a break. */
function checksBlock(checks: ReportChecks | null, f: Formatter, ctx0: Ctx, o: Opts): string[] {
  if (checks === null) return [];
  const ctx = ctx0.deeper();
  const info = summaryInfo(checks.metrics, ctx, o);
  return [
    ...metricLines(checks.metrics, info, f, ctx, o, false),
    BREAK,
    ...checks.ordered_checks.map((c) => checkLine(c, f, ctx)),
    BREAK,
  ];
}

/** ReportBuilder._renderMetrics: one block per non-empty section, CUSTOM first, aligned together. */
function metricsBlock(metrics: ReportMetrics, f: Formatter, ctx0: Ctx, o: Opts, noDots: boolean): string[] {
  const ctx = ctx0.deeper();
  const all: Record<string, ReportMetric> = {};
  for (const s of METRIC_SECTIONS) Object.assign(all, metrics[s]);
  const info = summaryInfo(all, ctx, o, noDots);
  const sections = METRIC_SECTIONS.filter((s) => Object.keys(metrics[s]).length > 0);
  const ordered = sections.includes('custom')
    ? ['custom' as const, ...sections.filter((s) => s !== 'custom')]
    : sections;
  return ordered.flatMap((s) => [
    ctx.indent(f.bold(s.toUpperCase())),
    ...metricLines(metrics[s], info, f, ctx, o),
    BREAK,
  ]);
}

function groupContent(g: ReportGroup, f: Formatter, ctx: Ctx, o: Opts, noDots: boolean): string[] {
  return [
    ...checksBlock(g.checks, f, ctx, o),
    ...metricsBlock(g.metrics, f, ctx, o, noDots),
    ...Object.entries(g.groups).flatMap(([name, sub]) => {
      const inner = ctx.deeper();
      return [title(`GROUP: ${name}`, f, inner, '↳'), ...groupContent(sub, f, inner, o, noDots)];
    }),
  ];
}

/** The value a threshold reads, `agg=value` (renderMetricValueForThresholds). */
function thresholdValue(m: ReportMetric, source: string, info: Info, f: Formatter, o: Opts): string {
  const agg = (source.split(/[=><]/)[0] as string).trim();
  let value: string | undefined;
  if (m.type === 'trend') {
    const i = o.summaryTrendStats.indexOf(agg);
    value = i !== -1 ? info.trendCols[m.name]?.[i] : info.trendKeys[m.name]?.[agg];
  } else if (m.type === 'counter') {
    value = info.nonTrend[m.name]?.[agg === 'count' ? 0 : 1];
  } else value = info.nonTrend[m.name]?.[0];
  // k6 joins [agg, value] with '=': a missing value is '' plain, or the coloured word `undefined`.
  const shown =
    value === undefined ? (o.enableColors ? f.decorate('undefined', 'cyan') : '') : f.decorate(value, 'cyan');
  return `${f.decorate(agg, 'white')}=${shown}`;
}

/** renderThresholds: each metric's name (a sub-metric's selector only, indented, under its parent) and results. */
function thresholdsBlock(
  thresholds: Record<string, ReportThreshold>,
  f: Formatter,
  ctx0: Ctx,
  o: Opts,
): string[] {
  const ctx = ctx0.deeper();
  const metrics: Record<string, ReportMetric> = {};
  for (const t of Object.values(thresholds)) metrics[t.metric.name] = t.metric;
  const info = summaryInfo(metrics, ctx, o);
  const out: string[] = [];
  for (const name of sortMetricNames(Object.keys(metrics))) {
    const parent = name.split('{', 1)[0] as string;
    const nested = name.length > parent.length && metrics[parent] !== undefined;
    const inner = nested ? ctx.deeper() : ctx;
    out.push(inner.indent(nested ? name.substring(parent.length) : name));
    const t = thresholds[name] as ReportThreshold;
    for (const th of t.thresholds) {
      const mark = th.ok ? f.decorate('✓', 'green') : f.decorate('✗', 'red');
      const source = f.decorate(`'${th.source.trim()}'`, 'white');
      out.push(inner.indent([mark, source, thresholdValue(t.metric, th.source, info, f, o)].join(' ')));
    }
    out.push(BREAK);
  }
  return out;
}

/**
 * k6's ReportBuilder._computeGlobalMaxNameWidth reduces the metric names of every section, group and scenario
 * without an initial value, so its accumulator starts as the first name, a string: with two names or more the
 * width is NaN, and every block of metric lines measures its own names (one block per group: all its sections
 * together); with a single name the width is that string, so nothing is measured and the metric lines get no dots
 * (`'.'.repeat(NaN)`); with none, the reduce throws.
 */
function nameWidthMode(report: SummaryReport): { noDots: boolean } {
  const names = new Set<string>();
  const collect = (g: ReportGroup): void => {
    for (const s of METRIC_SECTIONS) for (const n of Object.keys(g.metrics[s])) names.add(n);
    for (const sub of Object.values(g.groups)) collect(sub);
  };
  collect(report);
  for (const s of Object.values(report.scenarios)) collect(s);
  if (names.size === 0) throw new TypeError('Reduce of empty array with no initial value');
  return { noDots: names.size === 1 };
}

/**
 * The text of k6's new end-of-test summary (generateTextSummary): THRESHOLDS (when any), TOTAL RESULTS, then in
 * full mode a section per top-level group (in first-sample order) and per scenario (by name). k6 prints it as
 * `'\n' + text + '\n\n'` (see compactSummaryStdout).
 */
export function compactTextSummary(report: SummaryReport, options: CompactSummaryOptions = {}): string {
  const o: Opts = {
    enableColors: options.enableColors ?? false,
    summaryTrendStats: options.summaryTrendStats ?? DEFAULT_SUMMARY_TREND_STATS,
    summaryTimeUnit: options.summaryTimeUnit,
  };
  const f = new Formatter(o.enableColors);
  const ctx = new Ctx(0);
  const { noDots } = nameWidthMode(report);
  const sections: { title: string; content: string[] }[] = [];
  if (Object.keys(report.thresholds).length > 0) {
    sections.push({ title: 'THRESHOLDS', content: thresholdsBlock(report.thresholds, f, ctx, o) });
  }
  // TOTAL RESULTS: the run's checks and metrics; its groups are sections of their own.
  const total = [
    ...checksBlock(report.checks, f, ctx, o),
    ...metricsBlock(report.metrics, f, ctx, o, noDots),
  ];
  sections.push({ title: 'TOTAL RESULTS', content: total });
  for (const [name, g] of Object.entries(report.groups)) {
    sections.push({ title: `GROUP: ${name}`, content: groupContent(g, f, ctx, o, noDots) });
  }
  for (const name of Object.keys(report.scenarios).sort(rootCollation().compare)) {
    const g = report.scenarios[name] as ReportGroup;
    sections.push({ title: `SCENARIO: ${name}`, content: groupContent(g, f, ctx, o, noDots) });
  }
  let text = '';
  for (const s of sections) {
    for (const line of [title(s.title, f, ctx), ...s.content, BREAK])
      text += line === BREAK ? BREAK : `\n${line}`;
  }
  return text;
}

/** What k6 writes to stdout in compact and full modes (summary-wrapper.js). */
export function compactSummaryStdout(report: SummaryReport, options: CompactSummaryOptions = {}): string {
  return '\n' + compactTextSummary(report, options) + '\n\n';
}

/**
 * What k6 writes to stdout when the script exports no handleSummary(), by mode: legacy from handleSummary's data
 * (summary.ts), compact and full from the report; nothing when disabled.
 */
export function defaultSummaryText(
  mode: SummaryMode,
  data: SummaryData,
  report: () => SummaryReport,
  enableColors: boolean,
): string {
  if (mode === 'disabled') return '';
  if (mode === 'legacy') return defaultSummaryStdout(data, enableColors);
  return compactSummaryStdout(report(), {
    enableColors,
    summaryTrendStats: data.options.summaryTrendStats,
    summaryTimeUnit: data.options.summaryTimeUnit,
  });
}
