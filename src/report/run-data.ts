/**
 * What a run directory holds, read for the HTML report: run.json (what ran), summary.json (the end-of-test data,
 * from the Node engine or from k6's --summary-export), and with a collector merged.json and the HDR interval logs
 * in hdr/. Each file is optional: a run that failed in init has no summary.json, a run without --collect no
 * merged.json, a collector's own run directory no run.json; the report says what is missing and why.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HLOG_DIR, parseHlog, type HlogIndexEntry, type HlogInterval } from '../collector/hlog.ts';
import { MERGED_FILE, readMergedRun, type MergedRun } from '../collector/summary.ts';
import type { GeneratorHealth } from '../engine/health.ts';
import type { XmppSummary } from './xmpp-summary.ts';

export const RUN_FILE = 'run.json';
export const SUMMARY_FILE = 'summary.json';
export const REPORT_FILE = 'report.html';

export class ReportInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportInputError';
  }
}

/** run.json as `starling run` writes it (env already masked there; the report masks it again). */
export interface RunRecord {
  runId?: string;
  script?: string;
  env?: Record<string, string>;
  exitCode?: number;
  error?: string;
}

/** One metric of summary.json, whichever engine wrote it. */
export interface SummaryMetricData {
  /** k6's metric type and value type when the file says them (k6's --summary-export does not). */
  type?: string;
  contains?: string;
  values: Record<string, number>;
  /** Threshold source → held at the end of the test. */
  thresholds: Record<string, boolean>;
}

export interface RunSummaryData {
  /** `node`: handleSummary's data as the Node engine writes it; `k6-export`: k6's --summary-export format. */
  format: 'node' | 'k6-export';
  metrics: Record<string, SummaryMetricData>;
  testRunDurationMs?: number;
  summaryTrendStats?: string[];
  generator?: GeneratorHealth;
  xmpp?: XmppSummary;
}

/** One HDR interval log with its index entry. */
export interface IntervalSeries {
  entry: HlogIndexEntry;
  intervals: HlogInterval[];
}

export interface RunFiles {
  dir: string;
  run?: RunRecord;
  summary?: RunSummaryData;
  merged?: MergedRun;
  /** The HDR interval logs listed in hdr/index.json; undefined when the run has none. */
  intervals?: IntervalSeries[];
}

/** A JSON file's value; undefined when there is no such file (a ReportInputError when it cannot be read or parsed). */
export async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ReportInputError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ReportInputError(`${file} is not JSON (${(err as Error).message}): was it cut short?`);
  }
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

function numbers(o: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

/**
 * summary.json in either engine's shape. The Node engine (handleSummary's data) has `values` and thresholds as
 * `{ ok }`; k6's --summary-export has the values beside `thresholds`, whose booleans are true when the threshold
 * FAILED (grafana/k6#1498), and a Rate's rate as `value`.
 */
export function parseSummary(data: unknown, file: string): RunSummaryData {
  if (!isRecord(data) || !isRecord(data.metrics)) {
    throw new ReportInputError(`${file} has no "metrics" object: not an end-of-test summary`);
  }
  const node = Object.values(data.metrics).some((m) => isRecord(m) && isRecord(m.values));
  const metrics: Record<string, SummaryMetricData> = {};
  for (const [name, m] of Object.entries(data.metrics)) {
    if (!isRecord(m)) continue;
    const thresholds: Record<string, boolean> = {};
    for (const [expr, t] of Object.entries(isRecord(m.thresholds) ? m.thresholds : {})) {
      if (isRecord(t) && typeof t.ok === 'boolean') thresholds[expr] = t.ok;
      else if (typeof t === 'boolean') thresholds[expr] = !t;
    }
    const values = numbers(isRecord(m.values) ? m.values : m);
    if (!node && values.rate === undefined && values.passes !== undefined && values.value !== undefined)
      values.rate = values.value;
    metrics[name] = {
      ...(typeof m.type === 'string' ? { type: m.type } : {}),
      ...(typeof m.contains === 'string' ? { contains: m.contains } : {}),
      values,
      thresholds,
    };
  }
  const state = isRecord(data.state) ? data.state : {};
  const options = isRecord(data.options) ? data.options : {};
  return {
    format: node ? 'node' : 'k6-export',
    metrics,
    ...(typeof state.testRunDurationMs === 'number' ? { testRunDurationMs: state.testRunDurationMs } : {}),
    ...(Array.isArray(options.summaryTrendStats)
      ? { summaryTrendStats: options.summaryTrendStats.filter((s): s is string => typeof s === 'string') }
      : {}),
    ...(isRecord(data.generator) ? { generator: data.generator as unknown as GeneratorHealth } : {}),
    ...(isRecord(data.xmpp) ? { xmpp: data.xmpp as unknown as XmppSummary } : {}),
  };
}

async function readIntervals(dir: string): Promise<IntervalSeries[] | undefined> {
  const index = await readJson(join(dir, HLOG_DIR, 'index.json'));
  if (index === undefined) return undefined;
  if (!Array.isArray(index)) throw new ReportInputError(`${join(dir, HLOG_DIR, 'index.json')} is not a list`);
  return Promise.all(
    (index as HlogIndexEntry[]).map(async (entry) => {
      const file = join(dir, HLOG_DIR, entry.file);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new ReportInputError(
          `${file}, listed in ${HLOG_DIR}/index.json, cannot be read: ${(err as Error).message}`,
        );
      }
      return { entry, intervals: parseHlog(text, file) };
    }),
  );
}

/**
 * Everything the report reads from `dir`. Throws {@link ReportInputError} when `dir` is not a directory, holds
 * none of a run's files, or one of them is not what its name says.
 */
export async function readRunFiles(dir: string): Promise<RunFiles> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory())
    throw new ReportInputError(`${dir} is not a directory: give a run's results directory`);
  const [run, summary, merged, intervals] = await Promise.all([
    readJson(join(dir, RUN_FILE)),
    readJson(join(dir, SUMMARY_FILE)),
    stat(join(dir, MERGED_FILE)).then(
      () => readMergedRun(dir),
      () => undefined,
    ),
    readIntervals(dir),
  ]);
  if (run === undefined && summary === undefined && merged === undefined) {
    throw new ReportInputError(
      `${dir} holds no ${RUN_FILE}, ${SUMMARY_FILE} or ${MERGED_FILE}: not a run's results directory ` +
        '(starling run writes them to results/<run-id>/)',
    );
  }
  return {
    dir,
    ...(isRecord(run) ? { run: run as RunRecord } : {}),
    ...(summary !== undefined ? { summary: parseSummary(summary, join(dir, SUMMARY_FILE)) } : {}),
    ...(merged !== undefined ? { merged } : {}),
    ...(intervals !== undefined ? { intervals } : {}),
  };
}
