/**
 * `/metrics` in the Prometheus text exposition format 0.0.4, fleet-wide: every series is merged across the
 * producing instances and labelled `run_id`, `scenario`, `transport` (each when not empty) plus the entry's own
 * labels. The names are built here and only here, so dashboards derive their PromQL from these functions:
 *
 * | snapshot entry       | Prometheus                                                                    |
 * | -------------------- | ----------------------------------------------------------------------------- |
 * | histogram `m` (time) | histogram `starling_m_seconds` (`_bucket{le}`, `_sum`, `_count`) and gauge     |
 * |                      | `starling_m_seconds_percentile{percentile="50"\|"90"\|"99"\|"99.9"\|"max"}`     |
 * | histogram `m` (size) | the same with `_bytes` for `_seconds` (see HISTOGRAM_UNITS)                    |
 * | counter `m`          | counter `starling_m_total` (a rate `m` is `starling_m_total{outcome="true"}`   |
 * |                      | over `starling_m_total`)                                                      |
 * | gauge `m`            | gauge `starling_m` (the last value of each producer, summed)                  |
 *
 * The Node engine's own health (GENERATOR_METRICS, label `generator`) follows the same rules:
 * `starling_generator_event_loop_delay_seconds` (histogram and percentiles), `starling_generator_cpu_seconds_total`
 * and `starling_generator_event_loop_busy_seconds_total` (rate = share of one core, event-loop utilization) and
 * `starling_generator_saturated` (1 once its saturation rule tripped).
 *
 * Histogram buckets are computed from the merged cumulative HDR histogram at the fixed bounds below: a bucket
 * counts every recorded value at or below its bound at HDR resolution (the HDR sub-bucket holding the bound
 * counts as below it, as Java HdrHistogram's getCountBetweenValues does; under 2.048 ms that is exact to the µs, above it the
 * sub-bucket is at most 0.1 % of the bound wide). `_sum` is Σ count × HDR's median equivalent value, the sum
 * HDR's own mean uses. Percentile gauges are HDR getValueAtPercentile on the cumulative histogram (`max` =
 * p(100)), i.e. over the run so far; for a recent window use histogram_quantile over rate(_bucket[…]).
 */
import { GENERATOR_METRICS } from '../contract/snapshot.ts';
import { TAP_METRICS } from '../contract/tap-metric-names.ts';
import { XMPP_TRENDS } from '../contract/metric-names.ts';
import { cumulativeCounts, histogramSum } from './histogram.ts';
import type { CollectorStore, HistogramSeries, Labels, RunState, ScalarSeries } from './store.ts';

export type HistogramUnit = 'seconds' | 'bytes';

/**
 * What each histogram metric measures. Time histograms carry µs and are exposed in seconds; size histograms
 * carry bytes. A name not listed is a time (the contract's unit for histograms).
 */
export const HISTOGRAM_UNITS: Readonly<Record<string, HistogramUnit>> = {
  ...Object.fromEntries(Object.values(XMPP_TRENDS).map((name) => [name, 'seconds' as const])),
  [TAP_METRICS.frameParse]: 'seconds',
  [TAP_METRICS.iqResponse]: 'seconds',
  [TAP_METRICS.messageTransit]: 'seconds',
  [TAP_METRICS.frameSize]: 'bytes',
  [GENERATOR_METRICS.eventLoopDelay]: 'seconds',
};

export function histogramUnit(metric: string): HistogramUnit {
  return HISTOGRAM_UNITS[metric] ?? 'seconds';
}

/** Recorded value ÷ this = the value in the exposed unit (µs → s for times). */
export function unitDivisor(unit: HistogramUnit): number {
  return unit === 'seconds' ? 1e6 : 1;
}

/** Bucket upper bounds (`le`) of time histograms, seconds: 100 µs to 5 min. */
export const SECONDS_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
  120, 300,
];

/** Bucket upper bounds of size histograms, bytes: 64 B to 1 MiB. */
export const BYTES_BUCKETS: readonly number[] = [
  64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576,
];

export function bucketBounds(unit: HistogramUnit): readonly number[] {
  return unit === 'seconds' ? SECONDS_BUCKETS : BYTES_BUCKETS;
}

