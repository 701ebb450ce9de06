/**
 * k6 thresholds: parsing (metrics/thresholds_parser.go), validation against the metric registry
 * (metrics/thresholds.go Thresholds.Validate, internal/cmd/test_load.go), sub-metric registration
 * (internal/metrics/engine/engine.go InitSubMetricsAndThresholds) and evaluation with abortOnFail/delayAbortEval
 * (Thresholds.Run/runAll, MetricsEngine.evaluateThresholds).
 *
 * Every configuration problem throws {@link ThresholdConfigError} (exitCode 104, k6's InvalidConfig) with k6's
 * own message, in k6's order: per metric key, all expressions are parsed, then the key's sub-metric syntax is
 * checked, then the metric must exist (built-in or defined in init code), then each method must suit its type.
 */
import type { MetricType } from './runtime.ts';
import { goTrimSpace, parseGoFloat } from './go.ts';
import type { Metric, MetricStore } from './metrics.ts';

/** k6 exit code for invalid configuration (errext/exitcodes InvalidConfig). */
export const INVALID_CONFIG_EXIT_CODE = 104;

export class ThresholdConfigError extends Error {
  readonly exitCode = INVALID_CONFIG_EXIT_CODE;
  constructor(
    message: string,
    /** parse: bad expression; metric: bad/unknown metric or selector; method: method unsupported by the type; config: bad shape. */
    readonly kind: 'parse' | 'metric' | 'method' | 'config',
  ) {
    super(message);
    this.name = 'ThresholdConfigError';
  }
}

export type ThresholdOperator = '<=' | '<' | '>=' | '>' | '===' | '==' | '!=';
export type AggregationMethod = 'value' | 'count' | 'rate' | 'avg' | 'min' | 'med' | 'max' | 'p';

export interface ThresholdExpression {
  method: AggregationMethod;
  /** For `p(N)`: N (0–100). */
  percentile?: number;
  operator: ThresholdOperator;
  value: number;
}

/** Order matters: longer tokens sharing characters with shorter ones come first (k6 operatorTokens). */
const OPERATORS: readonly ThresholdOperator[] = ['<=', '<', '>=', '>', '===', '==', '!='];
const METHODS: readonly AggregationMethod[] = ['value', 'count', 'rate', 'avg', 'min', 'med', 'max', 'p'];

const SUPPORTED: Record<MetricType, readonly AggregationMethod[]> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'max', 'med', 'p'],
};

const q = (s: string): string => JSON.stringify(s);
const strconvError = (s: string, reason: string): string => `strconv.ParseFloat: parsing ${q(s)}: ${reason}`;

/**
 * Parses `aggregation_method whitespace* operator whitespace* float` exactly as k6 does: the input is cut at the
 * first occurrence of the first operator token (in k6's order) that leaves a non-empty right-hand side, both sides
 * are trimmed, the method must be a keyword or `p(float)` (no spaces inside the parentheses, 0 ≤ N ≤ 100) and the
 * value a Go float.
 */
