/** Runs the `starling` command as a child process, as a user would, and captures what it printed. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const CLI = resolve('bin/starling.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
  /** The signal that ended the process, when one did (null when it exited by itself). */
  signal?: NodeJS.Signals | null;
}

export interface RunStarlingOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Start the CLI as the leader of its own process group, so `process.kill(-pid)` reaches all it starts. */
  detached?: boolean;
  /** Called once the process is spawned: measure it, signal it, or set a deadline on it. */
  onSpawn?: (child: ChildProcess) => void;
}

export function runStarling(args: readonly string[], opts: RunStarlingOptions = {}): Promise<CliResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.detached ?? false,
    });
    const r: CliResult = { code: null, stdout: '', stderr: '', output: '' };
    child.stdout.on('data', (d: Buffer) => ((r.stdout += d), (r.output += d)));
    child.stderr.on('data', (d: Buffer) => ((r.stderr += d), (r.output += d)));
    child.on('close', (code, signal) => done({ ...r, code, signal }));
    opts.onSpawn?.(child);
  });
}

/** `-e KEY=VALUE` pairs for `starling run`. */
export function envArgs(vars: Record<string, string>): string[] {
  return Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
}

/**
 * `starling run chat --collect` on the Node engine into `resultsRoot` (saturation allowed: a shared machine), which
 * must exit 0; returns its run directory (results/<run-id>, holding summary.json, merged.json and report.html)
 * and what it printed.
 */
export async function runChatCollect(
  resultsRoot: string,
  env: Record<string, string>,
): Promise<{ dir: string; result: CliResult }> {
  const r = await runStarling([
    'run',
    'chat',
    '--engine',
    'node',
    '-q',
    '--collect',
    '--allow-saturation',
    '--results-root',
    resultsRoot,
    ...envArgs(env),
  ]);
  assert.equal(r.code, 0, `${resultsRoot}: ${r.output}`);
  const [runId] = await readdir(resultsRoot);
  return { dir: join(resultsRoot, runId!), result: r };
}

/** summary.json as these tests read it: each metric's values by stat (sub-metrics included). */
export interface SummaryValues {
  metrics: Record<string, { values: Record<string, number> } | undefined>;
}

/**
 * `starling run <script>` on the Node engine (quiet, saturation allowed: a shared machine) into `resultsRoot`, from
 * `cwd` (a .ts script compiles into <cwd>/dist/scenarios); returns what it printed and its summary.json.
 */
export async function runScenario(
  script: string,
  resultsRoot: string,
  env: Record<string, string>,
  opts: { cwd?: string; report?: boolean } = {},
): Promise<CliResult & { dir: string; summary: SummaryValues }> {
  const r = await runStarling(
    [
      'run',
      script,
      '--engine',
      'node',
      '-q',
      '--allow-saturation',
      ...(opts.report ? [] : ['--no-report']),
      '--results-root',
      resultsRoot,
      ...envArgs(env),
    ],
    { cwd: opts.cwd },
  );
  const [run] = await readdir(resultsRoot);
  const dir = join(resultsRoot, run!);
  const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as SummaryValues;
  return { ...r, dir, summary };
}

/** A stat of a metric in summary.json, which must be there. */
export function summaryValue(s: SummaryValues, metric: string, stat: string): number {
  const v = s.metrics[metric]?.values[stat];
  assert.ok(v !== undefined, `${metric} ${stat} is in summary.json`);
  return v;
}

/** A sample in k6's JSON output (`--out json=…`). */
export interface JsonPoint {
  metric: string;
  data: { value: number; tags: Record<string, string> };
}

/** Every sample (`"type":"Point"` line) of a k6 JSON output file, optionally of one metric. */
export async function readPoints(file: string, metric?: string): Promise<JsonPoint[]> {
  const points: JsonPoint[] = [];
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (!line) continue;
    const o = JSON.parse(line) as JsonPoint & { type: string };
    if (o.type === 'Point' && (metric === undefined || o.metric === metric)) points.push(o);
  }
  return points;
}
