/**
 * Loads a compiled k6 script for the Node engine: esbuild re-bundles it as one function whose only way out is
 * a per-VU import function for `k6` and `k6/*` (no global is involved, so scripts cannot see or reach it).
 * Compiled once; every VU evaluates the same vm.Script in its own context.
 *
 * A script with top-level await (k6 ≥ v0.55.0 evaluates ES modules asynchronously) is bundled as an ES module
 * whose body becomes an async function: the VU's init awaits it. Every other script stays a plain function.
 * The bundle's source map is kept so that stack traces can name the script's own files, lines and functions.
 */
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { SourceMapPayload } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import type * as Esbuild from 'esbuild';
import type { BuildOptions, Plugin } from 'esbuild';
import { importExternal } from '../build/import-external.ts';
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
  /**
   * Evaluates to `(importK6) => exports` in whichever context it runs; with `async`, to
   * `(importK6) => Promise<exports>` (the module body awaits at top level).
   */
  readonly script: vm.Script;
  readonly async: boolean;
  /**
   * Writes V8's code cache of the script (every function compiled so far) beside its bundle in the cache, unless
   * it was loaded from one: the next run of the same bundle then neither parses nor compiles them again.
   */
  saveCodeCache(): void;
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
  const code = wrapped.code;
  mapped.set(abs, { code, map: wrapped.map, lineOffset: wrapped.lineOffset });
  // Named after the bundle's import function (cacheFile): a code cache must never meet a bundle with other names
  // (V8 checks only the source's length).
  const codeCacheFile = cacheFile(key, wrapped.importFn, 'v8');
  const cachedData = cached ? await readFile(codeCacheFile).catch(() => undefined) : undefined;
  const script = new vm.Script(code, { filename: abs, cachedData });
  let saved = cachedData !== undefined && !script.cachedDataRejected;
  return {
    path: abs,
    dir: path.dirname(abs),
    imports: wrapped.imports,
    script,
    async: wrapped.async,
    saveCodeCache: () => {
      if (saved) return;
      saved = true;
      writeCacheFile(codeCacheFile, script.createCachedData());
    },
  };
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
  /** The module body awaits at top level: the wrapper is an async function. */
  async: boolean;
  /** esbuild's source map of the bundle (JSON, `sources` as URLs), read only to format a stack trace. */
  map: () => string;
  /** Lines of the wrapper before the bundle's first line. */
  lineOffset: number;
}

/** Bumped when what loadScript produces changes, so older cache entries are never read. */
const LOADER_VERSION = 3;
const CACHE_DIR = path.join(tmpdir(), `starling-loader-cache-${process.getuid?.() ?? 'user'}`);

/**
 * Whether the cache directory is this user's own and no one else can write in it (not a symlink either): it
 * holds code the engine runs, and the temp directory is shared, so a directory another user made or can write
 * in is neither read nor written.
 */
function ownCacheDir(): boolean {
  const st = lstatSync(CACHE_DIR, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}
/** Entries kept; the oldest beyond this are removed when one is written. */
const CACHE_ENTRIES = 32;

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What `${key}.json` holds: the code and the map are files of their own beside it (cacheFile). */
type CacheEntry = Omit<WrappedBundle, 'code' | 'map'>;

/**
 * A file of the entry `key`, named after its bundle's import function too: two runs that bundled the same script at
 * once write two sets, and the entry read names the one set that goes with it.
 */
function cacheFile(key: string, importFn: string, ext: 'js' | 'map' | 'v8'): string {
  return path.join(CACHE_DIR, `${key}.${importFn}.${ext}`);
}

async function readCache(key: string): Promise<WrappedBundle | undefined> {
  try {
    if (!ownCacheDir()) return undefined;
    const entry = JSON.parse(await readFile(path.join(CACHE_DIR, `${key}.json`), 'utf8')) as CacheEntry;
    for (const [file, hash] of Object.entries(entry.others)) {
      if (sha256(await readFile(file)) !== hash) return undefined;
    }
    // The code as a file of its own: read as it is, where JSON.parse had to unescape all 350 KB of it (~5 ms).
    const code = await readFile(cacheFile(key, entry.importFn, 'js'), 'utf8');
    const mapFile = cacheFile(key, entry.importFn, 'map');
    return { ...entry, code, map: () => readMapFile(mapFile) };
  } catch {
    return undefined; // no entry, an unreadable one, or a bundled file gone: bundle again
  }
}

/** A cached map, read when a stack trace needs it; evicted meanwhile, an empty one (frames stay unmapped). */
function readMapFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return JSON.stringify({ version: 3, sources: [], names: [], mappings: '' });
  }
}