export function parseThresholdExpression(input: string): ThresholdExpression {
  let scanned: { left: string; op: ThresholdOperator; right: string } | undefined;
  for (const op of OPERATORS) {
    const at = input.indexOf(op);
    const right = at < 0 ? '' : input.slice(at + op.length);
    if (right !== '') {
      scanned = { left: goTrimSpace(input.slice(0, at)), op, right: goTrimSpace(right) };
      break;
    }
  }
  if (scanned === undefined) {
    throw new ThresholdConfigError(
      `failed parsing threshold expression ${q(input)}; reason: malformed threshold expression`,
      'parse',
    );
  }

  let method: AggregationMethod | undefined = METHODS.find((m) => m === scanned.left);
  let percentile: number | undefined;
  if (method === undefined) {
    const lhsError = (reason: string) =>
      new ThresholdConfigError(
        `failed parsing threshold expression's ${q(input)} left hand side; reason: ${reason}`,
        'parse',
      );
    if (!(scanned.left.startsWith('p(') && scanned.left.endsWith(')'))) {
      throw lhsError('failed parsing method from expression');
    }
    const inner = trimSuffix(trimPrefix(scanned.left, 'p('), ')');
    const pv = parseGoFloat(inner);
    if (!pv.ok) throw lhsError(`malformed percentile value; reason: ${strconvError(inner, pv.reason)}`);
    if (Number.isNaN(pv.value) || pv.value < 0 || pv.value > 100) {
      throw lhsError('malformed percentile value, provide a number between 0 and 100');
    }
    method = 'p';
    percentile = pv.value;
  }

  const v = parseGoFloat(scanned.right);
  if (!v.ok) {
    // (sic: k6's message spells "expresion's")
    throw new ThresholdConfigError(
      `failed parsing threshold expresion's ${q(input)} right hand side; reason: ${strconvError(scanned.right, v.reason)}`,
      'parse',
    );
  }
  const expr: ThresholdExpression = { method, operator: scanned.op, value: v.value };
  if (percentile !== undefined) expr.percentile = percentile;
  return expr;
}

function trimPrefix(s: string, p: string): string {
  return s.startsWith(p) ? s.slice(p.length) : s;
}

function trimSuffix(s: string, p: string): string {
  return s.endsWith(p) ? s.slice(0, s.length - p.length) : s;
}

/**
 * Checks a threshold key as k6's ParseMetricName does and splits it: `name`, or `name{k:v,…}` where `{` is the
 * first opening brace, `}` the last character, and every comma-separated part has a non-empty value after its
 * first `:` (so `reason:timeout:bind` is fine). Returns the metric name and the raw criteria between the braces.
 */
export function parseMetricSelector(key: string): { metric: string; criteria: string | undefined } {
  const open = key.indexOf('{');
  const close = key.lastIndexOf('}');
  const fail = (what: string) =>
    new ThresholdConfigError(
      `unable to validate threshold expressions; reason: parsing metric name failed, ${what}`,
      'metric',
    );
  if (open < 0 && close < 0) return { metric: key, criteria: undefined };
  if (open < 0 || close < 0) throw fail(`metric ${q(key)} has unmatched opening/close curly brace`);
  if (close < open) throw fail(`metric ${q(key)} closing curly brace appears before opening one`);
  if (close !== key.length - 1)
    throw fail(`metric ${q(key)} lacks a closing curly brace in its last position`);
  for (const part of key.slice(open + 1, close).split(',')) {
    const at = part.indexOf(':');
    if (at < 0 || at === part.length - 1) {
      throw new ThresholdConfigError(
        `unable to validate threshold expressions; reason: parsing metric name failed, metric ${q(part)} tag expression is malformed`,
        'metric',
      );
    }
  }
  return { metric: key.slice(0, open), criteria: key.slice(open + 1, close) };
}

/** One threshold as configured: the string form, or `{ threshold, abortOnFail, delayAbortEval }`. */
export interface ThresholdConfig {
  source: string;
  abortOnFail: boolean;
  /** delayAbortEval in ms; undefined when not set (abort as soon as it fails). */
  delayAbortEvalMs: number | undefined;
}

export interface ParsedThreshold extends ThresholdConfig {
  expr: ThresholdExpression;
}

/** `options.thresholds` after k6's JSON decoding and expression parsing, in key order. */
export type ParsedThresholds = { key: string; thresholds: ParsedThreshold[] }[];

/**
 * k6's extended duration (lib/types ParseExtendedDuration) in ms: a bare number is ms; otherwise Go
 * time.ParseDuration, with an optional leading `<int>d` days part.
 */
