/**
 * Fleet-wide thresholds: k6's threshold grammar evaluated on the merged histograms and counters of a run
 * (`merged.json`), so `p(99)<500` means the 99th percentile of every session of every generator, which k6
 * itself (per instance) cannot give.
 *
 * Parsing and validation are the engine's own (src/engine/thresholds.ts): the same messages, the same exit code
 * 104. A metric's type comes from what the run holds: histograms are Trends (times in ms, as in k6), counters
 * carrying the `outcome` label are Rates, other counters Counters, gauges Gauges; an XMPP metric the run never
 * reported (no stream errors, say) is still known by its type from src/k6/metric-names.ts and is empty.
 */
import { MetricDefinitionError, MetricStore, goTrimSpace, parseSubmetricTags } from '../engine/metrics.ts';
import type { MetricType } from '../engine/runtime.ts';
import {
  compareThreshold,
  ThresholdConfigError,
  ThresholdSet,
  parseMetricSelector,
  parseThresholds,
  type ThresholdExpression,
} from '../engine/thresholds.ts';
import { XMPP_METRICS } from '../k6/metric-names.ts';
import { addSparse, decodeSparse, newHistogram } from './histogram.ts';
import { RATE_OUTCOME_LABEL } from './store.ts';
import type { MergedRun } from './summary.ts';

/** Exit code when a threshold fails (k6 ThresholdsHaveFailed). */
export const GATE_FAILED_EXIT_CODE = 99;

export interface GateRow {
  /** The threshold's key as configured, e.g. `xmpp_session_ready{transport:bosh}`. */
  metric: string;
  threshold: string;
  /** The aggregated value compared (ms for time trends); undefined when there is none (an empty Rate passes). */
  value: number | undefined;
  /** `value` as printed, with its unit. */
  display: string;
  ok: boolean;
}

export interface GateResult {
  rows: GateRow[];
  ok: boolean;
}

/**
 * `--threshold 'metric: expr'` flags as k6's options.thresholds (keys in first-seen order). The metric is
 * everything before the first `:` after its selector's closing brace, so `m{reason:timeout:bind}: count<1` works.
 */
export function thresholdsFromFlags(flags: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const flag of flags) {
    const brace = flag.lastIndexOf('}');
    const colon = flag.indexOf(':', brace < 0 ? 0 : brace);
    const key = colon < 0 ? '' : flag.slice(0, colon).trim();
    if (key === '') {
      throw new ThresholdConfigError(
        `--threshold ${JSON.stringify(flag)}: expected 'metric: expression', e.g. 'xmpp_session_ready: p(95)<500'`,
        'config',
      );
    }
    (out[key] ??= []).push(flag.slice(colon + 1).trim());
  }
  return out;
}

function metricTypes(merged: MergedRun): Map<string, MetricType> {
  const types = new Map<string, MetricType>();
  const set = (name: string, type: MetricType): void => {
    if (!types.has(name)) types.set(name, type);
  };
  for (const h of merged.histograms) set(h.name, 'trend');
  for (const c of merged.counters) {
    const outcome = c.labels[RATE_OUTCOME_LABEL];
    if (outcome === 'true' || outcome === 'false') set(c.name, 'rate');
  }
  for (const c of merged.counters) set(c.name, 'counter');
  for (const g of merged.gauges) set(g.name, 'gauge');
  for (const m of XMPP_METRICS) set(m.name, m.type);
  return types;
}

function matches(
  s: { name: string; scenario: string; transport: string; labels: Record<string, string> },
  metric: string,
  tags: Record<string, string>,
): boolean {
  if (s.name !== metric) return false;
  const have: Record<string, string> = { ...s.labels };
  if (s.scenario !== '') have['scenario'] = s.scenario;
  if (s.transport !== '') have['transport'] = s.transport;
  return Object.entries(tags).every(([k, v]) => have[k] === v);
}

function round(v: number, digits: number): string {
  return String(Number(v.toFixed(digits)));
}

