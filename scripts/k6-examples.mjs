#!/usr/bin/env node
/**
 * Runs every example script of a k6 checkout (its examples/ directory) with starling's Node engine and prints
 * one line per example: name, k6 modules, VUs, exit code, class, first error line. See docs/k6-examples.md.
 *
 *   node scripts/k6-examples.mjs <k6 checkout>/examples [--timeout 60] [--only substring] [--json file]
 *                                [--starling path/to/bin/starling.js] [-e KEY=VALUE ...]
 *
 * Classes (a first sort; docs/k6-examples.md gives the verdict after reading each output):
 *   a  ran to the end, exit code and summary as k6 gives them (without network: failed requests and checks)
 *   b  rejected with a typed error naming the unsupported module or API (UnsupportedK6ApiError)
 *   c  differs from k6 or crashed: an internal stack trace, a hang (the timeout), an exit code k6 does not use
 *   -  not judged: the script's own duration is longer than the timeout (starling run has no --duration)
 *   x  starling itself did not start (a working tree that does not build): rerun
 *
 * Dependency-free: Node's standard library only. No network is needed; examples that call remote hosts get
 * k6's network errors. Run directories go to a fresh directory under the OS temp dir, removed at the end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, URL } from 'node:url';

const DEFAULT_STARLING = fileURLToPath(new URL('../bin/starling.js', import.meta.url));
const SUPPORTED = new Set([
  'k6',
  'k6/crypto',
  'k6/data',
  'k6/encoding',
  'k6/execution',
  'k6/http',
  'k6/metrics',
  'k6/timers',
  'k6/websockets',
]);
/** Exit codes k6 itself uses (errext/exitcodes): 0, thresholds 99, script exception 107, aborted 108, … */
const K6_EXIT_CODES = new Set([0, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110]);

function usage(msg) {
  if (msg) process.stderr.write(`k6-examples: ${msg}\n`);
  process.stderr.write(
    'usage: node scripts/k6-examples.mjs <k6 examples dir> [--timeout seconds] [--only substring] ' +
      '[--json file] [--starling bin/starling.js] [-e KEY=VALUE ...]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { dir: undefined, timeout: 60, only: [], json: undefined, env: [], starling: DEFAULT_STARLING };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--timeout') o.timeout = Number(next());
    else if (a === '--only') o.only.push(next());
    else if (a === '--json') o.json = next();
    else if (a === '--starling') o.starling = path.resolve(next());
    else if (a === '-e' || a === '--env') o.env.push(next());
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (o.dir === undefined) o.dir = a;
    else usage(`unexpected argument ${a}`);
  }
  if (o.dir === undefined) usage('the examples directory is required');
  if (!(o.timeout > 0)) usage('--timeout must be a positive number of seconds');
  return o;
}

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (/\.(m?js|ts)$/.test(name)) out.push(p);
  }
  return out;
}

/** Comments out, string contents kept (URLs hold `//`). Good enough for import and option scanning. */
function stripComments(src) {
  return src.replace(/\/\*[\s\S]*?\*\/|(^|[^:'"\\])\/\/[^\n]*/g, (m, pre) => (pre === undefined ? '' : pre));
}

function specifiers(src) {
  const s = stripComments(src);
  const re =
    /\bimport\s+(?:[\w*\s{},$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)|\bexport\s+[\w*\s{},$]+?\s+from\s+['"]([^'"]+)['"]/g;
  const out = [];
  for (const m of s.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  return out;
}

function resolveLocal(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const p of [base, `${base}.js`, `${base}.ts`]) {
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // try the next
    }
  }
  return undefined;
}

/** k6 modules (and remote modules) the file imports, following its relative imports; and the local files. */
function analyse(file) {
  const modules = new Set();
  const locals = new Set();
  const globals = new Set();
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    const src = readFileSync(f, 'utf8');
    if (/\bcrypto\.subtle\b/.test(stripComments(src))) globals.add('crypto.subtle');
    for (const spec of specifiers(src)) {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const r = resolveLocal(f, spec);
        if (r !== undefined && /\.(m?js|ts)$/.test(r)) {
          locals.add(r);
          visit(r);
        }
      } else modules.add(spec);
    }
  };
  visit(file);
  return { modules: [...modules].sort(), locals, globals: [...globals] };
}

/** Largest VU count the options mention (vus, stage targets, scenario VUs), 1 when none; and the duration. */
function staticOptions(src) {
  const s = stripComments(src);
  let vus = 1;
  for (const m of s.matchAll(/\b(?:vus|target|preAllocatedVUs|maxVUs|startVUs)\s*:\s*(\d+)/g)) {
    vus = Math.max(vus, Number(m[1]));
  }
  let seconds = 0;
  const stages = [...s.matchAll(/\bduration\s*:\s*['"]([\dhms.]+)['"]/g)].map((m) => parseDuration(m[1]));
  if (/\bstages\s*:/.test(s)) seconds = stages.reduce((a, b) => a + b, 0);
  else if (stages.length > 0) seconds = Math.max(...stages);
  return { vus, seconds };
}

function parseDuration(d) {
  let total = 0;
  for (const m of d.matchAll(/([\d.]+)(h|ms|m|s)/g)) {
    total += Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 0.001 }[m[2]];
  }
  return total;
}

function run(file, opts, resultsRoot) {
  const args = [opts.starling, 'run', file, '--engine', 'node', '--no-report', '--results-root', resultsRoot];
  for (const e of opts.env) args.push('-e', e);
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, args, {
      // A scratch working directory: starling compiles a .ts script into ./dist/scenarios/.
      cwd: resultsRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so the timeout ends it and anything it started
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, opts.timeout * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, output, ms: Date.now() - started });
    });
  });
}

