/**
 * BOSH (XEP-0124) carrying XMPP (XEP-0206), as a transport under the same XmppSession that runs over RFC 7395
 * WebSocket. The session speaks frames (`<open/>`, stanzas, `<close/>`); this adapter maps them onto BOSH
 * bodies — session creation, `xmpp:restart`, payload, `type='terminate'` — and maps the server's bodies back
 * into frames. Host-neutral: the host supplies one function that POSTs a body (k6/http `asyncRequest`, Node's
 * fetch), plus the clock and crypto the session already uses.
 *
 * Written by hand because no maintained BOSH client runs inside k6: xmpp.js's BOSH needs DOM/fetch globals.
 */
import type { Clock, TimerHandle } from './clock.ts';
import type { CryptoProvider } from './crypto.ts';
import { XmppError } from './errors.ts';
import { DEFAULT_TIMEOUTS } from './session.ts';
import { CLOSE_FRAME } from './framing.ts';
import { NS } from './namespaces.ts';
import { escapeAttr, x, type XmlElement } from './xml/element.ts';
import { parseFrame, XmlParseError } from './xml/parser.ts';

/** What a POST gave back. `status` 0 means no HTTP response (timeout, refused, reset), as in k6. */
export interface BoshHttpResponse {
  status: number;
  body: string;
  /** Why there was no response (status 0), or the HTTP client's error text. */
  error?: string;
  /** The HTTP client refused the body for its size: asking again would bring the same answer. */
  bodyTooLarge?: boolean;
}

/** POSTs one `<body/>` to the connection manager with the given client-side timeout (ms). */
export type BoshPost = (body: string, timeoutMs: number) => Promise<BoshHttpResponse>;

/** The session-side events the adapter drives; XmppSession implements them. */
export interface BoshSink {
  transportOpened(protocol?: string): void;
  transportElement(el: XmlElement): void;
  transportFailed(err: XmppError): void;
  transportClosed(code: number | undefined, reason?: string): void;
}

export interface BoshOptions {
  domain: string;
  post: BoshPost;
  clock: Clock;
  crypto: CryptoProvider;
  /** Longest time (s) the server may hold a request (XEP-0124 `wait`); the server may lower it. */
  wait?: number;
  /** Requests the server may keep waiting (XEP-0124 `hold`). */
  hold?: number;
  lang?: string;
  /**
   * Client-side HTTP timeout (ms) for every request; must exceed `wait` so a held request is answered by the
   * server (empty body) before the client gives up on it. Default `wait` + 10 s.
   */
  httpTimeoutMs?: number;
  /**
   * HTTP timeout (ms) of the session creation request, which a connection manager answers at once (it holds
   * none): the session's connect timeout, so a server that never answers is given up on then, request and all
   * (k6 cannot abort a request; only its timeout ends it). Default: `httpTimeoutMs`.
   */
  createTimeoutMs?: number;
  /** Times one request may be re-sent with the same rid after a network failure or `type='error'`. */
  maxRetries?: number;
  /**
   * Least time (ms) between two requests while the earlier one is unanswered, so they reach the server in rid
   * order (see `pump`). Default `auto`: 20 ms for ejabberd-family connection managers (their creation response
   * carries `xmpp:restartlogic`), which stall a request that overtakes the one before it; 0 for the rest
   * (Prosody defers an early rid itself), since the gap delays every back-to-back request.
   */
  orderGapMs?: number | 'auto';
  /** Called when a request is re-sent (for a retry counter). */
  onRetry?: (reason: string) => void;
}

export const BOSH_DEFAULTS = { wait: 30, hold: 1, marginMs: 10_000, maxRetries: 3, orderGapMs: 20 } as const;

/**
 * The creation request's HTTP timeout for a session with these timeouts: just past the XMPP connect timeout, so
 * a silent server is reported as `timeout:connect` (the phase) and the request ends a second later.
 */
export function creationTimeout(timeouts: { connect?: number } | undefined): number {
  return (timeouts?.connect ?? DEFAULT_TIMEOUTS.connect) + 1000;
}

