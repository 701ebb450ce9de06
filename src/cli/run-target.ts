/** Resolving what `starling run` runs, and where: the script, the engine, the environment, the results dir. */
import type * as ChildProcess from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildScenarios,
  listScenarios,
  SCENARIO_DIR,
  SCENARIO_OUT_DIR,
  upToDateScenario,
} from '../build/scenarios.ts';

export type EngineChoice = 'auto' | 'k6' | 'node';

export class RunInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunInputError';
  }
}

/** `--ca-file` (run, probe): the absolute path of a readable file holding at least one PEM certificate. */
export async function checkCaFile(file: string): Promise<string> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new RunInputError(`--ca-file ${file}: cannot read it (${(e as Error).message})`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RunInputError(`--ca-file ${file}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`);
  }
  return path;
}

/** starling's own directory: named scenarios are found there whatever the working directory. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * A scenario name (`chat`) or a `.ts` file runs as its compiled k6 script in dist/scenarios/, compiled first
 * unless that script is up to date with its sources; a `.js` file is taken as an already compiled k6 script. A
 * name is looked up in ./scenarios, then in starling's own scenarios.
 */
export async function resolveScript(scenario: string): Promise<string> {
  if (extname(scenario) === '.js') {
    if (!existsSync(scenario)) throw new RunInputError(`no such script: ${scenario}`);
    return resolve(scenario);
  }
  if (extname(scenario) === '.ts') {
    if (!existsSync(scenario)) throw new RunInputError(`no such scenario file: ${scenario}`);
    return compiled(scenario, SCENARIO_OUT_DIR);
  }
  for (const root of [process.cwd(), PACKAGE_ROOT]) {
    const source = join(root, SCENARIO_DIR, `${scenario}.ts`);
    if (existsSync(source)) return compiled(source, join(root, SCENARIO_OUT_DIR));
  }
  const known = (await listScenarios(join(PACKAGE_ROOT, SCENARIO_DIR))).map((f) => basename(f, '.ts'));
  throw new RunInputError(
    `no scenario '${scenario}': not in ./${SCENARIO_DIR} nor starling's own (${known.join(', ')}); or give a path to a .ts/.js file`,
  );
}

/** The k6 script of `source` in `outDir`: the one there when up to date (compiling loads esbuild), else built. */
async function compiled(source: string, outDir: string): Promise<string> {
  const fresh = upToDateScenario(source, outDir);
  if (fresh !== undefined) return fresh;
  const [built] = await buildScenarios([source], outDir);
  return resolve(built!.file);
}

/** `KEY=VALUE` pairs from `-e`, k6's syntax. */
export function parseEnvPairs(pairs: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new RunInputError(`-e expects KEY=VALUE, got '${p}'`);
    env[p.slice(0, i)] = p.slice(i + 1);
  }
  return env;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A size flag of any command (`collect --max-body`, `run --max-ws-message`): `4194304`, `512KiB`, `4MiB`, `1GiB` (K, M and G are binary too). */
export function parseByteSize(s: string, flag = '--max-body'): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(s);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined || Number(m[1]) <= 0) {
    throw new RunInputError(`${flag} expects a size such as 4194304, 512KiB or 4MiB, got '${s}'`);
  }
  return Number(m[1]) * unit;
}

/** The process environment, as `k6 run` hands it to __ENV with --include-system-env-vars (its default). */
export function systemEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}

/** Go's strconv.ParseBool. */
const GO_BOOLS: Record<string, boolean> = {
  1: true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  0: false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

/**
 * Whether __ENV gets the shell's environment: the flag when given, else K6_INCLUDE_SYSTEM_ENV_VARS, else true, as
 * `k6 run` decides (internal/cmd/runtime_options.go).
 */
export function includeSystemEnv(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag !== undefined) return flag;
  const raw = env.K6_INCLUDE_SYSTEM_ENV_VARS;
  if (raw === undefined) return true;
  const value = GO_BOOLS[raw];
  if (value === undefined) {
    throw new RunInputError(
      `env var 'K6_INCLUDE_SYSTEM_ENV_VARS' is not a valid boolean value: strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`,
    );
  }
  return value;
}

export function k6OnPath(): boolean {
  // Required here, not imported: node:child_process (and the dgram it loads) costs every Node-engine run's start.
  const { spawnSync } = createRequire(import.meta.url)('node:child_process') as typeof ChildProcess;
  return spawnSync('k6', ['version'], { stdio: 'ignore' }).status === 0;
}

export function chooseEngine(choice: EngineChoice): 'k6' | 'node' {
  if (choice === 'node') return 'node';
  const hasK6 = k6OnPath();
  if (choice === 'k6' && !hasK6) {
    throw new RunInputError('--engine k6: no k6 on PATH (install k6, or use --engine node / auto)');
  }
  return hasK6 ? 'k6' : 'node';
}

/** `20261125T131135Z`: the UTC second, as run ids start. */
export function utcStamp(at = new Date()): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** `results/<UTC timestamp>-<scenario>/`, created. */
export async function newResultsDir(
  script: string,
  root = 'results',
): Promise<{ runId: string; dir: string }> {
  const runId = `${utcStamp()}-${basename(script, '.js')}`;
  const dir = join(root, runId);
  await mkdir(dir, { recursive: true });
  return { runId, dir };
}
