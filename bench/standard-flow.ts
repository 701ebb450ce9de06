/**
 * The standard flow, one generator at a time, each against its own fresh Prosody: starling (scenarios/churn.ts on
 * the Node engine), Tsung 1.7, and over WebSocket the floor (bench/raw-ws-flow.ts: plain Node on `ws`, no XML
 * library) and `k6-raw`, the floor's flow as a k6 script on starling's Node engine (bench/k6/raw-flow.ts), which
 * splits starling's cost over the floor into what the engine adds (k6-raw ÷ raw) and what the XMPP client adds
 * (starling ÷ k6-raw), and `raw-lean`, the floor on a WebSocket client with no library (bench/lib/lean-ws.ts), the
 * floor of what the engine's own hand-written client could reach: starling ÷ raw-lean is the XMPP client and the
 * engine without the credit for leaving `ws`. In one invocation, so the ratios come from the same set of runs;
 * `--runs` repeats the set.
 *
 * The flow: USERS users arrive at RATE per second (Poisson). Each: connect (WebSocket subprotocol xmpp, or a BOSH
 * session) → open → SASL PLAIN → stream restart → bind → initial presence → think → 10 × (a chat message with a
 * 56-character body to the bare JID of another online user; think) → close. Prosody stores plain passwords
 * (internal_plain), so no side pays PBKDF2, and loads bench/prosody/mod_bench_counters.lua, whose counters prove
 * what each generator really did: a run whose counters fall short of the flow fails the benchmark (exit 1), and its
 * figures are marked and left out of spreads and ratios.
 *
 * Two phases per generator:
 * - cpu: think 0.2 s (the standard flow). Generator CPU is exact: user + system time of the reaped child and all it
 *   waited for (this process's cutime + cstime, /proc/self/stat), so Tsung's Erlang VM, a child of its start
 *   script (erl runs in the foreground; -n: no web dashboard), is counted whole, start-up included. Server CPU is
 *   Prosody's process group over the same time.
 * - memory: a longer think (`auto`: 1 s at 2000 users and 200/s), so all users are connected at once. Peak RSS is
 *   the largest sum of VmRSS over the child's process group, sampled every 100 ms; the baseline is the last sample
 *   (every 10 ms until then) before /proc/net/tcp shows the first connection to the server. RSS per concurrent
 *   session = (peak RSS − baseline) ÷ the most sessions the server had bound at once (its peak_online counter).
 *
 *   npm run bench -- standard-flow [--users 2000] [--rate 200] [--bosh-rate <rate>] [--runs 3]
 *     [--transport websocket|bosh|both] [--only starling,tsung,raw,k6-raw,raw-lean] [--vus 1] [--phases cpu,memory]
 *     [--think 0.2] [--memory-think auto] [--messages 10] [--body-size 56] [--json results.json]
 *
 * Needs Debian's tsung and prosody. Loopback only; leaves nothing running (Prosody, Tsung, the epmd Tsung starts).
 * KEEP=1 keeps the work directory (Tsung's logs, the counters, starling's results).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startLocalServer, type LocalServer } from '../src/targets/index.ts';
import { processGroupMembers, processGroupUsage } from '../src/targets/processes.ts';
import { benchArgs, BenchArgError, flag, listOf, positive } from './lib/args.ts';
import { fixed as fmt, spread } from './lib/figures.ts';
import { childrenCpuSeconds } from './lib/processes.ts';
import {
  buildFlowScripts,
  floorProblems,
  k6RawArgv,
  rawArgv,
  starlingArgv,
  type FlowSettings,
} from './lib/flow-scripts.ts';

type Transport = 'websocket' | 'bosh';
type Generator = 'starling' | 'tsung' | 'raw' | 'k6-raw' | 'raw-lean';
type PhaseName = 'cpu' | 'memory';

const args = benchArgs({
  name: 'standard-flow',
  flags: {
    users: flag.whole({ help: 'users in the flow', min: 2, default: '2000' }),
    rate: flag.positive({ help: 'arrivals per second (Poisson)', default: '200' }),
    'bosh-rate': flag.positive({ help: 'arrivals per second over BOSH (default: --rate)' }),
    runs: flag.whole({ help: 'times the whole set runs (min–max and ratios over them)', default: '1' }),
    transport: flag.custom({
      help: 'transports to run',
      value: 'websocket|bosh|both',
      default: 'both',
      parse: (name, raw): Transport[] =>
        raw === 'both' ? ['websocket', 'bosh'] : listOf<Transport>(name, raw, ['websocket', 'bosh']),
    }),
    only: flag.list({
      help: 'generators to run (default: all; no raw, k6-raw or raw-lean over BOSH)',
      of: ['starling', 'tsung', 'raw', 'k6-raw', 'raw-lean'],
    }),
    vus: flag.whole({ help: "starling's VUs, at most --users", default: '1' }),
    messages: flag.whole({ help: 'chat messages per user', default: '10' }),
    'body-size': flag.whole({ help: 'characters per message body', default: '56' }),
    think: flag.positive({ help: 'think time of the cpu phase, seconds', default: '0.2' }),
    'memory-think': flag.custom({
      help: 'think time of the memory phase, seconds; auto: all users online at once',
      value: 'X|auto',
      default: 'auto',
      parse: (name, raw) => (raw === 'auto' ? ('auto' as const) : positive(name, raw)),
    }),
    phases: flag.list({ help: 'phases to run', of: ['cpu', 'memory'], default: 'cpu,memory' }),
    json: flag.string({ help: 'also write every outcome to this file', value: 'FILE' }),
  },
  notes: [
    "Needs Debian's tsung and prosody. KEEP=1 keeps the work directory (Tsung's logs, the counters, results).",
  ],
  check: (v) => {
    if (v.vus > v.users)
      throw new BenchArgError('--vus', `must be at most --users (${v.users})`, String(v.vus));
  },
});

const N = args.users;
const RUNS = args.runs;
const VUS = args.vus;
const MESSAGES = args.messages;
const BODY = args['body-size'];
const CPU_THINK = args.think;
const TRANSPORTS: Transport[] = args.transport;
const ONLY: Generator[] | undefined = args.only;
const PHASES: PhaseName[] = args.phases;

/** Arrivals per second over each transport (BOSH costs Prosody about twice what WebSocket does). */
const RATES: Record<Transport, number> = {
  websocket: args.rate,
  bosh: args['bosh-rate'] ?? args.rate,
};

