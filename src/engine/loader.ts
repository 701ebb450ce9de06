/**
 * Loads a compiled k6 script for the Node engine: esbuild re-bundles it as one function whose only way out is
 * a per-VU import function for `k6` and `k6/*` (no global is involved, so scripts cannot see or reach it).
 * Compiled once; every VU evaluates the same vm.Script in its own context.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import vm from 'node:vm';
import type { Plugin } from 'esbuild';
import { UnsupportedK6ApiError } from './runtime.ts';

/** k6 modules that exist in k6 (built in or experimental) but may be missing here. */
const KNOWN_K6_MODULES = new Set([
  'k6',
  'k6/browser',
  'k6/crypto',
  'k6/data',
  'k6/encoding',
  'k6/execution',
  'k6/experimental/browser',
  'k6/experimental/csv',
  'k6/experimental/fs',
  'k6/experimental/grpc',
  'k6/experimental/redis',
  'k6/experimental/streams',
  'k6/experimental/tracing',
  'k6/experimental/webcrypto',
  'k6/experimental/websockets',
  'k6/html',
  'k6/http',
  'k6/metrics',
  'k6/net/grpc',
  'k6/secrets',
  'k6/timers',
  'k6/websockets',
  'k6/ws',
]);

/** Raised for imports k6 itself could not load, or that the Node engine cannot. */
export class ScriptLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScriptLoadError';
  }
}

export interface LoadedScript {
  readonly path: string;
  /** Directory `open()` resolves relative paths against (k6: the script's own directory). */
  readonly dir: string;
  /** The k6 module specifiers the script imports. */
  readonly imports: readonly string[];
  /** Evaluates to `(importK6) => exports` in whichever context it runs. */
  readonly script: vm.Script;
}

function isK6(spec: string): boolean {
  return spec === 'k6' || spec.startsWith('k6/');
}

/**
 * Bundles `scriptPath`. `supported` names the k6 modules the engine implements; importing any other k6
 * module fails here with UnsupportedK6ApiError naming it, before any VU starts.
 */
export async function loadScript(scriptPath: string, supported: ReadonlySet<string>): Promise<LoadedScript> {
  const abs = path.resolve(scriptPath);
  const source = await readFile(abs); // a clear ENOENT before esbuild's wording
  const key = sha256(`${LOADER_VERSION}\0${abs}\0${[...supported].sort().join(',')}\0${sha256(source)}`);
  const cached = await readCache(key);
  const wrapped = cached ?? (await bundle(scriptPath, abs, supported, key));
  return {
    path: abs,
    dir: path.dirname(abs),
    imports: wrapped.imports,
    script: new vm.Script(freshNames(wrapped), { filename: abs }),
  };
}

/**
 * The wrapped code with fresh names per load, so no script can know the import function's name in advance.
 * One pass: each copy of a bundle is as large as the bundle, and held until the next collection.
 */
function freshNames(wrapped: WrappedBundle): string {
  const names = new Map([
    [wrapped.importFn, `__k6import_${randomBytes(8).toString('hex')}`],
    [wrapped.exportsVar, `__k6exports_${randomBytes(8).toString('hex')}`],
  ]);
  return wrapped.code.replace(new RegExp([...names.keys()].join('|'), 'g'), (name) => names.get(name)!);
}

/**
 * A bundle as loadScript wraps it, cached on disk by script content (the Node engine's start-up otherwise runs
 * esbuild, and holds its service process, on every run of an unchanged script): the code with the names it was
 * built with, its k6 imports, and every other file bundled into it with its hash, checked on each hit.
 */
interface WrappedBundle {
  code: string;
  importFn: string;
  exportsVar: string;
  imports: string[];
  others: Record<string, string>;
}

/** Bumped when what loadScript produces changes, so older cache entries are never read. */
const LOADER_VERSION = 1;
const CACHE_DIR = path.join(tmpdir(), `starling-loader-cache-${process.getuid?.() ?? 'user'}`);
/** Entries kept; the oldest beyond this are removed when one is written. */
const CACHE_ENTRIES = 32;

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readCache(key: string): Promise<WrappedBundle | undefined> {
  try {
    const entry = JSON.parse(await readFile(path.join(CACHE_DIR, `${key}.json`), 'utf8')) as WrappedBundle;
    for (const [file, hash] of Object.entries(entry.others)) {
      if (sha256(await readFile(file)) !== hash) return undefined;
    }
    return entry;
  } catch {
    return undefined; // no entry, an unreadable one, or a bundled file gone: bundle again
  }
}

