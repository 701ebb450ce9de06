/**
 * End-of-test summary: the `handleSummary(data)` object (grafana/k6 internal/js/summary.go
 * summarizeMetricsToObject), k6's classic text summary (internal/js/summary-legacy.js, the `--summary-mode=legacy`
 * output and jslib k6-summary's textSummary, as of k6 ≥ v0.54: rates print `75.00% 45 out of 60`). starling's
 * own XMPP table and summary.json section are in src/report/xmpp-summary.ts.
 */
import { createHash } from 'node:crypto';
import type { MetricType } from './runtime.ts';
import { DEFAULT_SUMMARY_TREND_STATS, type MetricStore, type ValueType } from './metrics.ts';
import type { ThresholdResult } from './thresholds.ts';

// ---------------------------------------------------------------------------------------------------------------
// Groups and checks (lib/models.go)

export interface SummaryCheck {
  name: string;
  path: string;
  id: string;
  passes: number;
  fails: number;
}

export interface SummaryGroup {
  name: string;
  path: string;
  id: string;
  groups: SummaryGroup[];
  checks: SummaryCheck[];
}

const GROUP_SEPARATOR = '::';

const md5hex = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');

/** k6 NewGroup: the root group is `newGroup('')`; ids are the md5 of the path. */
export function newGroup(name: string, parent?: SummaryGroup): SummaryGroup {
  if (name.includes(GROUP_SEPARATOR)) throw new Error("group and check names may not contain '::'");
  const old = parent?.path ?? '';
  const path = old === '' && name === '' ? '' : old + GROUP_SEPARATOR + name;
  return { name, path, id: md5hex(path), groups: [], checks: [] };
}

/** k6 Group.Group: the child group `name`, created (in first-use order) when missing. */
export function childGroup(parent: SummaryGroup, name: string): SummaryGroup {
  let g = parent.groups.find((x) => x.name === name);
  if (g === undefined) {
    g = newGroup(name, parent);
    parent.groups.push(g);
  }
  return g;
}

/** k6 Group.Check: the check `name` of `group`, created (in first-use order) when missing. */
export function groupCheck(group: SummaryGroup, name: string): SummaryCheck {
  let c = group.checks.find((x) => x.name === name);
  if (c === undefined) {
    if (name.includes(GROUP_SEPARATOR)) throw new Error("group and check names may not contain '::'");
    const path = group.path + GROUP_SEPARATOR + name;
    c = { name, path, id: md5hex(path), passes: 0, fails: 0 };
    group.checks.push(c);
  }
  return c;
}

/**
 * The run's group/check tree as k6 builds it for the summary (lib/test_state.go GroupSummary, an internal output):
 * every `group_duration` and `checks` sample creates the groups of its `group` tag ('::a::b': a, then b under it),
 * and a `checks` sample then counts a pass (value ≠ 0) or a fail for its `check` tag in that group. A sample
 * without a `group` tag is ignored. Setup and teardown run with the group tag '::setup' / '::teardown'
 * (internal/js/runner.go runPart), so their checks land in the groups `setup` and `teardown`.
 */
export class GroupSummary {
  readonly root: SummaryGroup = newGroup('');

  /** One sample, as GroupSummary.handleSample. */
  add(metric: string, value: number, tags: Readonly<Record<string, string>>): void {
    if (metric !== 'checks' && metric !== 'group_duration') return;
    const path = tags.group;
    if (path === undefined) return;
    let group = this.root;
    for (const name of path.split(GROUP_SEPARATOR).slice(1)) group = childGroup(group, name);
    if (metric !== 'checks') return;
    const name = tags.check;
    if (name === undefined) return;
    const check = groupCheck(group, name);
    if (value === 0) check.fails++;
    else check.passes++;
  }
}

/** The GroupSummary of one run, kept in the storage every VU of the run shares (created on first use). */
export function runGroupSummary(shared: Map<string, unknown>): GroupSummary {
  let gs = shared.get('k6.GroupSummary') as GroupSummary | undefined;
  if (gs === undefined) shared.set('k6.GroupSummary', (gs = new GroupSummary()));
  return gs;
}

// ---------------------------------------------------------------------------------------------------------------
// handleSummary data