async function writeCache(key: string, entry: WrappedBundle): Promise<void> {
  try {
    await mkdir(CACHE_DIR, { recursive: true, mode: 0o700 });
    if (!ownCacheDir()) return;
    await writeFile(cacheFile(key, entry.importFn, 'js'), entry.code, { mode: 0o600 });
    await writeFile(cacheFile(key, entry.importFn, 'map'), entry.map(), { mode: 0o600 });
    // The entry last, whole, once the files it names are there.
    const { code: _code, map: _map, ...meta } = entry;
    writeCacheFile(path.join(CACHE_DIR, `${key}.json`), JSON.stringify(meta satisfies CacheEntry));
    const files = await readdir(CACHE_DIR);
    const entries = files.filter((f) => f.endsWith('.json'));
    if (entries.length <= CACHE_ENTRIES) return;
    const aged = await Promise.all(
      entries.map(async (f) => ({ f, t: (await stat(path.join(CACHE_DIR, f))).mtimeMs })),
    );
    aged.sort((a, b) => a.t - b.t);
    for (const { f } of aged.slice(0, aged.length - CACHE_ENTRIES)) {
      const evicted = f.slice(0, -'.json'.length);
      // The entry, its code, map and code caches.
      for (const g of files.filter((g) => g.startsWith(`${evicted}.`)))
        await rm(path.join(CACHE_DIR, g), { force: true });
    }
  } catch {
    // A cache that cannot be written only costs the next run a bundling.
  }
}

/** Writes `data` to `file` in the cache whole (a temp file renamed), or not at all. */
function writeCacheFile(file: string, data: Buffer | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
    if (!ownCacheDir()) return;
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // A cache file that cannot be written only costs the next run its bundling or compiling.
    try {
      rmSync(tmp, { force: true });
    } catch {
      // left for the cache's eviction
    }
  }
}

