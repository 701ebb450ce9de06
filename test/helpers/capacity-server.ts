/**
 * An XMPP-over-WebSocket (RFC 7395) server whose login capacity is known by construction, for `starling capacity`'s
 * acceptance test: every SASL PLAIN `<auth/>` takes one token from a bucket refilled at `loginsPerSecond` (capacity
 * `burst`), and waits in a FIFO queue while the bucket is empty. Nothing else is throttled. So completed logins/s can
 * never exceed R, loads above R queue with a latency that grows without bound, and loads well below R are answered
 * at once.
 *
 * Beyond the bucket it is a minimal but correct server for what starling sends (src/xmpp/session.ts, src/k6/): the
 * stream open and restart, PLAIN (any username and password), bind, presence reflected to its sender, XEP-0199 ping,
 * empty results for any other IQ, messages routed to an online session of their addressee (or bounced with
 * service-unavailable), and the `<close/>` handshake. Frames are single complete elements (RFC 7395 §3.3.3), read with
 * a few indexOf/regex scans rather than an XML parser: it has to stay cheap beside a generator on 2 cores.
 * Loopback only, free port.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';

const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_PING = 'urn:xmpp:ping';
const DOMAIN = 'localhost';

const FEATURES_SASL = `<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='${NS_SASL}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`;
const FEATURES_BIND = `<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='${NS_BIND}'/></stream:features>`;
const CLOSE = `<close xmlns='${NS_FRAMING}'/>`;
const SUCCESS = `<success xmlns='${NS_SASL}'/>`;
/** How long the server waits for the client to close the WebSocket after the `<close/>` exchange. */
const CLIENT_CLOSE_GRACE_MS = 2000;

export interface CapacityServerOptions {
  /** R: SASL PLAIN logins granted per second, at most (the bucket's refill rate). */
  loginsPerSecond: number;
  /** The bucket's capacity in tokens (default max(1, R/10)); it starts full. At least 1. */
  burst?: number;
}

export interface CapacityServerStats {
  /** WebSocket connections accepted since the start. */
  connections: number;
  /** Connections open now. */
  openConnections: number;
  /** SASL PLAIN `<auth/>` received (granted, queued, or dropped because their connection closed while queued). */
  authRequests: number;
  /** Tokens taken: `<auth/>` answered (`<success/>`, or `<failure/>` for a malformed PLAIN message). */
  loginsGranted: number;
  /** The longest the auth queue has been. */
  maxQueue: number;
  /** Auths waiting for a token now (one whose client left is passed over, uncounted, when it reaches the head). */
  queued: number;
  /** Bound sessions now. */
  online: number;
  /** Messages delivered to a session (bounces not counted). */
  messagesRouted: number;
  /** Messages answered with a service-unavailable error: no session of their addressee was online. */
  messagesBounced: number;
  /** Presences without `to` reflected to their sender. */
  presencesReflected: number;
  /** Presences with `to` delivered to a session. */
  presencesRouted: number;
  /** XEP-0199 pings answered. */
  pings: number;
}

export interface CapacityServer {
  /** `ws://127.0.0.1:<port>/xmpp-websocket` */
  url: string;
  /** The XMPP domain: `localhost`. */
  domain: string;
  /** The bucket as built: R and the burst in tokens. */
  loginsPerSecond: number;
  burst: number;
  stats(): CapacityServerStats;
  /** When each token was granted, in whole microseconds since the server started (ascending). */
  grantTimesUs(): readonly number[];
  /** The most grants in any closed window of `ms` milliseconds; by construction ≤ burst + R·ms/1000. */
  maxGrantedInAnyWindow(ms: number): number;
  close(): Promise<void>;
}

/** One client connection and its place in the stream: before auth, authenticated, bound; closing after `<close/>`. */
interface Conn {
  ws: WebSocket;
  id: number;
  gone: boolean;
  opened: boolean;
  authPending: boolean;
  authenticated: boolean;
  username: string;
  /** Full JID once bound. */
  jid: string | undefined;
  bare: string | undefined;
  closing: boolean;
  closeTimer: NodeJS.Timeout | undefined;
}