/**
 * The memory phase's think time: given, or ('auto') the least multiple of 0.5 s, at least 1 s, for which a user's
 * MESSAGES + 1 thinks outlast the arrivals by a second, so all users are online at once (1 s at 2000 users, 200/s).
 */
function memoryThink(t: Transport): number {
  if (args['memory-think'] !== 'auto') return args['memory-think'];
  return Math.max(1, Math.ceil((2 * (N / RATES[t] + 1)) / (MESSAGES + 1)) / 2);
}
const thinkOf = (t: Transport, phase: PhaseName): number => (phase === 'cpu' ? CPU_THINK : memoryThink(t));

/** Over BOSH there is no raw floor: starling and Tsung only. */
function generatorsFor(t: Transport): Generator[] {
  const all: Generator[] =
    t === 'websocket' ? ['starling', 'tsung', 'raw', 'k6-raw', 'raw-lean'] : ['starling', 'tsung'];
  return ONLY ? all.filter((g) => ONLY.includes(g)) : all;
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring one child process

/** True when /proc/net/tcp holds a connection being made or made (SYN_SENT, ESTABLISHED) to 127.0.0.1:port. */
function connectionTo(port: number): boolean {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const lines = readFileSync('/proc/net/tcp', 'utf8').split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f[2]?.endsWith(hexPort) && (f[3] === '01' || f[3] === '02')) return true;
  }
  return false;
}

/** Sum of VmRSS over these processes, in KiB (one that exited meanwhile counts 0). */
function rssKiB(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return sum;
}

interface Measured {
  code: number | null;
  signal: string | null;
  /** The child's stdout and stderr (the last 256 KiB). */
  output: string;
  cpuSeconds: number;
  wallSeconds: number;
  peakRssKiB: number;
  /** The last RSS sample before the first connection to the server; undefined if none was taken. */
  rssBeforeKiB: number | undefined;
  /** When the first connection was seen, seconds after the spawn. */
  firstConnectionS: number | undefined;
  serverCpuSeconds: number;
  serverPeakRssKiB: number;
}

let current: ChildProcess | undefined;

