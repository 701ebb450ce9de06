/**
 * XMPP sessions in k6 over either transport — `k6/websockets` (RFC 7395) or BOSH on `k6/http` — recording the
 * same XMPP metrics. Many sessions per VU share the VU's event loop.
 */
import { XmppError } from '../xmpp/errors.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { decideRedirect } from '../xmpp/redirect.ts';
import { stopping } from './stopping.ts';
import type { ScramCache } from '../xmpp/sasl/scram.ts';
import { creationTimeout } from '../xmpp/bosh.ts';
import { XmppSession, type SessionEnd, type SessionTimeouts } from '../xmpp/session.ts';
import type { StanzaKind } from '../xmpp/stanzas.ts';
import type { XmlElement } from '../xmpp/xml/element.ts';
import { addresseeEnded, noteArrival } from './delivery.ts';
import { k6Clock } from './clock.ts';
import { k6Crypto } from './crypto.ts';
import { boshTransport } from './bosh.ts';
import { periodicFlush, setTransport } from './collector.ts';
import { xmpp } from './metrics.ts';
import type { BoshSettings, TransportName } from './transport.ts';
import { webSocketTransport } from './websocket.ts';

export interface XmppConnectOptions {
  transport: TransportName;
  url: string;
  bosh?: BoshSettings;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  mechanisms?: string[];
  timeouts?: Partial<SessionTimeouts>;
  scramCache?: ScramCache;
  /** Extra tags on every XMPP sample of this session. */
  tags?: Record<string, string>;
  /** Redirects one login may follow (XMPP_FOLLOW_REDIRECTS); 0 = count them, follow none. */
  followRedirects?: number;
  /** Stream management (XEP-0198) with resumption, when the server offers it. */
  streamManagement?: boolean;
}

let openInThisVu = 0;

/**
 * A login to one account, and the session it holds now. When the server redirects it (see-other-uri,
 * see-other-host) and XMPP_FOLLOW_REDIRECTS allows, the connection logs in again at the new endpoint: before
 * the session was ready (a load balancer at login) or after (a node draining its sessions). `session`, `jid`,
 * `url` and `transport` then name the new one, and stanza handlers move with it.
 */
export interface XmppConnection {
  readonly session: XmppSession;
  /** The bound JID of `session` (after the first login: '' until then). */
  readonly jid: string;
  readonly url: string;
  readonly transport: TransportName;
  /** The first login: resolves with the bound JID, after any redirects followed; rejects with the XmppError. */
  readonly ready: Promise<string>;
  /** Set while a ready session is moving to the endpoint its server named; resolves when it is ready or failed. */
  readonly moving: Promise<void> | undefined;
  onMessage(fn: (el: XmlElement) => void): void;
  onPresence(fn: (el: XmlElement) => void): void;
  /**
   * A network blip: breaks the WebSocket without `<close/>`, waits `pauseMs`, and resumes the session on a new
   * WebSocket (XEP-0198), recording xmpp_sm_resume, xmpp_sm_resume_success and xmpp_sm_resent. `moving` is set
   * meanwhile, so flows wait for it. Resolves true when resumed; false when it was not (the session has then
   * ended, counted as its failure) or could not be broken (not ready, no resumption, BOSH).
   */
  breakAndResume(pauseMs?: number): Promise<boolean>;
}

class Connection implements XmppConnection {
  session!: XmppSession;
  jid = '';
  url: string;
  transport: TransportName;
  ready!: Promise<string>;
  moving: Promise<void> | undefined;
  /** Redirects followed since the last ready session: the XMPP_FOLLOW_REDIRECTS budget is per login. */
  hops = 0;
  /** When this login's first attempt started: xmpp_session_ready of a redirected login includes its redirects. */
  private loginStarted: number | undefined;
  private readonly messageHandlers: ((el: XmlElement) => void)[] = [];
  private readonly presenceHandlers: ((el: XmlElement) => void)[] = [];

  constructor(readonly o: XmppConnectOptions) {
    this.url = o.url;
    this.transport = o.transport;
  }

  onMessage(fn: (el: XmlElement) => void): void {
    this.messageHandlers.push(fn);
    this.session.onMessage(fn);
  }

  onPresence(fn: (el: XmlElement) => void): void {
    this.presenceHandlers.push(fn);
    this.session.onPresence(fn);
  }

