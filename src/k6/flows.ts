/** The few named steps scenarios are written in: open sessions, act periodically, close them all. */
import exec from 'k6/execution';
import { XmppError } from '../xmpp/errors.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { ScramCache } from '../xmpp/sasl/scram.ts';
import type { XmppSession } from '../xmpp/session.ts';
import type { ScenarioConfig } from './config.ts';
import { pendingDeliveries, pendingTo, lossWindow } from './delivery.ts';
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
  /** bareJid's last answer and the JID it was cut from: a user picked as a peer is asked for it per message. */
  private bare = '';
  private bareOf = '';

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

  /** The JID without its resource: what messages to the user (any of its resources) are addressed to. */
  get bareJid(): string {
    const jid = this.connection.jid;
    if (jid !== this.bareOf) {
      const slash = jid.indexOf('/');
      this.bare = slash < 0 ? jid : jid.slice(0, slash);
      this.bareOf = jid;
    }
    return this.bare;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export { stopping } from './stopping.ts';
export { pendingDeliveries } from './delivery.ts';

/** A pause in progress: its place in `sleepers`, so that waking it early or on time costs no hashing. */
interface Sleeper {
  resolve: () => void;
  timer: number;
  slot: number;
}

/** The pauses in progress, each at its `slot` (removed by swapping the last one in). */
const sleepers: Sleeper[] = [];
let watcher: number | undefined;

/**
 * Sleeps `ms`, waking early when the run is stopping. One watcher per VU polls the flag (not one per
 * session), and it is cleared when nobody sleeps, so it never holds the iteration open.
 */
function pause(ms: number): Promise<void> {
  if (stopping() || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const s: Sleeper = { resolve, timer: 0, slot: sleepers.length };
    s.timer = setTimeout(() => wake(s, false), ms);
    sleepers.push(s);
    watcher ??= setInterval(() => {
      if (stopping()) for (const w of sleepers.slice()) wake(w, true);
    }, 250);
  });
}

/** Ends a pause: on time (its timer fired) or early (the run is stopping). */
function wake(s: Sleeper, early: boolean): void {
  if (s.slot < 0) return;
  if (early) clearTimeout(s.timer);
  const last = sleepers.pop()!;
  if (last !== s) {
    sleepers[s.slot] = last;
    last.slot = s.slot;
  }
  s.slot = -1;
  if (sleepers.length === 0 && watcher !== undefined) {
    clearInterval(watcher);
    watcher = undefined;
  }
  s.resolve();
}

/**
 * Starts `start(i)` for i = 0 … count − 1 at `at(i)` ms after the call (non-decreasing; called once each, in
 * order), one pending timer at a time: a VU with thousands of arrivals then holds one timer, not thousands
 * (memory before the first connection, timer work per arrival). Each delay is taken from the first call, so the
 * schedule does not drift. Returns the started flows once the last has started, or early when the run stops or
 * a flow failed (no more start after a failure, as when the caller's Promise.all rejected at once).
 */
async function staggered<T>(
  count: number,
  at: (i: number) => number,
  start: (i: number) => Promise<T>,
): Promise<Promise<T>[]> {
  const t0 = Date.now();
  const started: Promise<T>[] = [];
  let failed = false;
  for (let i = 0; i < count; i++) {
    await pause(at(i) - (Date.now() - t0));
    if (stopping() || failed) break;
    const flow = start(i);
    // Handled here while later ones are still to start; the caller's Promise.all sees the failure too.
    flow.catch(() => (failed = true));
    started.push(flow);
  }
  return started;
}

/**
 * Logs in `cfg.sessionsPerVu` sessions for this VU (`count` when fewer, e.g. the last VU of a fixed total),
 * accounts numbered from `accountOffset + (v − 1) · sessionsPerVu + 1` (v = the VU's id in the whole test), each
 * starting at its slot of a global ramp of `loginRate` logins/s. Failed logins are counted by the metrics (once
 * their session has ended) and left out.
 */