/** XEP-0124 §17.3: the legacy HTTP status codes of older connection managers, as binding conditions. */
const LEGACY_STATUS: Record<number, string> = {
  400: 'bad-request',
  403: 'policy-violation',
  404: 'item-not-found',
};

/** Highest initial rid that still leaves 2^32 requests before 2^53 (XEP-0124 §14.1). */
const MAX_INITIAL_RID = 2 ** 52;

type Phase = 'idle' | 'creating' | 'established' | 'terminating' | 'ended';

interface InFlight {
  rid: number;
  body: string;
  tries: number;
  timeoutMs: number;
}

/**
 * One BOSH session. Keeps one request held by the server for inbound stanzas and sends outbound ones on a
 * second request, never more than the server's `requests` at once; stanzas queued while both are out go
 * together in the next body. Responses are handled in rid order (XEP-0124 §9).
 */
export class BoshTransport {
  /** Session id from the creation response. Public so tests can break it on purpose. */
  sid: string | undefined;
  /** The rid of the last request built. Public so tests can break it on purpose. */
  rid: number;
  /** What the server granted (creation response). */
  granted = { requests: 2, hold: 1, wait: 30, polling: 0, inactivity: 0, ver: '' };
  /** HTTP requests made, retries included. */
  requestCount = 0;

  private readonly o: BoshOptions;
  private readonly wait: number;
  private readonly httpTimeoutMs: number;
  private sink: BoshSink | undefined;
  private phase: Phase = 'idle';
  private queue: string[] = [];
  private restartPending = false;
  private terminatePending = false;
  private readonly inflight = new Map<number, InFlight>();
  private readonly answered = new Map<number, BoshHttpResponse>();
  /** Lowest rid whose response has not been handled yet. */
  private nextToHandle = 0;
  /** Elements received before the session asked for its `<open/>`. */
  private early: XmlElement[] = [];
  private awaitingOpen = false;
  /** The session has written its first `<open/>`. */
  private hasOpened = false;
  private terminateAcked = false;
  private pumpTimer: TimerHandle | undefined;
  /** The pump timer only waits to send an empty request (not to keep the order gap). */
  private pumpTimerIdle = false;
  private lastDispatch = -Infinity;
  /** The gap in force: fixed by the options, or chosen from the creation response when `auto`. */
  orderGapMs: number;
  private readonly autoGap: boolean;

  constructor(options: BoshOptions) {
    this.o = options;
    this.wait = options.wait ?? BOSH_DEFAULTS.wait;
    this.httpTimeoutMs = options.httpTimeoutMs ?? this.wait * 1000 + BOSH_DEFAULTS.marginMs;
    const gap = options.orderGapMs ?? 'auto';
    this.autoGap = gap === 'auto';
    this.orderGapMs = gap === 'auto' ? 0 : gap;
    if (!(this.httpTimeoutMs > this.wait * 1000)) {
      throw new XmppError(
        'bosh-config',
        'timeout-below-wait',
        `BOSH HTTP timeout ${this.httpTimeoutMs} ms must exceed wait=${this.wait} s, or held requests time out ` +
          `on the client before the server answers them: lower BOSH_WAIT or raise the HTTP timeout`,
      );
    }
    const r = options.crypto.randomBytes(7);
    let n = 0;
    for (const b of r) n = n * 256 + b;
    this.rid = Math.floor(n % MAX_INITIAL_RID) + 1;
  }

  /** Sends the session creation request; the sink's `transportOpened` fires when the server answers it. */
  start(sink: BoshSink): void {
    if (this.phase !== 'idle') throw new Error('BoshTransport.start called twice');
    this.sink = sink;
    this.phase = 'creating';
    const attrs: Record<string, string> = {
      content: 'text/xml; charset=utf-8',
      hold: String(this.o.hold ?? BOSH_DEFAULTS.hold),
      rid: String(this.rid),
      to: this.o.domain,
      ver: '1.6',
      wait: String(this.wait),
      'xml:lang': this.o.lang ?? 'en',
      'xmpp:version': '1.0',
      xmlns: NS.bosh,
      'xmlns:xmpp': NS.xbosh,
    };
    this.nextToHandle = this.rid;
    this.dispatch(this.rid, bodyOpen(attrs, true), this.o.createTimeoutMs ?? this.httpTimeoutMs);
  }