async function measure(cmd: string, argv: string[], server: LocalServer, cwd: string): Promise<Measured> {
  const cpu0 = childrenCpuSeconds();
  const server0 = processGroupUsage(server.pid).cpuSeconds;
  const t0 = Date.now();
  // Its own process group: the sampler sums the group, and a stop signal reaches every process of it.
  const child = spawn(cmd, argv, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  current = child;
  let output = '';
  const keep = (d: Buffer): void => {
    output += d.toString();
    if (output.length > 512 * 1024) output = output.slice(-256 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let peakKiB = 0;
  let rssBeforeKiB: number | undefined;
  let firstConnectionS: number | undefined;
  // Group members are listed every 100 ms (a scan of /proc); between scans the known ones are read alone.
  let members = [child.pid!];
  const noConnectionYet = (): boolean => {
    if (firstConnectionS !== undefined) return false;
    if (!connectionTo(server.httpPort)) return true;
    firstConnectionS = (Date.now() - t0) / 1000;
    return false;
  };
  const sampler = setInterval(() => {
    members = processGroupMembers(child.pid!);
    const rss = rssKiB(members);
    if (noConnectionYet() && rss > 0) rssBeforeKiB = rss;
    peakKiB = Math.max(peakKiB, rss);
  }, 100);
  // Until the first connection, every 10 ms: a client that connects within 100 ms of its start still gets a
  // baseline, taken as late as it can be.
  const early = setInterval(() => {
    if (!noConnectionYet()) return clearInterval(early);
    const rss = rssKiB(members);
    if (rss > 0) rssBeforeKiB = rss;
  }, 10);
  const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
    child.on('close', (c, s) => r([c, s])),
  );
  clearInterval(sampler);
  clearInterval(early);
  current = undefined;
  const server1 = processGroupUsage(server.pid);
  return {
    code,
    signal,
    output,
    cpuSeconds: childrenCpuSeconds() - cpu0,
    wallSeconds: (Date.now() - t0) / 1000,
    peakRssKiB: peakKiB,
    rssBeforeKiB,
    firstConnectionS,
    serverCpuSeconds: server1.cpuSeconds - server0,
    serverPeakRssKiB: server1.peakRssKiB,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The server and its counters

/** What mod_bench_counters.lua writes (see the module for each one's meaning). */
interface Counters {
  final: boolean;
  c2s_opened: number;
  auth_success: number;
  auth_failure: number;
  resource_bind: number;
  users_distinct: number;
  initial_presence: number;
  chat_sent: number;
  chat_body_chars: number;
  chat_body_foreign: number;
  chat_to_self: number;
  chat_unavailable: number;
  chat_delivered: number;
  errors_out: number;
  unbind_clean: number;
  unbind_unclean: number;
  unbind_reasons: Record<string, number>;
  online: number;
  peak_online: number;
}

const lua = (s: string): string => JSON.stringify(s);

function startServer(countersFile: string): Promise<LocalServer> {
  return startLocalServer({
    kind: 'prosody',
    users: N,
    prosodyAuth: 'internal_plain',
    prosodyPlugins: {
      dir: resolve('bench/prosody'),
      modules: ['bench_counters'],
      // Every throwaway Prosody runs Lua 5.4's generational collector (src/targets/prosody.ts), which halves its
      // CPU per session here (3.7 against 7 ms for login, 10 messages and close).
      options: { bench_counters_file: lua(countersFile) },
    },
  });
}

/**
 * What falls short of the whole flow for every user, per the server. Over BOSH a message whose <body/> is not in
 * jabber:client (Tsung's) still counts: it is noted, not failed, as what Tsung 1.7 sends.
 */
function flowProblems(c: Counters | undefined): string[] {
  if (!c) return ['no counters file: the server never wrote one'];
  const p: string[] = [];
  const want = (name: keyof Counters, got: number, expected: number): void => {
    if (got !== expected) p.push(`${name} ${got}, expected ${expected}`);
  };
  if (!c.final) p.push('counters not final (the server did not shut down cleanly)');
  want('auth_success', c.auth_success, N);
  want('auth_failure', c.auth_failure, 0);
  want('resource_bind', c.resource_bind, N);
  want('initial_presence', c.initial_presence, N);
  want('chat_sent', c.chat_sent, N * MESSAGES);
  want('chat_body_chars', c.chat_body_chars, N * MESSAGES * BODY);
  want('chat_delivered', c.chat_delivered, c.chat_sent - c.chat_unavailable);
  // A recipient picked while its presence was still on the way is bounced (service-unavailable): Tsung marks a
  // user online when it sends presence, not when the server has it. Noted up to 5 % of the messages; more fails.
  if (c.chat_unavailable > 0.05 * N * MESSAGES)
    p.push(`chat_unavailable ${c.chat_unavailable} (> 5 % of messages)`);
  want('unbind_clean', c.unbind_clean, N);
  if (c.unbind_unclean > 0)
    p.push(`unbind_unclean ${c.unbind_unclean} (${JSON.stringify(c.unbind_reasons)}), expected 0`);
  // Prosody does not end BOSH sessions when it stops: one still bound then was abandoned by its client.
  if (c.online > 0) p.push(`${c.online} sessions still bound when the server stopped (never closed)`);
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// The generators

interface Outcome {
  generator: Generator;
  transport: Transport;
  phase: PhaseName;
  run: number;
  m: Measured;
  counters: Counters | undefined;
  /** Why this run does not count: generator errors and counters short of the flow. Empty: a whole run. */
  problems: string[];
  /** Worth knowing, not failing: bounced messages, a body in a foreign namespace, Tsung's own error counts. */
  notes: string[];
}

interface Context {
  work: string;
  starlingScript: string;
  rawScript: string;
  /** bench/k6/raw-flow.ts, built as users' scenarios are. */
  k6RawScript: string;
}

/** The flow as this invocation runs it against `server` over `t`. */
function flowOf(server: LocalServer, t: Transport, think: number, rate: number): FlowSettings {
  return {
    url: t === 'bosh' ? server.boshUrl : server.websocketUrl,
    domain: server.domain,
    users: N,
    rate,
    messages: MESSAGES,
    thinkMs: Math.round(think * 1000),
    bodySize: BODY,
  };
}

async function runStarling(
  ctx: Context,
  dir: string,
  server: LocalServer,
  t: Transport,
  think: number,
  rate: number,
) {
  const results = join(dir, 'results');
  const m = await measure(
    process.execPath,
    starlingArgv(ctx.starlingScript, flowOf(server, t, think, rate), VUS, results),
    server,
    dir,
  );
  const problems: string[] = [];
  const notes: string[] = [];
  // 99: a threshold of the scenario failed (latency, on a loaded 2-core machine); 120: starling judged itself
  // saturated (its latencies are not the server's). Neither says the flow was not done: that is judged on the
  // summary's counts below and on the server's counters.
  if (m.code === 99) notes.push('starling: thresholds failed (exit 99)');
  else if (m.code === 120) notes.push('starling: generator saturated (exit 120)');
  else if (m.code !== 0) problems.push(`starling exited ${m.code ?? m.signal}`);
  try {
    const [runDir] = await readdir(results);
    const summary = JSON.parse(await readFile(join(results, runDir!, 'summary.json'), 'utf8')) as {
      metrics: Record<string, { values: Record<string, number> }>;
    };
    const v = (name: string, key: string): number => summary.metrics[name]?.values[key] ?? 0;
    const logins = v('xmpp_login_success', 'passes');
    const clean = v('xmpp_clean_close', 'passes');
    const lost = v('xmpp_message_loss', 'passes');
    const messages = lost + v('xmpp_message_loss', 'fails');
    if (logins !== N) problems.push(`starling: ${logins} of ${N} logins`);
    if (clean !== N) problems.push(`starling: ${clean} of ${N} clean closes`);
    if (messages !== N * MESSAGES) problems.push(`starling: ${messages} of ${N * MESSAGES} messages sent`);
    if (lost > 0) problems.push(`starling: ${lost} messages lost`);
    notes.push(
      `starling: delivery p95 ${v('xmpp_message_delivery', 'p(95)').toFixed(0)} ms, session ready p95 ${v('xmpp_session_ready', 'p(95)').toFixed(0)} ms`,
    );
    const cpu0 = childrenCpuSeconds();
    const page = spawnSync(process.execPath, [resolve('bin/starling.js'), 'report', join(results, runDir!)], {
      encoding: 'utf8',
    });
    if (page.status !== 0) problems.push(`starling report exited ${page.status}: ${page.stderr.slice(-500)}`);
    else
      notes.push(
        `starling: report.html ${(childrenCpuSeconds() - cpu0).toFixed(2)} s CPU (\`starling report\` after the run, start-up included)`,
      );
  } catch (err) {
    problems.push(`starling: no summary.json (${(err as Error).message})`);
  }
  return { m, problems, notes };
}

function tsungConfig(server: LocalServer, t: Transport, think: number, rate: number, users: string): string {
  // Accounts come from a CSV read in order, one per arrival: with its own naming (userid_max) Tsung hands a
  // finished user's id to the next arrival (2,000 sessions ran on ~270 accounts), and over BOSH, where its close
  // can leave the old session open, the new login with the same resource kicks it out (a conflict).
  // destination="online" picks among users that sent presence:initial, skipping the sender (ts_user_server).
  return `<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="notice" dumptraffic="false" version="1.0">
  <clients><client host="localhost" use_controller_vm="true" maxusers="${N * 2}"/></clients>
  <servers><server host="127.0.0.1" port="${server.httpPort}" type="${t}"/></servers>
  <load>
    <arrivalphase phase="1" duration="${2 * Math.ceil(N / rate) + 10}" unit="second">
      <users arrivalrate="${rate}" unit="second" maxnumber="${N}"/>
    </arrivalphase>
  </load>
  <options>
    <option type="ts_jabber" name="domain" value="${server.domain}"/>
    <option type="ts_jabber" name="userid_max" value="0"/>
    <option name="file_server" id="userdb" value="${users}"/>
    <option name="websocket_path" value="/xmpp-websocket"/>
    <option name="websocket_frame" value="text"/>
    <option name="websocket_subprotocols" value="xmpp"/>
    <option name="bosh_path" value="/http-bind"/>
  </options>
  <sessions>
    <session probability="100" name="standard" type="ts_jabber" bidi="true">
      <setdynvars sourcetype="file" fileid="userdb" delimiter=";" order="iter">
        <var name="username"/><var name="password"/>
      </setdynvars>
      <request subst="true"><jabber type="connect" ack="local"><xmpp_authenticate username="%%_username%%" passwd="%%_password%%"/></jabber></request>
      <transaction name="login">
        <request><jabber type="auth_sasl" ack="local"/></request>
        <request><jabber type="connect" ack="local"/></request>
        <request><jabber type="auth_sasl_bind" ack="local"/></request>
      </transaction>
      <request><jabber type="presence:initial" ack="no_ack"/></request>
      <thinktime value="${think}" random="false"/>
      <for from="1" to="${MESSAGES}" incr="1" var="i">
        <request><jabber type="chat" ack="no_ack" size="${BODY}" destination="online"/></request>
        <thinktime value="${think}" random="false"/>
      </for>
      <request><jabber type="close" ack="local"/></request>
    </session>
  </sessions>
</tsung>
`;
}

/**
 * Tsung's tsung.log totals. Each dump's sample line is `name count mean stddev max min meanfb countfb` for that
 * interval only, so counts add up; counter lines (two numbers) are cumulative, so the last one holds.
 */
async function tsungStats(logRoot: string): Promise<Map<string, number>> {
  const [dir] = await readdir(logRoot);
  const text = await readFile(join(logRoot, dir!, 'tsung.log'), 'utf8');
  const totals = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^stats: (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const nums = m[2]!.split(' ').map(Number);
    totals.set(m[1]!, nums.length > 2 ? (totals.get(m[1]!) ?? 0) + nums[0]! : nums[1]!);
  }
  return totals;
}

async function runTsung(
  _ctx: Context,
  dir: string,
  server: LocalServer,
  t: Transport,
  think: number,
  rate: number,
) {
  const config = join(dir, 'tsung.xml');
  const users = join(dir, 'users.csv');
  await writeFile(
    users,
    Array.from(
      { length: N },
      (_, i) => `${server.account(i + 1).username};${server.account(i + 1).password}\n`,
    ).join(''),
  );
  await writeFile(config, tsungConfig(server, t, think, rate, users));
  const logs = join(dir, 'tsung-log');
  await mkdir(logs);
  // -n: no web dashboard (it would listen on 8091 and cost CPU). tsung runs erl in the foreground, a child of its
  // start script: both are in the child's process group and reaped, so their CPU is counted.
  const m = await measure('tsung', ['-f', config, '-l', logs, '-n', 'start'], server, dir);
  const problems: string[] = [];
  const notes: string[] = [];
  if (m.code !== 0) problems.push(`tsung exited ${m.code ?? m.signal}`);
  try {
    const stats = await tsungStats(logs);
    const users = stats.get('users_count') ?? 0;
    const finished = stats.get('finish_users_count') ?? 0;
    if (users !== N) problems.push(`tsung: ${users} of ${N} users started`);
    if (finished !== N) problems.push(`tsung: ${finished} of ${N} users finished`);
    const errors = [...stats].filter(([k]) => k.startsWith('error_'));
    if (errors.length) notes.push(`tsung errors: ${errors.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    const logins = stats.get('tr_login') ?? 0;
    if (logins !== N) problems.push(`tsung: ${logins} of ${N} login transactions`);
  } catch (err) {
    problems.push(`tsung: no tsung.log (${(err as Error).message})`);
  }
  return { m, problems, notes };
}

/**
 * A floor generator: raw (bench/raw-ws-flow.ts on Node) or k6-raw (bench/k6/raw-flow.ts on starling's Node engine,
 * as starling runs churn). Its exit and its line of counts say whether it did the whole flow.
 */
function floorRunner(
  g: 'raw' | 'k6-raw' | 'raw-lean',
  argv: (ctx: Context, dir: string, flow: FlowSettings) => string[],
): (...a: Parameters<typeof runStarling>) => Promise<{ m: Measured; problems: string[]; notes: string[] }> {
  return async (ctx, dir, server, t, think, rate) => {
    const m = await measure(process.execPath, argv(ctx, dir, flowOf(server, t, think, rate)), server, dir);
    const problems = m.code !== 0 ? [`${g} exited ${m.code ?? m.signal}`] : [];
    problems.push(...floorProblems(g, m.output));
    return { m, problems, notes: [] as string[] };
  };
}

const runRaw = floorRunner('raw', (ctx, _dir, flow) => rawArgv(ctx.rawScript, flow));
const runK6Raw = floorRunner('k6-raw', (ctx, dir, flow) =>
  k6RawArgv(ctx.k6RawScript, flow, join(dir, 'results')),
);

const runRawLean = floorRunner('raw-lean', (ctx, _dir, flow) => [
  ...rawArgv(ctx.rawScript, flow),
  '--client',
  'lean',
]);

const RUNNERS = {
  starling: runStarling,
  tsung: runTsung,
  raw: runRaw,
  'k6-raw': runK6Raw,
  'raw-lean': runRawLean,
};

/**
 * One small starling run before any measurement: it rebuilds dist/cli if a source changed and fills the Node
 * engine's cache of wrapped scripts, as a user's earlier runs would have, so no measured run pays for either.
 */
async function warmUp(ctx: Context): Promise<void> {
  const dir = join(ctx.work, 'warm-up');
  await mkdir(dir);
  const server = await startServer(join(dir, 'counters.json'));
  try {
    const flow: FlowSettings = {
      url: server.websocketUrl,
      domain: server.domain,
      users: 2,
      rate: 50,
      messages: 1,
      thinkMs: 10,
      bodySize: BODY,
    };
    const results = join(dir, 'results');
    // Exits 99 (a threshold) or 120 (saturated) are no failure here: the run only has to have started.
    const warm = (who: string, argv: string[], ok: number[]): void => {
      const r = spawnSync(process.execPath, argv, { cwd: dir, encoding: 'utf8' });
      if (!ok.includes(r.status ?? -1)) {
        throw new Error(`${who}'s warm-up run exited ${r.status}:\n${(r.stdout + r.stderr).slice(-2000)}`);
      }
    };
    warm('starling', starlingArgv(ctx.starlingScript, flow, 1, results), [0, 99, 120]);
    if (TRANSPORTS.includes('websocket') && generatorsFor('websocket').includes('k6-raw')) {
      warm('k6-raw', k6RawArgv(ctx.k6RawScript, flow, results), [0]);
    }
  } finally {
    await server.stop();
  }
}

/** True when an Erlang port mapper runs (Tsung starts one and leaves it behind). */
function epmdRunning(): boolean {
  return spawnSync('pgrep', ['-x', 'epmd']).status === 0;
}

async function once(
  ctx: Context,
  g: Generator,
  t: Transport,
  phase: PhaseName,
  run: number,
  epmdBefore: boolean,
): Promise<Outcome> {
  const dir = join(ctx.work, `run${run}-${t}-${phase}-${g}`);
  await mkdir(dir);
  const countersFile = join(dir, 'counters.json');
  const think = thinkOf(t, phase);
  process.stderr.write(`run ${run}, ${t}, ${phase} (${RATES[t]}/s, think ${think} s): ${g}…`);
  const server = await startServer(countersFile);
  let r: { m: Measured; problems: string[]; notes: string[] };
  try {
    r = await RUNNERS[g](ctx, dir, server, t, think, RATES[t]);
  } finally {
    await server.stop(); // SIGTERM: the module writes its final counters
    // Each Tsung run pays for its own epmd, as the first one did.
    if (g === 'tsung' && !epmdBefore && epmdRunning()) spawnSync('epmd', ['-kill']);
  }
  const counters = existsSync(countersFile)
    ? (JSON.parse(await readFile(countersFile, 'utf8')) as Counters)
    : undefined;
  const problems = [...r.problems, ...flowProblems(counters)];
  const notes = [...r.notes];
  if (counters?.chat_unavailable)
    notes.push(`${counters.chat_unavailable} messages bounced: recipient not yet available`);
  if (counters?.chat_body_foreign)
    notes.push(`${counters.chat_body_foreign} message bodies not in jabber:client`);
  if (counters && counters.users_distinct < N)
    notes.push(`${N} sessions over ${counters.users_distinct} distinct accounts`);
  if (phase === 'memory' && counters && counters.peak_online < 0.95 * N)
    notes.push(
      `only ${counters.peak_online} of ${N} users online at once: a longer --memory-think would have all`,
    );
  if (counters?.chat_to_self)
    notes.push(`${counters.chat_to_self} messages to the sender itself (no other user online)`);
  process.stderr.write(
    ` ${r.m.wallSeconds.toFixed(1)} s, CPU ${r.m.cpuSeconds.toFixed(2)} s, peak ${(r.m.peakRssKiB / 1024).toFixed(0)} MiB${problems.length ? `; FAILED: ${problems.join('; ')}` : ''}\n`,
  );
  if (problems.length && r.m.output)
    process.stderr.write(`--- ${g} output (tail) ---\n${r.m.output.slice(-3000)}\n---\n`);
  return { generator: g, transport: t, phase, run, m: r.m, counters, problems, notes };
}

// ---------------------------------------------------------------------------------------------------------------
// The table

interface Figures {
  cpuPer1000: number | undefined;
  cpuSeconds: number | undefined;
  wallSeconds: number | undefined;
  serverCpuSeconds: number | undefined;
  rssBeforeMiB: number | undefined;
  peakRssMiB: number | undefined;
  peakOnline: number | undefined;
  rssPerSessionKiB: number | undefined;
}

/** The columns, each from the phase that measures it. */
const COLUMNS: { key: keyof Figures; head: string; digits: number; phase: PhaseName }[] = [
  { key: 'cpuPer1000', head: 'CPU s/1000 sess', digits: 2, phase: 'cpu' },
  { key: 'cpuSeconds', head: 'CPU s', digits: 2, phase: 'cpu' },
  { key: 'wallSeconds', head: 'wall s', digits: 1, phase: 'cpu' },
  { key: 'serverCpuSeconds', head: 'server CPU s', digits: 2, phase: 'cpu' },
  { key: 'rssBeforeMiB', head: 'RSS before MiB', digits: 1, phase: 'memory' },
  { key: 'peakRssMiB', head: 'peak RSS MiB', digits: 1, phase: 'memory' },
  { key: 'peakOnline', head: 'peak online', digits: 0, phase: 'memory' },
  { key: 'rssPerSessionKiB', head: 'KiB/conc. sess', digits: 1, phase: 'memory' },
];

function find(outcomes: Outcome[], g: Generator, t: Transport, run: number, phase: PhaseName) {
  return outcomes.find((o) => o.generator === g && o.transport === t && o.run === run && o.phase === phase);
}

/** One generator's figures in one run; with `wholeOnly`, a phase that failed the flow gives none. */
function figures(outcomes: Outcome[], g: Generator, t: Transport, run: number, wholeOnly: boolean): Figures {
  const ok = (o: Outcome | undefined): Outcome | undefined =>
    wholeOnly && o?.problems.length ? undefined : o;
  const cpu = ok(find(outcomes, g, t, run, 'cpu'));
  const mem = ok(find(outcomes, g, t, run, 'memory'));
  const peakOnline = mem?.counters?.peak_online;
  const before = mem?.m.rssBeforeKiB;
  return {
    cpuPer1000: cpu ? (1000 * cpu.m.cpuSeconds) / N : undefined,
    cpuSeconds: cpu?.m.cpuSeconds,
    wallSeconds: cpu?.m.wallSeconds,
    serverCpuSeconds: cpu?.m.serverCpuSeconds,
    rssBeforeMiB: before !== undefined ? before / 1024 : undefined,
    peakRssMiB: mem ? mem.m.peakRssKiB / 1024 : undefined,
    peakOnline,
    rssPerSessionKiB:
      mem && before !== undefined && peakOnline ? (mem.m.peakRssKiB - before) / peakOnline : undefined,
  };
}

const cells = (values: string[]): string => values.map((v) => v.padStart(16)).join('');
const label = (s: string): string => s.padEnd(22);

const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a !== undefined && b !== undefined && b > 0 ? a / b : undefined;

const RATIOS: { head: string; of: (f: Figures) => number | undefined }[] = [
  { head: 'CPU/1000 sess', of: (f) => f.cpuPer1000 },
  { head: 'KiB/conc. sess', of: (f) => f.rssPerSessionKiB },
  { head: 'RSS before', of: (f) => f.rssBeforeMiB },
  { head: 'server CPU', of: (f) => f.serverCpuSeconds },
];

function counterLine(o: Outcome): string {
  const c = o.counters;
  const counts = c
    ? `${c.auth_success} / ${c.resource_bind} / ${c.initial_presence} / ${c.chat_sent} → ${c.chat_delivered}, ${c.chat_unavailable} / ${c.unbind_clean}` +
      (c.unbind_unclean ? ` (+${c.unbind_unclean} unclean)` : '')
    : 'none';
  const failed = o.problems.length ? `  FAILED: ${o.problems.join('; ')}` : '';
  const notes = o.notes.length ? `  [${o.notes.join('; ')}]` : '';
  return `  run ${o.run} ${o.phase.padEnd(6)} ${o.generator.padEnd(8)} ${counts}${failed}${notes}`;
}

function printTables(outcomes: Outcome[]): void {
  const runs = Array.from({ length: RUNS }, (_, i) => i + 1);
  for (const t of TRANSPORTS) {
    const gens = generatorsFor(t);
    const name = t === 'websocket' ? 'WebSocket' : 'BOSH';
    console.log(
      `\n${name}: ${N} users at ${RATES[t]}/s, ${MESSAGES} × ${BODY}-char messages; ` +
        `CPU with think ${CPU_THINK} s, memory with think ${memoryThink(t)} s`,
    );
    console.log(label('run  generator') + cells(COLUMNS.map((c) => c.head)));
    for (const run of runs) {
      for (const g of gens) {
        const f = figures(outcomes, g, t, run, false);
        const failed = (p: PhaseName): boolean => (find(outcomes, g, t, run, p)?.problems.length ?? 0) > 0;
        // A figure from a phase that did not do the whole flow is shown with a '!' and counts nowhere else.
        const values = COLUMNS.map((c) => fmt(f[c.key], c.digits) + (failed(c.phase) ? '!' : ''));
        console.log(label(`${run}    ${g}`) + cells(values));
      }
    }
    const whole = (g: Generator): Figures[] => runs.map((r) => figures(outcomes, g, t, r, true));
    if (RUNS > 1) {
      console.log('min–max over runs (whole runs only)');
      for (const g of gens) {
        const fs = whole(g);
        console.log(
          label(`     ${g}`) +
            cells(
              COLUMNS.map((c) =>
                spread(
                  fs.map((f) => f[c.key]),
                  c.digits,
                ),
              ),
            ),
        );
      }
    }
    // starling against each other generator, and the engine's own share: the floor's flow on it ÷ the floor.
    const pairs: [Generator, Generator][] = gens.includes('starling')
      ? gens.filter((g) => g !== 'starling').map((o): [Generator, Generator] => ['starling', o])
      : [];
    if (gens.includes('k6-raw') && gens.includes('raw')) pairs.push(['k6-raw', 'raw']);
    if (gens.includes('raw-lean') && gens.includes('raw')) pairs.push(['raw-lean', 'raw']);
    if (pairs.length > 0) {
      console.log(label('ratios (same run)') + cells(RATIOS.map((r) => r.head)));
      for (const [g, o] of pairs) {
        const s = whole(g);
        const x = whole(o);
        const rows = runs.map((_, i) => RATIOS.map((r) => ratio(r.of(s[i]!), r.of(x[i]!))));
        for (const [i, row] of rows.entries()) {
          console.log(label(`${i + 1}    ${g} ÷ ${o}`) + cells(row.map((v) => fmt(v, 2))));
        }
        if (RUNS > 1) {
          console.log(
            label('     min–max') +
              cells(
                RATIOS.map((_, j) =>
                  spread(
                    rows.map((row) => row[j]),
                    2,
                  ),
                ),
              ),
          );
        }
      }
    }
    console.log('server counters: auth / bind / presence / chat sent → delivered, bounced / clean closes');
    for (const o of outcomes.filter((x) => x.transport === t)) console.log(counterLine(o));
  }
  console.log(
    '\nCPU: user + system seconds of the generator process tree (reaped), start-up included, per 1000 sessions. ' +
      `KiB/conc. sess: (peak RSS − RSS before the first connection) ÷ the server's peak of concurrently bound ` +
      "sessions, memory phase. Server CPU: Prosody over the generator's run, CPU phase. " +
      "'!': from a run that did not do the whole flow (left out of min–max and ratios).",
  );
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (TRANSPORTS.some((t) => generatorsFor(t).includes('tsung')) && spawnSync('tsung', ['-v']).status !== 0) {
    throw new Error('tsung is not installed (apt-get install -y tsung), or use --only starling,raw');
  }
  const epmdBefore = epmdRunning();
  const work = await mkdtemp(join(tmpdir(), 'starling-standard-flow-'));
  const outcomes: Outcome[] = [];
  const stop = (sig: NodeJS.Signals): void => {
    if (current?.pid) {
      try {
        process.kill(-current.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.stderr.write(`\n${sig}: stopping (the server's exit hook stops Prosody)\n`);
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    // Compiled once, as users run dist/scenarios/*.js and a built client: no compiler in any measurement.
    const scripts = await buildFlowScripts(work);
    const ctx: Context = {
      work,
      starlingScript: scripts.starling,
      rawScript: scripts.raw,
      k6RawScript: scripts.k6Raw,
    };
    if (TRANSPORTS.some((t) => generatorsFor(t).some((g) => g === 'starling' || g === 'k6-raw')))
      await warmUp(ctx);
    process.stderr.write(
      `standard flow: ${N} users, ${MESSAGES} messages of ${BODY} chars; ` +
        TRANSPORTS.map(
          (t) => `${t} at ${RATES[t]}/s, think ${CPU_THINK} s (cpu) / ${memoryThink(t)} s (memory)`,
        ).join('; ') +
        `; starling VUs ${VUS}; ${RUNS} run(s); work dir ${work}\n`,
    );
    for (let run = 1; run <= RUNS; run++) {
      for (const t of TRANSPORTS) {
        for (const phase of PHASES) {
          // The order rotates from run to run, so no generator always goes first (or after the same one).
          const gens = generatorsFor(t);
          const order = gens.map((_, i) => gens[(i + run - 1) % gens.length]!);
          for (const g of order) outcomes.push(await once(ctx, g, t, phase, run, epmdBefore));
        }
      }
    }
    printTables(outcomes);
    if (args.json) {
      await writeFile(
        args.json,
        JSON.stringify(
          {
            users: N,
            rates: RATES,
            messages: MESSAGES,
            bodySize: BODY,
            think: { cpu: CPU_THINK, memory: Object.fromEntries(TRANSPORTS.map((t) => [t, memoryThink(t)])) },
            vus: VUS,
            outcomes: outcomes.map(({ m: { output: _o, ...m }, ...o }) => ({ ...o, m })),
          },
          null,
          2,
        ) + '\n',
      );
    }
    const failed = outcomes.filter((o) => o.problems.length > 0);
    if (failed.length) {
      console.log(
        `\n${failed.length} of ${outcomes.length} runs did not do the whole flow: their figures do not count.`,
      );
      return 1;
    }
    return 0;
  } finally {
    if (!epmdBefore && epmdRunning()) spawnSync('epmd', ['-kill']);
    if (!process.env.KEEP) await rm(work, { recursive: true, force: true });
    else process.stderr.write(`kept ${work}\n`);
  }
}

process.exitCode = await main();