export interface SummaryMetric {
  type: MetricType;
  contains: ValueType;
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

export interface SummaryData {
  root_group: SummaryGroup;
  options: { summaryTrendStats: string[]; summaryTimeUnit: string; noColor: boolean };
  state: { isStdOutTTY: boolean; isStdErrTTY: boolean; testRunDurationMs: number };
  metrics: Record<string, SummaryMetric>;
  /** Present only when setup() returned data (k6 passes undefined otherwise). */
  setup_data?: unknown;
}

export interface SummaryDataOptions {
  /** The test's options; only `summaryTrendStats` (default avg,min,med,max,p(90),p(95)) and `summaryTimeUnit` are read. */
  options?: { summaryTrendStats?: readonly string[] | null; summaryTimeUnit?: string | null };
  testRunDurationMs: number;
  /** The root group with its checks and sub-groups; an empty root group when omitted. */
  rootGroup?: SummaryGroup;
  /** `--no-color`. */
  noColor?: boolean;
  isStdOutTTY?: boolean;
  isStdErrTTY?: boolean;
  /** What setup() returned, JSON-able; `setup_data` is left out when undefined. */
  setupData?: unknown;
}

/**
 * k6 MetricsEngine.InitSubMetricsAndThresholds (internal/metrics/engine/engine.go): when the `expected_response`
 * system tag is enabled (it is by default), the sub-metric `http_req_duration{expected_response:true}` is always
 * registered, after the thresholds' own. It is not marked observed: it shows in the summary once a request got an
 * expected response. Call it once the script's options are known, after the thresholds were parsed.
 */
export function addDefaultSubmetrics(store: MetricStore, options: Readonly<Record<string, unknown>>): void {
  const systemTags = options.systemTags;
  if (Array.isArray(systemTags) && !systemTags.map(String).includes('expected_response')) return;
  if (store.has('http_req_duration')) store.addSubmetric('http_req_duration', 'expected_response:true');
}

/**
 * The `data` handed to handleSummary(): every observed metric (with samples, or referenced by a threshold) with
 * its k6 `values`, and `thresholds[source] = { ok }` from the final threshold results.
 */
export function buildSummaryData(
  store: MetricStore,
  thresholdResults: readonly ThresholdResult[],
  opts: SummaryDataOptions,
): SummaryData {
  const trendStats = [...(opts.options?.summaryTrendStats ?? DEFAULT_SUMMARY_TREND_STATS)];
  const metrics: Record<string, SummaryMetric> = {};
  const observed = store.observed().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const m of observed) {
    metrics[m.name] = {
      type: m.type,
      contains: m.contains,
      values: m.values(opts.testRunDurationMs, trendStats),
    };
  }
  for (const r of thresholdResults) {
    const entry = metrics[r.metric];
    if (entry === undefined) continue;
    (entry.thresholds ??= {})[r.expr] = { ok: r.ok };
  }
  const data: SummaryData = {
    root_group: opts.rootGroup ?? newGroup(''),
    options: {
      summaryTrendStats: trendStats,
      summaryTimeUnit: opts.options?.summaryTimeUnit ?? '',
      noColor: opts.noColor ?? false,
    },
    state: {
      isStdOutTTY: opts.isStdOutTTY ?? false,
      isStdErrTTY: opts.isStdErrTTY ?? false,
      testRunDurationMs: opts.testRunDurationMs,
    },
    metrics,
  };
  if (opts.setupData !== undefined) data.setup_data = opts.setupData;
  return data;
}

// ---------------------------------------------------------------------------------------------------------------
// Classic text summary (port of internal/js/summary-legacy.js)

const palette = { bold: 1, faint: 2, red: 31, green: 32, cyan: 36 } as const;
const groupPrefix = '█';
const detailsPrefix = '↳';
const succMark = '✓';
const failMark = '✗';

type Decorate = (text: string, color: number, ...rest: number[]) => string;

export interface TextSummaryOptions {
  /** Prefix of every line (k6 default ' '). */
  indent?: string;
  /** ANSI colours; k6 passes `!noColor && isStdOutTTY`. Default false here. */
  enableColors?: boolean;
  summaryTrendStats?: readonly string[];
  /** '' (automatic units), 's', 'ms' or 'us'. */
  summaryTimeUnit?: string | null;
}