/** The line that says what went wrong: the first ERRO line, else the first WARN, else starling's last word. */
function firstErrorLine(output) {
  const lines = output.split('\n').map((l) => l.trimEnd());
  const pick =
    lines.find((l) => /^ERRO\[|^(\w*Error|panic):/.test(l)) ??
    lines.find((l) => /^WARN\[/.test(l)) ??
    lines.filter((l) => /^starling: /.test(l) && !/ running /.test(l)).pop();
  return pick ?? '';
}

/** A stack frame inside starling or Node (not the example's own code). */
const INTERNAL_FRAME = /^\s+at .*(\/dist\/cli\/|\/src\/engine\/|node_modules\/|node:internal)/;

/**
 * Whether a stack trace with starling's own frames follows an error that is not the script's: an exception in
 * an iteration (`ERRO[…] [VU n] …`, which k6 prints with its stack too) is the script's.
 */
function internalTrace(output) {
  let head = '';
  for (const line of output.split('\n')) {
    if (!/^\s+at /.test(line)) head = line;
    else if (INTERNAL_FRAME.test(line) && !/^ERRO\[\d+\] \[VU \d+\] /.test(head)) return true;
  }
  return false;
}

function classify(r, declaredSeconds, timeout) {
  if (r.timedOut) return declaredSeconds > timeout ? '-' : 'c';
  // starling itself did not start (e.g. a build of a working tree that does not compile): not a result.
  if (!/Node engine running /.test(r.output) && /could not be rebuilt|^SyntaxError: /m.test(r.output))
    return 'x';
  if (/UnsupportedK6ApiError|is not supported by starling's Node engine/.test(r.output)) return 'b';
  if (r.code === null || !K6_EXIT_CODES.has(r.code)) return 'c';
  if (internalTrace(r.output)) return 'c';
  // An exception in an iteration with no stack at all: k6 prints at least the script's own frames.
  if (/^ERRO\[\d+\] \[VU \d+\] .*source=stacktrace$/m.test(r.output)) return 'c';
  return 'a';
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const dir = path.resolve(opts.dir);
  const files = walk(dir);
  const analysed = new Map(files.map((f) => [f, analyse(f)]));
  // Files another example imports (helpers such as enhanced/user.ts) are not examples of their own.
  const helpers = new Set([...analysed.values()].flatMap((a) => [...a.locals]));
  const examples = files.filter(
    (f) => !helpers.has(f) && (opts.only.length === 0 || opts.only.some((s) => f.includes(s))),
  );
  const resultsRoot = mkdtempSync(path.join(tmpdir(), 'k6-examples-'));
  const rows = [];
  try {
    for (const file of examples) {
      const name = path.relative(dir, file);
      const { modules, globals } = analysed.get(file);
      const { vus, seconds } = staticOptions(readFileSync(file, 'utf8'));
      const unsupported = modules.filter((m) => !SUPPORTED.has(m));
      const r = await run(file, opts, resultsRoot);
      const cls = classify(r, seconds, opts.timeout);
      const row = {
        name,
        modules: [...modules, ...globals.map((g) => `${g} (global)`)],
        unsupported,
        vus,
        declaredSeconds: seconds,
        exit: r.timedOut ? `timeout ${opts.timeout}s` : (r.code ?? r.signal),
        class: cls,
        firstError: firstErrorLine(r.output),
        ms: r.ms,
        output: r.output,
      };
      rows.push(row);
      process.stdout.write(
        [
          row.name,
          row.modules.join(',') || '-',
          `vus=${row.vus}`,
          `exit=${row.exit}`,
          `class=${row.class}`,
          row.firstError.replace(/\t/g, ' ').slice(0, 300) || '-',
        ].join('\t') + '\n',
      );
    }
  } finally {
    rmSync(resultsRoot, { recursive: true, force: true });
  }
  const counts = {};
  for (const r of rows) counts[r.class] = (counts[r.class] ?? 0) + 1;
  process.stdout.write(
    `# ${rows.length} examples: ${Object.entries(counts)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}\n`,
  );
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify(rows, null, 2));
}

await main();
