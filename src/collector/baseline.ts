/**
 * Baselines: did this run get slower, or less successful, than earlier runs of the same scenario at the same load?
 * `starling gate <run> --baseline <run> [--baseline <run>…]` and `starling compare <a> <b>` read the merged,
 * fleet-wide data of each run (merged.json) and compare one statistic per rule:
 *
 * - a Trend's percentile (or med, avg, min, max), as a ratio, with a tolerance that is a share of the baseline,
 *   an absolute amount, or the larger of the two: `xmpp_session_ready:p(99)=+10%,+5ms`;
 * - a Rate (an outcome-labelled counter) as a difference in percentage points: `xmpp_login_success:rate=-1pt`,
 *   or its count of trues (`xmpp_message_loss:count=+0`: no more lost messages than before);
 * - a Counter's total as a difference: `xmpp_session_failures:count=+0`.
 *
 * The tolerance's sign says which way is worse: `+` a rise (latency, loss, failures), `-` a drop (success rates).
 *
 * Noise and change, the band. One baseline run gives one value per statistic, and the tolerance is all the slack
 * there is. Repeats of the baseline load (several `--baseline`) show how much the statistic moves when nothing
 * changed, and that spread widens the band: the bound starts at the WORST baseline (the highest when a rise is
 * worse, the lowest when a drop is) and adds the tolerance on top,
 *
 *     bound = worst ± max(relative × |worst|, absolute)
 *
 * so a run fails only when it is worse than every repeat by more than the tolerance. With the 2–5 repeats CI can
 * afford, the range of the repeats is the only spread estimate that is not itself mostly noise (a standard
 * deviation or MAD from three values swings more than the values do); its cost is that the band widens as repeats
 * are added, so it errs toward passing. The change printed beside it is measured against the MEDIAN baseline,
 * the typical value, so a run inside the band can still show a ratio above 1.
 *
 * Times are whole milliseconds (k6 and the Node engine read Date.now()), so a tolerance given only as a share of a
 * time also allows one tick, {@link TIME_TICK_FLOOR_MS}: a p50 going from 1 ms to 2 ms is +100 % and means nothing.
 */
import type { MetricType } from '../engine/runtime.ts';
import { goTrimSpace } from '../engine/go.ts';
import { parseSubmetricTags } from '../engine/metrics.ts';
import { parseMetricSelector, parseThresholdExpression, ThresholdConfigError } from '../engine/thresholds.ts';
import { XMPP_COUNTERS, XMPP_METRICS, XMPP_RATES, XMPP_TRENDS } from '../contract/metric-names.ts';
import {
  aggregate,
  metricTypes,
  recordedNothing,
  type Aggregate,
  type Aggregation,
  type GateResult,
} from './gate.ts';
import { histogramUnit } from './prometheus.ts';
import { RATE_OUTCOME_LABEL } from './store.ts';
import type { MergedRun } from './summary.ts';

/** An invalid `--max-regression` rule: exit 104, as an invalid threshold. */
export class RegressionConfigError extends ThresholdConfigError {
  constructor(message: string) {
    super(message, 'config');
    this.name = 'RegressionConfigError';
  }
}

/** Runs that cannot be compared (another scenario): said before anything is judged. */
export class BaselineMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BaselineMismatchError';
  }
}

/** What a statistic measures, which sets its tolerance units and how it prints. */
export type StatKind = 'time' | 'bytes' | 'rate' | 'count';

export interface Tolerance {
  /** Which way is a regression: a rise (`+`) or a drop (`-`). */
  worse: 'rise' | 'drop';
  /** A share of the worst baseline (0.1 for 10 %); undefined when the rule gives none. */
  relative: number | undefined;
  /** In the statistic's unit: ms, bytes, samples, or a fraction for rates (1 pt = 0.01); 0 when none applies. */
  absolute: number;
}

