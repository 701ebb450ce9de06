/**
 * What the `starling` command costs before it does any work (issue 13): CPU seconds and resident memory of
 * `node bin/starling.js --help`, and of `starling run <scenario>` up to the moment its first connection reaches
 * the server; and, for scale, of Node alone (`node -e 0`, and without NODE_EXTRA_CA_CERTS when it is set).
 * Everything is measured from outside the CLI, as it ships.
 *
 * `--help`: CPU is this process's cutime + cstime across the child's life (the child and every process it
 * waited for), peak RSS is the child's VmHWM, read at its exit by a one-line `--import` hook.
 * `run`: the run targets a loopback TCP relay in front of a local Prosody; when the first connection arrives the
 * relay reads /proc for the CLI (utime + stime, VmRSS) and its process group (esbuild's service, when started),
 * then relays the connection, so the run goes on and must exit 0.
 *
 *   npm run bench -- startup [--runs 5] [--vus 10] [--scenarios idle,chat,churn] [--target ws://…]   # default: a local Prosody
 *
 * STARLING_FROM_SOURCE=1 in the environment measures the CLI loaded from TypeScript (tsx) instead of the bundle.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalServer, type LocalServer } from '../src/targets/index.ts';
import { processGroupUsage } from '../src/targets/processes.ts';
import { benchArgs, flag } from './lib/args.ts';
import { medianRange } from './lib/figures.ts';
import { childrenCpuSeconds } from './lib/processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin', 'starling.js');
const USER_HZ = 100;

const args = benchArgs({
  name: 'startup',
  flags: {
    runs: flag.whole({ help: 'measured runs of each (median and min–max printed)', default: '5' }),
    vus: flag.whole({
      help: 'VUs of `starling run` (sessions per VU: 100 ÷ VUs, at least 1)',
      default: '10',
    }),
    scenarios: flag.custom({
      help: 'scenarios to `starling run`, comma-separated',
      value: 'a,b,…',
      default: 'idle,chat,churn',
      parse: (_name, raw) => raw.split(',').filter(Boolean),
    }),
    target: flag.string({ help: 'the server to run against (default: a local Prosody)', value: 'ws://…' }),
  },
  notes: ['STARLING_FROM_SOURCE=1 measures the CLI loaded from TypeScript (tsx) instead of the bundle.'],
});

const RUNS = args.runs;
const VUS = args.vus;
const SESSIONS_PER_VU = Math.max(1, Math.ceil(100 / VUS));
const SCENARIOS = args.scenarios;

interface Sample {
  cpuS: number;
  rssMiB: number;
  /** The whole process group (the CLI and what it started). */
  groupCpuS?: number;
  groupRssMiB?: number;
}

function pidUsage(pid: number): { cpuS: number; rssKiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    cpuS: (Number(fields[11]) + Number(fields[12])) / USER_HZ,
    rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0),
  };
}