/** The value a threshold compares and how to print it. */
function aggregate(
  merged: MergedRun,
  type: MetricType,
  metric: string,
  tags: Record<string, string>,
  expr: ThresholdExpression,
): { value: number | undefined; display: string } {
  switch (type) {
    case 'trend': {
      const h = newHistogram();
      let bytes = false;
      for (const s of merged.histograms) {
        if (!matches(s, metric, tags)) continue;
        addSparse(h, decodeSparse(s.hdr));
        bytes = s.unit === 'bytes';
      }
      const div = bytes ? 1 : 1000;
      const unit = bytes ? 'B' : 'ms';
      const empty = h.totalCount === 0;
      const at = (p: number): number => (empty ? 0 : h.getValueAtPercentile(p) / div);
      const v =
        expr.method === 'avg'
          ? empty
            ? 0
            : h.mean / div
          : expr.method === 'min'
            ? at(0)
            : expr.method === 'max'
              ? at(100)
              : expr.method === 'med'
                ? at(50)
                : at(expr.percentile as number);
      return { value: v, display: `${round(v, 3)}${unit}` };
    }
    case 'counter': {
      const count = merged.counters.filter((c) => matches(c, metric, tags)).reduce((n, c) => n + c.value, 0);
      if (expr.method === 'count') return { value: count, display: round(count, 3) };
      const seconds =
        merged.startMs !== null && merged.endMs !== null ? (merged.endMs - merged.startMs) / 1000 : 0;
      if (seconds <= 0) return { value: undefined, display: 'no data' };
      const rate = count / seconds;
      return { value: rate, display: `${round(rate, 3)}/s` };
    }
    case 'rate': {
      let trues = 0;
      let total = 0;
      for (const c of merged.counters) {
        if (!matches(c, metric, tags)) continue;
        const outcome = c.labels[RATE_OUTCOME_LABEL];
        if (outcome === 'true') trues += c.value;
        if (outcome === 'true' || outcome === 'false') total += c.value;
      }
      if (total === 0) return { value: undefined, display: 'no data' };
      return { value: trues / total, display: `${round((100 * trues) / total, 2)}% (${trues}/${total})` };
    }
    case 'gauge': {
      const v = merged.gauges.filter((g) => matches(g, metric, tags)).reduce((n, g) => n + g.value, 0);
      return { value: v, display: round(v, 3) };
    }
  }
}

/**
 * Evaluates k6 `options.thresholds` (the object form) on a merged run. Throws ThresholdConfigError (exit 104,
 * k6's message) for an invalid expression, selector, unknown metric or a method the metric's type lacks.
 */
export function evaluateGate(merged: MergedRun, config: unknown): GateResult {
  const types = metricTypes(merged);
  const registry = new MetricStore({ builtins: false });
  for (const [name, type] of types) {
    try {
      registry.defineMetric(name, type, type === 'trend' ? 'time' : 'default');
    } catch (err) {
      if (!(err instanceof MetricDefinitionError)) throw err;
    }
  }
  ThresholdSet.create(config, registry);
  const rows: GateRow[] = [];
  for (const { key, thresholds } of parseThresholds(config)) {
    const { metric, criteria } = parseMetricSelector(key);
    const tags = criteria === undefined ? {} : parseSubmetricTags(goTrimSpace(criteria));
    const type = types.get(metric) as MetricType;
    for (const t of thresholds) {
      const { value, display } = aggregate(merged, type, metric, tags, t.expr);
      const ok = value === undefined ? true : compareThreshold(value, t.expr.operator, t.expr.value);
      rows.push({ metric: key, threshold: t.source, value, display, ok });
    }
  }
  return { rows, ok: rows.every((r) => r.ok) };
}

/** `metric | threshold | value | ok` with aligned columns, then a one-line verdict. */
export function formatGateTable(result: GateResult, runId: string): string {
  const header = ['metric', 'threshold', 'value', 'ok'];
  const body = result.rows.map((r) => [r.metric, r.threshold, r.display, r.ok ? '✓' : '✗']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const failed = result.rows.filter((r) => !r.ok).length;
  const verdict =
    failed === 0
      ? `all ${result.rows.length} thresholds passed on the merged data of run ${runId}`
      : `${failed} of ${result.rows.length} thresholds failed on the merged data of run ${runId}`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), '', verdict, ''].join(
    '\n',
  );
}
