/**
 * The `starling` command as plain JavaScript: src/cli/main.ts bundled into dist/cli/ by `node src/build/cli.js`
 * (`npm run build`, and npm's `prepare`, so `npm ci`), so the CLI starts without compiling TypeScript.
 * bin/starling.js asks `staleReason()` whether it may run that build (a JSON read and ~130 stats, ~2 ms).
 *
 * This file is JavaScript because it runs before anything is compiled. esbuild is imported only to build.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_DIR = join(ROOT, 'dist', 'cli');
export const CLI_MAIN = join(CLI_DIR, 'main.js');
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
/** Chunks of older builds are deleted once this old: a CLI started from one may still import them. */
const OLD_BUILD_MS = 24 * 3600_000;

/**
 * The entry points, by output name. http-sync is one too: its worker thread imports that module by its own URL
 * (src/engine/modules/http-sync.ts), which must then be a file exporting it, not a chunk of main.
 */
const ENTRIES = { main: 'src/cli/main.ts', 'http-sync': 'src/engine/modules/http-sync.ts' };

/**
 * `import.meta.url` keeps meaning the module's own file once bundled: the built entry for an entry point, else
 * the original file, which stays where it was (run-target.ts finds the package root from it, build/scenarios.ts
 * the k6 stubs beside it, yargs its locales). Every output file sits directly in dist/cli/.
 */
const moduleUrls = {
  name: 'starling-import-meta-url',
  setup(build) {
    const entries = new Map(Object.entries(ENTRIES).map(([name, src]) => [join(ROOT, src), `./${name}.js`]));
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const url = entries.get(args.path) ?? relative(CLI_DIR, args.path).split('\\').join('/');
      return {
        contents: source.replaceAll(
          'import.meta.url',
          `new URL(${JSON.stringify(url)}, import.meta.url).href`,
        ),
        loader: args.path.endsWith('.ts') ? 'ts' : 'js',
      };
    });
  },
};

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
  for (const output of outputs.filter((o) => o.endsWith('.js'))) {
    if (!statSync(join(CLI_DIR, output), { throwIfNoEntry: false })) return `dist/cli/${output} is missing`;
  }
  return undefined;
}

/**
 * Bundles the CLI into dist/cli/: one ESM file per entry plus shared chunks, each command's module in its own
 * chunk (main.ts imports only the one that runs). Every file is written to a temp name and renamed, the record
 * last, so CLIs started meanwhile (tests start many) load a whole build.
 */
export async function buildCli() {
  const { build, stop } = await import('esbuild');
  const builtAt = Date.now();
  // Before the build reads them: a file edited while it runs then differs from its recorded stamp.
  const before = stampSources();
  const dependencies = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies ?? {};
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, src]) => [name, join(ROOT, src)])),
      outdir: CLI_DIR,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: Object.keys(dependencies).filter((d) => !BUNDLED.includes(d)),
      alias: { 'string-width': join(ROOT, 'src/build/string-width.js') },
      sourcemap: 'linked',
      legalComments: 'none',
      // ws and hdr-histogram-js are CommonJS: bundled into ES modules, their require() of Node's built-ins needs one.
      banner: {
        js: "import { createRequire as __starlingRequire } from 'node:module';\nconst require = __starlingRequire(import.meta.url);",
      },
      metafile: true,
      write: false,
      logLevel: 'silent',
      plugins: [moduleUrls],
    });
    mkdirSync(CLI_DIR, { recursive: true });
    const outputs = [];
    for (const file of result.outputFiles) {
      const tmp = `${file.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      writeFileSync(tmp, file.contents);
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
  const files = outputs.filter((o) => o.endsWith('.js')).length;
  process.stdout.write(
    `${relative(process.cwd(), CLI_DIR) || '.'}/: ${files} files, ${(bytes / 1024).toFixed(0)} KiB with source maps (${(performance.now() - started).toFixed(0)} ms)\n`,
  );
}
