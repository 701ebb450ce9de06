/**
 * starling against Tsung on the same flow, against the same server, in one run: N sessions log in
 * (SASL PLAIN, bind, session), ping every P seconds while they are held for H seconds, and close.
 * `--transport bosh` (default): both over BOSH, the one web binding both speak to Prosody (Debian's Tsung
 * frames WebSocket the pre-RFC 7395 way, which Prosody's mod_websocket refuses). `--transport websocket`:
 * starling over WebSocket against Tsung over plain TCP c2s, each one's own cheapest binding. Prints each generator's CPU seconds and peak
 * RSS, per session, and starling's ratio to Tsung (the project's bar: at most 0.5), with the server's CPU
 * so a saturated server shows.
 *
 *   npx tsx bench/vs-tsung.ts [--sessions 1000] [--rate 100] [--hold 20] [--ping 5] [--vus 4] [--transport bosh|websocket]
 *
 * Needs Debian's tsung (`apt-get install -y tsung`). Loopback only; a throwaway Prosody.
 *
 * Generator CPU is exact: user + system time of the reaped child and everything it waited for (this
 * process's cutime/cstime, /proc/self/stat), so a process's last moments are not lost between samples.
 * Peak RSS is the largest sum of VmRSS over the child's process group, sampled every 100 ms.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildScenarios } from '../src/build/scenarios.ts';
import { startLocalServer, type LocalServer } from '../src/targets/index.ts';
import { processGroupUsage } from '../src/targets/processes.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '100' },
    hold: { type: 'string', default: '20' },
    ping: { type: 'string', default: '5' },
    vus: { type: 'string', default: '4' },
    transport: { type: 'string', default: 'bosh' },
  },
});
const N = Number(args.sessions);
const RATE = Number(args.rate);
const HOLD = Number(args.hold);
const PING = Number(args.ping);
const VUS = Number(args.vus);
/** bosh: both over BOSH. websocket: starling over WebSocket, Tsung over plain TCP c2s (each one's own binding). */
const TRANSPORT = args.transport as 'bosh' | 'websocket';
if (TRANSPORT !== 'bosh' && TRANSPORT !== 'websocket') throw new Error('--transport is bosh or websocket');
// Both sizes (N/4 and N) split evenly over the VUs.
if (N % (4 * VUS) !== 0) throw new Error(`--sessions ${N} must be a multiple of 4 × --vus (${4 * VUS})`);
/** starling's idle pings every PING from a staggered start until HOLD is up: HOLD/PING − 1 each; Tsung the same. */
const PINGS = Math.max(0, Math.floor(HOLD / PING) - 1);

/** CPU seconds of this process's reaped children (and what they waited for): stat fields 16 and 17. */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

interface Measured {
  code: number | null;
  output: string;
  cpuSeconds: number;
  peakRssMiB: number;
  wallSeconds: number;
  serverCpuSeconds: number;
}