export function parseK6Duration(s: string): number {
  const asNumber = parseGoFloat(s);
  if (asNumber.ok) return asNumber.value;
  const d = s.indexOf('d');
  if (d < 0) return parseGoDuration(s);
  let rest = 0;
  if (d + 1 < s.length) {
    rest = parseGoDuration(s.slice(d + 1));
    if (rest < 0) throw new Error(`invalid time format '${s.slice(d + 1)}'`);
  }
  const daysStr = s.slice(0, d);
  if (!/^[+-]?[0-9]+$/.test(daysStr))
    throw new Error(`strconv.ParseInt: parsing ${q(daysStr)}: invalid syntax`);
  const days = Number(daysStr);
  if (days < 0) rest = -rest;
  return days * 86_400_000 + rest;
}

const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go time.ParseDuration, in ms. */
export function parseGoDuration(s: string): number {
  const bad = () => new Error(`time: invalid duration ${q(s)}`);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw bad();
  let total = 0;
  const re = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]+)/;
  while (rest !== '') {
    const m = re.exec(rest);
    if (m === null) throw bad();
    const [all, int = '', frac, unitStr = ''] = m;
    if (int === '' && (frac === undefined || frac === '')) throw bad();
    const unit = GO_UNITS[unitStr];
    if (unit === undefined) throw new Error(`time: unknown unit ${q(unitStr)} in duration ${q(s)}`);
    total += Number(`${int === '' ? '0' : int}.${frac ?? ''}0`) * unit;
    rest = rest.slice(all.length);
  }
  return sign * total;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

function thresholdConfigFrom(key: string, raw: unknown): ThresholdConfig {
  if (typeof raw === 'string') return { source: raw, abortOnFail: false, delayAbortEvalMs: undefined };
  // JSON null decodes to the zero config, whose empty expression then fails to parse, as in k6.
  if (raw === null || raw === undefined)
    return { source: '', abortOnFail: false, delayAbortEvalMs: undefined };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ThresholdConfigError(
      `invalid threshold on ${key}: a threshold is a string or { threshold, abortOnFail, delayAbortEval }, got ${describe(raw)}`,
      'config',
    );
  }
  const o = raw as Record<string, unknown>;
  const source = o['threshold'] ?? '';
  if (typeof source !== 'string') {
    throw new ThresholdConfigError(`invalid threshold on ${key}: 'threshold' must be a string`, 'config');
  }
  const abort = o['abortOnFail'] ?? false;
  if (typeof abort !== 'boolean') {
    throw new ThresholdConfigError(`invalid threshold on ${key}: 'abortOnFail' must be a boolean`, 'config');
  }
  const delay = o['delayAbortEval'];
  let delayAbortEvalMs: number | undefined;
  if (typeof delay === 'number') delayAbortEvalMs = delay;
  else if (typeof delay === 'string') {
    try {
      delayAbortEvalMs = parseK6Duration(delay);
    } catch (err) {
      throw new ThresholdConfigError(
        `invalid threshold on ${key}: 'delayAbortEval' ${(err as Error).message}`,
        'config',
      );
    }
  } else if (delay !== undefined && delay !== null) {
    throw new ThresholdConfigError(`'${JSON.stringify(delay)}' is not a valid duration value`, 'config');
  }
  return { source, abortOnFail: abort, delayAbortEvalMs };
}

/**
 * Decodes and parses `options.thresholds` (syntax only; no registry needed). Each key maps to an array (or null,
 * meaning none) of strings or `{ threshold, abortOnFail, delayAbortEval }` objects.
 */
export function parseThresholds(config: unknown): ParsedThresholds {
  if (config === undefined || config === null) return [];
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new ThresholdConfigError(`options.thresholds must be an object, got ${describe(config)}`, 'config');
  }
  const out: ParsedThresholds = [];
  for (const [key, list] of Object.entries(config as Record<string, unknown>)) {
    if (list !== null && list !== undefined && !Array.isArray(list)) {
      throw new ThresholdConfigError(
        `invalid thresholds for ${key}: expected an array of threshold expressions, got ${describe(list)}`,
        'config',
      );
    }
    const thresholds = (list ?? []).map((raw) => {
      const c = thresholdConfigFrom(key, raw);
      return { ...c, expr: parseThresholdExpression(c.source) };
    });
    out.push({ key, thresholds });
  }
  return out;
}