/** Terminal width of a string: NFKC code points, ANSI escape sequences excluded (summary-legacy.js strWidth). */
export function strWidth(s: string): number {
  let inEscSeq = false;
  let inLongEscSeq = false;
  let width = 0;
  for (const char of s.normalize('NFKC')) {
    const code = char.charCodeAt(0);
    if (char === '\x1b') {
      inEscSeq = true;
      continue;
    }
    if (inEscSeq && char === '[') {
      inLongEscSeq = true;
      continue;
    }
    if (inEscSeq && inLongEscSeq && code >= 0x40 && code <= 0x7e) {
      inEscSeq = false;
      inLongEscSeq = false;
      continue;
    }
    if (inEscSeq && !inLongEscSeq && code >= 0x40 && code <= 0x5f) {
      inEscSeq = false;
      continue;
    }
    if (!inEscSeq && !inLongEscSeq) width++;
  }
  return width;
}

function summarizeCheck(indent: string, check: SummaryCheck, decorate: Decorate): string {
  if (check.fails == 0) return decorate(`${indent}${succMark} ${check.name}`, palette.green);
  const succPercent = Math.floor((100 * check.passes) / (check.passes + check.fails));
  return decorate(
    `${indent}${failMark} ${check.name}\n${indent} ${detailsPrefix}  ${succPercent}% — ` +
      `${succMark} ${check.passes} / ${failMark} ${check.fails}`,
    palette.red,
  );
}

function summarizeGroup(indent0: string, group: SummaryGroup, decorate: Decorate): string[] {
  let indent = indent0;
  const result: string[] = [];
  if (group.name != '') {
    result.push(`${indent}${groupPrefix} ${group.name}\n`);
    indent = indent + '  ';
  }
  for (const check of group.checks) result.push(summarizeCheck(indent, check, decorate));
  if (group.checks.length > 0) result.push('');
  for (const g of group.groups) result.push(...summarizeGroup(indent, g, decorate));
  return result;
}

function displayNameForMetric(name: string): string {
  const pos = name.indexOf('{');
  return pos >= 0 ? `{ ${name.substring(pos + 1, name.length - 1)} }` : name;
}

function indentForMetric(name: string): string {
  return name.indexOf('{') >= 0 ? '  ' : '';
}

export function humanizeBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  const base = 1000;
  if (bytes < 10) return `${bytes} B`;
  const e = Math.floor(Math.log(bytes) / Math.log(base));
  const suffix = units[e | 0];
  const val = Math.floor((bytes / Math.pow(base, e)) * 10 + 0.5) / 10;
  return `${val.toFixed(val < 10 ? 1 : 0)} ${suffix}`;
}

const unitMap: Record<string, { unit: string; coef: number }> = {
  s: { unit: 's', coef: 0.001 },
  ms: { unit: 'ms', coef: 1 },
  us: { unit: 'µs', coef: 1000 },
};

function toFixedNoTrailingZeros(val: number, prec: number): string {
  return parseFloat(val.toFixed(prec)).toString();
}

function toFixedNoTrailingZerosTrunc(val: number, prec: number): string {
  const mult = Math.pow(10, prec);
  return toFixedNoTrailingZeros(Math.trunc(mult * val) / mult, prec);
}

function humanizeGenericDuration(dur: number): string {
  if (dur === 0) return '0s';
  if (dur < 0.001) return `${Math.trunc(dur * 1000000)}ns`;
  if (dur < 1) return `${toFixedNoTrailingZerosTrunc(dur * 1000, 2)}µs`;
  if (dur < 1000) return `${toFixedNoTrailingZerosTrunc(dur, 2)}ms`;
  let result = `${toFixedNoTrailingZerosTrunc((dur % 60000) / 1000, dur > 60000 ? 0 : 2)}s`;
  let rem = Math.trunc(dur / 60000);
  if (rem < 1) return result;
  result = `${rem % 60}m${result}`;
  rem = Math.trunc(rem / 60);
  if (rem < 1) return result;
  return `${rem}h${result}`;
}

/** A duration in ms as k6 prints it: `summaryTimeUnit` ('s' | 'ms' | 'us') or automatic (`1m2s`, `12.5ms`, …). */
export function humanizeDuration(dur: number, timeUnit?: string | null): string {
  if (timeUnit !== '' && timeUnit != null && Object.prototype.hasOwnProperty.call(unitMap, timeUnit)) {
    const u = unitMap[timeUnit] as { unit: string; coef: number };
    return (dur * u.coef).toFixed(2) + u.unit;
  }
  return humanizeGenericDuration(dur);
}