export async function openSessions(cfg: ScenarioConfig, count = cfg.sessionsPerVu): Promise<OpenSession[]> {
  // idInTest, not __VU: on k6-operator every pod numbers its VUs from 1, which would log pods into the
  // same accounts; idInTest is unique across the execution segments of a distributed run.
  const slot0 = (exec.vu.idInTest - 1) * cfg.sessionsPerVu;
  const first = cfg.accountOffset + slot0 + 1;
  const attempts = await staggered(
    Math.min(count, cfg.sessionsPerVu),
    (index) => (cfg.loginRate > 0 ? ((slot0 + index) * 1000) / cfg.loginRate : 0),
    (index) => logIn(cfg, first + index, index),
  );
  const results = await Promise.all(attempts);
  return results.filter((s): s is OpenSession => s !== undefined);
}

/** Logs account number `account` in; undefined when the login failed (counted once its session has ended). */
async function logIn(cfg: ScenarioConfig, account: number, index: number): Promise<OpenSession | undefined> {
  const acct = cfg.account(account);
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
    streamManagement: cfg.streamManagement,
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
}

/** What a user's flow may do besides using its own session (see userFlow). */
export interface UserContext {
  /** Sleeps the think time (waking early when the run stops). */
  think(): Promise<void>;
  /**
   * Sends initial presence and waits (at most `maxMs`) for the server to reflect it back (RFC 6121 4.2.2). Other
   * users may pick this one as a peer only once the reflection came, however late: a message to a bare JID whose
   * resource is not yet available would be refused by the server (no offline storage), a loss caused by the flow
   * rather than the server.
   */
  available(maxMs: number): Promise<void>;
  /** A random other user of this VU that is available and not leaving; the user itself when it is alone. */
  pickPeer(): OpenSession;
  /** From now on this user is not picked as a peer: call it before the last think, so nothing is sent to a user about to close. */
  leaving(): void;
}

export interface UserFlowOptions {
  /** Users in the whole test, split over the VUs (VU v takes users v, v + VUs, v + 2·VUs, …). */
  users: number;
  /** Arrivals per second in the whole test: each VU's are a Poisson process at arrivalRate / VUs. */
  arrivalRate: number;
  thinkMs: number;
  /** What a logged-in user does before it leaves; its session is closed cleanly afterwards. */
  act: (user: OpenSession, ctx: UserContext) => Promise<void>;
}

/**
 * An open model of short sessions: this VU's users arrive at Poisson-distributed times (an arrival never waits
 * for an earlier login), log in, act, and close. Resolves when every user of this VU has left.
 */
export async function userFlow(cfg: ScenarioConfig, o: UserFlowOptions): Promise<void> {
  const vus = cfg.vus;
  const v = exec.vu.idInTest;
  const mine = Math.floor(o.users / vus) + (v - 1 < o.users % vus ? 1 : 0);
  const meanGapMs = (1000 * vus) / o.arrivalRate;
  const online = new PeerSet<OpenSession>();
  const think = (): Promise<void> => pause(o.thinkMs);
  let at = 0; // ms after this VU's start
  const flows = await staggered(
    mine,
    // Exponential gaps: the arrival times of a Poisson process. 1 − random() is in (0, 1], so log is finite.
    () => (at += -Math.log(1 - Math.random()) * meanGapMs),
    async (j) => {
      const account = cfg.accountOffset + v + j * vus;
      const user = await logIn(cfg, account, j);
      if (user === undefined) return;
      let left = false;
      const leave = (): void => {
        left = true;
        online.delete(user);
      };
      try {
        await o.act(user, {
          think,
          // A peer once the server reflected its presence, however late; not before, and never once leaving.
          available: (maxMs) => initialPresence(user, maxMs, () => left || online.add(user)),
          pickPeer: () => online.pickOther(user) ?? user,
          leaving: leave,
        });
      } finally {
        leave();
      }
      // What was sent to it before it left is let in first (at most the loss window): leaving with stanzas in
      // flight would count them lost by the flow's own doing, not the server's.
      await settle(() => pendingTo(user.jid) === 0, lossWindow());
      if (user.connection.moving) await user.connection.moving;
      await user.session.close();
    },
  );
  await Promise.all(flows);
}

