/**
 * A quick load probe on the Node WebSocket client: N sessions log in, each sends one chat message to the
 * next, all close cleanly. It checks a server end to end and records one session's frames (credentials
 * redacted). The k6 scenarios are the real load tests; this is the smoke test before them.
 */
import { XmppError } from '../xmpp/errors.ts';
import { redactFrame } from '../xmpp/redact.ts';
import { ScramCache } from '../xmpp/sasl/scram.ts';
import type { SessionTimeouts, XmppSession } from '../xmpp/session.ts';
import { openWebSocketSession } from './websocket-session.ts';

export interface ProbeAccount {
  username: string;
  password: string;
}

export interface ProbeOptions {
  url: string;
  domain: string;
  /** Account for session n (1-based). */
  account: (n: number) => ProbeAccount;
  sessions: number;
  /** Sessions connecting at once (default 200). */
  concurrency?: number;
  mechanisms?: string[];
  timeouts?: Partial<SessionTimeouts>;
  /** How long to wait for every message to arrive (default 10 s). */
  deliveryTimeoutMs?: number;
}

export type Phase = 'connect' | 'open+auth' | 'bind' | 'login' | 'delivery' | 'close';

export interface PhaseStats {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ProbeResult {
  sessions: number;
  loggedIn: number;
  messagesSent: number;
  messagesDelivered: number;
  cleanCloses: number;
  /** Failures by typed reason (`auth-failed:not-authorized`, `timeout:bind`, …). */
  failures: Record<string, number>;
  /** One example message per failure reason. */
  failureExamples: Record<string, string>;
  phases: Record<Phase, PhaseStats>;
  offeredMechanisms: string[];
  mechanism: string | undefined;
  /** Session 1's frames, `>>` out and `<<` in, SASL payloads redacted. */
  transcript: string[];
  wallMs: number;
}

/** Exact percentile (nearest rank) of sorted samples; the HDR collector replaces this for real runs. */
export function stats(samples: number[]): PhaseStats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number =>
    s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { count: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s.at(-1) ?? 0 };
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function runProbe(o: ProbeOptions): Promise<ProbeResult> {
  const t0 = Date.now();
  const cache = new ScramCache();
  const transcript: string[] = [];
  const failures: Record<string, number> = {};
  const failureExamples: Record<string, string> = {};
  const samples: Record<Phase, number[]> = {
    connect: [],
    'open+auth': [],
    bind: [],
    login: [],
    delivery: [],
    close: [],
  };
  const fail = (e: unknown): void => {
    const err = e instanceof XmppError ? e : new XmppError('transport-error', undefined, String(e));
    failures[err.reason] = (failures[err.reason] ?? 0) + 1;
    failureExamples[err.reason] ??= err.message;
  };

  const sessions: (XmppSession | undefined)[] = [];
  let delivered = 0;
  let allDelivered: () => void = () => {};
  const deliveredAll = new Promise<void>((r) => (allDelivered = r));
  const indices = Array.from({ length: o.sessions }, (_, i) => i);

  await pool(indices, o.concurrency ?? 200, async (i) => {
    const acct = o.account(i + 1);
    const { session } = openWebSocketSession({
      url: o.url,
      domain: o.domain,
      credentials: { username: acct.username, password: acct.password },
      mechanisms: o.mechanisms,
      timeouts: o.timeouts,
      scramCache: cache,
      onFrame:
        i === 0 ? (dir, f) => transcript.push(`${dir === 'out' ? '>>' : '<<'} ${redactFrame(f)}`) : undefined,
    });
    session.onMessage((m) => {
      const sentAt = Number(m.getChildText('body')?.split(' ')[1]);
      if (Number.isFinite(sentAt)) samples.delivery.push(Date.now() - sentAt);
      if (++delivered === o.sessions) allDelivered();
    });
    try {
      await session.start();
      const t = session.timings;
      samples.connect.push(t.connected! - t.started!);
      samples['open+auth'].push(t.authenticated! - t.connected!);
      samples.bind.push(t.bound! - t.authenticated!);
      samples.login.push(t.ready! - t.started!);
      sessions[i] = session;
    } catch (e) {
      fail(e);
    }
  });

  const ready = sessions.filter((s): s is XmppSession => s !== undefined);
  let sent = 0;
  if (ready.length > 1) {
    ready.forEach((s, k) => {
      const peer = ready[(k + 1) % ready.length]!;
      s.sendMessage({ to: peer.jid!, body: `probe ${Date.now()}` });
      sent++;
    });
    const expected = ready.length;
    if (delivered < expected) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        deliveredAll,
        new Promise<void>((r) => (timer = setTimeout(r, o.deliveryTimeoutMs ?? 10_000))),
      ]);
      clearTimeout(timer);
    }
  }

  let clean = 0;
  await pool(ready, o.concurrency ?? 200, async (s) => {
    const end = await s.close();
    if (end.clean) clean++;
    else if (end.error) fail(end.error);
    samples.close.push(s.timings.closed! - s.timings.closeStarted!);
  });

  const first = ready[0];
  return {
    sessions: o.sessions,
    loggedIn: ready.length,
    messagesSent: sent,
    messagesDelivered: delivered,
    cleanCloses: clean,
    failures,
    failureExamples,
    phases: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])) as Record<
      Phase,
      PhaseStats
    >,
    offeredMechanisms: first?.offeredMechanisms ?? [],
    mechanism: first?.mechanism,
    transcript,
    wallMs: Date.now() - t0,
  };
}
