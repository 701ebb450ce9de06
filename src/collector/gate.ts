/**
 * Fleet-wide thresholds: k6's threshold grammar evaluated on the merged histograms and counters of a run
 * (`merged.json`), so `p(99)<500` means the 99th percentile of every session of every generator, which k6
 * itself (per instance) cannot give.
 *
 * Parsing and validation are the engine's own (src/engine/thresholds.ts): the same messages, the same exit code
 * 104. A metric's type comes from what the run holds: histograms are Trends (times in ms, as in k6), counters
 * carrying the `outcome` label are Rates, other counters Counters, gauges Gauges; an XMPP metric the run never
 * reported (no stream errors, say) is still known by its type from src/contract/metric-names.ts.
 *
 * Unlike k6, a threshold with nothing to measure fails rather than passes, so a run that did nothing never
 * passes a gate: a Trend, Rate or Gauge without samples, a per-second rate over no time, any threshold of a run
 * that recorded nothing at all, and a value merged.json holds as null or not a number. A Counter's `count`
 * without samples is 0 (producers send no zero deltas: no stream error is a count of 0).
 */
import { goTrimSpace } from '../engine/go.ts';
import { MetricDefinitionError, MetricStore, parseSubmetricTags } from '../engine/metrics.ts';
import type { MetricType } from '../engine/runtime.ts';
import {
  compareThreshold,
  ThresholdConfigError,
  ThresholdSet,
  parseMetricSelector,
  parseThresholds,
  type ThresholdExpression,
} from '../engine/thresholds.ts';
import { XMPP_METRICS } from '../contract/metric-names.ts';
import { addSparse, decodeSparse, HdrDecodeError, newHistogram } from './histogram.ts';
import { RATE_OUTCOME_LABEL, seriesName } from './store.ts';
import type { MergedRun, MergedScalar } from './summary.ts';

/** Exit code when a threshold fails (k6 ThresholdsHaveFailed). */
export const GATE_FAILED_EXIT_CODE = 99;

