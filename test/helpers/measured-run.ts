/**
 * `starling run` as a child process, measured from outside: wall time, peak RSS of its process tree, exit code,
 * and what it wrote (run.json, summary.json, k6 JSON samples). Timed steps (a SIGKILL to the server, say) run at
 * set times after the start, and a hard deadline SIGKILLs a run that does not end by itself, so a hanging run
 * fails its test instead of hanging the suite.
 *
 * `bin/starling.js` runs the built CLI (dist/cli/) in the same process (no second node); the Node
 * engine's synchronous k6/http runs in a worker thread of that process. Real k6 (`--engine k6`) would be a
 * child. The run is started as its own process group and the whole group is sampled, so either way the tree is
 * measured.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processGroupUsage } from '../../src/targets/processes.ts';
import { envArgs, readPoints, runStarling, type JsonPoint } from './cli.ts';
import type { TimedStep } from './fault-servers.ts';

export interface MeasuredRunOptions {
  /** A scenario name, .ts scenario or compiled .js script. */
  script: string;
  /** `-e` variables. */
  vars: Record<string, string>;
  /** Work directory: the results root and the JSON output go inside it. */
  dir: string;
  /** Extra CLI arguments. */
  args?: string[];
  steps?: TimedStep[];
  /**
   * Time the steps from the moment the run's JSON output holds `count` samples of `metric` (e.g. every session
   * logged in: `xmpp_sessions_opened`), not from the start: start-up time varies with the machine's load.
   * Steps whose cue never comes are reported as failed.
   */
  cue?: { metric: string; count: number };
  /** SIGKILL the run's process group this long after the start (the run then counts as timed out). */
  deadlineMs: number;
  /** RSS sampling period (default 100 ms). */
  sampleMs?: number;
}

/** summary.json as the Node engine writes it (k6's handleSummary data). */
export interface SummaryJson {
  metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
  state?: { testRunDurationMs: number };
}

export interface MeasuredRun {
  code: number | null;
  /** The signal that ended the run (SIGKILL when the deadline cut it). */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  /**
   * Peak resident memory of the process tree, MiB: the larger of the highest sampled sum of VmRSS and the sum of
   * each process's VmHWM at its last sample (exact for one process, an upper bound for several).
   */
  peakRssMiB: number;
  output: string;
  /** When the cue came (ms from the start), if one was set and it came. */
  cueAtMs: number | undefined;
  /** Each step as it ran: when (ms from the start; -1 when it never ran) and how it failed, if it did. */
  steps: { what: string; atMs: number; error?: string }[];
  /** results/<run-id>/, when the run created it. */
  resultsDir: string | undefined;
  runJson: { exitCode?: number } | undefined;
  summary: SummaryJson | undefined;
  points: JsonPoint[];
  /** xmpp_session_failures by `reason` tag. */
  reasons: Record<string, number>;
}

/** Live runs, so a suite's after() hook can kill what a failed test left behind. */
const live = new Set<ChildProcess>();

