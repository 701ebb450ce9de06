/**
 * Compiles scenarios/*.ts into ordinary k6 scripts: ESM bundles that import only `k6` and `k6/*`. esbuild is
 * loaded only to compile: a bundle whose sources have not changed since it was built is used as it is.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Esbuild from 'esbuild';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { importExternal } from './import-external.ts';

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
  // es2020 has no class fields: with define semantics esbuild lowers each declared field to an
  // Object.defineProperty call per construction (every parsed XML element); plain assignments are the same here.
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
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
  const { build } = await importExternal<typeof Esbuild>('esbuild');
  const builtAt = Date.now();
  const result = await build({ ...K6_BUILD, entryPoints, outdir: outDir, metafile: true, write: false });
  const meta = result.metafile!;
  // Each bundle, then its record: runs started together rebuild the same bundle, and none may load a
  // half-written one (temp file, then rename).
  await Promise.all(
    result.outputFiles!.map(async (f) => {
      const contents = f.path.endsWith('.js') ? asciiComments(f.text) : f.contents;
      await writeAtomically(f.path, contents);
      const out = Object.entries(meta.outputs).find(([file]) => resolve(file) === f.path)?.[1];
      if (!f.path.endsWith('.js') || out?.entryPoint === undefined) return;
      const record: BuildRecord = {
        builtAt,
        sha256: createHash('sha256').update(contents).digest('hex'),
        inputs: [BUILDER, ...reachable(meta, out.entryPoint)].map((i) => resolve(i)),
      };
      await writeAtomically(recordFile(f.path), `${JSON.stringify(record)}\n`);
    }),
  );
  return describeOutputs(meta);
}

/** How a comment's non-ASCII characters are written in ASCII. */
const ASCII_FOR: Record<string, string> = {
  '\u2026': '...',
  '\u2192': '->',
  '\u2014': '--',
  '\u2013': '-',
  '\u2212': '-',
  '\u00a7': 'S',
  '\u00b2': '^2',
  '\u00b5': 'u',
  '\u00d7': 'x',
  '\u00f7': '/',
  '\u2264': '<=',
  '\u2265': '>=',
};

/**
 * The bundle with the non-ASCII characters of its comments written in ASCII, when every non-ASCII character
 * is in a comment; else the bundle as it is. esbuild escapes them everywhere else except in raw template strings
 * and regular expression literals (where escaping would change the program), but keeps JSDoc comments verbatim,
 * and one such character makes V8 hold the whole source as a two-byte string: twice the memory for each copy the
 * Node engine's loader makes (issue 13: RSS before the first connection).
 */
export function asciiComments(code: string): string {
  if (!/[\u0080-\uffff]/.test(code)) return code;
  const lines = code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const first = line.search(/[\u0080-\uffff]/);
    if (first < 0) continue;
    const t = line.trimStart();
    const inComment =
      t.startsWith('* ') ||
      t === '*' ||
      t.startsWith('*/') ||
      [line.indexOf('//'), line.indexOf('/*')].some((at) => at >= 0 && at < first);
    if (!inComment) return code;
    lines[i] = line.replace(/[\u0080-\uffff]/g, (c) => ASCII_FOR[c] ?? '?');
  }
  return lines.join('\n');
}

/** A source stamped this little before a build started may have changed after it (the kernel's clock lags by a tick). */
const MTIME_SLACK_MS = 100;

/** This file: a change to how scenarios compile makes every bundle stale. */
const BUILDER = fileURLToPath(import.meta.url);

/** What a bundle was built from, kept beside it (`<outDir>/.inputs/<name>.js.json`, out of k6's and kubectl's way). */
interface BuildRecord {
  /** Epoch ms when the build started: a source modified at or after it (less MTIME_SLACK_MS) may not be in the bundle. */
  builtAt: number;
  /** Of the bundle as written: one changed since (or written by a concurrent, older build) is not trusted. */
  sha256: string;
  /** Absolute paths of every file bundled, and of this builder. */
  inputs: string[];
}

function recordFile(bundle: string): string {
  return join(dirname(bundle), '.inputs', `${basename(bundle)}.json`);
}

/**
 * The compiled k6 script for the scenario `source` in `outDir`, when it is up to date: built by this builder
 * from files none of which changed since (a few stats, one read and hash of the bundle; no esbuild). Else
 * undefined: compile it.
 */
export function upToDateScenario(source: string, outDir: string = SCENARIO_OUT_DIR): string | undefined {
  const bundle = resolve(outDir, `${basename(source, '.ts')}.js`);
  let record: BuildRecord;
  let contents: Buffer;
  try {
    record = JSON.parse(readFileSync(recordFile(bundle), 'utf8')) as BuildRecord;
    contents = readFileSync(bundle);
  } catch {
    return undefined;
  }
  const inputs = Array.isArray(record.inputs) ? record.inputs : [];
  if (!inputs.includes(resolve(source)) || !inputs.includes(BUILDER)) return undefined;
  for (const input of inputs) {
    const mtimeMs = statSync(input, { throwIfNoEntry: false })?.mtimeMs ?? Infinity;
    if (mtimeMs >= record.builtAt - MTIME_SLACK_MS) return undefined;
  }
  return createHash('sha256').update(contents).digest('hex') === record.sha256 ? bundle : undefined;
}

/** Every file the entry point imports, directly or not (metafile paths; k6 modules are external, not files). */
function reachable(meta: Metafile, entry: string): string[] {
  const seen = new Set([entry]);
  for (const file of seen) {
    for (const i of meta.inputs[file]?.imports ?? [])
      if (!i.external && i.path in meta.inputs) seen.add(i.path);
  }
  // Only files: a plugin's virtual module (`namespace:path`) has nothing to stat.
  return [...seen].filter((i) => !/^[\w-]+:/.test(i));
}

async function writeAtomically(file: string, contents: string | Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, contents);
  await rename(tmp, file);
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
