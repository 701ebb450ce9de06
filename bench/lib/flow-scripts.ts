/**
 * The standard flow's generators as scripts, shared by the benches that run them (standard-flow, instructions):
 * starling's scenarios/churn.ts and bench/k6/raw-flow.ts built as users' scenarios are (no compiler in any
 * measurement), and the floor (bench/raw-ws-flow.ts) bundled for plain Node.
 */
import { basename, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { buildScenarios } from '../../src/build/scenarios.ts';

export interface FlowScripts {
  /** scenarios/churn.ts built: starling's standard flow. */
  starling: string;
  /** bench/k6/raw-flow.ts built: the floor's flow on starling's Node engine. */
  k6Raw: string;
  /** bench/raw-ws-flow.ts bundled for Node. */
  raw: string;
}

export async function buildFlowScripts(work: string): Promise<FlowScripts> {
  const scripts = await buildScenarios(
    [resolve('scenarios/churn.ts'), resolve('bench/k6/raw-flow.ts')],
    join(work, 'scenarios'),
  );
  const builtFile = (name: string): string => resolve(scripts.find((b) => basename(b.file) === name)!.file);
  const raw = join(work, 'raw-ws-flow.cjs');
  await build({
    entryPoints: [resolve('bench/raw-ws-flow.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: raw,
    external: ['bufferutil', 'utf-8-validate'],
    logLevel: 'warning',
  });
  return { starling: builtFile('churn.js'), k6Raw: builtFile('raw-flow.js'), raw };
}

/** `-e KEY=VALUE` for each entry: `starling run`'s (k6's) syntax. */
export function envArgs(env: Record<string, string>): string[] {
  return Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
}

/**
 * What is wrong with the floor's line of counts in a generator's output: raw-ws-flow.ts prints it last, the
 * Node engine logs k6/raw-flow.ts's as k6 does (`INFO[0012] [VU 1] {"users":…}`).
 */
export function floorProblems(generator: string, output: string): string[] {
  const logged = /\[VU \d+\] (\{"users".*\})$/m.exec(output);
  const line = logged?.[1] ?? output.trim().split('\n').pop() ?? '';
  try {
    const s = JSON.parse(line) as { failed: number; failures: Record<string, number> };
    return s.failed > 0 ? [`${generator}: ${s.failed} users failed ${JSON.stringify(s.failures)}`] : [];
  } catch {
    return [`${generator}: no result line (${line.slice(0, 200)})`];
  }
}

/** The standard flow's settings, as every generator takes them. */
export interface FlowSettings {
  /** The WebSocket (or, for starling, BOSH) endpoint. */
  url: string;
  domain: string;
  users: number;
  /** Arrivals per second. */
  rate: number;
  messages: number;
  thinkMs: number;
  bodySize: number;
}

/** `starling run <script> --engine node` with the flow as `-e` pairs, results under `results`, no report page. */
function starlingRun(
  script: string,
  flags: string[],
  results: string,
  env: Record<string, string>,
): string[] {
  return [
    resolve('bin/starling.js'),
    'run',
    script,
    '--engine',
    'node',
    ...flags,
    // The page is written after the last session closed, as Tsung's tsung_stats is run after Tsung: the benches
    // measure its cost on their own, not spread over the sessions.
    '--no-report',
    '--results-root',
    results,
    ...envArgs(env),
  ];
}

const flowEnv = (f: FlowSettings): Record<string, string> => ({
  XMPP_URL: f.url,
  XMPP_DOMAIN: f.domain,
  USERS: String(f.users),
  ARRIVAL_RATE: String(f.rate),
  MESSAGES: String(f.messages),
  BODY_SIZE: String(f.bodySize),
});

/** node's arguments for starling's standard flow (scenarios/churn.ts built), on `vus` VUs. */
export function starlingArgv(script: string, f: FlowSettings, vus: number, results: string): string[] {
  const env = { ...flowEnv(f), XMPP_MECHANISMS: 'PLAIN', THINK: `${f.thinkMs}ms`, VUS: String(vus) };
  return starlingRun(script, ['-q'], results, env);
}

/** node's arguments for k6-raw (bench/k6/raw-flow.ts built) on the Node engine. */
export function k6RawArgv(script: string, f: FlowSettings, results: string): string[] {
  // Not -q: that would hide the script's console.log, its line of counts.
  return starlingRun(script, [], results, { ...flowEnv(f), THINK_MS: String(f.thinkMs) });
}

/** node's arguments for the floor (bench/raw-ws-flow.ts bundled). */
export function rawArgv(script: string, f: FlowSettings): string[] {
  return [
    script,
    '--url',
    f.url,
    '--domain',
    f.domain,
    '--users',
    String(f.users),
    '--rate',
    String(f.rate),
    '--messages',
    String(f.messages),
    '--think',
    String(f.thinkMs),
    '--body-size',
    String(f.bodySize),
  ];
}
