/**
 * HDR interval logs: one file per histogram series (metric + scenario + transport + labels) under
 * `results/<runId>/hdr/`, in HdrHistogram's histogram log format 1.3 as its HistogramLogWriter writes it, so
 * HdrHistogram's own tools (HistogramLogProcessor, HistogramLogReader in Java or JS, the online plotter) read
 * them. One line per aligned collector interval; values are recorded in µs (bytes for size metrics), and the
 * Interval_Max column is in ms (bytes). `hdr/index.json` says which file holds which series. {@link parseHlog}
 * reads such a log back (the HTML report draws its intervals).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { decodeSparse, HdrDecodeError, withHistogram, type SparseCounts } from './histogram.ts';
import { histogramUnit } from './prometheus.ts';
import type { HistogramSeries, Labels, RunState } from './store.ts';

export const HLOG_DIR = 'hdr';

export interface HlogIndexEntry {
  file: string;
  name: string;
  scenario: string;
  transport: string;
  labels: Labels;
  /** Unit of the recorded values. */
  unit: 'us' | 'bytes';
  intervals: number;
  count: number;
}

function seriesParts(s: HistogramSeries): string[] {
  const parts = [s.name];
  if (s.scenario !== '') parts.push(`scenario=${s.scenario}`);
  if (s.transport !== '') parts.push(`transport=${s.transport}`);
  for (const k of Object.keys(s.labels).sort()) parts.push(`${k}=${s.labels[k]}`);
  return parts;
}

/**
 * `<metric>__<label>=<value>….hlog`, with anything but letters, digits, `_`, `-`, `=` and `.` replaced by `_`;
 * `~2`, `~3`, … when two series would share a name.
 */
export function hlogFileName(s: HistogramSeries, taken: Set<string>): string {
  let base = seriesParts(s)
    .map((p) => p.replace(/[^A-Za-z0-9_=.-]/g, '_'))
    .join('__');
  if (base.length > 200) base = base.slice(0, 200);
  let file = `${base}.hlog`;
  for (let n = 2; taken.has(file); n++) file = `${base}~${n}.hlog`;
  taken.add(file);
  return file;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** The log text of one series. */
export function hlogText(run: RunState, s: HistogramSeries): string {
  const intervals = run.intervals(s);
  const bytes = histogramUnit(s.name) === 'bytes';
  const base = intervals[0]?.startMs ?? (Number.isFinite(run.startMs) ? run.startMs : 0);
  let text = '';
  const writer = new hdr.HistogramLogWriter((chunk) => {
    text += chunk;
  });
  writer.outputComment(
    `[starling run ${run.runId}: ${seriesParts(s).join(' ')}; values in ${bytes ? 'bytes' : 'microseconds'}, ` +
      `Interval_Max in ${bytes ? 'bytes' : 'milliseconds'}, intervals of ${run.intervalMs} ms]`,
  );
  writer.outputLogFormatVersion();
  writer.outputComment(
    `[StartTime: ${seconds(base)} (seconds since epoch), ${new Date(base).toISOString()}]`,
  );
  writer.outputComment(`[BaseTime: ${seconds(base)} (seconds since epoch)]`);
  writer.outputLegend();
  for (const iv of intervals) {
    withHistogram(iv.counts, (h) =>
      writer.outputIntervalHistogram(
        h,
        (iv.startMs - base) / 1000,
        (iv.endMs - base) / 1000,
        bytes ? 1 : 1000,
      ),
    );
  }
  return text;
}

/** Writes every histogram series of the run to `<dir>/hdr/`, plus `index.json`; returns the index. */
export async function writeHlogs(run: RunState, dir: string): Promise<HlogIndexEntry[]> {
  const hdrDir = join(dir, HLOG_DIR);
  await mkdir(hdrDir, { recursive: true });
  const taken = new Set<string>();
  const index: HlogIndexEntry[] = [];
  const series = [...run.histograms.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const writes: Promise<void>[] = [];
  for (const s of series) {
    const file = hlogFileName(s, taken);
    // All at once: one by one, each file waited behind the snapshots arriving meanwhile, and finished runs piled up.
    writes.push(writeFile(join(hdrDir, file), hlogText(run, s)));
    index.push({
      file,
      name: s.name,
      scenario: s.scenario,
      transport: s.transport,
      labels: s.labels,
      unit: histogramUnit(s.name) === 'bytes' ? 'bytes' : 'us',
      intervals: s.hot.size + s.frozen.size,
      count: s.cumulative.totalCount,
    });
  }
  writes.push(writeFile(join(hdrDir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`));
  await Promise.all(writes);
  return index;
}

/** One interval of an HDR log, on the epoch clock. */
export interface HlogInterval {
  startMs: number;
  endMs: number;
  /** The interval's histogram (HDR_CONFIG), as non-zero counts. */
  counts: SparseCounts;
}

export class HlogFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HlogFormatError';
  }
}

const BASE_TIME = /^#\[(BaseTime|StartTime): (\d+(?:\.\d+)?) /;
const INTERVAL_LINE = /^(?:Tag=[^,]*,)?(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\S+)$/;

/**
 * The intervals of an HDR log in the format {@link hlogText} writes (HdrHistogram's 1.3): interval times are
 * seconds after the log's BaseTime (else its StartTime, else the epoch). Throws {@link HlogFormatError} naming
 * the line that is not an interval, or whose histogram does not decode (`name` says which log it is).
 */
export function parseHlog(text: string, name: string): HlogInterval[] {
  let baseSeconds: number | undefined;
  let startSeconds: number | undefined;
  const intervals: HlogInterval[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('"StartTimestamp"')) continue;
    if (line.startsWith('#')) {
      const m = BASE_TIME.exec(line);
      if (m?.[1] === 'BaseTime') baseSeconds = Number(m[2]);
      else if (m?.[1] === 'StartTime') startSeconds = Number(m[2]);
      continue;
    }
    const m = INTERVAL_LINE.exec(line);
    if (!m)
      throw new HlogFormatError(
        `${name} line ${i + 1}: not an HDR log interval (start,length,max,histogram)`,
      );
    let counts: SparseCounts;
    try {
      counts = decodeSparse(m[4] as string);
    } catch (err) {
      if (!(err instanceof HdrDecodeError)) throw err;
      throw new HlogFormatError(`${name} line ${i + 1}: ${err.message}`);
    }
    // The log writes times to the millisecond.
    const startMs = Math.round(((baseSeconds ?? startSeconds ?? 0) + Number(m[1])) * 1000);
    intervals.push({ startMs, endMs: startMs + Math.round(Number(m[2]) * 1000), counts });
  }
  return intervals;
}