interface QueuedAuth {
  conn: Conn;
  /** The PLAIN authcid, or undefined when the message was malformed (answered with `<failure/>`). */
  username: string | undefined;
}

export async function startCapacityServer(o: CapacityServerOptions): Promise<CapacityServer> {
  const rate = o.loginsPerSecond;
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`loginsPerSecond must be > 0, got ${rate}`);
  const burst = o.burst ?? Math.max(1, rate / 10);
  if (!(burst >= 1) || !Number.isFinite(burst)) throw new RangeError(`burst must be ≥ 1 token, got ${burst}`);

  // The token bucket in its GCRA form (virtual scheduling), on whole microseconds so the bound is exact: a grant at t
  // conforms when t ≥ tat − tolerance, and moves tat to max(tat, t) + interval. With interval ≥ 1/R (rounded up) and
  // tolerance ≤ (burst − 1)·interval, any window of W µs holds at most 1 + ⌊(W + tolerance)/interval⌋ ≤ burst + R·W
  // grants: a bucket of `burst` tokens refilled continuously at R/s, full at the start.
  const intervalUs = Math.ceil(1e6 / rate);
  const toleranceUs = Math.floor((burst - 1) * intervalUs);
  let tat = 0;
  const t0 = performance.now();
  const nowUs = (): number => Math.floor((performance.now() - t0) * 1000);

  const s: CapacityServerStats = {
    connections: 0,
    openConnections: 0,
    authRequests: 0,
    loginsGranted: 0,
    maxQueue: 0,
    queued: 0,
    online: 0,
    messagesRouted: 0,
    messagesBounced: 0,
    presencesReflected: 0,
    presencesRouted: 0,
    pings: 0,
  };
  const grants: number[] = [];
  // FIFO with a head index: a queue of thousands is not shifted element by element.
  let queue: QueuedAuth[] = [];
  let head = 0;
  let pumpTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  /** Bound sessions by full JID, and by bare JID (in bind order). */
  const byFull = new Map<string, Conn>();
  const byBare = new Map<string, Conn[]>();
  let connSeq = 0;
  let resourceSeq = 0;

  const pump = (): void => {
    pumpTimer = undefined;
    while (head < queue.length) {
      const q = queue[head]!;
      if (q.conn.gone || q.conn.closing) {
        // Its client left while it waited: no token spent on nobody.
        head++;
        continue;
      }
      const t = nowUs();
      if (t < tat - toleranceUs) {
        // Timers may fire early against the monotonic clock: this only re-arms, the check above is what counts.
        pumpTimer = setTimeout(pump, Math.max(1, Math.ceil((tat - toleranceUs - t) / 1000)));
        break;
      }
      head++;
      tat = Math.max(tat, t) + intervalUs;
      grants.push(t);
      s.loginsGranted++;
      grant(q);
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    s.queued = queue.length - head;
  };

  const enqueue = (q: QueuedAuth): void => {
    queue.push(q);
    s.queued = queue.length - head;
    if (s.queued > s.maxQueue) s.maxQueue = s.queued;
    if (pumpTimer === undefined && !stopped) pump();
  };

  const grant = (q: QueuedAuth): void => {
    const c = q.conn;
    c.authPending = false;
    if (q.username === undefined) {
      send(c, `<failure xmlns='${NS_SASL}'><malformed-request/></failure>`);
      return;
    }
    c.authenticated = true;
    c.username = q.username;
    c.opened = false; // the client restarts the stream (RFC 6120 §6.4.6)
    send(c, SUCCESS);
  };

  const send = (c: Conn, frame: string): void => {
    if (!c.gone) c.ws.send(frame);
  };

  const unbind = (c: Conn): void => {
    if (c.jid === undefined) return;
    if (byFull.get(c.jid) === c) byFull.delete(c.jid);
    const list = byBare.get(c.bare!);
    if (list) {
      const i = list.indexOf(c);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) byBare.delete(c.bare!);
    }
    c.jid = undefined;
    s.online--;
  };

  /** A stream error, then `<close/>` (RFC 7395 §3.6): the client answers with its own and closes the WebSocket. */
  const streamError = (c: Conn, condition: string): void => {
    if (!c.opened) sendOpen(c); // RFC 6120 §4.9.1.1: an error before the stream is open opens it first
    send(
      c,
      `<stream:error xmlns:stream='http://etherx.jabber.org/streams'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
    );
    startClosing(c, true);
  };

  const sendOpen = (c: Conn): void => {
    c.opened = true;
    send(
      c,
      `<open xmlns='${NS_FRAMING}' from='${DOMAIN}' id='c${c.id}-${c.authenticated ? 2 : 1}' version='1.0' xml:lang='en'/>`,
    );
  };

  const startClosing = (c: Conn, sendClose: boolean): void => {
    if (c.closing) return;
    c.closing = true;
    unbind(c);
    if (sendClose) send(c, CLOSE);
    c.closeTimer = setTimeout(() => {
      if (!c.gone) c.ws.close(1000);
    }, CLIENT_CLOSE_GRACE_MS);
  };

  const onFrame = (c: Conn, frame: string): void => {
    if (c.closing) return; // after `<close/>` the stream carries nothing more
    const el = parseStart(frame);
    if (!el) return streamError(c, 'not-well-formed');
    const { name, attrs } = el;
    if (name === 'close' && attrs.xmlns === NS_FRAMING) return startClosing(c, true);
    if (name === 'open') {
      if (attrs.xmlns !== NS_FRAMING || attrs.version !== '1.0') return streamError(c, 'invalid-namespace');
      if (attrs.to !== undefined && attrs.to !== DOMAIN) return streamError(c, 'host-unknown');
      if (c.opened || c.jid !== undefined) return streamError(c, 'undefined-condition');
      sendOpen(c);
      send(c, c.authenticated ? FEATURES_BIND : FEATURES_SASL);
      return;
    }
    if (!c.opened) return streamError(c, 'not-authorized');
    if (!c.authenticated) {
      if (name !== 'auth' || attrs.xmlns !== NS_SASL || c.authPending)
        return streamError(c, 'not-authorized');
      if (attrs.mechanism !== 'PLAIN') {
        send(c, `<failure xmlns='${NS_SASL}'><invalid-mechanism/></failure>`);
        return;
      }
      s.authRequests++;
      c.authPending = true;
      enqueue({ conn: c, username: plainUsername(textOf(frame, el.end)) });
      return;
    }
    if (name === 'iq') return onIq(c, frame, el);
    if (c.jid === undefined) return streamError(c, 'not-authorized');
    if (name === 'presence') return onPresence(c, frame, el);
    if (name === 'message') return onMessage(c, frame, el);
    streamError(c, 'unsupported-stanza-type');
  };

  const onIq = (c: Conn, frame: string, el: StartTag): void => {
    const { attrs } = el;
    const type = attrs.type;
    if (type === 'result' || type === 'error') return; // answers to nothing: the server sends no requests
    if (type !== 'get' && type !== 'set') return streamError(c, 'bad-format'); // RFC 6120 §8.2.3
    const id = attrs.id ?? '';
    const child = firstChild(frame, el.end);
    if (c.jid === undefined) {
      if (type !== 'set' || child?.name !== 'bind' || child.attrs.xmlns !== NS_BIND)
        return streamError(c, 'not-authorized');
      let resource = /<resource(?:\s[^>]*)?>([^<]*)<\/resource>/.exec(frame)?.[1];
      resource = resource === undefined ? '' : unescapeXml(resource).trim();
      const bare = `${c.username}@${DOMAIN}`;
      // A resource in use (or none asked for) gets one the server picks (RFC 6120 §7.7.2.2, §7.6.2.1).
      if (resource === '' || byFull.has(`${bare}/${resource}`)) resource = `r${++resourceSeq}`;
      const jid = `${bare}/${resource}`;
      c.jid = jid;
      c.bare = bare;
      byFull.set(jid, c);
      const list = byBare.get(bare);
      if (list) list.push(c);
      else byBare.set(bare, [c]);
      s.online++;
      send(
        c,
        `<iq xmlns='jabber:client' type='result' id='${escapeAttr(id)}'><bind xmlns='${NS_BIND}'><jid>${escapeText(jid)}</jid></bind></iq>`,
      );
      return;
    }
    const to = escapeAttr(c.jid);
    if (type === 'get' && child?.name === 'ping' && child.attrs.xmlns === NS_PING) {
      s.pings++;
      send(c, `<iq xmlns='jabber:client' type='result' id='${escapeAttr(id)}' to='${to}' from='${DOMAIN}'/>`);
      return;
    }
    // Anything else is answered with an empty result, from whom it was addressed to (the account when no `to`).
    const from = attrs.to === undefined ? '' : ` from='${escapeAttr(attrs.to)}'`;
    send(c, `<iq xmlns='jabber:client' type='result' id='${escapeAttr(id)}' to='${to}'${from}/>`);
  };

  const onPresence = (c: Conn, frame: string, el: StartTag): void => {
    const to = el.attrs.to;
    if (to === undefined) {
      // Broadcast presence: the sender's own session is among its recipients (RFC 6121 §4.2.2).
      s.presencesReflected++;
      send(c, withFrom(frame, el, c.jid!));
      return;
    }
    const target = route(to);
    if (target) {
      s.presencesRouted++;
      send(target, withFrom(frame, el, c.jid!));
    } // presence to nobody online is dropped silently (RFC 6121 §4.6.3)
  };

  const onMessage = (c: Conn, frame: string, el: StartTag): void => {
    const to = el.attrs.to ?? c.bare!;
    const target = route(to);
    if (target) {
      s.messagesRouted++;
      send(target, withFrom(frame, el, c.jid!));
      return;
    }
    if (el.attrs.type === 'error') return; // never bounce a bounce
    s.messagesBounced++;
    const id = el.attrs.id === undefined ? '' : ` id='${escapeAttr(el.attrs.id)}'`;
    send(
      c,
      `<message xmlns='jabber:client' type='error'${id} from='${escapeAttr(to)}' to='${escapeAttr(c.jid!)}'><error type='cancel'><service-unavailable xmlns='${NS_STANZAS}'/></error></message>`,
    );
  };

  /** The session a stanza to `to` goes to: that full JID, or the first-bound online session of that bare JID. */
  const route = (to: string): Conn | undefined => {
    if (to.includes('/')) return byFull.get(to);
    return byBare.get(to)?.[0];
  };

  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
  });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    s.connections++;
    s.openConnections++;
    const c: Conn = {
      ws,
      id: ++connSeq,
      gone: false,
      opened: false,
      authPending: false,
      authenticated: false,
      username: '',
      jid: undefined,
      bare: undefined,
      closing: false,
      closeTimer: undefined,
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) return streamError(c, 'unsupported-encoding'); // RFC 7395 §3.2: text frames only
      onFrame(c, data.toString());
    });
    ws.on('error', () => undefined); // a reset connection ends in 'close' as well
    ws.on('close', () => {
      c.gone = true;
      s.openConnections--;
      if (c.closeTimer) clearTimeout(c.closeTimer);
      unbind(c);
    });
  });
  const { port } = wss.address() as AddressInfo;

  return {
    url: `ws://127.0.0.1:${port}/xmpp-websocket`,
    domain: DOMAIN,
    loginsPerSecond: rate,
    burst,
    stats: () => ({ ...s }),
    grantTimesUs: () => grants.slice(),
    maxGrantedInAnyWindow: (ms: number) => {
      const w = ms * 1000;
      let best = 0;
      for (let i = 0, j = 0; j < grants.length; j++) {
        while (grants[j]! - grants[i]! > w) i++;
        best = Math.max(best, j - i + 1);
      }
      return best;
    },
    close: async () => {
      stopped = true;
      if (pumpTimer) clearTimeout(pumpTimer);
      pumpTimer = undefined;
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

// ---- the smallest parser that is right for one RFC 7395 frame --------------------------------------------------

interface StartTag {
  /** Local name (a prefix, as in `stream:error`, is dropped). */
  name: string;
  attrs: Record<string, string>;
  /** Index of the start tag's `>`. */
  end: number;
  /** `<x/>`: no content. */
  empty: boolean;
}

const NAME_RE = /^\s*<([A-Za-z_][\w.:-]*)/;
const ATTR_RE = /([^\s=/<>]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/g;

/** The frame's top element's start tag, or undefined when the frame does not begin with one. */
export function parseStart(frame: string, from = 0): StartTag | undefined {
  const m = NAME_RE.exec(from === 0 ? frame : frame.slice(from));
  if (!m) return undefined;
  const start = from + m[0].length;
  // The `>` that ends the start tag: the first one outside a quoted attribute value.
  let quote = '';
  let end = -1;
  for (let i = start; i < frame.length; i++) {
    const ch = frame[i];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '>') {
      end = i;
      break;
    } else if (ch === '<') return undefined;
  }
  if (end < 0) return undefined;
  const empty = frame[end - 1] === '/';
  const attrs: Record<string, string> = {};
  const body = frame.slice(start, empty ? end - 1 : end);
  for (const a of body.matchAll(ATTR_RE)) attrs[a[1]!] = unescapeXml(a[2] ?? a[3] ?? '');
  const q = m[1]!;
  const colon = q.indexOf(':');
  return { name: colon < 0 ? q : q.slice(colon + 1), attrs, end, empty };
}

/** The first child element's start tag, skipping text. */
function firstChild(frame: string, end: number): StartTag | undefined {
  if (frame[end - 1] === '/') return undefined;
  const lt = frame.indexOf('<', end + 1);
  if (lt < 0 || frame[lt + 1] === '/') return undefined;
  return parseStart(frame, lt);
}

/** The text content of a frame whose top element holds only text (`<auth>…</auth>`). */
function textOf(frame: string, end: number): string {
  if (frame[end - 1] === '/') return '';
  const close = frame.lastIndexOf('</');
  return unescapeXml(frame.slice(end + 1, close < end ? frame.length : close)).trim();
}

/**
 * The authcid of a PLAIN initial response (RFC 4616: `authzid NUL authcid NUL passwd`, base64), or undefined when it
 * is malformed or names no JID localpart we can route to.
 */
function plainUsername(b64: string): string | undefined {
  if (b64 === '' || b64 === '=' || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3) return undefined;
  const user = parts[1]!;
  return user === '' || /[\s@/"&'<>:]/.test(user) ? undefined : user;
}

/**
 * The stanza with `from` set to `jid` (any `from` the client wrote is replaced, RFC 6120 §8.1.2.1), its content left
 * byte for byte as the client sent it. A stanza without its namespace declared gets jabber:client.
 */
function withFrom(frame: string, el: StartTag, jid: string): string {
  const tagEnd = el.empty ? el.end - 1 : el.end;
  let tag = frame.slice(0, tagEnd).replace(/\sfrom\s*=\s*(?:'[^']*'|"[^"]*")/, '');
  if (el.attrs.xmlns === undefined) tag += " xmlns='jabber:client'";
  return `${tag} from='${escapeAttr(jid)}'${frame.slice(tagEnd)}`;
}

function unescapeXml(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, e: string) =>
    e === 'lt'
      ? '<'
      : e === 'gt'
        ? '>'
        : e === 'amp'
          ? '&'
          : e === 'quot'
            ? '"'
            : e === 'apos'
              ? "'"
              : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)),
  );
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => ESC[c]!);
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
