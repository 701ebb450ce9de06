/**
 * End-of-run files in `results/<runId>/`, next to what the engine writes there (its `summary.json` is not ours):
 * - `collector-summary.json`: what a person reads: per series count and percentiles (ms for times), counters,
 *   gauges, instances, snapshot counts;
 * - `merged.json`: what `starling gate` reads: every merged histogram as HDR compressed base64, counters and
 *   gauges, so thresholds run on the fleet-wide data without the collector.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HDR_CONFIG } from '../contract/snapshot.ts';
import { encodeHistogram, histogramStats } from './histogram.ts';
import { histogramUnit } from './prometheus.ts';
import type { Labels, RunState, ScalarSeries } from './store.ts';

export const COLLECTOR_SUMMARY_FILE = 'collector-summary.json';
export const MERGED_FILE = 'merged.json';
export const MERGED_VERSION = 1;

interface SeriesFields {
  name: string;
  scenario: string;
  transport: string;
  labels: Labels;
}

export interface MergedHistogram extends SeriesFields {
  /** Unit of the recorded values: µs for times, bytes for sizes. */
  unit: 'us' | 'bytes';
  count: number;
  /** HdrHistogram V2 compressed base64, HDR_CONFIG. */
  hdr: string;
}

export interface MergedScalar extends SeriesFields {
  value: number;
}

export interface MergedRun {
  version: typeof MERGED_VERSION;
  runId: string;
  /** Earliest snapshot interval start and latest end, epoch ms (null without snapshots). */
  startMs: number | null;
  endMs: number | null;
  intervalMs: number;
  hdrConfig: typeof HDR_CONFIG;
  histograms: MergedHistogram[];
  counters: MergedScalar[];
  gauges: MergedScalar[];
}

function fields(s: SeriesFields): SeriesFields {
  return { name: s.name, scenario: s.scenario, transport: s.transport, labels: s.labels };
}

function sorted<T extends { key: string }>(m: Map<string, T>): T[] {
  return [...m.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function span(run: RunState): { startMs: number | null; endMs: number | null } {
  return Number.isFinite(run.startMs)
    ? { startMs: run.startMs, endMs: run.endMs }
    : { startMs: null, endMs: null };
}

const scalar = (s: ScalarSeries): MergedScalar => ({ ...fields(s), value: s.value });

export function mergedRun(run: RunState): MergedRun {
  return {
    version: MERGED_VERSION,
    runId: run.runId,
    ...span(run),
    intervalMs: run.intervalMs,
    hdrConfig: HDR_CONFIG,
    histograms: sorted(run.histograms).map((s) => ({
      ...fields(s),
      unit: histogramUnit(s.name) === 'bytes' ? 'bytes' : 'us',
      count: s.cumulative.totalCount,
      hdr: encodeHistogram(s.cumulative),
    })),
    counters: sorted(run.counters).map(scalar),
    gauges: sorted(run.gauges).map(scalar),
  };
}

export class MergedRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergedRunError';
  }
}

/** Reads `<dir>/merged.json`; throws {@link MergedRunError} saying what is missing or wrong. */
export async function readMergedRun(dir: string): Promise<MergedRun> {
  const file = join(dir, MERGED_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new MergedRunError(
      `no ${file}: the collector writes it when a run's producers have all sent their final snapshot, or when it stops`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new MergedRunError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const d = data as Partial<MergedRun> | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    d.version !== MERGED_VERSION ||
    !Array.isArray(d.histograms) ||
    !Array.isArray(d.counters) ||
    !Array.isArray(d.gauges)
  ) {
    throw new MergedRunError(`${file} is not a version ${MERGED_VERSION} merged run`);
  }
  return d as MergedRun;
}

export interface SummaryHistogram extends SeriesFields {
  unit: 'ms' | 'bytes';
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  'p99.9': number;
  max: number;
}

export interface CollectorSummary {
  runId: string;
  startMs: number | null;
  endMs: number | null;
  intervalMs: number;
  instances: string[];
  producers: number;
  finalProducers: number;
  snapshots: { accepted: number; duplicatesDropped: number; rejected: number };
  histograms: SummaryHistogram[];
  counters: MergedScalar[];
  gauges: MergedScalar[];
}

export function collectorSummary(run: RunState): CollectorSummary {
  return {
    runId: run.runId,
    ...span(run),
    intervalMs: run.intervalMs,
    instances: run.instances(),
    producers: run.producers.size,
    finalProducers: run.finalProducers(),
    snapshots: { accepted: run.snapshots, duplicatesDropped: run.duplicates, rejected: run.rejected },
    histograms: sorted(run.histograms).map((s) => {
      const bytes = histogramUnit(s.name) === 'bytes';
      const div = bytes ? 1 : 1000;
      const st = histogramStats(s.cumulative);
      return {
        ...fields(s),
        unit: bytes ? 'bytes' : 'ms',
        count: st.count,
        min: st.min / div,
        mean: st.mean / div,
        p50: st.p50 / div,
        p90: st.p90 / div,
        p99: st.p99 / div,
        'p99.9': st.p999 / div,
        max: st.max / div,
      };
    }),
    counters: sorted(run.counters).map(scalar),
    gauges: sorted(run.gauges).map(scalar),
  };
}