  // ---- FrameTransport (what the session calls) -------------------------------------------------------

  send(frame: string): void {
    if (this.phase === 'ended') return;
    if (frame.startsWith('<open ')) {
      // The first <open/> is answered from the creation response; later ones are stream restarts.
      if (this.sid !== undefined && this.hasOpened) this.restartPending = true;
      this.hasOpened = true;
      this.awaitingOpen = true;
      this.o.clock.setTimeout(() => this.deliverOpen(), 0);
      this.pump();
      return;
    }
    if (frame === CLOSE_FRAME) {
      if (this.phase === 'established') {
        this.terminatePending = true;
        this.pump();
      } else if (this.phase === 'terminating' && this.terminateAcked) {
        // The server ended the session; our <close/> answers it and there is nothing left to send.
        this.end(1000, 'terminated');
      }
      return;
    }
    if (this.phase !== 'established' || this.terminatePending) return;
    this.queue.push(frame);
    this.pump();
  }

  /** The session is done with the transport: 1000 only if a terminate was exchanged. */
  close(): void {
    if (this.phase === 'ended') return;
    if (this.terminateAcked) this.end(1000, 'terminated');
    else this.end(undefined, 'closed without a BOSH terminate exchange');
  }

  // ---- internals -----------------------------------------------------------------------------------

  private deliverOpen(): void {
    if (!this.awaitingOpen || this.phase === 'ended' || !this.sink) return;
    this.awaitingOpen = false;
    // BOSH has no stream header of its own: the creation response (or restart) plays the <open/>'s part.
    this.sink.transportElement(
      x('open', {
        xmlns: NS.framing,
        id: this.sid,
        from: this.o.domain,
        version: '1.0',
        'xml:lang': this.o.lang ?? 'en',
      }),
    );
    const early = this.early;
    this.early = [];
    for (const el of early) {
      if (this.isEnded()) return;
      this.sink.transportElement(el);
    }
  }

  /**
   * Sends what is due, within the server's `requests` limit; keeps one request open for inbound stanzas.
   * A request is not sent sooner than `orderGapMs` after the previous one while that one is unanswered: a
   * connection manager may receive two requests made back to back in the opposite order (a fresh TCP connection
   * is slower than a kept-alive one), and ejabberd 23.01 then stalls the later rid until it times out.
   */
  private pump(): void {
    if (this.phase !== 'established') return;
    if (this.pumpTimer !== undefined) {
      // Waiting to send an empty request only spaces empty requests (XEP-0124 §11): a stanza goes now.
      const due = this.restartPending || this.terminatePending || this.queue.length > 0;
      if (!this.pumpTimerIdle || !due) return;
      this.o.clock.clearTimeout(this.pumpTimer);
      this.pumpTimer = undefined;
    }
    const limit = Math.max(1, this.granted.requests);
    while (this.inflight.size < limit && this.phase === 'established') {
      const due = this.restartPending || this.terminatePending || this.queue.length > 0;
      if (!due) {
        if (this.inflight.size === 0) this.schedule(this.idlePollDelay(), true);
        return;
      }
      const wait = this.lastDispatch + this.orderGapMs - this.o.clock.now();
      if (wait > 0 && this.inflight.has(this.rid)) {
        this.schedule(wait, false);
        return;
      }
      if (this.restartPending) {
        this.restartPending = false;
        this.send1(
          {
            to: this.o.domain,
            'xml:lang': this.o.lang ?? 'en',
            'xmpp:restart': 'true',
            'xmlns:xmpp': NS.xbosh,
          },
          '',
        );
      } else {
        const payload = this.queue.join('');
        this.queue = [];
        if (this.terminatePending) {
          this.terminatePending = false;
          this.phase = 'terminating';
          this.terminateRid = this.send1({ type: 'terminate' }, payload);
        } else this.send1({}, payload);
      }
    }
  }