export interface ThresholdResult {
  /** The metric or sub-metric the threshold is on, as named in the store/summary (e.g. `m{tag:v}`). */
  metric: string;
  /** The threshold source, e.g. `p(95)<500` (the key of `data.metrics[metric].thresholds`). */
  expr: string;
  /** Not failed at its last evaluation (k6 `!LastFailed`); true when never evaluated. */
  ok: boolean;
  /** The aggregated value compared; undefined when not evaluated or no value exists yet (empty Rate, 0 s Counter rate). */
  value: number | undefined;
  /** Whether this evaluation ran it (periodic runs skip metrics without samples). */
  evaluated: boolean;
  abortOnFail: boolean;
}

export interface ThresholdEvaluation {
  results: ThresholdResult[];
  /** A failed threshold with abortOnFail is past its delayAbortEval: stop the test (exit 99). k6 ignores it on the final run. */
  abort: boolean;
  /** Names of the metrics with a failed threshold this run, sorted. */
  breached: string[];
}

interface ThresholdState extends ParsedThreshold {
  lastFailed: boolean;
  lastValue: number | undefined;
  evaluated: boolean;
}

interface MetricThresholds {
  metric: string;
  thresholds: ThresholdState[];
  /** Sticky once set (k6 Thresholds.Abort). */
  abort: boolean;
}

export class ThresholdSet {
  private constructor(private readonly entries: MetricThresholds[]) {}

  /**
   * Parses and validates `options.thresholds` against the store (after the init code has defined the custom
   * metrics), registers the sub-metrics they reference and marks the metrics observed so they show in the summary.
   */
  static create(config: unknown, store: MetricStore): ThresholdSet {
    const entries: MetricThresholds[] = [];
    const byName = new Map<string, MetricThresholds>();
    for (const { key, thresholds } of parseThresholds(config)) {
      const { metric: metricName, criteria } = parseMetricSelector(key);
      const parent = store.get(metricName);
      if (parent === undefined || parent.parent !== undefined) {
        throw new ThresholdConfigError(
          `invalid threshold defined on ${key}; reason: no metric name ${q(key)} found`,
          'metric',
        );
      }
      for (const t of thresholds) {
        if (!SUPPORTED[parent.type].includes(t.expr.method)) {
          throw new ThresholdConfigError(
            `invalid threshold ${q(t.source)} applied on metric ${key}; reason: ` +
              `unsupported aggregation method ${t.expr.method} on metric of type ${parent.type}. ` +
              `supported aggregation methods for this metric are: ${SUPPORTED[parent.type].join(', ')}`,
            'method',
          );
        }
      }
      let target: Metric = parent;
      if (criteria !== undefined) {
        try {
          target = store.addSubmetric(metricName, criteria);
        } catch (err) {
          throw new ThresholdConfigError(
            `invalid metric '${key}' in threshold definitions: ${(err as Error).message}`,
            'metric',
          );
        }
      }
      target.observed = true;
      parent.observed = true;
      const states = thresholds.map((t) => ({
        ...t,
        lastFailed: false,
        lastValue: undefined,
        evaluated: false,
      }));
      // k6 would let the later of two keys naming the same sub-metric (e.g. `m{a:1}` and `m{ a:1 }`) replace the
      // earlier one's thresholds, in Go map order; keep both instead.
      const existing = byName.get(target.name);
      if (existing !== undefined) existing.thresholds.push(...states);
      else {
        const entry = { metric: target.name, thresholds: states, abort: false };
        byName.set(target.name, entry);
        entries.push(entry);
      }
    }
    return new ThresholdSet(entries);
  }