async function bundle(
  scriptPath: string,
  abs: string,
  supported: ReadonlySet<string>,
  key: string,
): Promise<WrappedBundle> {
  const { build } = await importExternal<typeof Esbuild>('esbuild');
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

  // The options both bundlings share; outfile is never written, it names the directory the map is relative to.
  const options = (format: 'iife' | 'esm') =>
    ({
      bundle: true,
      format,
      platform: 'neutral',
      target: 'esnext',
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [plugin],
      sourcemap: 'external',
      sourcesContent: false,
      outfile: path.join(path.dirname(abs), 'starling-bundle.js'),
    }) satisfies BuildOptions;
  let result;
  let async = false;
  try {
    try {
      result = await build({ ...options('iife'), entryPoints: [abs], globalName: exportsVar });
    } catch (e) {
      const errors = buildErrors(e);
      if (errors.length === 0 || !errors.every((er) => TLA_IN_IIFE.test(er.text)) || unsupported.length > 0) {
        throw e;
      }
      // Top-level await: an ES module bundle, its namespace handed out by an entry of our own.
      async = true;
      result = await build({
        ...options('esm'),
        stdin: {
          contents: `import * as ns from ${JSON.stringify(abs)};\n${exportsVar} = ns;\n`,
          resolveDir: path.dirname(abs),
          sourcefile: STDIN_ENTRY,
        },
      });
    }
  } catch (e) {
    // The import k6 cannot load is what k6 reports first, whatever else the bundler refused.
    if (unsupported.length > 0) throw unsupported[0]!;
    const errors = buildErrors(e);
    if (errors.length > 0) {
      const msgs = errors.map((er) =>
        er.location ? `${er.location.file}:${er.location.line}:${er.location.column}: ${er.text}` : er.text,
      );
      throw new ScriptLoadError(`cannot load ${scriptPath}:\n${msgs.join('\n')}`);
    }
    throw e;
  }
  if (unsupported.length > 0) throw unsupported[0]!;
  if (foreign.length > 0) throw new ScriptLoadError(foreign.join('\n'));

  const code = result.outputFiles.find((f) => f.path.endsWith('.js'))!.text;
  const rawMap = result.outputFiles.find((f) => f.path.endsWith('.map'))!.text;
  const entry = Object.entries(result.metafile.inputs).find(([p]) => path.resolve(p) === abs)?.[1];
  // ESM is always strict; the function wrapper would otherwise lose that.
  const strict = entry?.format === 'esm' || async ? '"use strict";\n' : '';
  const others: Record<string, string> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    if (/^[\w-]+:/.test(input) || input === '<stdin>') continue; // a plugin namespace (k6-module:k6/http)
    const file = path.resolve(input);
    if (async && file === path.join(path.dirname(abs), STDIN_ENTRY)) continue; // our entry, not a file
    if (file !== abs) others[file] = sha256(await readFile(file));
  }
  // The async wrapper declares what the ES module bundle's entry assigns; the header keeps to one line, as
  // lineOffset counts it.
  const head = async
    ? `(async function (${importFn}) {\n${strict}let ${exportsVar};\n`
    : `(function (${importFn}) {\n${strict}`;
  const map = absoluteSources(rawMap, path.dirname(abs));
  const wrapped: WrappedBundle = {
    code: `${head}${code}\nreturn ${exportsVar};\n})`,
    importFn,
    exportsVar,
    imports: [...imports],
    others,
    async,
    map: () => map,
    lineOffset: head.split('\n').length - 1,
  };
  await writeCache(key, wrapped);
  return wrapped;
}

/** The name of the entry a top-level-await bundle is built from (it hands out the script's namespace). */
const STDIN_ENTRY = 'starling-entry.js';

/** esbuild's refusal of top-level await in an IIFE bundle: the script is then bundled as an ES module. */
const TLA_IN_IIFE = /^Top-level await is currently not supported with the "iife" output format/;

type BuildError = { text: string; location?: { file: string; line: number; column: number } | null };

function buildErrors(e: unknown): BuildError[] {
  return (e as { errors?: BuildError[] } | undefined)?.errors ?? [];
}

/** The map with each file source as a file:// URL (others, such as webpack:///… from an input map, kept). */
function absoluteSources(rawMap: string, dir: string): string {
  const map = JSON.parse(rawMap) as SourceMapPayload;
  map.sources = map.sources.map((s) =>
    /^[\w-]{2,}:/.test(s) ? s : pathToFileURL(path.resolve(dir, s)).href,
  );
  return JSON.stringify(map);
}

// ---- stack traces --------------------------------------------------------------------------------------

interface MappedScript {
  /** The code the vm.Script was compiled from (the string V8 holds anyway). */
  code: string;
  map: () => string;
  lineOffset: number;
  parsed?: { map: DecodedMap; lineStarts: number[]; names: Map<string, string> };
}

/** Every script loaded in this process, by the file name its frames carry: read only to format an error. */
const mapped = new Map<string, MappedScript>();

const FRAME_START = /^ {4}at /;
const FRAME = /^ {4}at (?:(.+?) \()?(.+):(\d+):(\d+)\)?$/;