export interface RegressionRule {
  /** As given, e.g. `xmpp_session_ready:p(99)=+10%`. */
  source: string;
  /** The metric with its selector, e.g. `xmpp_session_ready{transport:bosh}`. */
  key: string;
  metric: string;
  tags: Record<string, string>;
  /** `p(99)`, `med`, `avg`, `min`, `max`, `rate` or `count`. */
  stat: string;
  aggregation: Aggregation;
  type: MetricType;
  kind: StatKind;
  tolerance: Tolerance;
  /** How the tolerance reads, e.g. `+10% or +1ms`. */
  allowance: string;
}

/** A tolerance given only as a share of a time also allows this much: one tick of the ms clock. */
export const TIME_TICK_FLOOR_MS = 1;

/**
 * What `--baseline` compares when no `--max-regression` is given, each kept only when every baseline holds
 * samples of it: medians and tails of the XMPP latencies (a tail moves more between repeats, so it gets more
 * room), login and clean-close rates, and lost stanzas and session failures, which may not rise at all.
 */
export const DEFAULT_REGRESSIONS: readonly string[] = [
  ...[
    XMPP_TRENDS.sessionReady,
    XMPP_TRENDS.messageDelivery,
    XMPP_TRENDS.presenceDelivery,
    XMPP_TRENDS.iqRtt,
  ].flatMap((m) => [`${m}:p(50)=+20%,+10ms`, `${m}:p(99)=+50%,+25ms`]),
  `${XMPP_RATES.loginSuccess}:rate=-1pt`,
  `${XMPP_RATES.cleanClose}:rate=-1pt`,
  `${XMPP_RATES.messageLoss}:count=+0`,
  `${XMPP_RATES.presenceLoss}:count=+0`,
  `${XMPP_COUNTERS.sessionFailures}:count=+0`,
];

const TREND_METHODS = ['p', 'med', 'avg', 'min', 'max'];

/** Every metric's type across the runs (the first run that holds a metric names its type). */
export function runMetricTypes(runs: readonly MergedRun[]): Map<string, MetricType> {
  const types = new Map<string, MetricType>();
  for (const run of runs) {
    for (const [name, type] of metricTypes(run)) if (!types.has(name)) types.set(name, type);
  }
  return types;
}

const TOLERANCE = /^([+-])(\d+(?:\.\d+)?)(%|ms|s|pt|B)?$/;

/**
 * One `--max-regression` rule: `metric[{tag:value,…}]:stat=±tolerance[,±tolerance]`. `types` says what each metric
 * is (see {@link runMetricTypes}). Throws {@link RegressionConfigError} naming the rule and the fix.
 */
export function parseRegressionRule(source: string, types: ReadonlyMap<string, MetricType>): RegressionRule {
  const bad = (why: string): RegressionConfigError =>
    new RegressionConfigError(`--max-regression ${JSON.stringify(source)}: ${why}`);
  const brace = source.lastIndexOf('}');
  const colon = source.indexOf(':', brace < 0 ? 0 : brace);
  const equals = source.indexOf('=', colon < 0 ? 0 : colon);
  if (colon < 0 || equals < 0) {
    throw bad("expected 'metric:stat=tolerance', e.g. 'xmpp_session_ready:p(99)=+10%'");
  }
  const key = source.slice(0, colon).trim();
  const stat = source.slice(colon + 1, equals).trim();
  let metric: string;
  let tags: Record<string, string>;
  try {
    const selector = parseMetricSelector(key);
    metric = selector.metric;
    tags = selector.criteria === undefined ? {} : parseSubmetricTags(goTrimSpace(selector.criteria));
  } catch (err) {
    if (err instanceof ThresholdConfigError) throw bad(err.message);
    throw err;
  }
  const type = types.get(metric);
  if (type === undefined) {
    throw bad(`no metric named "${metric}" in these runs, and it is not an XMPP metric`);
  }
  let aggregation: Aggregation;
  let kind: StatKind;
  if (type === 'trend') {
    try {
      const expr = parseThresholdExpression(`${stat}<0`);
      aggregation = { method: expr.method, percentile: expr.percentile };
    } catch {
      throw bad(`${metric} is a Trend: compare p(N), med, avg, min or max, not "${stat}"`);
    }
    if (!TREND_METHODS.includes(aggregation.method)) {
      throw bad(`${metric} is a Trend: compare p(N), med, avg, min or max, not "${stat}"`);
    }
    kind = histogramUnit(metric) === 'bytes' ? 'bytes' : 'time';
  } else if (type === 'rate') {
    if (stat !== 'rate' && stat !== 'count') {
      throw bad(`${metric} is a Rate: compare its rate (in points) or its count of trues, not "${stat}"`);
    }
    aggregation = { method: stat };
    kind = stat;
  } else if (type === 'counter') {
    if (stat !== 'count') throw bad(`${metric} is a Counter: compare its count, not "${stat}"`);
    aggregation = { method: 'count' };
    kind = 'count';
  } else {
    throw bad(`${metric} is a Gauge, a reading at one moment: it has no statistic to compare between runs`);
  }
  const { tolerance, allowance } = parseTolerance(source.slice(equals + 1), kind, bad);
  return { source, key, metric, tags, stat, aggregation, type, kind, tolerance, allowance };
}

