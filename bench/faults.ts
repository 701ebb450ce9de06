/**
 * The fault suite at the issue's size (issue 12, item 8): the chat scenario, 200 sessions, a fault about 8 s in
 * (`--fault-after` seconds after every session logged in, so every session is up when it strikes),
 * against a throwaway Prosody (or ejabberd) or the purpose-built servers of test/helpers/fault-servers.ts. Prints
 * one row per fault and transport: exit code, session failures by reason, messages sent and lost, wall time and
 * the peak RSS of the run's process tree. test/integration/faults.test.ts asserts the same faults at a small size.
 *
 *   npm run bench -- faults [--sessions 200] [--vus 4] [--fault-after 5] [--stall 40] [--duration 60]
 *                           [--server prosody|ejabberd] [--transport websocket|bosh|both] [--only sigkill,stall,…]
 *
 * Faults: sigkill, stall (SIGSTOP, SIGCONT after --stall s), sigstop (never continued), restart (SIGKILL, start
 * again on the same ports), refused, black-hole, endless-body (BOSH), endless-message (WebSocket), garbage.
 * `--duration` (the chat's DURATION) outlasts the stall by default, so the stall ends while messages flow.
 * Loopback only; every server is stopped, every run has a deadline. KEEP=1 keeps the work dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildScenarios } from '../src/build/scenarios.ts';
import {
  FAULT_TRANSPORTS,
  prepareFault,
  type FaultKind,
  type Transport,
} from '../test/helpers/fault-servers.ts';
import {
  failedThresholds,
  formatReasons,
  measuredRun,
  sumPoints,
  type MeasuredRun,
} from '../test/helpers/measured-run.ts';
import { benchArgs, BenchArgError, flag } from './lib/args.ts';

const ALL = Object.keys(FAULT_TRANSPORTS) as FaultKind[];
const args = benchArgs({
  name: 'faults',
  flags: {
    sessions: flag.whole({ help: 'chat sessions, a multiple of --vus', default: '200' }),
    vus: flag.whole({ help: 'VUs the sessions are spread over', default: '4' }),
    'fault-after': flag.atLeast({
      help: 'seconds after every session logged in that a fault strikes',
      min: 0,
      default: '5',
    }),
    stall: flag.positive({ help: 'seconds between SIGSTOP and SIGCONT of the stall fault', default: '40' }),
    duration: flag.positive({ help: "the chat's DURATION, seconds", default: '60' }),
    server: flag.oneOf({
      help: 'the real server of the server faults',
      of: ['prosody', 'ejabberd'],
      default: 'prosody',
    }),
    transport: flag.oneOf({ help: 'transports to run', of: ['websocket', 'bosh', 'both'], default: 'both' }),
    only: flag.list({ help: 'faults to run (default: all)', of: ALL }),
  },
  notes: ['KEEP=1 keeps the work directory.'],
  check: (v) => {
    if (v.sessions % v.vus !== 0)
      throw new BenchArgError('--sessions', `must be a multiple of --vus (${v.vus})`, String(v.sessions));
    if (v.server !== 'prosody' && (v.only ?? ALL).includes('restart'))
      throw new BenchArgError(
        '--server',
        `needs --only without restart (restart is for prosody only)`,
        v.server,
      );
  },
});
const SESSIONS = args.sessions;
const VUS = args.vus;
const FAULT_AFTER_S = args['fault-after'];
const STALL_S = args.stall;
const DURATION_S = args.duration;
const SERVER = args.server;
const TRANSPORTS: Transport[] = args.transport === 'both' ? ['websocket', 'bosh'] : [args.transport];
const FAULTS = args.only ?? ALL;

interface Row {
  fault: FaultKind;
  transport: Transport;
  target: string;
  run: MeasuredRun;
}

async function runCase(work: string, script: string, fault: FaultKind, transport: Transport): Promise<Row> {
  const prepared = await prepareFault({
    fault,
    transport,
    server: SERVER,
    users: SESSIONS,
    atMs: FAULT_AFTER_S * 1000,
    stallMs: STALL_S * 1000,
  });
  process.stderr.write(`${fault} over ${transport} against ${prepared.target} (${prepared.url})…\n`);
  try {
    const run = await measuredRun({
      script,
      dir: await mkdtemp(join(work, `${fault}-${transport}-`)),
      steps: prepared.steps,
      cue: { metric: 'xmpp_sessions_opened', count: SESSIONS },
      // Generous: DURATION, the stall, k6's 60 s WebSocket handshake and BOSH's 40 s HTTP timeout all fit.
      deadlineMs: (DURATION_S + STALL_S + 180) * 1000,
      vars: {
        XMPP_URL: prepared.url,
        XMPP_DOMAIN: 'localhost',
        VUS: String(VUS),
        SESSIONS_PER_VU: String(SESSIONS / VUS),
        DURATION: `${DURATION_S}s`,
        MESSAGE_RATE: '1',
      },
    });
    if (run.timedOut) process.stderr.write(`  cut at the deadline\n${run.output.slice(-2000)}\n`);
    return { fault, transport, target: prepared.target, run };
  } finally {
    await prepared.close();
  }
}

function printTable(rows: Row[]): void {
  const header = [
    'fault',
    'transport',
    'target',
    'fault at s',
    'exit',
    'failed thresholds',
    'counted reasons',
    'messages sent / lost',
    'duration s',
    'peak RSS MB',
  ];
  const cells = rows.map(({ fault, transport, target, run }) => {
    const lost = run.summary?.metrics.xmpp_message_loss?.values.passes;
    return [
      fault,
      transport,
      target,
      run.steps.length
        ? run.steps.map((st) => (st.atMs < 0 ? '–' : (st.atMs / 1000).toFixed(1))).join(', ')
        : '–',
      `${run.code ?? run.signal}${run.timedOut ? ' (cut)' : ''}${run.runJson?.exitCode !== run.code ? ` run.json ${run.runJson?.exitCode ?? 'missing'}` : ''}`,
      failedThresholds(run.summary)
        .map((t) => t.split(':')[0])
        .join(', ') || '–',
      formatReasons(run.reasons),
      `${sumPoints(run, 'xmpp_stanzas_sent', { kind: 'message' })} / ${lost ?? 'n/a'}`,
      (run.durationMs / 1000).toFixed(1),
      ((run.peakRssMiB * 1024 * 1024) / 1e6).toFixed(0),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'starling-bench-faults-'));
  const rows: Row[] = [];
  try {
    // Compiled once, as k6 users run dist/scenarios/*.js: esbuild's time is not the run's.
    const [built] = await buildScenarios([resolve('scenarios/chat.ts')], join(work, 'scenarios'));
    const script = resolve(built!.file);
    for (const fault of FAULTS) {
      for (const transport of TRANSPORTS) {
        if (FAULT_TRANSPORTS[fault].includes(transport))
          rows.push(await runCase(work, script, fault, transport));
      }
    }
  } finally {
    if (!process.env.KEEP) await rm(work, { recursive: true, force: true });
    else process.stderr.write(`kept ${work}\n`);
  }
  console.log(
    `\nchat, ${SESSIONS} sessions (${VUS} VUs), DURATION ${DURATION_S} s, 1 message/s per session; ` +
      `fault ${FAULT_AFTER_S} s after every session logged in (server faults), stall ${STALL_S} s; ` +
      `${SERVER} for faults on a real server; the scenario's default thresholds`,
  );
  printTable(rows);
  console.log(
    'fault at: seconds from the start (the stall: SIGSTOP, SIGCONT). exit: with run.json exitCode when it differs. ' +
      'lost: xmpp_message_loss passes (n/a: no such metric). Peak RSS: the process tree of `starling run`.',
  );
}

await main();
