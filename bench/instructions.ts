/**
 * The standard flow's cost per session in instructions, which repeat where CPU seconds do not: each generator
 * (starling's scenarios/churn.ts, k6-raw, the raw floor; see standard-flow.ts) runs under valgrind's callgrind at
 * two sizes against a fresh Prosody each, and per session = (instructions at --users − at --small) ÷ the users
 * between. The same script at the same sizes counts the same within 1–3 % per session (CPU seconds of one run vary
 * by up to 16 % on this machine; one callgrind run in fifteen was 20 % off, so run it twice), so a change to
 * starling is judged here first, and on standard-flow's seconds after.
 *
 * Under callgrind a process runs some 50 times slower: the flow is scaled down (--rate 20/s by default), and
 * starling then reports itself saturated (exit 120), which is no failure here. What callgrind counts is user-space
 * instructions only, all threads: the kernel's side of the sockets (the same for every generator) is left out, so
 * the ratios come out larger than standard-flow's CPU ratios. `turbofan` is the part spent in V8's optimizing
 * compiler (on its helper threads), which a run of 200 users weighs more than one of 2,000.
 *
 *   npm run bench -- instructions [--users 200] [--small 10] [--rate 20] [--only starling,k6-raw,raw]
 *     [--messages 10] [--think 0.2] [--body-size 56]
 *
 * Needs Debian's valgrind and prosody. Loopback only; leaves nothing running.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalServer } from '../src/targets/index.ts';
import { benchArgs, BenchArgError, flag } from './lib/args.ts';
import { fixed } from './lib/figures.ts';
import {
  buildFlowScripts,
  floorProblems,
  k6RawArgv,
  rawArgv,
  starlingArgv,
  type FlowScripts,
  type FlowSettings,
} from './lib/flow-scripts.ts';
import { withLocalServer } from './lib/processes.ts';

type Generator = 'starling' | 'k6-raw' | 'raw';
const GENERATORS: readonly Generator[] = ['starling', 'k6-raw', 'raw'];

const args = benchArgs({
  name: 'instructions',
  flags: {
    users: flag.whole({ help: 'users of the large run', min: 2, default: '200' }),
    small: flag.whole({ help: 'users of the small run (start-up and fixed costs)', default: '10' }),
    rate: flag.positive({ help: 'arrivals per second (Poisson)', default: '20' }),
    only: flag.list({ help: 'generators to run (default: all)', of: GENERATORS }),
    messages: flag.whole({ help: 'chat messages per user', default: '10' }),
    think: flag.positive({ help: 'think time, seconds', default: '0.2' }),
    'body-size': flag.whole({ help: 'characters per message body', default: '56' }),
  },
  notes: ["Needs Debian's valgrind and prosody."],
  check: (v) => {
    if (v.small >= v.users)
      throw new BenchArgError('--small', `must be less than --users (${v.users})`, String(v.small));
  },
});

const ONLY = GENERATORS.filter((g) => args.only === undefined || args.only.includes(g));
const THINK_MS = Math.round(args.think * 1000);

/** What one run under callgrind produced. */
interface Count {
  instructions: number;
  turbofan: number;
}

/** node's arguments for generator `g` running the flow for `users` users against `server`. */
function argvOf(g: Generator, s: FlowScripts, server: LocalServer, users: number, results: string): string[] {
  const flow: FlowSettings = {
    url: server.websocketUrl,
    domain: server.domain,
    users,
    rate: args.rate,
    messages: args.messages,
    thinkMs: THINK_MS,
    bodySize: args['body-size'],
  };
  if (g === 'starling') return starlingArgv(s.starling, flow, 1, results);
  if (g === 'k6-raw') return k6RawArgv(s.k6Raw, flow, results);
  return rawArgv(s.raw, flow);
}