async function writeCache(key: string, entry: WrappedBundle): Promise<void> {
  try {
    await mkdir(CACHE_DIR, { recursive: true, mode: 0o700 });
    const tmp = path.join(CACHE_DIR, `${key}.${process.pid}.tmp`);
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await rename(tmp, path.join(CACHE_DIR, `${key}.json`));
    const files = (await readdir(CACHE_DIR)).filter((f) => f.endsWith('.json'));
    if (files.length <= CACHE_ENTRIES) return;
    const aged = await Promise.all(
      files.map(async (f) => ({ f, t: (await stat(path.join(CACHE_DIR, f))).mtimeMs })),
    );
    aged.sort((a, b) => a.t - b.t);
    for (const { f } of aged.slice(0, aged.length - CACHE_ENTRIES))
      await rm(path.join(CACHE_DIR, f), { force: true });
  } catch {
    // A cache that cannot be written only costs the next run a bundling.
  }
}

async function bundle(
  scriptPath: string,
  abs: string,
  supported: ReadonlySet<string>,
  key: string,
): Promise<WrappedBundle> {
  const { build } = await import('esbuild');
  const importFn = `__k6import_${randomBytes(8).toString('hex')}`;
  const exportsVar = `__k6exports_${randomBytes(8).toString('hex')}`;
  const imports = new Set<string>();
  const unsupported: UnsupportedK6ApiError[] = [];
  const foreign: string[] = [];

  const plugin: Plugin = {
    name: 'starling-k6-modules',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const spec = args.path;
        if (args.kind === 'entry-point') return undefined;
        if (isK6(spec)) {
          if (!supported.has(spec)) {
            if (spec.startsWith('k6/x/')) {
              unsupported.push(
                new UnsupportedK6ApiError(
                  `the k6 extension module '${spec}'`,
                  'xk6 extensions need a custom k6 binary',
                ),
              );
            } else if (KNOWN_K6_MODULES.has(spec)) {
              unsupported.push(new UnsupportedK6ApiError(spec));
            } else {
              foreign.push(`unknown module: ${spec} (imported from ${args.importer})`);
            }
          }
          imports.add(spec);
          return { path: spec, namespace: 'k6-module' };
        }
        if (spec.startsWith('file://')) return { path: new URL(spec).pathname };
        if (spec.startsWith('.') || path.isAbsolute(spec)) return undefined;
        if (/^https?:\/\//.test(spec)) {
          unsupported.push(
            new UnsupportedK6ApiError(
              `the remote module '${spec}'`,
              'bundle it into the script at build time',
            ),
          );
        } else {
          foreign.push(
            `'${spec}' (imported from ${args.importer}) is neither a k6 module nor a relative path: ` +
              'k6 cannot load it either; bundle it into the script with esbuild',
          );
        }
        return { path: spec, namespace: 'k6-missing' };
      });
      b.onLoad({ filter: /.*/, namespace: 'k6-module' }, (args) => ({
        contents: `module.exports = ${importFn}(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
      b.onLoad({ filter: /.*/, namespace: 'k6-missing' }, () => ({
        contents: 'module.exports = {};',
        loader: 'js',
      }));
    },
  };

  let result;
  try {
    result = await build({
      entryPoints: [abs],
      bundle: true,
      format: 'iife',
      globalName: exportsVar,
      platform: 'neutral',
      target: 'esnext',
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [plugin],
    });
  } catch (e) {
    const errors = (
      e as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }
    ).errors;
    if (errors !== undefined && errors.length > 0) {
      const msgs = errors.map((er) =>
        er.location ? `${er.location.file}:${er.location.line}:${er.location.column}: ${er.text}` : er.text,
      );
      throw new ScriptLoadError(`cannot load ${scriptPath}:\n${msgs.join('\n')}`);
    }
    throw e;
  }
  if (unsupported.length > 0) throw unsupported[0]!;
  if (foreign.length > 0) throw new ScriptLoadError(foreign.join('\n'));

  const code = result.outputFiles[0]!.text;
  const entry = Object.entries(result.metafile.inputs).find(([p]) => path.resolve(p) === abs)?.[1];
  // ESM is always strict; the IIFE wrapper would otherwise lose that.
  const strict = entry?.format === 'esm' ? '"use strict";\n' : '';
  const others: Record<string, string> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    if (/^[\w-]+:/.test(input)) continue; // a plugin namespace (k6-module:k6/http), not a file
    const file = path.resolve(input);
    if (file !== abs) others[file] = sha256(await readFile(file));
  }
  const wrapped: WrappedBundle = {
    code: `(function (${importFn}) {\n${strict}${code}\nreturn ${exportsVar};\n})`,
    importFn,
    exportsVar,
    imports: [...imports],
    others,
  };
  await writeCache(key, wrapped);
  return wrapped;
}