const UNIT_HINT: Record<StatKind, string> = {
  time: 'a share (+10%) or a time (+5ms, +1s), or both (+10%,+5ms: the larger applies)',
  bytes: 'a share (+10%) or bytes (+512 or +512B), or both',
  rate: 'percentage points, e.g. -1pt (the rate may drop by one point) or +0pt',
  count: 'a number of samples (+0: may not rise) or a share (+10%), or both',
};

function parseTolerance(
  text: string,
  kind: StatKind,
  bad: (why: string) => RegressionConfigError,
): { tolerance: Tolerance; allowance: string } {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length > 2 || parts.some((p) => p === '')) {
    throw bad(`the tolerance is ${UNIT_HINT[kind]}`);
  }
  let sign: string | undefined;
  let relative: number | undefined;
  let absolute: number | undefined;
  const shown: string[] = [];
  for (const part of parts) {
    const m = TOLERANCE.exec(part);
    if (m === null) throw bad(`"${part}" is not a tolerance: give ${UNIT_HINT[kind]}`);
    const [, s, digits, unit] = m as unknown as [string, string, string, string | undefined];
    if (sign !== undefined && s !== sign) {
      throw bad('both tolerances must have the same sign: + when a rise is the regression, - when a drop is');
    }
    sign = s;
    const n = Number(digits);
    const allowed: Record<StatKind, readonly (string | undefined)[]> = {
      time: ['%', 'ms', 's'],
      bytes: ['%', 'B', undefined],
      rate: ['pt'],
      count: ['%', undefined],
    };
    if (!allowed[kind].includes(unit)) throw bad(`"${part}": give ${UNIT_HINT[kind]}`);
    if (unit === '%') {
      if (relative !== undefined) throw bad('give at most one share (%) and one absolute tolerance');
      relative = n / 100;
    } else {
      if (absolute !== undefined) throw bad('give at most one share (%) and one absolute tolerance');
      absolute = unit === 's' ? n * 1000 : unit === 'pt' ? n / 100 : n;
    }
    shown.push(part);
  }
  if (kind === 'time' && absolute === undefined) {
    absolute = TIME_TICK_FLOOR_MS;
    shown.push(`${sign}${TIME_TICK_FLOOR_MS}ms`);
  }
  return {
    tolerance: { worse: sign === '-' ? 'drop' : 'rise', relative, absolute: absolute ?? 0 },
    allowance: shown.join(' or '),
  };
}

/** Whether `run` holds samples for a rule: what a default rule needs in every baseline to be kept. */
function holds(run: MergedRun, rule: RegressionRule): boolean {
  switch (rule.type) {
    case 'trend':
      return samples(run, rule.metric) > 0;
    case 'rate':
      return run.counters.some(
        (c) =>
          c.name === rule.metric &&
          (c.labels[RATE_OUTCOME_LABEL] === 'true' || c.labels[RATE_OUTCOME_LABEL] === 'false') &&
          c.value > 0,
      );
    default:
      return true;
  }
}

/** How many samples of a Trend a run holds (over all its series). */
function samples(run: MergedRun, metric: string): number {
  return run.histograms.filter((h) => h.name === metric).reduce((sum, h) => sum + h.count, 0);
}

