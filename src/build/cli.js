/**
 * The `starling` command as plain JavaScript: src/cli/main.ts bundled into dist/cli/ by `node src/build/cli.js`
 * (`npm run build`, and npm's `prepare`, so `npm ci`), so the CLI starts without compiling TypeScript.
 * bin/starling.js asks `staleReason()` whether it may run that build (a JSON read and ~150 stats, ~4 ms), then
 * `loadCli()` runs it, compiled from V8's code cache when one was kept.
 *
 * This file is JavaScript because it runs before anything is compiled. esbuild is imported only to build.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';
import vm from 'node:vm';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_DIR = join(ROOT, 'dist', 'cli');
export const CLI_MAIN = join(CLI_DIR, 'main.cjs');
/** What the bundle was built from (paths relative to the package root): see `staleReason`. */
const RECORD = join(CLI_DIR, 'build.json');
/** Not bundled, yet they decide what is built. */
const BUILD_INPUTS = ['src/build/cli.js', 'tsconfig.json', 'package.json'];
/**
 * Dependencies bundled with their own dependencies: yargs is ~40 small ES modules, which load faster as one
 * chunk; ws and hdr-histogram-js are CommonJS, which Node would otherwise scan with its CommonJS lexer at every
 * start (measured: `starling run` to its first connection 0.45 → 0.40 CPU s, 2.06 → 1.52 G instructions, and
 * 6 MiB less RSS). The others stay in node_modules: esbuild (loaded only to compile), tsx, vega.
 */
const BUNDLED = ['yargs', 'ws', 'hdr-histogram-js'];
/**
 * Files of older builds are deleted once this old (a CLI started from one of the chunked builds before could still
 * import them).
 */
const OLD_BUILD_MS = 24 * 3600_000;

/**
 * The entry points, by output file. main is one CommonJS module (every command in it, each command's modules
 * evaluated only when it runs): V8 can cache the compiled code of a script (loadCli), and in Node 20 of no ES
 * module, which the build was before, a chunk per command. Measured, alternated, 20 runs each: `starling run churn`
 * (10 VUs) to its first connection 0.30–0.32 → 0.22–0.25 CPU s, RSS 63.5 → 64.4 MiB; `--help` 0.16 s both.
 * http-sync is an ES module of its own: its worker thread imports that module by its own URL
 * (src/engine/modules/http-sync.ts), which must then be a file exporting it.
 */
const ENTRIES = { 'main.cjs': 'src/cli/main.ts', 'http-sync.js': 'src/engine/modules/http-sync.ts' };

/**
 * `import.meta.url` keeps meaning the module's own file once bundled: the built entry for an entry point, else
 * the original file, which stays where it was (run-target.ts finds the package root from it, build/scenarios.ts
 * the k6 stubs beside it, yargs its locales). Every output file sits directly in dist/cli/.
 */