  /** One session at the current endpoint, through login; follows a redirect it gets before it is ready. */
  attempt(): Promise<string> {
    const o = this.o;
    const tags = o.tags;
    setTransport(this.transport);
    const session = openSession(o, this.url, this.transport);
    this.session = session;
    const loginStarted = (this.loginStarted ??= session.timings.started!);
    for (const fn of this.messageHandlers) session.onMessage(fn);
    for (const fn of this.presenceHandlers) session.onPresence(fn);
    let followed = false;
    const started = session.start();
    const result = started.then(
      (jid) => {
        const t = session.timings;
        xmpp.connect.add(t.connected! - t.started!, tags);
        xmpp.auth.add(t.authenticated! - t.connected!, tags);
        xmpp.bind.add(t.bound! - t.authenticated!, tags);
        xmpp.sessionReady.add(t.ready! - loginStarted, tags);
        this.loginStarted = undefined;
        xmpp.loginSuccess.add(1, tags);
        xmpp.sessionsOpened.add(1, tags);
        xmpp.sessionsOpen.add(++openInThisVu, tags);
        periodicFlush(true);
        this.jid = jid;
        this.hops = 0;
        return jid;
      },
      async (e: unknown) => {
        const next = e instanceof XmppError ? this.redirect(e) : e;
        if (next === 'follow') {
          followed = true;
          await session.closed;
          return this.attempt();
        }
        this.loginStarted = undefined;
        xmpp.loginSuccess.add(0, tags);
        throw next;
      },
    );
    // The rejection handler above runs first (registered first), so `followed` is known when the end is counted.
    void started
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => session.closed)
      .then((end) => {
        const moved = !followed && session.timings.ready !== undefined && this.afterReady(end.error);
        recordEnd(session, end, tags, followed || moved);
      });
    return result;
  }

  /**
   * Counts a redirect in xmpp_redirects and decides: 'follow', or the error to fail the login with (the
   * decision's reason added to the server's words).
   */
  private redirect(e: XmppError): 'follow' | XmppError {
    if (!e.redirect) return e;
    const decision = decideRedirect(this.url, e.redirect, this.hops, this.o.followRedirects ?? 0);
    xmpp.redirects.add(1, { ...this.o.tags, kind: e.redirect.kind, outcome: decision.outcome });
    if (decision.outcome === 'followed') {
      if (!followLogged) {
        followLogged = true;
        console.log(maskUrlPasswords(decision.message));
      }
      this.hops++;
      this.url = decision.target.url;
      this.transport = decision.target.transport;
      return 'follow';
    }
    return new XmppError(e.kind, e.condition, `${e.message}; ${decision.message}`, e.serverText, e.redirect);
  }

  /** A ready session ended: when its server moved it and following is allowed, log in at the new endpoint. */
  private afterReady(err: XmppError | undefined): boolean {
    if (!err?.redirect) return false;
    if (stopping()) {
      // A run winding down starts no new logins; the redirect is still counted.
      xmpp.redirects.add(1, { ...this.o.tags, kind: err.redirect.kind, outcome: 'stopping' });
      return false;
    }
    if (this.redirect(err) !== 'follow') return false;
    const moving: Promise<void> = this.attempt().then(
      () => this.settled(moving),
      () => this.settled(moving),
    );
    this.moving = moving;
    return true;
  }

  private settled(moving: Promise<void>): void {
    if (this.moving === moving) this.moving = undefined;
  }

  breakAndResume(pauseMs = 0): Promise<boolean> {
    const session = this.session;
    if (this.transport !== 'websocket' || session.state !== 'ready' || session.sm?.id === undefined) {
      return Promise.resolve(false);
    }
    session.breakTransport();
    if (session.state !== 'detached') return Promise.resolve(false);
    const tags = this.o.tags;
    const resumed = (async (): Promise<boolean> => {
      if (pauseMs > 0) await new Promise<void>((r) => setTimeout(r, pauseMs));
      const resent = session.sm!.resent;
      const host = webSocketTransport(this.url, tags);
      const attempt = session.resume(host);
      host.start(session);
      try {
        await attempt;
      } catch (e) {
        xmpp.smResumeSuccess.add(0, { ...tags, reason: e instanceof XmppError ? e.reason : 'client-error' });
        return false;
      }
      const t = session.timings;
      xmpp.smResume.add(t.resumed! - t.resumeStarted!, tags);
      xmpp.smResumeSuccess.add(1, tags);
      // 0 too: every resumption says how many stanzas it sent again.
      xmpp.smResent.add(session.sm!.resent - resent, tags);
      return true;
    })();
    const moving: Promise<void> = resumed.then(() => this.settled(moving));
    this.moving = moving;
    return resumed;
  }
}