/** k6 humanizeValue: rates as truncated percentages, data as kB/MB, time as durations, else up to 6 decimals. */
export function humanizeValue(
  val: number,
  metric: { type: MetricType; contains: ValueType },
  timeUnit?: string | null,
): string {
  if (metric.type == 'rate') return (Math.trunc(val * 100 * 100) / 100).toFixed(2) + '%';
  switch (metric.contains) {
    case 'data':
      return humanizeBytes(val);
    case 'time':
      return humanizeDuration(val, timeUnit);
    default:
      return toFixedNoTrailingZeros(val, 6);
  }
}

function nonTrendMetricValueForSum(metric: SummaryMetric, timeUnit: string | null | undefined): string[] {
  const v = metric.values;
  switch (metric.type) {
    case 'counter':
      return [
        humanizeValue(v['count'] ?? 0, metric, timeUnit),
        humanizeValue(v['rate'] ?? 0, metric, timeUnit) + '/s',
      ];
    case 'gauge':
      return [
        humanizeValue(v['value'] ?? 0, metric, timeUnit),
        'min=' + humanizeValue(v['min'] ?? 0, metric, timeUnit),
        'max=' + humanizeValue(v['max'] ?? 0, metric, timeUnit),
      ];
    case 'rate': {
      const passes = v['passes'] ?? 0;
      const fails = v['fails'] ?? 0;
      return [humanizeValue(v['rate'] ?? 0, metric, timeUnit), `${passes} out of ${passes + fails}`];
    }
    default:
      return ['[no data]'];
  }
}

/**
 * sobek's localeCompare is a root-locale collation; ICU's 'und' collator orders the same way for metric names.
 * Made at the first summary, not when the module loads: creating it loads ICU's collation data (~7–9 ms of
 * CPU), which every `starling run` used to pay before its first connection.
 */
let rootCollator: Intl.Collator | undefined;

/** sobek's `localeCompare` order. */
export function rootCollation(): Intl.Collator {
  return (rootCollator ??= new Intl.Collator('und'));
}

/** k6 sortMetricsByName, in place: by parent name, then the sub-metric part, with sobek's localeCompare. */
export function sortMetricNames(names: string[]): string[] {
  const collator = rootCollation();
  return names.sort((a, b) => {
    const pa = a.split('{', 1)[0] as string;
    const pb = b.split('{', 1)[0] as string;
    const r = collator.compare(pa, pb);
    return r !== 0 ? r : collator.compare(a.substring(pa.length), b.substring(pb.length));
  });
}