/**
 * A V8 stack as k6 prints one: frames in loaded scripts point at the script's own files (through their input
 * source maps where esbuild found one), lines and columns, with the functions' names as written (`default` for
 * an anonymous default export, not esbuild's `script_default`), as `\tat default (file:///…/script.js:15:10)`.
 * Other frames keep their text. Called on error paths only.
 */
export function mapStackTrace(stack: string): string {
  if (mapped.size === 0 || !stack.includes('\n')) return stack;
  const lines = stack.split('\n');
  let changed = false;
  let lastScriptFrame = -1;
  const engineFrames: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!FRAME_START.test(line)) continue;
    changed = true;
    const m = FRAME.exec(line);
    const script = m === null ? undefined : mapped.get(m[2]!);
    const frame = script === undefined ? undefined : mapFrame(script, m![1], Number(m![3]), Number(m![4]));
    if (frame !== undefined) lastScriptFrame = i;
    else engineFrames.push(i);
    lines[i] = `\tat ${frame ?? line.replace(FRAME_START, '')}`;
  }
  if (lastScriptFrame < 0) return changed ? lines.join('\n') : stack;
  // As k6 prints a script's error: nothing below its outermost frame (the runtime that called it), and a function
  // of the runtime that the script called (a k6 module's) as one `(native)` frame, not starling's files.
  const native = (i: number): string =>
    `\tat ${FRAME.exec(lines[i]!.replace(/^\tat /, '    at '))?.[1] ?? 'native'} (native)`;
  const dropped = new Set<number>();
  for (const i of engineFrames) {
    if (i > lastScriptFrame) continue;
    // A run of engine frames is the one k6 function the script called: its outermost frame names it.
    if (engineFrames.includes(i + 1)) dropped.add(i);
    else lines[i] = native(i);
  }
  return lines
    .slice(0, lastScriptFrame + 1)
    .filter((_, i) => !dropped.has(i))
    .join('\n');
}

function mapFrame(
  script: MappedScript,
  fn: string | undefined,
  line: number,
  column: number,
): string | undefined {
  const { map, names, lineStarts } = parsed(script);
  const start = lineStarts[line - 1];
  if (start === undefined) return undefined;
  const text = script.code.slice(start, start + 400);
  const indent = /^[ \t]*/.exec(text)![0].length;
  const pos = originalPosition(map, line - 1 - script.lineOffset, column - 1, indent, text);
  if (pos === undefined) return undefined;
  const where = `${pos.source}:${pos.line + 1}:${pos.column + 1}`;
  if (fn === undefined) return where;
  const name = fn.replace(/[\w$]+$/, (n) => names.get(n) ?? n);
  return `${name} (${where})`;
}

/** A source map decoded: per generated line, its segments [column, source, line, column, name?], in order. */
interface DecodedMap {
  sources: string[];
  names: string[];
  lines: number[][][];
}

const B64 = new Map(
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].map((c, i) => [c, i]),
);

// By hand: node:module's SourceMap.findEntry returns mappings of an earlier line in Node 20.20, and no source-map
// library is in the dependency tree; the VLQ decoding below is the whole of what is needed.
function decodeMap(payload: SourceMapPayload): DecodedMap {
  const lines: number[][][] = [];
  const state = [0, 0, 0, 0, 0]; // generated column (per line), source, line, column, name
  for (const text of payload.mappings.split(';')) {
    state[0] = 0;
    const segments: number[][] = [];
    for (const seg of text.split(',')) {
      if (seg === '') continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const c of seg) {
        const digit = B64.get(c) ?? 0;
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
          continue;
        }
        const i = fields.length;
        state[i]! += value & 1 ? -(value >>> 1) : value >>> 1;
        fields.push(state[i]!);
        value = 0;
        shift = 0;
      }
      segments.push(fields);
    }
    lines.push(segments);
  }
  return { sources: payload.sources, names: payload.names, lines };
}