  /**
   * How long to wait before an empty request for the server to hold: one timer turn, so a stanza the session
   * writes in reaction to what just arrived rides in that request instead of racing it; polling sessions
   * (requests=1) wait `polling` s between empty requests (XEP-0124 §12).
   */
  private idlePollDelay(): number {
    return this.granted.requests <= 1 && this.granted.polling > 0 ? this.granted.polling * 1000 : 0;
  }

  /** Runs the pump after `ms`; an empty request goes out then if nothing else is due and nothing is out. */
  private schedule(ms: number, idle: boolean): void {
    this.pumpTimerIdle = idle;
    this.pumpTimer = this.o.clock.setTimeout(() => {
      this.pumpTimer = undefined;
      if (this.phase !== 'established') return;
      const due = this.restartPending || this.terminatePending || this.queue.length > 0;
      if (!due && this.inflight.size === 0) this.send1({}, '');
      else this.pump();
    }, ms);
  }

  /** Builds the next request (next rid) around `payload` and posts it; returns its rid. */
  private send1(extra: Record<string, string>, payload: string): number {
    const rid = ++this.rid;
    this.lastDispatch = this.o.clock.now();
    const attrs = { rid: String(rid), sid: this.sid!, ...extra, xmlns: NS.bosh };
    this.dispatch(rid, payload ? bodyOpen(attrs, false) + payload + '</body>' : bodyOpen(attrs, true));
    return rid;
  }

  private dispatch(rid: number, body: string, timeoutMs = this.httpTimeoutMs): void {
    const req: InFlight = { rid, body, tries: 0, timeoutMs };
    this.inflight.set(rid, req);
    this.post(req);
  }

  private post(req: InFlight): void {
    this.requestCount++;
    this.o.post(req.body, req.timeoutMs).then(
      (res) => this.onResponse(req, res),
      (e: unknown) => this.onResponse(req, { status: 0, body: '', error: String(e) }),
    );
  }

  private onResponse(req: InFlight, res: BoshHttpResponse): void {
    if (this.phase === 'ended') return;
    if (this.retryable(req, res)) return;
    this.inflight.delete(req.rid);
    if (endsSession(res)) {
      // The session is gone whatever earlier requests still bring: report it now, not after a held request's wait.
      this.handle(req.rid, res);
      return;
    }
    this.answered.set(req.rid, res);
    while (this.answered.has(this.nextToHandle)) {
      const r = this.answered.get(this.nextToHandle)!;
      this.answered.delete(this.nextToHandle);
      const rid = this.nextToHandle++;
      this.handle(rid, r);
      if (this.isEnded()) return;
    }
    this.pump();
  }

