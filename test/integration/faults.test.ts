/**
 * The fault suite (issue 12, item 8): a run whose server dies must fail, lost messages must count, memory must stay
 * bounded. The chat scenario runs through `starling run` against a real Prosody or ejabberd that is SIGKILLed,
 * stalled (SIGSTOP, SIGCONT), stopped for good or restarted mid-run, and against purpose-built servers for what no
 * real server does on demand (nothing listening, a black hole, an endless BOSH body or WebSocket message, garbage
 * frames). Each case checks the exit code, the session failures counted by reason, message loss, the wall time and
 * the peak RSS of the run's process tree, and that run.json and summary.json were written.
 *
 * Latency thresholds are widened, so a failing run fails for the fault (failures, loss, clean close), not for a
 * slow machine. Loopback only; every run has a hard deadline; every server is stopped in after().
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildScenarios } from '../../src/build/scenarios.ts';
import type { ServerKind } from '../../src/targets/index.ts';
import {
  GARBAGE_PARSE_CODE,
  prepareFault,
  type FaultKind,
  type PreparedFault,
  type Transport,
} from '../helpers/fault-servers.ts';
import { runStarling } from '../helpers/cli.ts';
import {
  failedThresholds,
  formatReasons,
  killLiveRuns,
  measuredRun,
  sumPoints,
  type MeasuredRun,
} from '../helpers/measured-run.ts';

const VUS = 2;
const SESSIONS_PER_VU = 5;
const SESSIONS = VUS * SESSIONS_PER_VU;
const DURATION_S = 15;
/**
 * After every session logged in (its xmpp_sessions_opened sample is in the run's JSON output), not after a fixed
 * time from the start: with cases running side by side on a small machine, start-up alone can take seconds.
 */
const FAULT_AT_MS = 3000;
/** Longer than the 10 s loss window, shorter than every timeout a ready session has (BOSH's HTTP timeout is 40 s). */
const STALL_MS = 14_000;
const RELAXED_LATENCY = {
  xmpp_session_ready: ['p(95)<60000'],
  xmpp_message_delivery: ['p(95)<60000'],
};

/**
 * How the sessions fail: every session is counted once in xmpp_session_failures, with a reason that is
 * - `none`: no session fails;
 * - `a|b`: one of these reasons (sessions may differ);
 * - `prefix…`: any reason that starts with prefix.
 */
type Reasons = string;

interface Case {
  fault: FaultKind;
  transport: Transport;
  /** The real server hurt (faults on a real server only). */
  server?: ServerKind;
  exit: number;
  reasons: Reasons;
  /** xmpp_message_loss: `some` lost (passes > 0), or `any` (not checked: a loss is incidental to the fault). */
  lost: 'some' | 'any';
  /** Wall-time bound, seconds, from the spawn of `starling run` to its exit. */
  maxS: number;
  /** Peak RSS bound of the run's process tree, MiB. */
  maxMiB: number;
}

/** Every case: the baseline run is ~130–150 MiB; an unbounded buffer is what this catches. */
const RSS_MIB = 400;

function row(
  fault: FaultKind,
  transport: Transport,
  server: ServerKind | undefined,
  exit: number,
  reasons: Reasons,
  lost: Case['lost'],
  maxS: number,
): Case {
  return { fault, transport, server, exit, reasons, lost, maxS, maxMiB: RSS_MIB };
}

const BOSH_GONE = 'transport-error:bosh-network|transport-error:bosh-timeout';
/**
 * A server process that dies closes its sockets (1006, abnormal closure) or, for a socket with unread data, resets it:
 * gorilla reports a reset as a plain read error, so k6's close event has no code (plain transport-closed).
 */
const WS_GONE = 'transport-closed:1006|transport-closed';

/**
 * The expectations, longest first (they run side by side and the slowest bounds the file). Wall-time bounds count
 * from the spawn of `starling run` (start-up takes up to ~5 s with the suite running) and come from measurements:
 * - black hole over WebSocket: k6's fixed 60 s handshake timeout, and a connecting k6 WebSocket cannot be aborted;
 * - SIGSTOP without SIGCONT: over BOSH, the requests out when the server stopped end at their 40 s HTTP timeout
 *   (asyncRequest cannot be aborted; measured 48–49 s); over WebSocket, DURATION 15 s + settle 5 s + two 5 s close
 *   timeouts, and the engine's WebSocket waits up to 30 s for the closing handshake of a peer that never answers
 *   (measured 59–65 s);
 * - stall: the 14 s stall ends before DURATION's settle runs out (measured 21–22 s);
 * - SIGKILL and restart: sessions die at once and the run ends after the settle (measured 6 s);
 * - black hole and endless body over BOSH: the creation request times out with the 10 s connect timeout (13 s).
 */