/**
 * The original position of a generated one: the segment at or before it on its line (or the line's first, for a
 * position before any), moved by the distance to it, since esbuild copies the tokens between two mappings as
 * they were (`fail(x)` is mapped at its statement and its argument, V8 reports the call at `fail`).
 */
function originalPosition(
  map: DecodedMap,
  line: number,
  column: number,
  indent: number,
  text: string,
): { source: string; line: number; column: number; name?: string } | undefined {
  const segments = map.lines[line]?.filter((s) => s.length >= 4);
  if (segments === undefined || segments.length === 0) return undefined;
  let seg = segments[0]!;
  for (const s of segments) {
    if (s[0]! > column) break;
    seg = s;
  }
  const source = map.sources[seg[1]!];
  // Outside the script: the wrapper, or a k6 module's shim (k6-module:k6/http).
  if (source === undefined || /^[\w-]+:(?!\/\/)/.test(source)) return undefined;
  return {
    source,
    line: seg[2]!,
    // A segment at the line's start covers its indentation: it starts at the first token. esbuild writes a call
    // of an imported function as `(0, import_k6.fail)(…)`, which V8 reports at its argument list: not a copy of
    // the source, so the call is reported where it starts in the source.
    column: text.startsWith('(0, ', Math.max(seg[0]!, indent))
      ? seg[3]!
      : Math.max(0, seg[3]! + column - Math.max(seg[0]!, indent)),
    name: seg.length >= 5 ? map.names[seg[4]!] : undefined,
  };
}

function parsed(script: MappedScript): NonNullable<MappedScript['parsed']> {
  if (script.parsed !== undefined) return script.parsed;
  const map = decodeMap(JSON.parse(script.map()) as SourceMapPayload);
  const lineStarts = [0];
  for (let i = script.code.indexOf('\n'); i !== -1; i = script.code.indexOf('\n', i + 1))
    lineStarts.push(i + 1);
  script.parsed = { map, lineStarts, names: originalNames(script, map, lineStarts) };
  return script.parsed;
}

/**
 * esbuild's names for the script's functions → the names k6 shows: a renamed declaration (`foo2`) carries its
 * original name in the source map; an anonymous default export (`script_default`) is `default`, as in k6.
 */
function originalNames(script: MappedScript, map: DecodedMap, lineStarts: number[]): Map<string, string> {
  const names = new Map<string, string>();
  const sourceLines = new Map<string, string[] | undefined>();
  const decl = /\b(?:function\*?\s*|(?:var|let|const|class)\s+)([\w$]+)/g;
  let line = 0;
  for (let m = decl.exec(script.code); m !== null; m = decl.exec(script.code)) {
    const gen = m[1]!;
    const at = m.index + m[0].length - gen.length;
    while (line + 1 < lineStarts.length && lineStarts[line + 1]! <= at) line++;
    const genLine = line - script.lineOffset;
    const col = at - lineStarts[line]!;
    if (genLine < 0) continue;
    const exact = map.lines[genLine]?.find((seg) => seg[0] === col && seg.length >= 4);
    if (exact === undefined) continue;
    const source = map.sources[exact[1]!];
    const original = exact.length >= 5 ? map.names[exact[4]!] : undefined;
    if (original !== undefined && original !== gen) {
      names.set(gen, original);
    } else if (/_default\d*$/.test(gen) && source?.startsWith('file:')) {
      // esbuild's name for an anonymous default export, unless the script wrote that name itself.
      let src = sourceLines.get(source);
      if (!sourceLines.has(source)) {
        try {
          src = readFileSync(new URL(source), 'utf8').split('\n');
        } catch {
          src = undefined;
        }
        sourceLines.set(source, src);
      }
      const text = src?.[exact[2]!]?.slice(exact[3]!) ?? '';
      if (!new RegExp(`^[^\\n]*\\b${gen.replace(/\$/g, '\\$')}\\b`).test(text)) names.set(gen, 'default');
    }
  }
  return names;
}