  /** Network failures and `type='error'` are recoverable (XEP-0124 §17.1): re-send the same rid. */
  private retryable(req: InFlight, res: BoshHttpResponse): boolean {
    let why: string | undefined;
    if (res.status === 0) why = `no HTTP response (${res.error ?? 'unknown error'})`;
    else if (res.status === 200 && /^\s*(?:<\?xml[^>]*\?>\s*)?<body[^>]*\stype=['"]error['"]/.test(res.body))
      why = "recoverable binding error (type='error')";
    if (why === undefined) return false;
    const tooLarge = res.status === 0 && res.bodyTooLarge === true;
    if (
      tooLarge ||
      req.tries >= (this.o.maxRetries ?? BOSH_DEFAULTS.maxRetries) ||
      this.phase === 'creating'
    ) {
      if (res.status !== 0) return false; // handled as a fatal body below
      this.fatal(
        new XmppError(
          'transport-error',
          tooLarge
            ? 'bosh-body-too-large'
            : res.error && /timeout/i.test(res.error)
              ? 'bosh-timeout'
              : 'bosh-network',
          `BOSH request rid ${req.rid} failed: ${why}, after ${req.tries} retries`,
        ),
      );
      return true;
    }
    req.tries++;
    this.o.onRetry?.(why);
    this.post(req);
    return true;
  }

  private handle(rid: number, res: BoshHttpResponse): void {
    if (res.status !== 200) {
      const condition = LEGACY_STATUS[res.status] ?? `http-${res.status}`;
      return this.fatal(
        new XmppError(
          'bosh-terminate',
          condition,
          `BOSH connection manager answered rid ${rid} with HTTP ${res.status}` +
            (LEGACY_STATUS[res.status] ? ` (legacy ${condition}, XEP-0124 §17.3)` : '') +
            (res.body ? `: ${res.body.slice(0, 200)}` : ''),
        ),
      );
    }
    let body: XmlElement;
    try {
      body = parseFrame(res.body);
    } catch (e) {
      if (!(e instanceof XmlParseError)) throw e;
      return this.fatal(
        new XmppError(
          'framing-violation',
          e.code,
          `BOSH response to rid ${rid} is not well-formed XML: ${e.message}`,
        ),
      );
    }
    if (!body.is('body', NS.bosh)) {
      return this.fatal(
        new XmppError(
          'framing-violation',
          'expected-body',
          `BOSH response to rid ${rid} is <${body.name}> (ns '${body.ns}'), not <body xmlns='${NS.bosh}'/>`,
        ),
      );
    }
    if (body.attr('type') === 'error') {
      // Only reached once the retries are spent (see retryable).
      return this.fatal(
        new XmppError(
          'transport-error',
          'bosh-error',
          `BOSH connection manager kept answering rid ${rid} with type='error' (recoverable binding error), ` +
            `${this.o.maxRetries ?? BOSH_DEFAULTS.maxRetries} retries spent`,
        ),
      );
    }
    if (this.phase === 'creating') {
      if (!this.onCreated(body)) return;
    }
    const terminated = body.attr('type') === 'terminate';
    const condition = body.attr('condition');
    // ejabberd answers the request it was holding with other-request when our terminate arrives: that ends too.
    const superseded = condition === 'other-request' && this.terminateRid !== undefined;
    if (terminated && condition && condition !== 'remote-stream-error' && !superseded) {
      const uri = condition === 'see-other-uri' ? body.getChildText('uri', NS.bosh) : undefined;
      return this.fatal(
        new XmppError(
          'bosh-terminate',
          condition,
          `BOSH session terminated by the server: ${condition}${uri ? ` (${uri})` : ''}${hint(condition)}`,
          undefined,
          uri ? { kind: 'see-other-uri', to: uri } : undefined,
        ),
      );
    }
    // A terminate body, or the answer to our own terminate request, plays the <close/>'s part.
    const ends = terminated || rid === this.terminateRid;
    if (ends) {
      if (this.terminateAcked) return; // every held request is answered with the same terminate
      this.terminateAcked = true;
      this.phase = 'terminating';
    }
    for (const el of body.elements) {
      this.deliver(adoptNamespaces(el));
      if (this.isEnded()) return;
    }
    if (ends) this.deliver(x('close', { xmlns: NS.framing }));
  }

  private terminateRid: number | undefined;

  private onCreated(body: XmlElement): boolean {
    const sid = body.attr('sid');
    if (body.attr('type') === 'terminate') {
      const condition = body.attr('condition') ?? 'undefined-condition';
      this.fatal(
        new XmppError(
          'bosh-terminate',
          condition,
          `BOSH session creation refused: ${condition}${hint(condition)}`,
        ),
      );
      return false;
    }
    if (!sid) {
      this.fatal(
        new XmppError(
          'framing-violation',
          'no-sid',
          'BOSH session creation response has no sid: is this a BOSH (XEP-0124) endpoint?',
        ),
      );
      return false;
    }
    this.sid = sid;
    const num = (name: string, fallback: number): number => {
      const v = Number(body.attr(name));
      return Number.isFinite(v) && body.attr(name) !== undefined ? v : fallback;
    };
    this.granted = {
      requests: num('requests', 2),
      hold: num('hold', this.o.hold ?? BOSH_DEFAULTS.hold),
      wait: num('wait', this.wait),
      polling: num('polling', 0),
      inactivity: num('inactivity', 0),
      ver: body.attr('ver') ?? '',
    };
    if (this.granted.wait * 1000 >= this.httpTimeoutMs) {
      this.fatal(
        new XmppError(
          'bosh-config',
          'timeout-below-wait',
          `the server raised wait to ${this.granted.wait} s, at or above the HTTP timeout of ${this.httpTimeoutMs} ms`,
        ),
      );
      return false;
    }
    if (this.autoGap && body.attr('xmpp:restartlogic') !== undefined)
      this.orderGapMs = BOSH_DEFAULTS.orderGapMs;
    this.phase = 'established';
    this.sink?.transportOpened();
    return true;
  }

  /** A method, not an inline test: TypeScript narrows `phase` across calls that can change it. */
  private isEnded(): boolean {
    return this.phase === 'ended';
  }

  private deliver(el: XmlElement): void {
    if (this.awaitingOpen || this.early.length > 0 || !this.hasOpened) {
      this.early.push(el);
      return;
    }
    this.sink?.transportElement(el);
  }

  private fatal(err: XmppError): void {
    if (this.phase === 'ended') return;
    // Ended first: the session answers a failure with <close/>, which must not become a request to a dead session.
    this.end(undefined, err.reason);
    this.sink?.transportFailed(err);
  }

  private end(code: number | undefined, reason: string): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    if (this.pumpTimer !== undefined) this.o.clock.clearTimeout(this.pumpTimer);
    this.queue = [];
    this.inflight.clear();
    this.answered.clear();
    // Requests still out (k6 cannot abort them) complete later and are ignored.
    const sink = this.sink;
    this.o.clock.setTimeout(() => sink?.transportClosed(code, reason), 0);
  }
}

/** A response that ends the session by itself: a legacy HTTP error, or a terminate with a fatal condition. */
function endsSession(res: BoshHttpResponse): boolean {
  if (res.status !== 200) return true;
  const m = /^\s*(?:<\?xml[^>]*\?>\s*)?<body\b[^>]*?\scondition=['"]([^'"]*)['"]/.exec(res.body);
  return m !== null && m[1] !== 'other-request' && m[1] !== 'remote-stream-error';
}

function hint(condition: string): string {
  switch (condition) {
    case 'item-not-found':
      return ' (the server does not know this sid, or the rid is outside its window: the session is gone)';
    case 'policy-violation':
      return ' (too many requests at once, or requests too frequent for the polling interval)';
    case 'remote-connection-failed':
      return ' (the connection manager could not reach the XMPP server behind it)';
    case 'host-unknown':
      return ' (the server does not serve this domain: check XMPP_DOMAIN)';
    default:
      return '';
  }
}

/** `<body a='…'` (+ `/>` when empty); attributes in `'` as serialize() writes them. */
function bodyOpen(attrs: Record<string, string>, empty: boolean): string {
  let s = '<body';
  for (const [k, v] of Object.entries(attrs)) s += ` ${k}='${escapeAttr(v)}'`;
  return s + (empty ? '/>' : '>');
}

/**
 * A child of `<body/>` as a standalone element: stanzas without their own xmlns are jabber:client (XEP-0206
 * §6), not httpbind, and prefixes declared on the body are declared on the child, so the child serializes
 * (transcripts, taps) as the frame it would have been over WebSocket.
 */
function adoptNamespaces(el: XmlElement): XmlElement {
  const fix = (e: XmlElement): void => {
    if (e.ns === NS.bosh && !e.prefix) e.ns = NS.client;
    for (const c of e.elements) fix(c);
  };
  fix(el);
  if (el.prefix) {
    if (el.attr(`xmlns:${el.prefix}`) === undefined) el.setAttr(`xmlns:${el.prefix}`, el.ns);
  } else if (el.attr('xmlns') === undefined) el.setAttr('xmlns', el.ns);
  return el;
}