async function measure(cmd: string, argv: string[], server: LocalServer, cwd: string): Promise<Measured> {
  const cpu0 = childrenCpuSeconds();
  const server0 = processGroupUsage(server.pid).cpuSeconds;
  const t0 = Date.now();
  const child = spawn(cmd, argv, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let peakKiB = 0;
  const sampler = setInterval(() => {
    peakKiB = Math.max(peakKiB, processGroupUsage(child.pid!).rssKiB);
  }, 100);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearInterval(sampler);
  return {
    code,
    output,
    cpuSeconds: childrenCpuSeconds() - cpu0,
    peakRssMiB: peakKiB / 1024,
    wallSeconds: (Date.now() - t0) / 1000,
    serverCpuSeconds: processGroupUsage(server.pid).cpuSeconds - server0,
  };
}

function tsungConfig(server: LocalServer, users: string, n: number): string {
  const ping = (i: string): string =>
    `&lt;iq type='get' id='ping-${i}' xmlns='jabber:client'&gt;&lt;ping xmlns='urn:xmpp:ping'/&gt;&lt;/iq&gt;`;
  return `<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="notice" dumptraffic="false" version="1.0">
  <clients><client host="localhost" use_controller_vm="true" maxusers="${n * 2}"/></clients>
  <servers>${
    TRANSPORT === 'bosh'
      ? `<server host="127.0.0.1" port="${server.httpPort}" type="bosh"/>`
      : `<server host="127.0.0.1" port="${server.c2sPort}" type="tcp"/>`
  }</servers>
  <load>
    <arrivalphase phase="1" duration="${2 * Math.ceil(n / RATE) + 5}" unit="second">
      <users arrivalrate="${RATE}" unit="second" maxnumber="${n}"/>
    </arrivalphase>
  </load>
  <options>
    <option type="ts_jabber" name="domain" value="${server.domain}"/>
    <option type="ts_jabber" name="userid_max" value="0"/>
    <option name="bosh_path" value="/http-bind"/>
    <option name="file_server" id="userdb" value="${users}"/>
  </options>
  <sessions>
    <session bidi="true" probability="100" name="idle" type="ts_jabber">
      <setdynvars sourcetype="file" fileid="userdb" delimiter="," order="iter">
        <var name="username"/><var name="password"/>
      </setdynvars>
      <request subst="true"><jabber type="connect" ack="local"><xmpp_authenticate username="%%_username%%" passwd="%%_password%%"/></jabber></request>
      <transaction name="login">
        <request><jabber type="auth_sasl" ack="local"/></request>
        <request><jabber type="connect" ack="local"/></request>
        <request><jabber type="auth_sasl_bind" ack="local"/></request>
        <request><jabber type="auth_sasl_session" ack="local"/></request>
      </transaction>
      <for from="1" to="${PINGS}" incr="1" var="i">
        <thinktime value="${PING}" random="false"/>
        <transaction name="ping">
          <request subst="true"><jabber type="raw" ack="local" data="${ping('%%_i%%')}"/></request>
        </transaction>
      </for>
      <thinktime value="${HOLD - PINGS * PING}" random="false"/>
      <request><jabber type="close" ack="local"/></request>
    </session>
  </sessions>
</tsung>
`;
}

interface TsungStat {
  count: number;
  mean: number;
}

/**
 * Tsung's tsung.log totals. Each dump's sample line is `name count mean stddev max min meanfb countfb` for
 * that interval only, so counts add up and the mean is weighted; counter lines (two numbers) are cumulative.
 */
async function tsungStats(logRoot: string): Promise<Map<string, TsungStat>> {
  const [dir] = await readdir(logRoot);
  const text = await readFile(join(logRoot, dir!, 'tsung.log'), 'utf8');
  const totals = new Map<string, { count: number; sum: number }>();
  for (const line of text.split('\n')) {
    const m = /^stats: (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const nums = m[2]!.split(' ').map(Number);
    const prev = totals.get(m[1]!) ?? { count: 0, sum: 0 };
    if (nums.length > 2)
      totals.set(m[1]!, { count: prev.count + nums[0]!, sum: prev.sum + nums[0]! * nums[1]! });
    else totals.set(m[1]!, { count: nums[1]!, sum: 0 });
  }
  return new Map([...totals].map(([k, v]) => [k, { count: v.count, mean: v.count ? v.sum / v.count : 0 }]));
}

function row(label: string, s: number, t: number, digits = 2): string {
  const ratio = t > 0 ? (s / t).toFixed(2) : '–';
  return `${label.padEnd(40)}${s.toFixed(digits).padStart(12)}${t.toFixed(digits).padStart(12)}${ratio.padStart(10)}`;
}

interface SizeResult {
  n: number;
  starling: Measured;
  tsung: Measured;
  sLogins: number;
  sPings: number;
  sLoginP50: number;
  sPingP95: number;
  sClean: number;
  tLogins: number;
  tPings: number;
  tLoginMean: number;
  tPingMean: number;
  tErrors: string;
}

/** Both generators, one after the other, against `server` with `n` sessions. */
async function runSize(server: LocalServer, work: string, script: string, n: number): Promise<SizeResult> {
  const users = join(work, `users-${n}.csv`);
  await writeFile(
    users,
    Array.from(
      { length: n },
      (_, i) => `${server.account(i + 1).username},${server.account(i + 1).password}`,
    ).join('\n') + '\n',
  );
  const config = join(work, `tsung-${n}.xml`);
  await writeFile(config, tsungConfig(server, users, n));
  const tsungLogs = join(work, `tsung-log-${n}`);
  const results = join(work, `results-${n}`);
  process.stderr.write(`${n} sessions: starling…\n`);
  const starling = await measure(
    process.execPath,
    [
      resolve('bin/starling.js'),
      'run',
      script,
      '--engine',
      'node',
      '-q',
      '--results-root',
      results,
      ...Object.entries({
        XMPP_URL: TRANSPORT === 'bosh' ? server.boshUrl : server.websocketUrl,
        XMPP_DOMAIN: server.domain,
        XMPP_MECHANISMS: 'PLAIN',
        VUS: String(VUS),
        SESSIONS_PER_VU: String(n / VUS),
        LOGIN_RATE: String(RATE),
        DURATION: `${HOLD}s`,
        PING_INTERVAL: `${PING}s`,
      }).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ],
    server,
    work,
  );
  if (starling.code !== 0) process.stderr.write(`starling output:\n${starling.output}\n`);
  const [runDir] = await readdir(results);
  const summary = JSON.parse(await readFile(join(results, runDir!, 'summary.json'), 'utf8')) as {
    metrics: Record<string, { values: Record<string, number> }>;
  };
  const m = (name: string, v: string): number => summary.metrics[name]?.values[v] ?? 0;
  process.stderr.write(`${n} sessions: tsung…\n`);
  const tsung = await measure('tsung', ['-f', config, '-l', tsungLogs, 'start'], server, work);
  if (tsung.code !== 0) process.stderr.write(`tsung output:\n${tsung.output}\n`);
  const stats = await tsungStats(tsungLogs);
  const errors = [...stats.entries()].filter(([k]) => k.startsWith('error_'));
  const sLogins = m('xmpp_login_success', 'passes');
  return {
    n,
    starling,
    tsung,
    sLogins,
    // The summary has no trend counts: idle's IQs are one bind per login (Prosody needs no session IQ) and pings.
    sPings: m('xmpp_stanzas_sent', 'count') - sLogins,
    sLoginP50: m('xmpp_session_ready', 'med'),
    sPingP95: m('xmpp_iq_rtt', 'p(95)'),
    sClean: m('xmpp_clean_close', 'rate'),
    tLogins: stats.get('tr_login')?.count ?? 0,
    tPings: stats.get('tr_ping')?.count ?? 0,
    tLoginMean: stats.get('tr_login')?.mean ?? 0,
    tPingMean: stats.get('tr_ping')?.mean ?? 0,
    tErrors: errors.length ? errors.map(([k, v]) => `${k} ${v.count}`).join(', ') : 'none',
  };
}

/** True when an Erlang port mapper runs (Tsung starts one and leaves it behind). */
function epmdRunning(): boolean {
  return spawnSync('pgrep', ['-x', 'epmd']).status === 0;
}

async function main(): Promise<void> {
  const epmdBefore = epmdRunning();
  const work = await mkdtemp(join(tmpdir(), 'starling-vs-tsung-'));
  const server = await startLocalServer({ kind: 'prosody', users: N });
  const small = N / 4;
  try {
    process.stderr.write(
      `Prosody at ${server.boshUrl}; ${small} then ${N} sessions, ${RATE} logins/s, held ${HOLD} s, ping every ${PING} s, starling VUs ${VUS}\n`,
    );
    // Compiled once, as k6 users run dist/scenarios/*.js: esbuild's time is not the generator's.
    const [built] = await buildScenarios([resolve('scenarios/idle.ts')], join(work, 'scenarios'));
    const a = await runSize(server, work, built!.file, small);
    const b = await runSize(server, work, built!.file, N);
    const slope = (f: (r: SizeResult) => number): number => (f(b) - f(a)) / (b.n - a.n);
    console.log(
      TRANSPORT === 'bosh'
        ? `\nstarling (Node engine, BOSH) vs Tsung 1.7 (BOSH), same Prosody, same flow`
        : `\nstarling (Node engine, WebSocket) vs Tsung 1.7 (plain TCP c2s), same Prosody, same XMPP flow`,
    );
    console.log(`${''.padEnd(40)}${'starling'.padStart(12)}${'tsung'.padStart(12)}${'ratio'.padStart(10)}`);
    for (const r of [a, b]) {
      console.log(`${r.n} sessions`);
      console.log(row('  logged in', r.sLogins, r.tLogins, 0));
      console.log(row('  pings answered', r.sPings, r.tPings, 0));
      console.log(row('  wall s', r.starling.wallSeconds, r.tsung.wallSeconds, 1));
      console.log(row('  generator CPU s', r.starling.cpuSeconds, r.tsung.cpuSeconds));
      console.log(row('  generator peak RSS MiB', r.starling.peakRssMiB, r.tsung.peakRssMiB, 1));
      console.log(row('  server CPU s', r.starling.serverCpuSeconds, r.tsung.serverCpuSeconds));
    }
    console.log(`per additional session (${a.n} → ${b.n}: the fixed start-up cost left out)`);
    console.log(
      row(
        '  generator CPU ms',
        1000 * slope((r) => r.starling.cpuSeconds),
        1000 * slope((r) => r.tsung.cpuSeconds),
      ),
    );
    console.log(
      row(
        '  generator peak RSS KiB',
        1024 * slope((r) => r.starling.peakRssMiB),
        1024 * slope((r) => r.tsung.peakRssMiB),
        1,
      ),
    );
    console.log(`per session at ${b.n} (total ÷ sessions, start-up included)`);
    console.log(
      row('  generator CPU ms', (1000 * b.starling.cpuSeconds) / b.n, (1000 * b.tsung.cpuSeconds) / b.n),
    );
    console.log(
      row(
        '  generator peak RSS KiB',
        (1024 * b.starling.peakRssMiB) / b.n,
        (1024 * b.tsung.peakRssMiB) / b.n,
        1,
      ),
    );
    for (const r of [a, b]) {
      console.log(
        `${r.n}: starling exit ${r.starling.code}, login p50 ${r.sLoginP50.toFixed(0)} ms, ping p95 ${r.sPingP95.toFixed(1)} ms, clean close ${(100 * r.sClean).toFixed(1)}%; ` +
          `tsung exit ${r.tsung.code}, login mean ${r.tLoginMean.toFixed(0)} ms, ping mean ${r.tPingMean.toFixed(1)} ms, errors ${r.tErrors}`,
      );
    }
    console.log(
      "Tsung reports means, not percentiles; its login runs from connect to session, starling's to bound.",
    );
  } finally {
    await server.stop();
    // Stop the epmd Tsung started, so the benchmark leaves nothing running.
    if (!epmdBefore && epmdRunning()) spawnSync('epmd', ['-kill']);
    if (!process.env.KEEP) await rm(work, { recursive: true, force: true });
    else process.stderr.write(`kept ${work}\n`);
  }
}

await main();