/** SIGKILLs every run still going (their whole process groups). */
export function killLiveRuns(): void {
  for (const child of live) killGroup(child);
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

process.once('exit', killLiveRuns);

export async function measuredRun(o: MeasuredRunOptions): Promise<MeasuredRun> {
  const resultsRoot = join(o.dir, 'results');
  const jsonFile = join(o.dir, 'samples.json');
  await mkdir(resultsRoot, { recursive: true });
  const steps: MeasuredRun['steps'] = [];
  const timers: NodeJS.Timeout[] = [];
  let peakRssKiB = 0;
  let peakHwmKiB = 0;
  let timedOut = false;
  let t0 = 0;
  let cueAtMs: number | undefined;
  const r = await runStarling(
    [
      'run',
      o.script,
      '--engine',
      'node',
      '--quiet',
      '--results-root',
      resultsRoot,
      '--out',
      `json=${jsonFile}`,
      ...envArgs(o.vars),
      ...(o.args ?? []),
    ],
    {
      cwd: o.dir,
      detached: true,
      onSpawn: (child) => {
        t0 = Date.now();
        live.add(child);
        const sample = (): void => {
          if (child.pid === undefined) return;
          const u = processGroupUsage(child.pid);
          peakRssKiB = Math.max(peakRssKiB, u.rssKiB);
          peakHwmKiB = Math.max(peakHwmKiB, u.peakRssKiB);
        };
        timers.push(setInterval(sample, o.sampleMs ?? 100));
        const pending = new Set(o.steps ?? []);
        const schedule = (): void => {
          for (const step of pending) {
            timers.push(
              setTimeout(() => {
                pending.delete(step);
                const record: MeasuredRun['steps'][number] = { what: step.what, atMs: Date.now() - t0 };
                steps.push(record);
                Promise.resolve()
                  .then(step.run)
                  .catch((e: unknown) => (record.error = String(e)));
              }, step.atMs),
            );
          }
        };
        if (o.cue) {
          const watch = watchOutput(jsonFile, o.cue.metric, o.cue.count, () => {
            cueAtMs = Date.now() - t0;
            schedule();
          });
          timers.push(watch);
        } else schedule();
        timers.push(
          setTimeout(() => {
            timedOut = true;
            killGroup(child);
          }, o.deadlineMs),
        );
        child.once('close', () => {
          live.delete(child);
          for (const t of timers) clearTimeout(t);
          const why =
            o.cue && cueAtMs === undefined
              ? `the run ended before ${o.cue.count} ${o.cue.metric} samples`
              : 'the run ended first';
          for (const step of pending) steps.push({ what: step.what, atMs: -1, error: `not run: ${why}` });
        });
      },
    },
  );
  const durationMs = Date.now() - t0;
  const resultsDir = await onlyRunDir(resultsRoot);
  const readJson = async <T>(name: string): Promise<T | undefined> =>
    resultsDir && existsSync(join(resultsDir, name))
      ? (JSON.parse(await readFile(join(resultsDir, name), 'utf8')) as T)
      : undefined;
  const points = existsSync(jsonFile) ? await readPointsLeniently(jsonFile) : [];
  const reasons: Record<string, number> = {};
  for (const p of points) {
    if (p.metric !== 'xmpp_session_failures') continue;
    const reason = p.data.tags.reason ?? '(no reason tag)';
    reasons[reason] = (reasons[reason] ?? 0) + p.data.value;
  }
  return {
    code: r.code,
    signal: r.signal ?? null,
    timedOut,
    durationMs,
    peakRssMiB: Math.max(peakRssKiB, peakHwmKiB) / 1024,
    output: r.output,
    cueAtMs,
    steps,
    resultsDir,
    runJson: await readJson('run.json'),
    summary: await readJson('summary.json'),
    points,
    reasons,
  };
}

/**
 * Polls a growing k6 JSON output every 100 ms and calls `then` once it holds `count` Point samples of `metric`.
 * Returns the polling timer (cleared by the caller when the run ends).
 */
function watchOutput(file: string, metric: string, count: number, then: () => void): NodeJS.Timeout {
  const needle = `"metric":${JSON.stringify(metric)}`;
  let offset = 0;
  let partial = '';
  let seen = 0;
  let reading = false;
  const timer = setInterval(() => {
    if (reading || !existsSync(file)) return;
    reading = true;
    void readFrom(file, offset)
      .then((chunk) => {
        offset += chunk.length;
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line.includes('"type":"Point"') && line.includes(needle)) seen++;
        if (seen >= count) {
          clearInterval(timer);
          then();
        }
      })
      .finally(() => (reading = false));
  }, 100);
  return timer;
}

async function readFrom(file: string, offset: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buf = Buffer.alloc(Math.max(0, size - offset));
    await handle.read(buf, 0, buf.length, offset);
    return buf;
  } finally {
    await handle.close();
  }
}

async function onlyRunDir(root: string): Promise<string | undefined> {
  const dirs = await readdir(root);
  return dirs.length === 1 ? join(root, dirs[0]!) : undefined;
}

/** A run killed mid-write leaves a truncated last line: the complete lines still count. */
async function readPointsLeniently(file: string): Promise<JsonPoint[]> {
  try {
    return await readPoints(file);
  } catch {
    return (await readFile(file, 'utf8')).split('\n').flatMap((line) => {
      try {
        const o = JSON.parse(line) as JsonPoint & { type: string };
        return o.type === 'Point' ? [o] : [];
      } catch {
        return [];
      }
    });
  }
}

/** Sum of a metric's samples whose tags include `tags`. */
export function sumPoints(run: MeasuredRun, metric: string, tags: Record<string, string> = {}): number {
  return run.points
    .filter((p) => p.metric === metric && Object.entries(tags).every(([k, v]) => p.data.tags[k] === v))
    .reduce((n, p) => n + p.data.value, 0);
}

/** `reason ×count, …`, largest first; '–' for none. */
export function formatReasons(reasons: Record<string, number>): string {
  const entries = Object.entries(reasons).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([r, n]) => `${r} ×${n}`).join(', ') : '–';
}

/** Thresholds that failed, as `metric: expr`. */
export function failedThresholds(summary: SummaryJson | undefined): string[] {
  return Object.entries(summary?.metrics ?? {}).flatMap(([name, m]) =>
    Object.entries(m.thresholds ?? {})
      .filter(([, t]) => !t.ok)
      .map(([expr]) => `${name}: ${expr}`),
  );
}