/** The percentile gauges: the `percentile` label value and the HDR percentile it reports. */
export const PERCENTILES: readonly { label: string; percentile: number }[] = [
  { label: '50', percentile: 50 },
  { label: '90', percentile: 90 },
  { label: '99', percentile: 99 },
  { label: '99.9', percentile: 99.9 },
  { label: 'max', percentile: 100 },
];

/** `starling_<metric>_seconds` / `_bytes`: the histogram family (`_bucket`, `_sum`, `_count`). */
export function histogramMetricName(metric: string): string {
  return `starling_${metric}_${histogramUnit(metric)}`;
}

/** `starling_<metric>_seconds_percentile`: the percentile gauges. */
export function percentileMetricName(metric: string): string {
  return `${histogramMetricName(metric)}_percentile`;
}

/** `starling_<metric>_total`. */
export function counterMetricName(metric: string): string {
  return `starling_${metric}_total`;
}

/** `starling_<metric>`. */
export function gaugeMetricName(metric: string): string {
  return `starling_${metric}`;
}

/** The collector's own series. */
export const COLLECTOR_METRICS = {
  /** {run_id}: snapshots merged. */
  snapshots: 'starling_collector_snapshots_total',
  /** {run_id}: snapshots dropped as repeats of a seq already merged. */
  duplicates: 'starling_collector_duplicate_snapshots_total',
  /**
   * {reason}: snapshots refused (invalid, unauthorized, too-large, unsupported-media-type, run-finished, and the
   * limits max-runs, max-series, max-memory).
   */
  rejected: 'starling_collector_rejected_snapshots_total',
  /** Runs held in memory (finished runs are written and dropped, so their series leave /metrics too). */
  runs: 'starling_collector_runs',
  /** Estimated bytes of the run data held (what --max-memory bounds). */
  memoryBytes: 'starling_collector_memory_bytes',
  /** {reason}: runs written to results/ and dropped from memory (final, idle, requested, room). */
  finishedRuns: 'starling_collector_finished_runs_total',
  /** {run_id}: producers (instance + VU) seen. */
  producers: 'starling_collector_producers',
  /** {run_id}: producers that sent their final snapshot. */
  finalProducers: 'starling_collector_final_producers',
} as const;

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function labelText(pairs: readonly (readonly [string, string])[]): string {
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** `run_id`, `scenario`, `transport` (each when not empty), then the entry's labels in name order. */
export function seriesLabels(
  runId: string,
  s: { scenario: string; transport: string; labels: Labels },
): [string, string][] {
  const out: [string, string][] = [['run_id', runId]];
  if (s.scenario !== '') out.push(['scenario', s.scenario]);
  if (s.transport !== '') out.push(['transport', s.transport]);
  for (const k of Object.keys(s.labels).sort()) out.push([k, s.labels[k] as string]);
  return out;
}

interface Family {
  type: 'histogram' | 'gauge' | 'counter';
  help: string;
  lines: string[];
}

/** Rendered lines of one histogram series, reused while the series is unchanged. */
const histogramCache = new WeakMap<HistogramSeries, { version: number; hist: string[]; pct: string[] }>();

function histogramLines(runId: string, s: HistogramSeries): { hist: string[]; pct: string[] } {
  const cached = histogramCache.get(s);
  if (cached && cached.version === s.version) return cached;
  const name = histogramMetricName(s.name);
  const unit = histogramUnit(s.name);
  const div = unitDivisor(unit);
  const bounds = bucketBounds(unit);
  const labels = seriesLabels(runId, s);
  const h = s.cumulative;
  const counts = cumulativeCounts(
    h,
    bounds.map((b) => Math.round(b * div)),
  );
  const hist: string[] = [];
  bounds.forEach((b, i) => {
    hist.push(
      `${name}_bucket${labelText([...labels, ['le', String(b)]])} ${formatValue(counts[i] as number)}`,
    );
  });
  hist.push(`${name}_bucket${labelText([...labels, ['le', '+Inf']])} ${formatValue(h.totalCount)}`);
  hist.push(`${name}_sum${labelText(labels)} ${formatValue(histogramSum(h) / div)}`);
  hist.push(`${name}_count${labelText(labels)} ${formatValue(h.totalCount)}`);
  const pct: string[] = [];
  if (h.totalCount > 0) {
    const pname = percentileMetricName(s.name);
    for (const p of PERCENTILES) {
      const v = h.getValueAtPercentile(p.percentile) / div;
      pct.push(`${pname}${labelText([...labels, ['percentile', p.label]])} ${formatValue(v)}`);
    }
  }
  const entry = { version: s.version, hist, pct };
  histogramCache.set(s, entry);
  return entry;
}

function byKey<T extends { key: string }>(m: Map<string, T>): T[] {
  return [...m.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The whole `/metrics` body. */
export function renderMetrics(store: CollectorStore): string {
  const families = new Map<string, Family>();
  const family = (name: string, type: Family['type'], help: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { type, help, lines: [] };
      families.set(name, f);
    }
    return f;
  };
  const runs = store.runs().sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  for (const run of runs) {
    for (const s of byKey(run.histograms)) {
      const unit = histogramUnit(s.name);
      const { hist, pct } = histogramLines(run.runId, s);
      family(
        histogramMetricName(s.name),
        'histogram',
        `${s.name} (${unit}), HDR-merged across every producer of the run`,
      ).lines.push(...hist);
      if (pct.length > 0) {
        family(
          percentileMetricName(s.name),
          'gauge',
          `${s.name} (${unit}) percentiles over the run so far, from the merged HDR histogram`,
        ).lines.push(...pct);
      }
    }
    scalarLines(run, run.counters, counterMetricName, 'counter', family);
    scalarLines(run, run.gauges, gaugeMetricName, 'gauge', family);
  }
  const perRun = (name: string, type: Family['type'], help: string, value: (r: RunState) => number): void => {
    const f = family(name, type, help);
    for (const run of runs)
      f.lines.push(`${name}${labelText([['run_id', run.runId]])} ${formatValue(value(run))}`);
  };
  perRun(COLLECTOR_METRICS.snapshots, 'counter', 'Snapshots merged', (r) => r.snapshots);
  perRun(COLLECTOR_METRICS.duplicates, 'counter', 'Snapshots dropped as repeated seqs', (r) => r.duplicates);
  perRun(COLLECTOR_METRICS.producers, 'gauge', 'Producers (instance + VU) seen', (r) => r.producers.size);
  perRun(COLLECTOR_METRICS.finalProducers, 'gauge', 'Producers that sent their final snapshot', (r) =>
    r.finalProducers(),
  );
  family(COLLECTOR_METRICS.runs, 'gauge', 'Runs held in memory').lines.push(
    `${COLLECTOR_METRICS.runs} ${formatValue(runs.length)}`,
  );
  family(COLLECTOR_METRICS.memoryBytes, 'gauge', 'Estimated bytes of the run data held in memory').lines.push(
    `${COLLECTOR_METRICS.memoryBytes} ${formatValue(store.estimatedBytes)}`,
  );
  const finished = family(
    COLLECTOR_METRICS.finishedRuns,
    'counter',
    'Runs written out and dropped from memory',
  );
  for (const [reason, n] of [...store.evicted].sort()) {
    finished.lines.push(
      `${COLLECTOR_METRICS.finishedRuns}${labelText([['reason', reason]])} ${formatValue(n)}`,
    );
  }
  const rejected = family(COLLECTOR_METRICS.rejected, 'counter', 'Snapshots refused, by reason');
  for (const [reason, n] of [...store.rejected].sort()) {
    rejected.lines.push(`${COLLECTOR_METRICS.rejected}${labelText([['reason', reason]])} ${formatValue(n)}`);
  }

  let out = '';
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name) as Family;
    out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n`;
    for (const line of f.lines) out += `${line}\n`;
  }
  return out;
}

function scalarLines(
  run: RunState,
  series: Map<string, ScalarSeries>,
  nameOf: (metric: string) => string,
  type: 'counter' | 'gauge',
  family: (name: string, type: Family['type'], help: string) => Family,
): void {
  for (const s of byKey(series)) {
    const name = nameOf(s.name);
    const help =
      type === 'counter'
        ? `${s.name}, summed across every producer of the run`
        : `${s.name}, the last value of each producer, summed`;
    family(name, type, help).lines.push(
      `${name}${labelText(seriesLabels(run.runId, s))} ${formatValue(s.value)}`,
    );
  }
}
