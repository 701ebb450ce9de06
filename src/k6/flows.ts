/** The few named steps scenarios are written in: open sessions, act periodically, close them all. */
import exec from 'k6/execution';
import { XmppError } from '../xmpp/errors.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { ScramCache } from '../xmpp/sasl/scram.ts';
import type { XmppSession } from '../xmpp/session.ts';
import type { ScenarioConfig } from './config.ts';
import { pendingDeliveries, lossWindow } from './delivery.ts';
import { connectXmpp, type XmppConnection } from './session.ts';
import { stopping } from './stopping.ts';

/**
 * The VU's last collector snapshot (`final: true`): call it at the end of the default function, after
 * closeAll(). A no-op without STARLING_COLLECTOR_URL; never rejects.
 */
export { flushFinal } from './collector.ts';

/** One cache per VU: a VU's repeated logins skip PBKDF2, as real clients do. */
const scramCache = new ScramCache();
/** The first failed login of this VU is logged with its cause (a TLS error, refused connection…); the rest only counted. */
let loginFailureLogged = false;

/** A logged-in account of this VU. `session` and `jid` change when the server moves it and it follows. */
export class OpenSession {
  constructor(
    readonly connection: XmppConnection,
    /** Index within this VU (0-based). */
    readonly index: number,
  ) {}

  get session(): XmppSession {
    return this.connection.session;
  }

  get jid(): string {
    return this.connection.jid;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export { stopping } from './stopping.ts';
export { pendingDeliveries } from './delivery.ts';

const sleepers = new Set<() => void>();
let watcher: number | undefined;

/**
 * Sleeps `ms`, waking early when the run is stopping. One watcher per VU polls the flag (not one per
 * session), and it is cleared when nobody sleeps, so it never holds the iteration open.
 */
function pause(ms: number): Promise<void> {
  if (stopping() || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      sleepers.delete(wake);
      if (sleepers.size === 0 && watcher !== undefined) {
        clearInterval(watcher);
        watcher = undefined;
      }
      resolve();
    };
    const timer = setTimeout(wake, ms);
    sleepers.add(wake);
    watcher ??= setInterval(() => {
      if (stopping()) for (const w of [...sleepers]) w();
    }, 250);
  });
}

/**
 * Logs in `cfg.sessionsPerVu` sessions for this VU (accounts numbered from
 * `accountOffset + (v − 1) · sessionsPerVu + 1`, v = the VU's id in the whole test), each starting at its slot
 * of a global ramp of
 * `loginRate` logins/s. Failed logins are counted by the metrics (once their session has ended) and left out.
 */
export async function openSessions(cfg: ScenarioConfig): Promise<OpenSession[]> {
  // idInTest, not __VU: on k6-operator every pod numbers its VUs from 1, which would log pods into the
  // same accounts; idInTest is unique across the execution segments of a distributed run.
  const slot0 = (exec.vu.idInTest - 1) * cfg.sessionsPerVu;
  const first = cfg.accountOffset + slot0 + 1;
  const attempts = Array.from({ length: cfg.sessionsPerVu }, async (_, index) => {
    if (cfg.loginRate > 0) await pause(((slot0 + index) * 1000) / cfg.loginRate);
    if (stopping()) return undefined;
    const acct = cfg.account(first + index);
    const conn = connectXmpp({
      transport: cfg.transport,
      bosh: cfg.bosh,
      url: cfg.url,
      domain: cfg.domain,
      username: acct.username,
      password: acct.password,
      mechanisms: cfg.mechanisms,
      scramCache,
      followRedirects: cfg.followRedirects,
    });
    return conn.ready.then(
      (): OpenSession => new OpenSession(conn, index),
      async (e: unknown) => {
        if (!(e instanceof XmppError)) throw e;
        if (!loginFailureLogged) {
          loginFailureLogged = true;
          console.warn(`login of ${acct.username} failed: ${maskUrlPasswords(e.message)}`);
        }
        // The failure is counted when the session has ended (closed resolves within the close timeout): wait
        // for it, so a VU whose logins all failed does not send its final snapshot before they are counted.
        await conn.session.closed;
        return undefined;
      },
    );
  });
  const results = await Promise.all(attempts);
  return results.filter((s): s is OpenSession => s !== undefined);
}

/**
 * Calls `fn` for every session every `periodMs` (sessions staggered over the period) until `durationMs`
 * has passed. Sends on a session that has failed are skipped: its failure is already counted.
 */
export async function every(
  sessions: OpenSession[],
  periodMs: number,
  durationMs: number,
  fn: (s: OpenSession) => void | Promise<void>,
): Promise<void> {
  if (periodMs <= 0 || !Number.isFinite(periodMs)) return pause(durationMs);
  const deadline = Date.now() + durationMs;
  await Promise.all(
    sessions.map(async (s) => {
      await pause((periodMs * s.index) / Math.max(1, sessions.length));
      while (Date.now() < deadline && !stopping()) {
        if (s.session.state !== 'ready') {
          // A session moving to the endpoint its server named goes on once it is ready there.
          const moving = s.connection.moving;
          if (!moving) break;
          await moving;
          continue;
        }
        await fn(s);
        await pause(Math.min(periodMs, deadline - Date.now()));
      }
    }),
  );
}

/** Waits until `done()` or `maxMs`, polling every 50 ms. */
export async function settle(done: () => boolean, maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!done() && Date.now() < deadline) await delay(50);
}

/**
 * Waits until every timed stanza this VU sent has arrived or been counted lost (at most the loss window and a
 * sweep), so closing the sessions does not turn stanzas still in flight into losses.
 */
export function settleDeliveries(): Promise<void> {
  return settle(() => pendingDeliveries() === 0, lossWindow() + 1500);
}

/** Closes every session cleanly (`<close/>`, then WebSocket close 1000 or BOSH terminate) and waits for all. */
export async function closeAll(sessions: OpenSession[]): Promise<void> {
  await Promise.all(
    sessions.map(async (s) => {
      if (s.connection.moving) await s.connection.moving;
      await s.session.close();
    }),
  );
}