function summarizeMetrics(
  options: {
    indent: string;
    summaryTrendStats: readonly string[];
    summaryTimeUnit: string | null | undefined;
  },
  data: SummaryData,
  decorate: Decorate,
): string[] {
  const indent = options.indent + '  ';
  const result: string[] = [];
  const names: string[] = [];
  let nameLenMax = 0;
  const nonTrendValues: Record<string, string> = {};
  let nonTrendValueMaxLen = 0;
  const nonTrendExtras: Record<string, string[]> = {};
  const nonTrendExtraMaxLens = [0, 0];
  const trendCols: Record<string, string[]> = {};
  const numTrendColumns = options.summaryTrendStats.length;
  const trendColMaxLens: number[] = new Array<number>(numTrendColumns).fill(0);

  for (const [name, metric] of Object.entries(data.metrics)) {
    names.push(name);
    const displayNameWidth = strWidth(indentForMetric(name) + displayNameForMetric(name));
    if (displayNameWidth > nameLenMax) nameLenMax = displayNameWidth;

    if (metric.type == 'trend') {
      const cols: string[] = [];
      for (let i = 0; i < numTrendColumns; i++) {
        const tc = options.summaryTrendStats[i] as string;
        const raw = metric.values[tc] as number;
        const value = tc === 'count' ? String(raw) : humanizeValue(raw, metric, options.summaryTimeUnit);
        const valLen = strWidth(value);
        if (valLen > (trendColMaxLens[i] as number)) trendColMaxLens[i] = valLen;
        cols[i] = value;
      }
      trendCols[name] = cols;
      continue;
    }
    const values = nonTrendMetricValueForSum(metric, options.summaryTimeUnit);
    const first = values[0] as string;
    nonTrendValues[name] = first;
    const valueLen = strWidth(first);
    if (valueLen > nonTrendValueMaxLen) nonTrendValueMaxLen = valueLen;
    nonTrendExtras[name] = values.slice(1);
    for (let i = 1; i < values.length; i++) {
      const extraLen = strWidth(values[i] as string);
      if (extraLen > (nonTrendExtraMaxLens[i - 1] ?? 0)) nonTrendExtraMaxLens[i - 1] = extraLen;
    }
  }

  // sort all metrics but keep sub-metrics grouped with their parent metrics
  sortMetricNames(names);

  const getData = (name: string): string => {
    const cols = trendCols[name];
    if (cols !== undefined) {
      const tmpCols: string[] = [];
      for (let i = 0; i < cols.length; i++) {
        const col = cols[i] as string;
        tmpCols[i] =
          options.summaryTrendStats[i] +
          '=' +
          decorate(col, palette.cyan) +
          ' '.repeat((trendColMaxLens[i] as number) - strWidth(col));
      }
      return tmpCols.join(' ');
    }
    const value = nonTrendValues[name] as string;
    let fmtData = decorate(value, palette.cyan) + ' '.repeat(nonTrendValueMaxLen - strWidth(value));
    const extras = nonTrendExtras[name] as string[];
    if (extras.length == 1) {
      fmtData = fmtData + ' ' + decorate(extras[0] as string, palette.cyan, palette.faint);
    } else if (extras.length > 1) {
      const parts = extras.map(
        (extra, i) =>
          decorate(extra, palette.cyan, palette.faint) +
          ' '.repeat((nonTrendExtraMaxLens[i] ?? 0) - strWidth(extra)),
      );
      fmtData = fmtData + ' ' + parts.join(' ');
    }
    return fmtData;
  };

  for (const name of names) {
    const metric = data.metrics[name] as SummaryMetric;
    let mark = ' ';
    let markColor = (text: string) => text;
    if (metric.thresholds) {
      mark = succMark;
      markColor = (text) => decorate(text, palette.green);
      for (const threshold of Object.values(metric.thresholds)) {
        if (!threshold.ok) {
          mark = failMark;
          markColor = (text) => decorate(text, palette.red);
          break;
        }
      }
    }
    const fmtIndent = indentForMetric(name);
    let fmtName = displayNameForMetric(name);
    fmtName =
      fmtName +
      decorate('.'.repeat(nameLenMax - strWidth(fmtName) - strWidth(fmtIndent) + 3) + ':', palette.faint);
    result.push(indent + fmtIndent + markColor(mark) + ' ' + fmtName + ' ' + getData(name));
  }
  return result;
}

/**
 * k6's classic end-of-test summary text (summary-legacy.js generateTextSummary): checks by group, then every
 * metric sorted by name (sub-metrics under their parent) with dotted padding and ✓/✗ threshold marks. No
 * leading or trailing newline; k6 prints `'\n' + text + '\n\n'` (see {@link defaultSummaryStdout}).
 */
export function textSummary(data: SummaryData, options: TextSummaryOptions = {}): string {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const defaults: Record<string, unknown> = {
    indent: ' ',
    enableColors: false,
    summaryTimeUnit: null,
    summaryTrendStats: null,
  };
  // Object.assign({}, defaultOptions, data.options, options), as k6 merges them.
  const merged: Record<string, unknown> = { ...defaults, ...data.options, ...defined };
  const opts = merged as {
    indent: string;
    enableColors: boolean;
    summaryTimeUnit: string | null | undefined;
    summaryTrendStats: readonly string[] | null | undefined;
  };
  let decorate: Decorate = (text) => text;
  if (opts.enableColors) {
    decorate = (text, color, ...rest) => `\x1b[${[color, ...rest].join(';')}m${text}\x1b[0m`;
  }
  const lines = [
    ...summarizeGroup(opts.indent + '    ', data.root_group, decorate),
    ...summarizeMetrics(
      {
        indent: opts.indent,
        summaryTrendStats: opts.summaryTrendStats ?? DEFAULT_SUMMARY_TREND_STATS,
        summaryTimeUnit: opts.summaryTimeUnit,
      },
      data,
      decorate,
    ),
  ];
  return lines.join('\n');
}

/**
 * What k6 writes to stdout in `--summary-mode=legacy` when the script exports no handleSummary (summary-wrapper.js);
 * compact and full: summary-compact.ts.
 */
export function defaultSummaryStdout(data: SummaryData, enableColors: boolean): string {
  return '\n' + textSummary(data, { enableColors }) + '\n\n';
}