  /** Whether any threshold is configured (k6 skips the periodic evaluation otherwise). */
  get size(): number {
    return this.entries.reduce((n, e) => n + e.thresholds.length, 0);
  }

  /**
   * Runs the thresholds (k6 evaluateThresholds): every 2 s during the run with `final = false`, which skips metrics
   * without samples, and once at the end with `final = true`, which evaluates them all (an empty Trend then has
   * min = max = avg = p(N) = 0, an empty Counter count 0; an empty Rate has no rate and passes).
   */
  evaluate(store: MetricStore, elapsedMs: number, final: boolean): ThresholdEvaluation {
    const breached: string[] = [];
    let abort = false;
    for (const e of this.entries) {
      if (e.thresholds.length === 0) continue;
      const m = store.get(e.metric);
      if (m === undefined) continue;
      if (!final && m.isEmpty()) {
        for (const t of e.thresholds) t.evaluated = false;
        continue;
      }
      const sinked = sinkValues(m, e.thresholds, elapsedMs);
      let succeeded = true;
      for (const t of e.thresholds) {
        const lhs = sinked.get(sinkKey(t.expr));
        const passes = lhs === undefined ? true : compareThreshold(lhs, t.expr.operator, t.expr.value);
        t.lastFailed = !passes;
        t.lastValue = lhs;
        t.evaluated = true;
        if (passes) continue;
        succeeded = false;
        if (e.abort || !t.abortOnFail) continue;
        e.abort = t.delayAbortEvalMs === undefined || t.delayAbortEvalMs < elapsedMs;
      }
      if (succeeded) continue;
      breached.push(e.metric);
      if (e.abort) abort = true;
    }
    breached.sort();
    return { results: this.results(), abort, breached };
  }

  /** The current state of every threshold, in configuration order. */
  results(): ThresholdResult[] {
    return this.entries.flatMap((e) =>
      e.thresholds.map((t) => ({
        metric: e.metric,
        expr: t.source,
        ok: !t.lastFailed,
        value: t.evaluated ? t.lastValue : undefined,
        evaluated: t.evaluated,
        abortOnFail: t.abortOnFail,
      })),
    );
  }
}

/** k6's message when abortOnFail stops the test. */
export function thresholdAbortMessage(breached: readonly string[]): string {
  return (
    `thresholds on metrics '${breached.join(', ')}' were crossed; ` +
    'at least one has abortOnFail enabled, stopping test prematurely'
  );
}

function sinkKey(e: ThresholdExpression): string {
  return e.method === 'p' ? `p(${e.percentile})` : e.method;
}

/** k6 Thresholds.Run: the values a metric's thresholds can compare against. */
function sinkValues(
  m: Metric,
  thresholds: readonly ThresholdState[],
  elapsedMs: number,
): Map<string, number> {
  const out = new Map<string, number>();
  const s = m.sink;
  switch (s.type) {
    case 'counter':
      out.set('count', s.value);
      if (elapsedMs > 0) out.set('rate', s.value / (elapsedMs / 1000));
      break;
    case 'gauge':
      out.set('value', s.value);
      break;
    case 'trend':
      out.set('min', s.min);
      out.set('max', s.max);
      out.set('avg', s.avg);
      out.set('med', s.p(0.5));
      for (const t of thresholds) {
        if (t.expr.method === 'p') out.set(sinkKey(t.expr), s.p((t.expr.percentile as number) / 100));
      }
      break;
    case 'rate':
      if (s.total > 0) out.set('rate', s.trues / s.total);
      break;
  }
  return out;
}

/** k6 threshold operators applied to numbers. */
export function compareThreshold(lhs: number, op: ThresholdOperator, rhs: number): boolean {
  switch (op) {
    case '>':
      return lhs > rhs;
    case '>=':
      return lhs >= rhs;
    case '<=':
      return lhs <= rhs;
    case '<':
      return lhs < rhs;
    case '==':
    case '===':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
  }
}