const moduleUrls = (base) => ({
  name: 'starling-import-meta-url',
  setup(build) {
    const entries = new Map(Object.entries(ENTRIES).map(([name, src]) => [join(ROOT, src), `./${name}`]));
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const url = entries.get(args.path) ?? relative(CLI_DIR, args.path).split('\\').join('/');
      return {
        contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(url)}, ${base}).href`),
        loader: args.path.endsWith('.ts') ? 'ts' : 'js',
      };
    });
  },
});

function version(packageJson) {
  try {
    return JSON.parse(readFileSync(join(ROOT, packageJson), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** A file's modification time and size, the stamp a build records for each file it read (null: no such file). */
function stamp(path) {
  const stat = statSync(join(ROOT, path), { throwIfNoEntry: false });
  return stat === undefined ? null : `${stat.mtimeMs}/${stat.size}`;
}

/** Stamps of every file under src/ and of BUILD_INPUTS, taken before a build reads them. */
function stampSources() {
  const stamps = new Map(BUILD_INPUTS.map((path) => [path, stamp(path)]));
  for (const entry of readdirSync(join(ROOT, 'src'), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = relative(ROOT, join(entry.parentPath, entry.name)).split('\\').join('/');
    stamps.set(path, stamp(path));
  }
  return stamps;
}

/**
 * Why dist/cli/ may not run as it is, or undefined when it may. Stale: not built, a file bundled (or one of
 * BUILD_INPUTS) gone or with another stamp than it had when the build started, a bundled package now at another
 * version (npm keeps the tarball's mtimes), or an output missing. Stamps are compared for equality, not against
 * the build's start time: a file edited moments before a build (kernel file times lag Date.now() by a tick) is
 * then neither missed nor rebuilt twice.
 */
export function staleReason() {
  let record;
  try {
    record = JSON.parse(readFileSync(RECORD, 'utf8'));
  } catch {
    return 'not built';
  }
  const { builtAt, stamps, packages, outputs } = record;
  if (
    !(builtAt > 0) ||
    typeof stamps !== 'object' ||
    !Array.isArray(outputs) ||
    typeof packages !== 'object'
  ) {
    return 'not built';
  }
  for (const [input, built] of Object.entries(stamps)) {
    const now = stamp(input);
    if (now === null) return `${input} is gone`;
    if (now !== built) return `${input} changed`;
  }
  for (const [packageJson, built] of Object.entries(packages)) {
    if (version(packageJson) !== built) return `${packageJson} is no longer version ${built}`;
  }
  for (const output of outputs.filter((o) => /\.c?js$/.test(o))) {
    if (!statSync(join(CLI_DIR, output), { throwIfNoEntry: false })) return `dist/cli/${output} is missing`;
  }
  return undefined;
}

/**
 * esbuild writes strings, regular expressions and names in ASCII, but keeps comments as they are, and one
 * non-ASCII character makes Node read the whole 1.5 MB bundle into a two-byte string (and V8 compile it as one):
 * measured, reading dist/cli/main.cjs 18 → 14 ms, compiling it from its code cache 14 → 10 ms. What is left
 * non-ASCII is in comments, where an escape reads the same.
 */
function asciiOnly(text) {
  return text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Where V8's code caches of dist/cli/main.cjs are kept: outside the package, which may be read-only. */
const CODE_CACHE_DIR = join(tmpdir(), `starling-cli-cache-${process.getuid?.() ?? 'user'}`);

/**
 * Runs dist/cli/main.cjs and returns its exports, its code compiled from V8's code cache when one was kept for
 * this build of it and this command. Without one (or when V8 rejects it: another Node, other V8 flags), the cache
 * is written when the process exits, with every function compiled by then: the next start of the same command
 * neither parses nor compiles them. A cache is named after the bundle's inode, size and mtime (each build renames
 * a new file in) and the command, as V8 checks only a source's length; a write replaces the caches of other
 * builds of the same file. A cache that cannot be read or written only costs the start its compiling.
 */
export function loadCli(command) {
  const fd = openSync(CLI_MAIN, 'r');
  let source;
  let build;
  try {
    const { ino, size, mtimeMs } = fstatSync(fd);
    build = `${ino}-${size}-${mtimeMs}`;
    source = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const digest = (text) => createHash('sha256').update(text).digest('hex').slice(0, 16);
  const prefix = digest(CLI_MAIN);
  const name = `${prefix}.${digest(build)}.${/^[a-z][a-z-]*$/.test(command) ? command : 'other'}.v8`;
  let cachedData;
  try {
    cachedData = ownDir(CODE_CACHE_DIR) ? readFileSync(join(CODE_CACHE_DIR, name)) : undefined;
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(source, { filename: CLI_MAIN, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', () => writeCodeCache(prefix, name, script.createCachedData()));
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(CLI_MAIN), module, CLI_MAIN, CLI_DIR);
  return module.exports;
}

/**
 * Whether `dir` is a directory of this user's that no one else can write in: a code cache is code, and one that
 * another user planted (the temp directory is shared) would run as this user. Not a symlink either.
 */
function ownDir(dir) {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

function writeCodeCache(prefix, name, data) {
  const file = join(CODE_CACHE_DIR, name);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(CODE_CACHE_DIR, { recursive: true, mode: 0o700 });
    if (!ownDir(CODE_CACHE_DIR)) return;
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
    const current = name.split('.')[1];
    for (const other of readdirSync(CODE_CACHE_DIR)) {
      const [p, b] = other.split('.');
      if (p === prefix && b !== current && other.endsWith('.v8'))
        rmSync(join(CODE_CACHE_DIR, other), { force: true });
    }
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // left behind: the next write of the same name replaces it
    }
  }
}

/**
 * Bundles the CLI into dist/cli/: one file per entry (ENTRIES). Every file is written to a temp name and renamed,
 * the record last, so CLIs started meanwhile (tests start many) load a whole build.
 */
export async function buildCli() {
  const { build, stop } = await import('esbuild');
  const builtAt = Date.now();
  // Before the build reads them: a file edited while it runs then differs from its recorded stamp.
  const before = stampSources();
  const dependencies = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies ?? {};
  try {
    const common = {
      absWorkingDir: ROOT,
      outdir: CLI_DIR,
      bundle: true,
      platform: 'node',
      target: 'node20',
      external: Object.keys(dependencies).filter((d) => !BUNDLED.includes(d)),
      alias: { 'string-width': join(ROOT, 'src/build/string-width.js') },
      sourcemap: 'linked',
      legalComments: 'none',
      metafile: true,
      write: false,
      logLevel: 'silent',
    };
    const entry = (name) => ({ [name.replace(/\.c?js$/, '')]: join(ROOT, ENTRIES[name]) });
    const results = await Promise.all([
      build({
        ...common,
        entryPoints: entry('main.cjs'),
        format: 'cjs',
        outExtension: { '.js': '.cjs' },
        // Wrapped as Node's loader wraps a CommonJS module, in the file: loadCli compiles it as it is read (a
        // wrapper added there would copy its 1.5 MB, and keep both until a full GC: +2.5 MiB at the first connection).
        banner: {
          js: "// The CLI as one CommonJS module, wrapped: src/build/cli.js's loadCli() runs it.\n(function (exports, require, module, __filename, __dirname) {\n'use strict';\nconst __starlingUrl = require('node:url').pathToFileURL(__filename).href;",
        },
        footer: { js: '})' },
        plugins: [moduleUrls('__starlingUrl')],
      }),
      build({
        ...common,
        entryPoints: entry('http-sync.js'),
        format: 'esm',
        // ws and hdr-histogram-js are CommonJS: bundled into an ES module, their require() of Node's built-ins needs one.
        banner: {
          js: "import { createRequire as __starlingRequire } from 'node:module';\nconst require = __starlingRequire(import.meta.url);",
        },
        plugins: [moduleUrls('import.meta.url')],
      }),
    ]);
    const result = {
      outputFiles: results.flatMap((r) => r.outputFiles),
      metafile: { inputs: Object.assign({}, ...results.map((r) => r.metafile.inputs)) },
    };
    mkdirSync(CLI_DIR, { recursive: true });
    const outputs = [];
    for (const file of result.outputFiles) {
      const tmp = `${file.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      writeFileSync(tmp, file.path.endsWith('.map') ? file.contents : asciiOnly(file.text));
      renameSync(tmp, file.path);
      outputs.push(relative(CLI_DIR, file.path));
    }
    const inputs = Object.keys(result.metafile.inputs);
    const packages = {};
    for (const input of inputs.filter((i) => i.startsWith('node_modules/'))) {
      const dir = /^(node_modules\/(?:@[^/]+\/)?[^/]+(?:\/node_modules\/(?:@[^/]+\/)?[^/]+)*)\//.exec(
        input,
      )?.[1];
      if (dir) packages[`${dir}/package.json`] ??= version(`${dir}/package.json`) ?? null;
    }
    const stamps = {};
    for (const input of [...BUILD_INPUTS, ...inputs.filter((i) => !i.startsWith('node_modules/'))]) {
      // A bundled file outside src/ (none today) is stamped after the build: an edit during it would be missed.
      stamps[input] = before.has(input) ? before.get(input) : stamp(input);
    }
    const record = {
      builtAt,
      stamps,
      packages,
      outputs,
    };
    const tmp = `${RECORD}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(tmp, RECORD);
    for (const name of readdirSync(CLI_DIR)) {
      const mtimeMs = statSync(join(CLI_DIR, name), { throwIfNoEntry: false })?.mtimeMs ?? Infinity;
      if (name !== 'build.json' && !outputs.includes(name) && mtimeMs < builtAt - OLD_BUILD_MS) {
        rmSync(join(CLI_DIR, name), { force: true });
      }
    }
    return { outputs, bytes: result.outputFiles.reduce((n, f) => n + f.contents.length, 0) };
  } finally {
    // esbuild's service process would otherwise live as long as this one (the CLI it rebuilt, for one).
    await stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const { outputs, bytes } = await buildCli();
  const files = outputs.filter((o) => /\.c?js$/.test(o)).length;
  process.stdout.write(
    `${relative(process.cwd(), CLI_DIR) || '.'}/: ${files} files, ${(bytes / 1024).toFixed(0)} KiB with source maps (${(performance.now() - started).toFixed(0)} ms)\n`,
  );
}