/**
 * The fewest samples for which p(N) is more than the maximum, one event: 100 for p(99), 1,000 for p(99.9). Below
 * that a tail is whichever sample was slowest, and repeats of one load disagree on it by tens of ms (see README).
 */
export function percentileMinSamples(percentile: number): number {
  // Rounded first: 100 / (100 − 99.9) is 1000.00000000006 in floating point.
  return percentile >= 100 ? 1 : Math.ceil(Number((100 / (100 - percentile)).toFixed(6)));
}

/** A default rule left out, and why (printed under the table; a `skipped` testcase in JUnit). */
export interface SkippedRule {
  rule: RegressionRule;
  reason: string;
}

/**
 * {@link DEFAULT_REGRESSIONS} that every baseline holds samples of. A tail rule whose percentile a baseline holds
 * too few samples to tell from its maximum is left out and said so (`skipped`); a rule given with
 * `--max-regression` is always applied.
 */
export function defaultRegressionRules(baselines: readonly MergedRun[]): {
  rules: RegressionRule[];
  skipped: SkippedRule[];
} {
  const types = runMetricTypes(baselines);
  const rules: RegressionRule[] = [];
  const skipped: SkippedRule[] = [];
  for (const rule of DEFAULT_REGRESSIONS.map((source) => parseRegressionRule(source, types))) {
    if (!baselines.every((b) => holds(b, rule))) continue;
    const p = rule.aggregation.percentile;
    const need = p === undefined ? 0 : percentileMinSamples(p);
    const few = baselines.find((b) => samples(b, rule.metric) < need);
    if (few === undefined) rules.push(rule);
    else {
      skipped.push({
        rule,
        reason:
          `${rule.key} ${rule.stat} not compared: baseline run ${few.runId} holds ${samples(few, rule.metric)} ` +
          `samples, fewer than the ${need} a ${rule.stat} needs to be more than its slowest one`,
      });
    }
  }
  return { rules, skipped };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The band for one statistic over the baseline runs' values (at least one): the median is what a change is
 * measured against; the bound is the worst value plus the tolerance (see the module comment).
 */
export function regressionBand(
  values: readonly number[],
  t: Tolerance,
): { reference: number; worst: number; bound: number } {
  if (values.length === 0) throw new RangeError('regressionBand needs at least one baseline value');
  const worst = t.worse === 'rise' ? Math.max(...values) : Math.min(...values);
  const slack = Math.max((t.relative ?? 0) * Math.abs(worst), t.absolute);
  return { reference: median(values), worst, bound: t.worse === 'rise' ? worst + slack : worst - slack };
}

export interface RegressionRow {
  rule: RegressionRule;
  /** Each baseline's value, in baseline order (undefined: it has none, and the row fails). */
  baselines: (number | undefined)[];
  /** The median baseline, which the change is measured against. */
  reference: number | undefined;
  /** The worst baseline, where the bound starts. */
  worst: number | undefined;
  bound: number | undefined;
  /** This run's value. */
  value: number | undefined;
  /** value ÷ reference, for all but rates (undefined when the reference is 0). */
  ratio: number | undefined;
  /** value − reference, in the statistic's unit (ms, bytes, samples; a fraction for rates). */
  difference: number | undefined;
  ok: boolean;
  /** Why it failed, naming the metric and the numbers (printed under the table, and in JUnit and Markdown). */
  note?: string;
}

export interface RegressionResult {
  runId: string;
  baselineRunIds: string[];
  rows: RegressionRow[];
  /** Default rules left out, and why. */
  skipped: SkippedRule[];
  ok: boolean;
}

/** The scenarios a run's series carry (the engine's own health series carry none). */
function scenarios(run: MergedRun): string[] {
  const names = new Set<string>();
  for (const s of [...run.histograms, ...run.counters, ...run.gauges]) {
    if (s.scenario !== '') names.add(s.scenario);
  }
  return [...names].sort();
}

/** Throws {@link BaselineMismatchError} unless every baseline ran the candidate's scenarios. */
export function assertSameScenario(candidate: MergedRun, baselines: readonly MergedRun[]): void {
  const want = scenarios(candidate).join(', ');
  for (const b of baselines) {
    const have = scenarios(b).join(', ');
    if (have !== want) {
      throw new BaselineMismatchError(
        `run ${candidate.runId} ran scenario ${want || '(none)'} but baseline run ${b.runId} ran ${have || '(none)'}: ` +
          'compare runs of the same scenario at the same load',
      );
    }
  }
}

/** A value in its statistic's unit, as printed. */
export function formatStat(kind: StatKind, v: number): string {
  const r = (x: number, digits: number): string => String(Number(x.toFixed(digits)));
  switch (kind) {
    case 'time':
      return `${r(v, 3)}ms`;
    case 'bytes':
      return `${r(v, 3)}B`;
    case 'rate':
      return `${r(100 * v, 2)}%`;
    case 'count':
      return r(v, 3);
  }
}

const signed = (s: string): string => (s.startsWith('-') ? s : `+${s}`);

/** A difference in its statistic's unit: `+4.5ms`, `-1.25pt`, `+3`. */
export function formatDifference(kind: StatKind, d: number): string {
  if (kind === 'rate') return `${signed(String(Number((100 * d).toFixed(2))))}pt`;
  return signed(formatStat(kind, d));
}

/** How a row's change reads: `10.67× (+145ms)` (a ratio when the reference is not 0), `-1.25pt` for rates. */
export function formatChange(kind: StatKind, ratio: number | undefined, difference: number): string {
  const diff = formatDifference(kind, difference);
  return ratio === undefined ? diff : `${ratio.toFixed(2)}× (${diff})`;
}

function value(run: MergedRun, rule: RegressionRule): Aggregate {
  return aggregate(run, rule.type, rule.key, rule.metric, rule.tags, rule.aggregation);
}

/** Why a row failed, as one sentence that names the metric, both values, the ratio and the bound. */
function regressionNote(row: Omit<RegressionRow, 'ok' | 'note'>, baselineCount: number): string {
  const { rule } = row;
  const k = rule.kind;
  const v = row.value!;
  const rise = rule.tolerance.worse === 'rise';
  const which = baselineCount === 1 ? 'the baseline' : rise ? 'the highest baseline' : 'the lowest baseline';
  const diff = formatDifference(k, row.difference!);
  const change = row.ratio === undefined ? diff : `${row.ratio.toFixed(2)}×, ${diff}`;
  return (
    `${rule.key} ${rule.stat} ${rise ? 'rose' : 'fell'} to ${formatStat(k, v)} from ${formatStat(k, row.reference!)} ` +
    `(${change}), ${rise ? 'above' : 'below'} its bound ` +
    `${formatStat(k, row.bound!)} (${rule.allowance} ${rise ? 'over' : 'under'} ${which}, ${formatStat(k, row.worst!)})`
  );
}

/**
 * Compares `candidate` with the baseline runs, rule by rule. A statistic that this run or a baseline has no value
 * for fails its rule, saying which run lacks it (as a threshold with nothing to measure does).
 */
export function evaluateRegressions(
  candidate: MergedRun,
  baselines: readonly MergedRun[],
  rules: readonly RegressionRule[],
  skipped: readonly SkippedRule[] = [],
): RegressionResult {
  if (baselines.length === 0) throw new RangeError('evaluateRegressions needs at least one baseline run');
  const nothing = recordedNothing(candidate);
  const rows: RegressionRow[] = rules.map((rule) => {
    const base = baselines.map((b) => value(b, rule));
    // A run that recorded nothing has no value for anything, not a count of 0 (as in evaluateGate).
    const now: Aggregate = nothing
      ? {
          value: undefined,
          display: 'no samples',
          note: `run ${candidate.runId} recorded nothing (no latency sample, no counter): no session was attempted, or no generator reached the collector`,
        }
      : value(candidate, rule);
    const missing = base.findIndex((a) => a.value === undefined);
    if (missing >= 0 || now.value === undefined) {
      // The gate's notes end in what happens to thresholds; here the comparison is what cannot happen.
      const why = (
        missing >= 0 ? (base[missing] as { note: string }).note : (now as { note: string }).note
      ).replace(/, so its thresholds fail$/, '');
      return {
        rule,
        baselines: base.map((a) => a.value),
        reference: undefined,
        worst: undefined,
        bound: undefined,
        value: now.value,
        ratio: undefined,
        difference: undefined,
        ok: false,
        note: `${missing >= 0 ? 'baseline: ' : ''}${why}, so ${rule.key} ${rule.stat} cannot be compared`,
      };
    }
    const values = base.map((a) => a.value as number);
    const { reference, worst, bound } = regressionBand(values, rule.tolerance);
    const v = now.value;
    const partial = {
      rule,
      baselines: values,
      reference,
      worst,
      bound,
      value: v,
      ratio: rule.kind === 'rate' || reference === 0 ? undefined : v / reference,
      difference: v - reference,
    };
    const ok = rule.tolerance.worse === 'rise' ? v <= bound : v >= bound;
    return ok ? { ...partial, ok } : { ...partial, ok, note: regressionNote(partial, baselines.length) };
  });
  return {
    runId: candidate.runId,
    baselineRunIds: baselines.map((b) => b.runId),
    rows,
    skipped: [...skipped],
    ok: rows.every((r) => r.ok),
  };
}

/** Everything one `starling gate` (or `compare --max-regression`) judged: what the text, JUnit and Markdown print. */
export interface GateOutcome {
  runId: string;
  /** The run's span, epoch ms (null when it has none). */
  startMs: number | null;
  endMs: number | null;
  thresholds: GateResult | undefined;
  regressions: RegressionResult | undefined;
  ok: boolean;
}

/** Columns padded to their widest cell, two spaces apart, the last one unpadded. */
export function alignedTable(header: readonly string[], body: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
}

/** The baseline cell: the median, and over repeats their range (when they differ) and number. */
export function baselineCell(row: RegressionRow): string {
  const k = row.rule.kind;
  if (row.reference === undefined) return 'no samples';
  const values = row.baselines as number[];
  if (values.length === 1) return formatStat(k, row.reference);
  const [low, high] = [Math.min(...values), Math.max(...values)];
  const range = low === high ? '' : `${formatStat(k, low)}–${formatStat(k, high)}, `;
  return `${formatStat(k, row.reference)} (${range}${values.length} runs)`;
}

/** The bound cell: `≤ 18ms` when a rise is worse, `≥ 99%` when a drop is. */
export function boundCell(row: RegressionRow): string {
  if (row.bound === undefined) return '–';
  return `${row.rule.tolerance.worse === 'rise' ? '≤' : '≥'} ${formatStat(row.rule.kind, row.bound)}`;
}

export function changeCell(row: RegressionRow): string {
  return row.difference === undefined ? '–' : formatChange(row.rule.kind, row.ratio, row.difference);
}

/** `N of M comparisons with baseline run(s) … failed` or `all M … passed`. */
export function regressionVerdict(result: RegressionResult): string {
  const failed = result.rows.filter((r) => !r.ok).length;
  const runs = `baseline run${result.baselineRunIds.length === 1 ? '' : 's'} ${result.baselineRunIds.join(', ')}`;
  return failed === 0
    ? `all ${result.rows.length} comparisons of run ${result.runId} with ${runs} passed`
    : `${failed} of ${result.rows.length} comparisons of run ${result.runId} with ${runs} failed`;
}

/** metric | stat | allowed | baseline | this run | change | bound | ok, then the failures' notes and a verdict. */
export function formatRegressionTable(result: RegressionResult): string {
  const body = result.rows.map((r) => [
    r.rule.key,
    r.rule.stat,
    r.rule.allowance,
    baselineCell(r),
    r.value === undefined ? 'no samples' : formatStat(r.rule.kind, r.value),
    changeCell(r),
    boundCell(r),
    r.ok ? '✓' : '✗',
  ]);
  const notes = [
    ...result.rows.flatMap((r) => (r.note === undefined ? [] : [r.note])),
    ...result.skipped.map((s) => s.reason),
  ];
  return [
    ...alignedTable(['metric', 'stat', 'allowed', 'baseline', 'this run', 'change', 'bound', 'ok'], body),
    '',
    ...notes,
    regressionVerdict(result),
    '',
  ].join('\n');
}

/** One line of `starling compare`: a statistic of one metric in both runs. */
export interface CompareRow {
  metric: string;
  stat: string;
  kind: StatKind;
  /** As printed (`15.007ms`, `99% (99/100)`), or why there is none. */
  a: string;
  b: string;
  /** b ÷ a (all but rates; undefined when a is 0 or either is missing). */
  ratio: number | undefined;
  /** b − a, in the statistic's unit (undefined when either is missing). */
  difference: number | undefined;
}

/** The statistics `compare` prints for each Trend. */
export const COMPARE_TREND_STATS: readonly string[] = ['p(50)', 'p(90)', 'p(99)', 'max'];

/** Metric names of a type across both runs: XMPP metrics in their summary order, then the rest by name. */
function namesOf(runs: readonly MergedRun[], type: MetricType): string[] {
  const present = new Set<string>();
  for (const run of runs) {
    for (const [name, t] of metricTypes(run)) {
      if (t !== type) continue;
      const held =
        type === 'trend'
          ? run.histograms.some((h) => h.name === name)
          : run.counters.some((c) => c.name === name);
      if (held) present.add(name);
    }
  }
  const xmpp = XMPP_METRICS.map((m) => m.name).filter((n) => present.has(n));
  return [...xmpp, ...[...present].filter((n) => !xmpp.includes(n)).sort()];
}

/**
 * Both runs side by side: every Trend's samples, p(50), p(90), p(99) and max; every Rate's rate; every Counter's
 * total (each summed over its labels). Gauges are left out: a reading at the end of a run says little about it.
 */
export function compareRuns(a: MergedRun, b: MergedRun): CompareRow[] {
  const rows: CompareRow[] = [];
  const add = (metric: string, stat: string, kind: StatKind, type: MetricType, agg: Aggregation): void => {
    const va = aggregate(a, type, metric, metric, {}, agg);
    const vb = aggregate(b, type, metric, metric, {}, agg);
    const both = va.value !== undefined && vb.value !== undefined;
    rows.push({
      metric,
      stat,
      kind,
      a: va.display,
      b: vb.display,
      ratio: both && kind !== 'rate' && va.value !== 0 ? vb.value! / va.value! : undefined,
      difference: both ? vb.value! - va.value! : undefined,
    });
  };
  for (const metric of namesOf([a, b], 'trend')) {
    const kind: StatKind = histogramUnit(metric) === 'bytes' ? 'bytes' : 'time';
    const sa = samples(a, metric);
    const sb = samples(b, metric);
    rows.push({
      metric,
      stat: 'samples',
      kind: 'count',
      a: String(sa),
      b: String(sb),
      ratio: sa === 0 ? undefined : sb / sa,
      difference: sb - sa,
    });
    for (const stat of COMPARE_TREND_STATS) {
      const expr = parseThresholdExpression(`${stat}<0`);
      add(metric, stat, kind, 'trend', { method: expr.method, percentile: expr.percentile });
    }
  }
  for (const metric of namesOf([a, b], 'rate')) add(metric, 'rate', 'rate', 'rate', { method: 'rate' });
  for (const metric of namesOf([a, b], 'counter'))
    add(metric, 'count', 'count', 'counter', { method: 'count' });
  return rows;
}

export function compareChangeCell(row: CompareRow): string {
  return row.difference === undefined ? '–' : formatChange(row.kind, row.ratio, row.difference);
}

/** metric | stat | <run a> | <run b> | change (b against a). */
export function formatCompareTable(rows: readonly CompareRow[], aRunId: string, bRunId: string): string {
  const body = rows.map((r) => [r.metric, r.stat, r.a, r.b, compareChangeCell(r)]);
  return [
    ...alignedTable(['metric', 'stat', aRunId, bRunId, 'change'], body),
    '',
    `change: ${bRunId} against ${aRunId} (a ratio, and the difference)`,
    '',
  ].join('\n');
}