/** Runs `argv` under node, or under callgrind writing `cgOut`; resolves with its exit code and output. */
function exec(argv: string[], cgOut?: string): Promise<{ code: number | null; output: string }> {
  const cmd = cgOut === undefined ? process.execPath : 'valgrind';
  const full =
    cgOut === undefined
      ? argv
      : [
          '--tool=callgrind',
          '--quiet', // valgrind's banner and totals stay out of the generator's output (the file has them)
          // V8 writes and rewrites its code: valgrind must retranslate what changed.
          '--smc-check=all-non-file',
          `--callgrind-out-file=${cgOut}`,
          process.execPath,
          ...argv,
        ];
  return new Promise((done, fail) => {
    const child = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // Bounded: a run that hangs is killed rather than holding the bench forever.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

/** What falls short of the whole flow for `users` users, by the generator's own account. */
async function problems(g: Generator, users: number, code: number | null, output: string, results: string) {
  // Under callgrind the Node engine is the bottleneck (exit 120) and churn's thresholds may fail (99): the run
  // still counts when the flow was whole.
  const ok = g === 'raw' ? [0] : g === 'k6-raw' ? [0, 120] : [0, 99, 120];
  if (!ok.includes(code ?? -1)) return [`${g} exited ${code}: ${output.slice(-500)}`];
  if (g !== 'starling') return floorProblems(g, output);
  const [dir] = await readdir(results);
  const summary = JSON.parse(await readFile(join(results, dir!, 'summary.json'), 'utf8')) as {
    metrics: Record<string, { values: Record<string, number> } | undefined>;
  };
  const closes = summary.metrics['xmpp_clean_close']?.values;
  const loss = summary.metrics['xmpp_message_loss']?.values;
  const p: string[] = [];
  if (closes?.['passes'] !== users) p.push(`starling: ${closes?.['passes'] ?? 0} of ${users} clean closes`);
  if (loss?.['fails'] !== users * args.messages || loss?.['passes'] !== 0)
    p.push(`starling: messages ${JSON.stringify(loss ?? {})}, expected ${users * args.messages} delivered`);
  return p;
}

/** The callgrind file's total, and what of it is in V8's optimizing compiler (callgrind_annotate's listing). */
function countOf(cgOut: string, text: string): Count {
  const total = /^(?:summary|totals): (\d+)/m.exec(text);
  if (!total) throw new Error(`no instruction total in ${cgOut}`);
  const listing = spawnSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', cgOut], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  }).stdout;
  let turbofan = 0;
  for (const line of listing.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*v8::internal::compiler::/.exec(line);
    if (m) turbofan += Number(m[1]!.replaceAll(',', ''));
  }
  return { instructions: Number(total[1]), turbofan };
}

async function measure(g: Generator, s: FlowScripts, work: string, users: number): Promise<Count> {
  const results = join(work, `${g}-${users}-results`);
  const cgOut = join(work, `${g}-${users}.callgrind`);
  return withLocalServer({ kind: 'prosody', users, prosodyAuth: 'internal_plain' }, async (server) => {
    process.stderr.write(`${g}, ${users} users under callgrind… `);
    const started = Date.now();
    const r = await exec(argvOf(g, s, server, users, results), cgOut);
    const p = await problems(g, users, r.code, r.output, results);
    if (p.length > 0) throw new Error(`${g} at ${users} users did not do the whole flow: ${p.join('; ')}`);
    const count = countOf(cgOut, await readFile(cgOut, 'utf8'));
    process.stderr.write(`${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    return count;
  });
}

if (spawnSync('valgrind', ['--version']).status !== 0) {
  process.stderr.write("instructions: valgrind is not installed: apt-get install -y valgrind (Debian's)\n");
  process.exit(1);
}
const work = await mkdtemp(join(tmpdir(), 'starling-instructions-'));
try {
  const scripts = await buildFlowScripts(work);
  const rows: { g: Generator; small: Count; large: Count }[] = [];
  for (const g of ONLY) {
    // One run outside callgrind first, as in standard-flow: it fills the Node engine's script cache.
    if (g !== 'raw') {
      await withLocalServer({ kind: 'prosody', users: 2, prosodyAuth: 'internal_plain' }, async (server) => {
        const warm = await exec(argvOf(g, scripts, server, 2, join(work, `${g}-warm-up`)));
        if (warm.code !== 0 && warm.code !== 99) throw new Error(`${g}'s warm-up exited ${warm.code}`);
      });
    }
    rows.push({
      g,
      small: await measure(g, scripts, work, args.small),
      large: await measure(g, scripts, work, args.users),
    });
  }
  const span = args.users - args.small;
  const per = (r: (typeof rows)[number], k: keyof Count): number => (r.large[k] - r.small[k]) / span;
  const M = (v: number): string => fixed(v / 1e6, 2);
  const out: string[] = [
    `instructions (callgrind, user space, all threads) of the standard flow at ${args.small} and ${args.users} users, ${args.rate}/s, ${args.messages} messages, think ${args.think} s`,
    'generator    M at small   M at large   M per session   of it TurboFan   M fixed (start-up)',
  ];
  for (const r of rows) {
    const fixedCost = r.small.instructions - args.small * per(r, 'instructions');
    out.push(
      `${r.g.padEnd(10)} ${M(r.small.instructions).padStart(12)} ${M(r.large.instructions).padStart(12)} ` +
        `${M(per(r, 'instructions')).padStart(15)} ${M(per(r, 'turbofan')).padStart(16)} ${M(fixedCost).padStart(20)}`,
    );
  }
  const by = (g: Generator) => rows.find((r) => r.g === g);
  for (const [a, b] of [
    ['starling', 'raw'],
    ['starling', 'k6-raw'],
    ['k6-raw', 'raw'],
  ] as const) {
    const ra = by(a);
    const rb = by(b);
    if (ra && rb) {
      out.push(`per session, ${a} ÷ ${b}: ${fixed(per(ra, 'instructions') / per(rb, 'instructions'), 2)}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  if (process.env.KEEP !== '1') await rm(work, { recursive: true, force: true });
  else process.stderr.write(`kept ${work}\n`);
}
