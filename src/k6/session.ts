/**
 * XMPP sessions in k6 over either transport — `k6/websockets` (RFC 7395) or BOSH on `k6/http` — recording the
 * same XMPP metrics. Many sessions per VU share the VU's event loop.
 */
import { XmppError } from '../xmpp/errors.ts';
import type { ScramCache } from '../xmpp/sasl/scram.ts';
import { XmppSession, type SessionEnd, type SessionTimeouts } from '../xmpp/session.ts';
import { x, type XmlElement } from '../xmpp/xml/element.ts';
import { k6Clock } from './clock.ts';
import { k6Crypto } from './crypto.ts';
import { boshTransport, type BoshSettings } from './bosh.ts';
import { periodicFlush, setTransport } from './collector.ts';
import { xmpp, type RecordedMetric } from './metrics.ts';
import { webSocketTransport } from './websocket.ts';

export type TransportName = 'websocket' | 'bosh';

/** A transport as the session sees it, plus the hook that wires the transport's events into the session. */
export interface HostTransport {
  send(frame: string): void;
  close(code?: number, reason?: string): void;
  start(session: XmppSession): void;
}

/** Namespace of the timestamp element that carries the sender's clock for delivery latency. */
export const TIMING_NS = 'urn:x-starling:timing:0';

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
}

let openInThisVu = 0;

/** A child element carrying the sender's send time (ms), for delivery latency measured by the receiver. */
export function timingElement(now = Date.now()): XmlElement {
  return x('t', { xmlns: TIMING_NS, ms: String(now) });
}

/** Records delivery latency when a received stanza carries our timing element. */
function recordDelivery(el: XmlElement, trend: RecordedMetric, tags?: Record<string, string>): void {
  const ms = el.getChild('t', TIMING_NS)?.attr('ms');
  if (ms !== undefined) trend.add(Date.now() - Number(ms), tags);
}

/** Opens the transport and starts the session. `ready` resolves with the bound JID or rejects with an XmppError. */
export function connectXmpp(o: XmppConnectOptions): { session: XmppSession; ready: Promise<string> } {
  const tags = o.tags;
  setTransport(o.transport);
  const host =
    o.transport === 'bosh'
      ? boshTransport(o.url, o.domain, o.bosh ?? {}, tags)
      : webSocketTransport(o.url, tags);
  const session = new XmppSession({
    domain: o.domain,
    credentials: { username: o.username, password: o.password },
    resource: o.resource,
    mechanisms: o.mechanisms,
    timeouts: o.timeouts,
    scramCache: o.scramCache,
    clock: k6Clock,
    crypto: k6Crypto,
    transport: host,
    onStanza: (dir, kind) =>
      (dir === 'out' ? xmpp.stanzasSent : xmpp.stanzasReceived).add(1, { ...tags, kind }),
  });
  host.start(session);
  session.onMessage((el) => recordDelivery(el, xmpp.messageDelivery, tags));
  session.onPresence((el) => recordDelivery(el, xmpp.presenceDelivery, tags));

  const ready = session.start().then(
    (jid) => {
      const t = session.timings;
      xmpp.connect.add(t.connected! - t.started!, tags);
      xmpp.auth.add(t.authenticated! - t.connected!, tags);
      xmpp.bind.add(t.bound! - t.authenticated!, tags);
      xmpp.sessionReady.add(t.ready! - t.started!, tags);
      xmpp.loginSuccess.add(1, tags);
      xmpp.sessionsOpened.add(1, tags);
      xmpp.sessionsOpen.add(++openInThisVu, tags);
      periodicFlush(true);
      return jid;
    },
    (e: unknown) => {
      xmpp.loginSuccess.add(0, tags);
      throw e;
    },
  );
  void session.closed.then((end) => recordEnd(session, end, tags));
  return { session, ready };
}

function recordEnd(session: XmppSession, end: SessionEnd, tags?: Record<string, string>): void {
  const wasReady = session.timings.ready !== undefined;
  if (wasReady) {
    xmpp.cleanClose.add(end.clean ? 1 : 0, tags);
    xmpp.sessionsClosed.add(1, tags);
    xmpp.sessionsOpen.add(--openInThisVu, tags);
    if (openInThisVu === 0) periodicFlush(false);
    if (session.timings.closeStarted !== undefined)
      xmpp.close.add(session.timings.closed! - session.timings.closeStarted, tags);
  }
  const err: XmppError | undefined = end.error;
  if (err) {
    xmpp.sessionFailures.add(1, { ...tags, reason: err.reason });
    if (err.kind === 'stream-error')
      xmpp.streamErrors.add(1, { ...tags, condition: err.condition ?? 'undefined-condition' });
  }
}

/** Sends a chat message stamped with the send time; the peer's session records xmpp_message_delivery. */
export function sendTimedMessage(session: XmppSession, to: string, body: string): string {
  return session.sendMessage({ to, body, extra: [timingElement()] });
}

/** Sends presence (directed when `to` is given) stamped with the send time, for xmpp_presence_delivery. */
export function sendTimedPresence(session: XmppSession, to?: string, status?: string): void {
  const p = x('presence', { xmlns: 'jabber:client', to }, timingElement());
  if (status !== undefined) p.append(x('status', {}, status));
  session.send(p);
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