export interface GateRow {
  /** The threshold's key as configured, e.g. `xmpp_session_ready{transport:bosh}`. */
  metric: string;
  threshold: string;
  /** The aggregated value compared (ms for time trends); undefined when there is none, and the row fails. */
  value: number | undefined;
  /** `value` as printed, with its unit. */
  display: string;
  ok: boolean;
  /** Why there is no value, naming the metric (printed under the table). */
  note?: string;
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

/** Each metric's k6 type, from what the run holds and, for XMPP metrics it never reported, their known types. */
export function metricTypes(merged: MergedRun): Map<string, MetricType> {
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

/** A metric's aggregated value in a run and how to print it, or why there is none (`note` names the metric). */
export type Aggregate =
  { value: number; display: string } | { value: undefined; display: string; note: string };

/** Which aggregation: a threshold's left-hand side (`p(99)`, `rate`, …); a Rate also has `count`, its trues. */
export type Aggregation = Pick<ThresholdExpression, 'method' | 'percentile'>;

function noSamples(key: string, runId: string, what: string): Aggregate {
  return {
    value: undefined,
    display: 'no samples',
    note: `${key} has no samples: ${what} in run ${runId}, so its thresholds fail`,
  };
}

/** A merged counter or gauge value that is not a finite number (a collector before range checks wrote null). */
function notANumber(key: string, field: string, s: MergedScalar): Aggregate {
  return {
    value: undefined,
    display: 'not a number',
    note:
      `${key}: merged.json's ${field} (${seriesName(s.name, s.labels ?? {})}) is ${JSON.stringify(s.value) ?? 'missing'}, ` +
      'not a finite number (an overflow in the collector that wrote it?), so its thresholds fail',
  };
}

/**
 * The value a threshold compares (or a baseline comparison reads, src/collector/baseline.ts) and how to print it,
 * or why there is none. `key` is the metric with its selector (`name{tag:value}`), as configured.
 */
export function aggregate(
  merged: MergedRun,
  type: MetricType,
  key: string,
  metric: string,
  tags: Record<string, string>,
  expr: Aggregation,
): Aggregate {
  const runId = merged.runId;
  const scalars = (list: MergedScalar[], field: string): { sum: number } | { bad: Aggregate } => {
    let sum = 0;
    for (const [i, s] of list.entries()) {
      if (!matches(s, metric, tags)) continue;
      if (typeof s.value !== 'number' || !Number.isFinite(s.value)) {
        return { bad: notANumber(key, `${field}[${i}].value`, s) };
      }
      sum += s.value;
    }
    return { sum };
  };
  switch (type) {
    case 'trend': {
      const h = newHistogram();
      let bytes = false;
      for (const [i, s] of merged.histograms.entries()) {
        if (!matches(s, metric, tags)) continue;
        try {
          addSparse(h, decodeSparse(s.hdr));
        } catch (err) {
          if (!(err instanceof HdrDecodeError)) throw err;
          return {
            value: undefined,
            display: 'unreadable',
            note: `${key}: merged.json's histograms[${i}].hdr cannot be read (${err.message}), so its thresholds fail`,
          };
        }
        bytes = s.unit === 'bytes';
      }
      if (h.totalCount === 0) return noSamples(key, runId, 'no value was recorded for it');
      const div = bytes ? 1 : 1000;
      const unit = bytes ? 'B' : 'ms';
      const at = (p: number): number => h.getValueAtPercentile(p) / div;
      const v =
        expr.method === 'avg'
          ? h.mean / div
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
      const total = scalars(merged.counters, 'counters');
      if ('bad' in total) return total.bad;
      const count = total.sum;
      if (expr.method === 'count') return { value: count, display: round(count, 3) };
      const seconds =
        merged.startMs !== null && merged.endMs !== null ? (merged.endMs - merged.startMs) / 1000 : 0;
      if (!(seconds > 0)) {
        return {
          value: undefined,
          display: 'no duration',
          note: `${key}: run ${runId} spans no time, so a rate per second is undefined and its thresholds fail`,
        };
      }
      const rate = count / seconds;
      return { value: rate, display: `${round(rate, 3)}/s` };
    }
    case 'rate': {
      let trues = 0;
      let total = 0;
      for (const [i, c] of merged.counters.entries()) {
        if (!matches(c, metric, tags)) continue;
        const outcome = c.labels[RATE_OUTCOME_LABEL];
        if (outcome !== 'true' && outcome !== 'false') continue;
        if (typeof c.value !== 'number' || !Number.isFinite(c.value)) {
          return notANumber(key, `counters[${i}].value`, c);
        }
        if (outcome === 'true') trues += c.value;
        total += c.value;
      }
      if (total === 0) return noSamples(key, runId, 'no true or false was recorded for it');
      if (expr.method === 'count') return { value: trues, display: String(trues) };
      return { value: trues / total, display: `${round((100 * trues) / total, 2)}% (${trues}/${total})` };
    }
    case 'gauge': {
      if (!merged.gauges.some((g) => matches(g, metric, tags))) {
        return noSamples(key, runId, 'no reading of it was recorded');
      }
      const total = scalars(merged.gauges, 'gauges');
      if ('bad' in total) return total.bad;
      return { value: total.sum, display: round(total.sum, 3) };
    }
  }
}

/** Whether a run holds no latency sample and no counter: no session was attempted, or nothing reached us. */
export function recordedNothing(merged: MergedRun): boolean {
  return merged.counters.length === 0 && merged.histograms.every((h) => h.count === 0);
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
  const nothing = recordedNothing(merged);
  const rows: GateRow[] = [];
  for (const { key, thresholds } of parseThresholds(config)) {
    const { metric, criteria } = parseMetricSelector(key);
    const tags = criteria === undefined ? {} : parseSubmetricTags(goTrimSpace(criteria));
    const type = types.get(metric) as MetricType;
    for (const t of thresholds) {
      if (nothing) {
        rows.push({
          metric: key,
          threshold: t.source,
          value: undefined,
          display: 'no samples',
          ok: false,
          note:
            `run ${merged.runId} recorded nothing (no latency sample, no counter): no session was attempted, ` +
            'or no generator reached the collector, so no threshold can pass',
        });
        continue;
      }
      const a = aggregate(merged, type, key, metric, tags, t.expr);
      if (a.value === undefined) {
        rows.push({
          metric: key,
          threshold: t.source,
          value: undefined,
          display: a.display,
          ok: false,
          note: a.note,
        });
      } else {
        const ok = compareThreshold(a.value, t.expr.operator, t.expr.value);
        rows.push({ metric: key, threshold: t.source, value: a.value, display: a.display, ok });
      }
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
  const notes = [...new Set(result.rows.flatMap((r) => (r.note === undefined ? [] : [r.note])))];
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    '',
    ...notes,
    verdict,
    '',
  ].join('\n');
}
