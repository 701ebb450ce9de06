/** Compiles scenarios/*.ts into ordinary k6 scripts: ESM bundles that import only `k6` and `k6/*`. */
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

export const SCENARIO_DIR = 'scenarios';
export const SCENARIO_OUT_DIR = 'dist/scenarios';

const stub = (file: string): string => fileURLToPath(new URL(`../k6/stubs/${file}`, import.meta.url));

const HDR_DIST = /hdr-histogram-js[\\/]dist[\\/]/;
const WASM_STUBS: [RegExp, string][] = [
  [/hdr-histogram-js[\\/]dist[\\/]wasm[\\/]index\.js$/, 'hdr-wasm.ts'],
  [/hdr-histogram-js[\\/]dist[\\/]wasm[\\/]generated-wasm\.js$/, 'generated-wasm.ts'],
];

/**
 * hdr-histogram-js without its WebAssembly build. src/k6/hdr.ts imports pure-JS dist/ files only; this maps
 * the wasm modules (dist/wasm/index.js, its generated-wasm.js, @assemblyscript/loader) to stubs that throw
 * when used, whichever path imports them (the package's encoding.js and HistogramBuilder.js require
 * './wasm'). The real ones break k6 at import (`window`, TextDecoder) and add ~200 KB of base64. The
 * package's `pako` becomes deflate only (src/k6/stubs/pako-deflate.ts).
 */
export const hdrWithoutWasm: Plugin = {
  name: 'hdr-histogram-js-without-wasm',
  setup(b) {
    b.onResolve({ filter: /^@assemblyscript\/loader$/ }, () => ({ path: stub('assemblyscript-loader.ts') }));
    b.onResolve({ filter: /^pako$/ }, (args) =>
      HDR_DIST.test(args.importer) ? { path: stub('pako-deflate.ts') } : undefined,
    );
    const self = Symbol('hdrWithoutWasm');
    b.onResolve({ filter: /wasm/ }, async (args) => {
      if (args.pluginData === self) return undefined;
      const { path, errors } = await b.resolve(args.path, {
        importer: args.importer,
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: self,
      });
      const hit = errors.length === 0 ? WASM_STUBS.find(([re]) => re.test(path)) : undefined;
      return hit ? { path: stub(hit[1]) } : undefined;
    });
  },
};

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
  plugins: [hdrWithoutWasm],
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
  const result = await build({ ...K6_BUILD, entryPoints, outdir: outDir, metafile: true, write: false });
  // Written to a temp file, then renamed: runs started together rebuild the same bundle, and none may load a
  // half-written one.
  await Promise.all(
    result.outputFiles!.map(async (f) => {
      await mkdir(dirname(f.path), { recursive: true });
      const tmp = `${f.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await writeFile(tmp, f.contents);
      await rename(tmp, f.path);
    }),
  );
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