// prettier-ignore
const CASES: Case[] = [
  //  fault              transport    server      exit reasons                                    lost    ≤ s
  row('black-hole',      'websocket', undefined,  99, 'timeout:connect',                          'any',   75),
  row('sigstop',         'bosh',      'prosody',  99, 'timeout:close',                            'some',  75),
  row('sigstop',         'websocket', 'prosody',  99, 'timeout:close',                            'some',  85),
  row('stall',           'websocket', 'prosody',  99, 'none',                                     'some',  35),
  row('stall',           'bosh',      'prosody',  99, 'none',                                     'some',  35),
  row('sigkill',         'websocket', 'ejabberd', 99, WS_GONE,                                    'any',   20),
  row('sigkill',         'websocket', 'prosody',  99, WS_GONE,                                    'any',   20),
  row('sigkill',         'bosh',      'prosody',  99, BOSH_GONE,                                  'any',   20),
  row('restart',         'websocket', 'prosody',  99, WS_GONE,                                    'any',   20),
  // A lost request's retries go out at once, before the new Prosody listens; one that reached it would find no sid.
  row('restart',         'bosh',      'prosody',  99, `${BOSH_GONE}|bosh-terminate:item-not-found`, 'any',   20),
  row('black-hole',      'bosh',      undefined,  99, 'timeout:connect',                          'any',   20),
  // The Node engine caps one response body at 1 MiB; the BOSH layer does not ask again for the same answer.
  row('endless-body',    'bosh',      undefined,  99, 'transport-error:bosh-body-too-large',      'any',   20),
  // The Node engine caps one message at 1 MiB and closes with 1009 (message too big).
  row('endless-message', 'websocket', undefined,  99, 'transport-closed:1009',                    'any',   15),
  row('garbage',         'websocket', undefined,  99, `framing-violation:${GARBAGE_PARSE_CODE}`,  'any',   15),
  row('garbage',         'bosh',      undefined,  99, `framing-violation:${GARBAGE_PARSE_CODE}`,  'any',   15),
  row('refused',         'websocket', undefined,  99, 'transport-error…',                         'any',   10),
  row('refused',         'bosh',      undefined,  99, 'transport-error:bosh-network',             'any',   10),
];

/**
 * This case also runs with the collector in the process (`--collect`) and then gates the merged data: the fleet-wide
 * verdict must fail as the run did (it once passed a run whose server had been killed).
 */
const GATED = 'sigkill over websocket (prosody)';
/** The chat scenario's own verdict terms, as `starling gate` flags. */
const GATE_THRESHOLDS = [
  'xmpp_login_success: rate>0.99',
  'xmpp_clean_close: rate>0.99',
  'xmpp_sessions_opened: count>0',
  'xmpp_message_loss: rate==0',
];

function caseName(c: Case): string {
  return `${c.fault} over ${c.transport}${c.server ? ` (${c.server})` : ''}`;
}

function matchesReason(expected: Reasons, reason: string): boolean {
  return expected
    .split('|')
    .some((e) => (e.endsWith('…') ? reason.startsWith(e.slice(0, -1)) : reason === e));
}

/** One line with everything a reader needs when a case fails. */
function observed(r: MeasuredRun): string {
  const m = r.summary?.metrics;
  return (
    `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''}, ` +
    `reasons ${formatReasons(r.reasons)}, ` +
    `opened ${sumPoints(r, 'xmpp_sessions_opened')} closed ${sumPoints(r, 'xmpp_sessions_closed')}, ` +
    `messages sent ${sumPoints(r, 'xmpp_stanzas_sent', { kind: 'message' })} ` +
    `lost ${m?.xmpp_message_loss?.values.passes ?? 'n/a'}, ` +
    `${(r.durationMs / 1000).toFixed(1)} s, ${r.peakRssMiB.toFixed(0)} MiB, ` +
    `run.json exitCode ${r.runJson?.exitCode ?? 'missing'}, summary.json ${r.summary ? 'written' : 'missing'}, ` +
    `failed thresholds [${failedThresholds(r.summary).join('; ')}], ` +
    `steps [${r.steps.map((s) => `${s.what}@${s.atMs}ms${s.error ? ` FAILED ${s.error}` : ''}`).join(', ')}]`
  );
}