/** `node <args>` (the CLI's --help, or Node alone) with the exit hook; CPU of the child, its peak RSS. */
async function measureNode(
  dir: string,
  what: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Sample> {
  const out = join(dir, `help-${Math.random().toString(36).slice(2)}.txt`);
  const hook =
    "import { readFileSync, writeFileSync } from 'node:fs'; process.on('exit', () => writeFileSync(" +
    "process.env.STARLING_BENCH_OUT, /^VmHWM:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]));";
  const before = childrenCpuSeconds();
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, ...what],
    {
      env: { ...env, STARLING_BENCH_OUT: out },
      encoding: 'utf8',
    },
  );
  const cpuS = childrenCpuSeconds() - before;
  if (r.status !== 0) throw new Error(`node ${what.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { cpuS, rssMiB: Number(await readFile(out, 'utf8')) / 1024 };
}

/** A relay on 127.0.0.1 to `port`; `onFirst` runs synchronously when the first connection is accepted. */
async function relay(port: number, onFirst: () => void): Promise<Server & { port: number }> {
  let first = true;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (first) {
      first = false;
      onFirst();
    }
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const close = server.close.bind(server);
  server.close = (cb) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  return Object.assign(server, { port: (server.address() as { port: number }).port });
}

async function measureRun(scenario: string, target: URL, dir: string): Promise<Sample> {
  let sample: Sample | undefined;
  let pid = 0;
  const server = await relay(Number(target.port), () => {
    const own = pidUsage(pid);
    const group = processGroupUsage(pid);
    sample = {
      cpuS: own.cpuS,
      rssMiB: own.rssKiB / 1024,
      groupCpuS: group.cpuSeconds,
      groupRssMiB: group.rssKiB / 1024,
    };
  });
  const url = new URL(target);
  url.port = String(server.port);
  const args = [CLI, 'run', scenario, '-q', '--engine', 'node', '--results-root', join(dir, 'results')];
  const vars = {
    XMPP_URL: url.href,
    VUS: String(VUS),
    SESSIONS_PER_VU: String(SESSIONS_PER_VU),
    DURATION: '1s',
    LOGIN_RATE: '500',
    PING_INTERVAL: '500ms',
  };
  for (const [k, v] of Object.entries(vars)) args.push('-e', `${k}=${v}`);
  const child = spawn(process.execPath, args, {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  pid = child.pid!;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  await new Promise((done) => server.close(done));
  if (code !== 0) throw new Error(`starling run ${scenario} exited ${code}:\n${stderr}`);
  if (!sample) throw new Error(`starling run ${scenario} never connected`);
  return sample;
}

function report(what: string, samples: Sample[]): void {
  const f = (pick: (s: Sample) => number | undefined, digits: number): string =>
    medianRange(
      samples.map(pick).filter((x): x is number => x !== undefined),
      digits,
    );
  const group = samples[0]?.groupRssMiB === undefined;
  process.stdout.write(
    `${what.padEnd(32)} CPU s ${f((s) => s.cpuS, 2).padEnd(20)} RSS MiB ${f((s) => s.rssMiB, 1).padEnd(22)}` +
      (group ? '' : `group: CPU s ${f((s) => s.groupCpuS, 2)}, RSS MiB ${f((s) => s.groupRssMiB, 1)}`) +
      '\n',
  );
}

const dir = await mkdtemp(join(tmpdir(), 'starling-startup-'));
let local: LocalServer | undefined;
try {
  const given = args.target;
  if (!given) local = await startLocalServer({ kind: 'prosody', users: VUS * SESSIONS_PER_VU });
  const target = new URL(given ?? local!.websocketUrl);
  const mode = process.env.STARLING_FROM_SOURCE === '1' ? 'source (tsx)' : 'bin/starling.js as it starts';
  process.stdout.write(
    `starling start-up, ${mode}; median (min–max) of ${RUNS} runs; run: ${VUS} VUs × ${SESSIONS_PER_VU} sessions, measured at the first connection\n`,
  );
  // One unmeasured run of each first: it builds what is stale (dist/scenarios, dist/cli), as a user's first run would.
  // Node alone, for scale: what any Node program costs here before its first line runs.
  const bare: Sample[] = [];
  for (let i = 0; i < RUNS; i++) bare.push(await measureNode(dir, ['-e', '0']));
  report('node -e 0 (Node alone)', bare);
  if (process.env.NODE_EXTRA_CA_CERTS) {
    // Node reads and parses these certificates as it starts, before any of starling runs.
    const { NODE_EXTRA_CA_CERTS: _certs, ...without } = process.env;
    const plain: Sample[] = [];
    for (let i = 0; i < RUNS; i++) plain.push(await measureNode(dir, ['-e', '0'], without));
    report('  without NODE_EXTRA_CA_CERTS', plain);
  }
  await measureNode(dir, [CLI, '--help']);
  const help: Sample[] = [];
  for (let i = 0; i < RUNS; i++) help.push(await measureNode(dir, [CLI, '--help']));
  report('--help', help);
  for (const scenario of SCENARIOS) {
    await measureRun(scenario, target, dir);
    const runs: Sample[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measureRun(scenario, target, dir));
    report(`run ${scenario} → 1st connection`, runs);
  }
} finally {
  await local?.stop();
  await rm(dir, { recursive: true, force: true });
}
