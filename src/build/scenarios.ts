/** Compiles scenarios/*.ts into ordinary k6 scripts: ESM bundles that import only `k6` and `k6/*`. */
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { build, type BuildOptions, type Metafile } from 'esbuild';

export const SCENARIO_DIR = 'scenarios';
export const SCENARIO_OUT_DIR = 'dist/scenarios';

/** esbuild settings k6 can load: ESM, one file, no Node platform shims, no top-level await. */
export const K6_BUILD: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2020',
  external: ['k6', 'k6/*'],
  // hdr-histogram-js and friends ship CommonJS `main` only: let the neutral platform find it.
  mainFields: ['module', 'main'],
  legalComments: 'none',
  logLevel: 'silent',
};

export interface BuiltScenario {
  name: string;
  file: string;
  bytes: number;
  /** Every import the bundle keeps (must all be k6 modules). */
  imports: string[];
}

export async function listScenarios(dir = SCENARIO_DIR): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f));
}

export async function buildScenarios(
  entries?: string[],
  outDir: string = SCENARIO_OUT_DIR,
): Promise<BuiltScenario[]> {
  const entryPoints = entries ?? (await listScenarios());
  const result = await build({ ...K6_BUILD, entryPoints, outdir: outDir, metafile: true, write: true });
  return describeOutputs(result.metafile!);
}

function describeOutputs(meta: Metafile): BuiltScenario[] {
  return Object.entries(meta.outputs)
    .filter(([file]) => file.endsWith('.js'))
    .map(([file, out]) => ({
      name: basename(file, '.js'),
      file,
      bytes: out.bytes,
      imports: out.imports.map((i) => i.path),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