/** What the run did that the case does not allow; empty when the case holds. */
function violations(c: Case, r: MeasuredRun, accepted: number | undefined): string[] {
  const v: string[] = [];
  const check = (ok: boolean, what: string): void => {
    if (!ok) v.push(what);
  };
  for (const s of r.steps) check(!s.error, `fault step ${s.what}: ${s.error}`);
  // A purpose-built server met every session, so the fault was what they saw.
  if (accepted !== undefined)
    check(accepted >= SESSIONS, `the ${c.fault} server accepted ${accepted} connections`);
  check(r.code === c.exit, `exit ${r.code}, expected ${c.exit}`);
  check(r.runJson !== undefined, 'run.json written');
  check(r.summary !== undefined, 'summary.json written');
  check(
    r.runJson?.exitCode === r.code,
    `run.json exitCode ${r.runJson?.exitCode} is the exit code ${r.code}`,
  );

  const opened = sumPoints(r, 'xmpp_sessions_opened');
  // For a fault on a running server, every session was up when it struck (the cue); elsewhere none logs in.
  const expectedOpened = c.server ? SESSIONS : 0;
  check(opened === expectedOpened, `${opened} sessions logged in, expected ${expectedOpened}`);
  const failures = Object.values(r.reasons).reduce((a, b) => a + b, 0);
  if (c.reasons === 'none') check(failures === 0, `no session fails, got ${formatReasons(r.reasons)}`);
  else {
    const unexpected = Object.keys(r.reasons).filter((reason) => !matchesReason(c.reasons, reason));
    check(unexpected.length === 0, `every failure is ${c.reasons}, got ${formatReasons(r.reasons)}`);
    check(failures === SESSIONS, `every session fails once: ${failures} failures for ${SESSIONS} sessions`);
  }

  const m = r.summary?.metrics ?? {};
  const lost = m.xmpp_message_loss?.values.passes;
  if (c.lost === 'some') check((lost ?? 0) > 0, `messages lost > 0, got ${lost ?? 'no xmpp_message_loss'}`);
  if (opened > 0) {
    const closed = sumPoints(r, 'xmpp_sessions_closed');
    check(closed === opened, `every session that opened ended: ${closed} of ${opened}`);
    const open = m.xmpp_sessions_open?.values.value;
    check(open === 0, `xmpp_sessions_open back to 0, got ${open}`);
    const died = c.reasons === 'none' ? 0 : SESSIONS;
    const unclean = m.xmpp_clean_close?.values.fails ?? 0;
    check(unclean === died, `xmpp_clean_close has ${died} zeros, got ${unclean}`);
  }

  check(r.durationMs <= c.maxS * 1000, `duration ${(r.durationMs / 1000).toFixed(1)} s ≤ ${c.maxS} s`);
  check(r.peakRssMiB <= c.maxMiB, `peak RSS ${r.peakRssMiB.toFixed(0)} MiB ≤ ${c.maxMiB} MiB`);
  return v;
}

describe(
  'faults: a run whose server dies fails, lost messages count, memory stays bounded',
  { concurrency: 5 },
  () => {
    let work: string;
    let script: string;
    const faults: PreparedFault[] = [];

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'starling-faults-'));
      // Compiled once, as k6 users run dist/scenarios/*.js; every run shares the file.
      const [built] = await buildScenarios([resolve('scenarios/chat.ts')], join(work, 'scenarios'));
      script = resolve(built!.file);
    });
    after(async () => {
      killLiveRuns();
      await Promise.allSettled(faults.map((f) => f.close()));
      if (!process.env.KEEP) await rm(work, { recursive: true, force: true });
    });

    for (const c of CASES) {
      const realServer = c.server !== undefined;
      test(`${caseName(c)}: exit ${c.exit}, ${c.reasons === 'none' ? 'no failures' : c.reasons}, ≤ ${c.maxS} s, ≤ ${c.maxMiB} MiB`, async (t) => {
        const fault = await prepareFault({
          fault: c.fault,
          transport: c.transport,
          server: c.server,
          users: SESSIONS,
          atMs: FAULT_AT_MS,
          stallMs: STALL_MS,
        });
        faults.push(fault);
        const dir = await mkdtemp(join(work, `${c.fault}-${c.transport}-`));
        let r: MeasuredRun;
        try {
          r = await measuredRun({
            script,
            dir,
            steps: fault.steps,
            cue: realServer ? { metric: 'xmpp_sessions_opened', count: SESSIONS } : undefined,
            // Past the bound, so an overrun is measured, but never a hung suite.
            deadlineMs: c.maxS * 1000 + 30_000,
            args: caseName(c) === GATED ? ['--collect'] : [],
            vars: {
              XMPP_URL: fault.url,
              XMPP_DOMAIN: 'localhost',
              XMPP_MECHANISMS: 'PLAIN',
              VUS: String(VUS),
              SESSIONS_PER_VU: String(SESSIONS_PER_VU),
              DURATION: `${DURATION_S}s`,
              MESSAGE_RATE: '1',
              THRESHOLDS: JSON.stringify(RELAXED_LATENCY),
            },
          });
        } finally {
          await fault.close();
        }
        t.diagnostic(observed(r));
        // Every broken expectation at once, so one run shows all that a fix still has to do.
        assert.deepEqual(
          violations(c, r, fault.accepted?.()),
          [],
          `${caseName(c)}: ${observed(r)}\n${r.output.slice(-3000)}`,
        );
        if (caseName(c) !== GATED) return;
        const gate = await runStarling([
          'gate',
          r.resultsDir!,
          ...GATE_THRESHOLDS.flatMap((t) => ['--threshold', t]),
        ]);
        assert.equal(gate.code, 99, gate.output);
        // The sessions that died are in the merged data: no clean close among the 10.
        assert.match(gate.output, /xmpp_clean_close/);
        assert.match(gate.stdout, /✗.*xmpp_clean_close|xmpp_clean_close.*✗/, gate.output);
      });
    }
  },
);