/** Sends initial presence; resolves when the server reflects it to this resource, or after `maxMs`. */
function initialPresence(user: OpenSession, maxMs: number, reflected: () => void): Promise<void> {
  return new Promise((resolve) => {
    let seen = false;
    const timer = setTimeout(resolve, maxMs);
    // Handlers stay for the session's life: this one does nothing once the reflection came.
    user.session.onPresence((el) => {
      if (seen || el.attr('type') !== undefined || el.attr('from') !== user.jid) return;
      seen = true;
      clearTimeout(timer);
      reflected();
      resolve();
    });
    user.session.sendPresence();
  });
}

/** A set that picks a random member other than a given one in O(1): an array with swap-remove and an index. */
class PeerSet<T> {
  private readonly items: T[] = [];
  private readonly at = new Map<T, number>();

  add(item: T): void {
    if (this.at.has(item)) return;
    this.at.set(item, this.items.length);
    this.items.push(item);
  }

  delete(item: T): void {
    const i = this.at.get(item);
    if (i === undefined) return;
    const last = this.items.pop()!;
    this.at.delete(item);
    if (last !== item) {
      this.items[i] = last;
      this.at.set(last, i);
    }
  }

  pickOther(self: T): T | undefined {
    const n = this.items.length;
    if (n === 0 || (n === 1 && this.items[0] === self)) return undefined;
    for (;;) {
      const p = this.items[Math.floor(Math.random() * n)]!;
      if (p !== self) return p;
    }
  }
}

/** How far behind its grid a session of every() may fall and still catch up. */
const MAX_BEHIND_MS = 1000;

/**
 * Calls `fn` for every session every `periodMs` (sessions staggered over the period) until `durationMs`
 * has passed. Sends on a session that has failed are skipped: its failure is already counted.
 *
 * Each session keeps to its own grid (start + offset + k × period), however long a call or a late timer took:
 * sleeping one period after each call fell behind the rate by every delay on the way (a chat step offered at
 * 9,000 messages/s sent 7,800/s with the generator at 80 % of a core). A session more than a second behind
 * its grid starts again from now rather than sending the backlog at once: the generator then could not keep up,
 * which its own saturation signal shows.
 */
export async function every(
  sessions: OpenSession[],
  periodMs: number,
  durationMs: number,
  fn: (s: OpenSession) => void | Promise<void>,
): Promise<void> {
  if (periodMs <= 0 || !Number.isFinite(periodMs)) return pause(durationMs);
  const start = Date.now();
  const deadline = start + durationMs;
  await Promise.all(
    sessions.map(async (s) => {
      let next = start + (periodMs * s.index) / Math.max(1, sessions.length);
      // A period longer than the duration: a session whose slot falls after the deadline sends nothing.
      await pause(Math.min(next, deadline) - Date.now());
      while (Date.now() < deadline && !stopping()) {
        if (s.session.state !== 'ready') {
          // A session moving to the endpoint its server named goes on once it is ready there.
          const moving = s.connection.moving;
          if (!moving) break;
          await moving;
          continue;
        }
        await fn(s);
        const now = Date.now();
        next = Math.max(next + periodMs, now - MAX_BEHIND_MS);
        await pause(Math.min(next - now, deadline - now));
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

/**
 * Closes every session cleanly (`<close/>`, then WebSocket close 1000 or BOSH terminate) and waits for all; with
 * `perSecond`, this VU starts that many closes a second.
 */
export async function closeAll(sessions: OpenSession[], perSecond = 0): Promise<void> {
  await Promise.all(
    sessions.map(async (s, i) => {
      // Paced like the logins when asked: thousands of <close/> at once queue in a single-threaded server past
      // the close timeout, and the sessions end unclean through the generator's own doing.
      if (perSecond > 0) await pause((i * 1000) / perSecond);
      if (s.connection.moving) await s.connection.moving;
      await s.session.close();
    }),
  );
}