let followLogged = false;

function openSession(o: XmppConnectOptions, url: string, transport: TransportName): XmppSession {
  const tags = o.tags;
  const host =
    transport === 'bosh'
      ? boshTransport(url, o.domain, { createTimeoutMs: creationTimeout(o.timeouts), ...o.bosh }, tags)
      : webSocketTransport(url, tags);
  // One tag set per stanza kind for the session's life (frozen, see stanzaKindTags), not a new object per stanza.
  const kindTags = tags === undefined ? KIND_TAGS : stanzaKindTags(tags);
  const session = new XmppSession({
    domain: o.domain,
    credentials: { username: o.username, password: o.password },
    resource: o.resource,
    mechanisms: o.mechanisms,
    timeouts: o.timeouts,
    scramCache: o.scramCache,
    streamManagement: o.streamManagement,
    clock: k6Clock,
    crypto: k6Crypto,
    transport: host,
    onStanza: (dir, kind) => (dir === 'out' ? xmpp.stanzasSent : xmpp.stanzasReceived).add(1, kindTags[kind]),
  });
  host.start(session);
  session.onMessage((el) => noteArrival(el, 'message', session, tags));
  session.onPresence((el) => noteArrival(el, 'presence', session, tags));
  return session;
}

/**
 * The tags of each stanza sample, by kind. Frozen: the metric module merges a frozen tag set with the VU's tags
 * once, not at every stanza (and without tags of its own, every session shares one set).
 */
function stanzaKindTags(
  tags: Record<string, string> | undefined,
): Record<StanzaKind, Record<string, string>> {
  return {
    message: Object.freeze({ ...tags, kind: 'message' }),
    presence: Object.freeze({ ...tags, kind: 'presence' }),
    iq: Object.freeze({ ...tags, kind: 'iq' }),
  };
}

const KIND_TAGS = stanzaKindTags(undefined);

/** Opens the transport and logs in; `ready` resolves with the bound JID or rejects with an XmppError. */
export function connectXmpp(o: XmppConnectOptions): XmppConnection {
  const conn = new Connection(o);
  conn.ready = conn.attempt();
  return conn;
}

/**
 * Counts a session's end. A session whose redirect was followed is not a failure (xmpp_redirects counts it)
 * and has no clean-close sample: the server moved it, the client did not close it.
 */
function recordEnd(
  session: XmppSession,
  end: SessionEnd,
  tags: Record<string, string> | undefined,
  followed: boolean,
): void {
  const wasReady = session.timings.ready !== undefined;
  if (session.jid !== undefined) addresseeEnded(session.jid);
  if (wasReady) {
    if (!followed) xmpp.cleanClose.add(end.clean ? 1 : 0, tags);
    xmpp.sessionsClosed.add(1, tags);
    xmpp.sessionsOpen.add(--openInThisVu, tags);
    if (openInThisVu === 0) periodicFlush(false);
    if (session.timings.closeStarted !== undefined)
      xmpp.close.add(session.timings.closed! - session.timings.closeStarted, tags);
  }
  const err: XmppError | undefined = end.error;
  if (err) {
    if (!followed) xmpp.sessionFailures.add(1, { ...tags, reason: err.reason });
    if (err.kind === 'stream-error')
      xmpp.streamErrors.add(1, { ...tags, condition: err.condition ?? 'undefined-condition' });
  }
}

/** IQ ping recorded in xmpp_iq_rtt; failures are counted, not thrown. */
export async function timedPing(session: XmppSession, tags?: Record<string, string>): Promise<void> {
  try {
    xmpp.iqRtt.add(await session.ping(), tags);
  } catch (e) {
    if (e instanceof XmppError) xmpp.sessionFailures.add(1, { ...tags, reason: e.reason });
    else throw e;
  }
}
