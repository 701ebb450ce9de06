/**
 * One XMPP client session over a framed transport (RFC 7395 WebSocket, or BOSH through src/xmpp/bosh.ts), from
 * transport open to clean close. Host-neutral: the host owns the socket, feeds its events in
 * (`transportOpened`, `transportFrame` / `transportElement`, `transportClosed`, `transportError`) and gives the
 * session a way to send and close.
 */
import type { Clock, TimerHandle } from './clock.ts';
import type { CryptoProvider } from './crypto.ts';
import { XmppError } from './errors.ts';
import {
  CLOSE_FRAME,
  isClose,
  isFeatures,
  isOpen,
  isStreamError,
  openFrame,
  parseFeatures,
  parseOpen,
  parseStreamError,
  seeOtherUri,
  streamErrorFrame,
  type StreamFeatures,
} from './framing.ts';
import { NS } from './namespaces.ts';
import type { Redirect } from './redirect.ts';
import { defaultSaslRegistry } from './sasl/defaults.ts';
import type { SaslMechanism } from './sasl/mechanism.ts';
import type { SaslRegistry } from './sasl/registry.ts';
import type { ScramCache } from './sasl/scram-cache.ts';
import {
  bindPayload,
  iq,
  iqErrorReply,
  iqResultReply,
  messageFrame,
  parseRoster,
  parseStanzaError,
  pingPayload,
  presence,
  rosterQuery,
  sessionPayload,
  type MessageOptions,
  type PresenceOptions,
  type RosterItem,
  type StanzaKind,
} from './stanzas.ts';
import { serialize, x, type XmlElement } from './xml/element.ts';
import { parseFrame, XmlParseError } from './xml/parser.ts';

/**
 * `detached`: the transport broke under a session with stream management resumption (XEP-0198): the server keeps
 * it for a while, and `resume()` takes it up on a new transport (connect → open → SASL → `resuming` → ready).
 */
export type SessionState =
  | 'connecting'
  | 'opening'
  | 'authenticating'
  | 'binding'
  | 'resuming'
  | 'ready'
  | 'detached'
  | 'closing'
  | 'closed';

/** The phase a timeout belongs to; becomes `timeout:<phase>`. */
export type SessionPhase = 'connect' | 'open' | 'auth' | 'bind' | 'resume' | 'iq' | 'close';

export type SessionTimeouts = Record<SessionPhase, number>;

export const DEFAULT_TIMEOUTS: SessionTimeouts = {
  connect: 10_000,
  open: 10_000,
  auth: 15_000,
  bind: 10_000,
  resume: 10_000,
  iq: 10_000,
  close: 5_000,
};

export interface Credentials {
  username: string;
  password: string;
  authzid?: string;
}

/** What the session needs from the host's socket. */
export interface FrameTransport {
  send(frame: string): void;
  /** Starts the transport's closing handshake (WebSocket close 1000). */
  close(code?: number, reason?: string): void;
  /**
   * Drops the connection at once, without waiting for a closing handshake, and delivers none of its events any
   * more (breakTransport's network blip). Hosts without it: breakTransport closes, and waits for the close event.
   */
  abort?(): void;
}

export interface SessionOptions {
  domain: string;
  credentials: Credentials;
  transport: FrameTransport;
  clock: Clock;
  crypto: CryptoProvider;
  /** Resource to request at bind; the server picks one when absent. */
  resource?: string;
  /**
   * The SASL mechanisms this session can run, by name, in preference order (default: defaultSaslRegistry(),
   * i.e. SCRAM-SHA-256, SCRAM-SHA-1, PLAIN). Register a mechanism of your own here.
   */
  saslRegistry?: SaslRegistry;
  /** Names of the registry's mechanisms we may use, most preferred first (default: all, in the registry's order). */
  mechanisms?: string[];
  scramCache?: ScramCache;
  timeouts?: Partial<SessionTimeouts>;
  lang?: string;
  /** Sees every frame in both directions: transcripts, byte counts, taps. */
  onFrame?: (direction: 'in' | 'out', frame: string) => void;
  /** Sees every stanza (message, presence, iq) in both directions, already parsed: metrics by kind. */
  onStanza?: (direction: 'in' | 'out', kind: StanzaKind) => void;
  /**
   * Stream management (XEP-0198) with resumption: enabled after bind when the server offers it (else the session
   * goes on without), acks answered and requested, unacked stanzas kept for a resumption.
   */
  streamManagement?: boolean;
  /** The transport broke under a resumable session (state `detached`): the host may `resume()` it, or `close()`. */
  onDetached?: (why: XmppError) => void;
}

/** Stream management (XEP-0198) as negotiated, and its counters. */
export interface StreamManagementState {
  /** The resumption id (`<enabled id=…/>`); undefined when the server would not resume. */
  id: string | undefined;
  /** The longest the server keeps a detached session, seconds (`max`), when it said. */
  max: number | undefined;
  /** Stanzas received and handled since enabling (our `h`). */
  inbound: number;
  /** Stanzas sent since enabling. */
  outbound: number;
  /** The server's last acknowledged count. */
  acked: number;
  /** Unacknowledged stanzas sent again after resumptions. */
  resent: number;
}

/**
 * How a session ended. `clean` means both `<close/>` were exchanged and the transport closed with 1000 (BOSH
 * reports 1000 when the terminate exchange completed).
 */
export interface SessionEnd {
  clean: boolean;
  initiator: 'client' | 'server' | 'transport';
  code: number | undefined;
  reason: string;
  error: XmppError | undefined;
}

/** Millisecond timestamps (host clock) of each milestone, for per-phase latency metrics. */
export interface SessionTimings {
  started?: number;
  connected?: number;
  streamOpened?: number;
  authenticated?: number;
  bound?: number;
  ready?: number;
  /** The transport broke under a resumable session (latest break). */
  detached?: number;
  /** A resumption started (its new transport began connecting) and ended with `<resumed/>` (latest one). */
  resumeStarted?: number;
  resumed?: number;
  closeStarted?: number;
  closed?: number;
}

interface PendingIq {
  resolve: (el: XmlElement) => void;
  reject: (e: XmppError) => void;
  timer: TimerHandle;
}

type Handler = (el: XmlElement) => void;

let sessionSeq = 0;

/** The registry of sessions given none; never handed out, so nobody can `use()` on it. */
const DEFAULT_SASL = defaultSaslRegistry();

/** XEP-0198 counters wrap at 2^32. */
const H_MODULUS = 2 ** 32;
const SM_ENABLE = `<enable xmlns='urn:xmpp:sm:3' resume='true'/>`;
const SM_REQUEST = `<r xmlns='urn:xmpp:sm:3'/>`;

export class XmppSession {
  state: SessionState = 'connecting';
  /** Full JID after bind. */
  jid: string | undefined;
  streamId: string | undefined;
  offeredMechanisms: string[] = [];
  mechanism: string | undefined;
  /** The first failure; later ones are consequences. */
  failure: XmppError | undefined;
  /**
   * Where the server sent this session: `<close see-other-uri/>` (RFC 7395 §3.6.1), BOSH's see-other-uri
   * terminate, or a `<see-other-host/>` stream error. Whether to follow is the caller's choice.
   */
  get redirect(): Redirect | undefined {
    return this.failure?.redirect;
  }
  readonly timings: SessionTimings = {};
  readonly closed: Promise<SessionEnd>;

  /** Undefined until `<enabled/>`; kept across resumptions. */
  sm: StreamManagementState | undefined;

  private readonly o: SessionOptions;
  private transport: FrameTransport;
  private readonly timeouts: SessionTimeouts;
  private smOffered = false;
  /** Frames of the stanzas sent and not yet acked, oldest first: stanza number acked + 1 + index. */
  private unacked: string[] = [];
  private ackRequested = false;
  private resumeWaiter: { resolve: (jid: string) => void; reject: (e: XmppError) => void } | undefined;
  private readonly idPrefix = `s${++sessionSeq}-`;
  private nextId = 0;
  private transportOpen = false;
  private authenticated = false;
  private gotOpen = false;
  private sentClose = false;
  private receivedClose = false;
  private initiator: SessionEnd['initiator'] | undefined;
  private sasl: SaslMechanism | undefined;
  /**
   * The timed phase (see time()): its deadline on the clock, what it waits for and its length, for the error. One
   * timer serves consecutive phases; undefined when no phase is timed, the timer possibly still pending.
   */
  private timedPhase: SessionPhase | 'handshake' | undefined;
  private timedWhat = '';
  private timedMs = 0;
  private deadline = 0;
  private phaseTimer: TimerHandle | undefined;
  /** When phaseTimer fires, on the clock. */
  private phaseTimerAt = 0;
  private readonly iqs = new Map<string, PendingIq>();
  private readonly messageHandlers: Handler[] = [];
  private readonly presenceHandlers: Handler[] = [];
  private startWaiter: { resolve: (jid: string) => void; reject: (e: XmppError) => void } | undefined;
  private resolveClosed!: (end: SessionEnd) => void;

  constructor(options: SessionOptions) {
    this.o = options;
    this.transport = options.transport;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.closed = new Promise((r) => (this.resolveClosed = r));
    // Hosts build the session as they start connecting its transport: that is where its latencies begin.
    this.timings.started = this.o.clock.now();
  }

  /**
   * Runs connect → open → SASL → restart → bind (→ session); resolves with the bound JID. Safe to call late:
   * a session that is already ready resolves at once, one that already ended rejects with its failure.
   */
  start(): Promise<string> {
    if (this.state === 'ready') return Promise.resolve(this.jid!);
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(this.failure ?? new XmppError('closed', undefined, `session is ${this.state}`));
    }
    if (this.startWaiter) {
      const prev = this.startWaiter;
      return new Promise<string>((resolve, reject) => {
        this.startWaiter = {
          resolve: (jid) => (prev.resolve(jid), resolve(jid)),
          reject: (e) => (prev.reject(e), reject(e)),
        };
      });
    }
    const p = new Promise<string>((resolve, reject) => (this.startWaiter = { resolve, reject }));
    if (this.state === 'connecting') this.arm('connect', 'the transport to open');
    return p;
  }

  onMessage(fn: Handler): void {
    this.messageHandlers.push(fn);
  }

  onPresence(fn: Handler): void {
    this.presenceHandlers.push(fn);
  }

  // ---- host → session ------------------------------------------------------------------------------

  /** `protocol` is the WebSocket subprotocol; transports without one (BOSH) pass nothing. */
  transportOpened(protocol?: string): void {
    if (this.state === 'closed') return;
    this.timings.connected = this.o.clock.now();
    if (protocol !== undefined && protocol !== 'xmpp') {
      // RFC 7395 §3.1: without the `xmpp` subprotocol the client MUST close the WebSocket connection.
      this.fail(
        new XmppError(
          'subprotocol-missing',
          undefined,
          `the server accepted the WebSocket without the 'xmpp' subprotocol (got '${protocol}'): is this an XMPP endpoint? (RFC 7395 §3.1)`,
        ),
        false,
      );
      return;
    }
    this.transportOpen = true;
    this.openStream();
  }

  transportFrame(frame: string): void {
    if (this.state === 'closed') return;
    this.o.onFrame?.('in', frame);
    let el: XmlElement;
    try {
      el = parseFrame(frame);
    } catch (e) {
      if (!(e instanceof XmlParseError)) throw e;
      // RFC 6120 §4.9.1.1: the entity that detects the error sends the stream error, then closes.
      this.fail(
        new XmppError(
          'framing-violation',
          e.code,
          `server frame is not one standalone XML document: ${e.message}`,
        ),
        true,
        'not-well-formed',
      );
      return;
    }
    this.dispatch(el);
  }

  /** An element the transport already parsed (BOSH: each child of a `<body/>`). */
  transportElement(el: XmlElement): void {
    if (this.state === 'closed') return;
    if (this.o.onFrame) this.o.onFrame('in', serialize(el));
    this.dispatch(el);
  }

  /**
   * The transport broke and can carry no more frames (refused, reset, a failed TLS handshake): nothing more is
   * written to it, not even `<close/>`. `transport-error`, or `transport-error:<condition>` when the host knows more.
   */
  transportError(message: string, condition?: string): void {
    if (this.state === 'closed' || this.state === 'detached') return;
    this.transportOpen = false;
    this.transportFailed(new XmppError('transport-error', condition, `transport error: ${message}`));
  }

  /** A typed failure detected by the host (e.g. a handshake its WebSocket library refused). */
  transportFailed(err: XmppError): void {
    if (this.state === 'closed' || this.state === 'detached') return;
    if (this.detachable()) return this.detach(err);
    this.initiator ??= 'transport';
    this.fail(err, false);
  }

  /**
   * The transport is closed. Unless both `<close/>` were exchanged (or a failure was already counted), the session
   * died under us: `transport-closed:<code>` (`transport-closed` when the transport gave no code). `detail` is
   * what the host knows of why (a WebSocket error event's text).
   */
  transportClosed(code: number | undefined, reason = '', detail?: string): void {
    if (this.state === 'closed' || this.state === 'detached') return;
    this.transportOpen = false;
    const streamClosed = this.sentClose && this.receivedClose;
    let broke: XmppError | undefined;
    if (!streamClosed && !this.failure) {
      const where = this.state === 'connecting' ? 'before it opened' : `while ${this.state}`;
      broke = new XmppError(
        'transport-closed',
        code === undefined ? undefined : String(code),
        `the transport closed ${where} (code ${code ?? 'none'}${reason ? `, '${reason}'` : ''}) without an XMPP <close/>` +
          (detail ? `: ${detail}` : ''),
      );
      if (this.detachable()) return this.detach(broke);
    }
    if (!this.initiator) this.initiator = 'transport';
    this.failure ??= broke;
    this.finish(code, reason);
  }

  // ---- user API --------------------------------------------------------------------------------------

  /**
   * Sends a stanza (an element: counted by stream management and kept until acked) or a raw frame (a string: not
   * counted). Throws while the session cannot carry it: closing, closed, detached or resuming.
   */
  send(stanza: XmlElement | string): void {
    this.checkSendable();
    if (typeof stanza === 'string') return this.write(stanza);
    const kind = stanza.localName;
    if (kind === 'message' || kind === 'presence' || kind === 'iq') this.sendStanza(kind, serialize(stanza));
    else this.write(serialize(stanza));
  }

  /** Throws while the session cannot carry a stanza: closing, closed, detached or resuming. */
  private checkSendable(): void {
    const st = this.state;
    if (
      st === 'closing' ||
      st === 'closed' ||
      st === 'detached' ||
      st === 'resuming' ||
      !this.transportOpen
    ) {
      throw new XmppError('closed', undefined, `cannot send: session is ${this.state}`);
    }
  }

  /** A stanza's frame: written, counted by stream management, and reported to onStanza. */
  private sendStanza(kind: StanzaKind, frame: string): void {
    this.writeStanza(frame);
    this.o.onStanza?.('out', kind);
  }

  /** Asks the server for an ack of what it received (XEP-0198 `<r/>`); one request at a time. */
  requestAck(): void {
    if (this.sm === undefined || this.ackRequested || !this.transportOpen || this.state !== 'ready') return;
    this.ackRequested = true;
    this.write(SM_REQUEST);
  }

  /** Stanzas sent and not yet acknowledged by the server (0 without stream management). */
  get unackedCount(): number {
    return this.unacked.length;
  }

  /**
   * Takes up a `detached` session on a new transport (the host wires the transport's events in as for a new
   * session): connect → open → SASL → `<resume/>`; resolves with the JID at `<resumed/>`, after the stanzas the
   * server had not acknowledged were sent again. Rejects, and the session ends, with `sm-resume-failed:<condition>`
   * when the server refuses (item-not-found: its resumption timeout passed), or with the failure of the new
   * transport or login.
   */
  resume(transport: FrameTransport): Promise<string> {
    if (this.state !== 'detached' || this.sm?.id === undefined) {
      return Promise.reject(
        new XmppError('sm-resume-failed', 'not-detached', `cannot resume: session is ${this.state}`),
      );
    }
    this.transport = transport;
    this.state = 'connecting';
    this.gotOpen = false;
    this.authenticated = false;
    this.sasl = undefined;
    this.ackRequested = false;
    this.timings.resumeStarted = this.o.clock.now();
    const p = new Promise<string>((resolve, reject) => (this.resumeWaiter = { resolve, reject }));
    this.arm('connect', 'the transport to open');
    return p;
  }

  /**
   * Breaks the transport without `<close/>` (a WebSocket close the stream never announced), as a network blip or
   * a restarted load balancer would: a session with resumption becomes `detached`, others fail.
   */
  breakTransport(): void {
    if (!this.transportOpen || this.state !== 'ready') return;
    const t = this.transport;
    if (t.abort === undefined) return t.close(1000);
    const why = new XmppError(
      'transport-closed',
      undefined,
      'the transport broke (on purpose) without <close/>',
    );
    if (this.detachable()) this.detach(why);
    else {
      this.transportOpen = false;
      this.initiator ??= 'transport';
      this.failure ??= why;
      this.finish(undefined, 'broken');
    }
    t.abort();
  }

  sendMessage(o: Omit<MessageOptions, 'id'> & { id?: string }): string {
    this.checkSendable();
    const id = o.id ?? this.newId();
    this.sendStanza('message', messageFrame(o, id));
    return id;
  }

  sendPresence(o: PresenceOptions = {}): void {
    this.send(presence(o));
  }

  /** Sends an IQ and resolves with the result stanza; rejects with `iq-error:<condition>` or `timeout:iq`. */
  iq(
    type: 'get' | 'set',
    payload: XmlElement,
    to?: string,
    timeoutMs = this.timeouts.iq,
  ): Promise<XmlElement> {
    const id = this.newId();
    this.send(iq(type, id, payload, to));
    return this.trackIq(id, timeoutMs, 'iq');
  }

  /** XEP-0199 ping; resolves with the round trip in ms. */
  async ping(to: string = this.o.domain): Promise<number> {
    const t0 = this.o.clock.now();
    await this.iq('get', pingPayload(), to);
    return this.o.clock.now() - t0;
  }

  async rosterGet(): Promise<RosterItem[]> {
    return parseRoster(await this.iq('get', rosterQuery()));
  }

  /**
   * Closes cleanly: `<close/>`, wait for the server's `<close/>`, then close the transport with 1000
   * (RFC 7395 §3.6: the closing party initiates the WebSocket closing handshake).
   */
  close(): Promise<SessionEnd> {
    if (this.state === 'closing' || this.state === 'closed') return this.closed;
    if (this.state === 'detached') {
      // Nothing to close on the stream: the server lets the session go when its resumption timeout passes.
      this.initiator ??= 'transport';
      this.failure ??= new XmppError(
        'transport-closed',
        undefined,
        'the transport broke and the session was not resumed',
      );
      this.finish(undefined, 'not resumed');
      return this.closed;
    }
    if (this.startWaiter) {
      this.rejectStart(
        new XmppError('closed', undefined, `session closed by the client while ${this.state}`),
      );
    }
    this.initiator ??= 'client';
    this.timings.closeStarted = this.o.clock.now();
    if (!this.transportOpen) {
      this.state = 'closing';
      this.closeTransport();
      return this.closed;
    }
    this.state = 'closing';
    this.sendClose();
    this.arm('close', "the server's <close/>");
    return this.closed;
  }

  // ---- internals -----------------------------------------------------------------------------------

  /** A method, not an inline test, because TypeScript narrows `state` across awaits where it can change. */
  private ending(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  private newId(): string {
    return this.idPrefix + (++this.nextId).toString(36);
  }

  /**
   * Never writes to a dead transport. A host whose send throws anyway (a socket that closed before its event
   * reached us) fails the session as a transport error instead of throwing into the caller's event handler.
   */
  private write(frame: string): void {
    if (!this.transportOpen) return;
    this.o.onFrame?.('out', frame);
    try {
      this.transport.send(frame);
    } catch (e) {
      this.transportError(`sending a frame failed: ${e instanceof Error ? e.message : String(e)}`, 'send');
    }
  }

  private openStream(): void {
    this.state = 'opening';
    this.gotOpen = false;
    this.write(openFrame(this.o.domain, this.o.lang));
    this.arm(
      'open',
      this.authenticated ? 'stream features after the restart' : 'the <open/> and stream features',
    );
  }

  private dispatch(el: XmlElement): void {
    if (isStreamError(el)) return this.onStreamError(el);
    if (isClose(el)) return this.onServerClose(el);
    if (isOpen(el)) {
      if (this.state !== 'opening' || this.gotOpen) {
        return this.violation('unexpected-open', `unexpected <open/> while ${this.state}`);
      }
      try {
        this.streamId = parseOpen(el).id;
      } catch (e) {
        return this.fail(e as XmppError, true, 'invalid-namespace');
      }
      this.gotOpen = true;
      if (!this.authenticated) this.timings.streamOpened = this.o.clock.now();
      return;
    }
    if (this.state === 'opening') {
      if (!this.gotOpen) {
        try {
          parseOpen(el); // not an <open/>: throws the framing violation that names what came instead
        } catch (e) {
          return this.fail(e as XmppError, true, 'invalid-namespace');
        }
      }
      if (isFeatures(el)) return this.onFeatures(parseFeatures(el));
      return this.violation('expected-features', `expected <stream:features/>, got <${el.name}>`);
    }
    if (el.ns === NS.sasl) {
      if (this.state !== 'authenticating')
        return this.violation('unexpected-sasl', `SASL <${el.name}/> while ${this.state}`);
      void this.onSasl(el);
      return;
    }
    if (el.ns === NS.sm) return this.onSm(el);
    if (el.ns !== NS.client) {
      return this.violation(
        'unexpected-element',
        `unexpected <${el.name}> (ns '${el.ns}') while ${this.state}`,
      );
    }
    const kind = el.localName;
    if (kind === 'message' || kind === 'presence' || kind === 'iq') {
      if (this.sm !== undefined) this.sm.inbound = (this.sm.inbound + 1) % H_MODULUS;
      this.o.onStanza?.('in', kind);
    }
    switch (kind) {
      case 'iq':
        return this.onIq(el);
      case 'message':
        for (const h of this.messageHandlers) h(el);
        return;
      case 'presence':
        for (const h of this.presenceHandlers) h(el);
        return;
      default:
        return this.violation('unexpected-element', `unexpected <${el.name}> in jabber:client`);
    }
  }

  private violation(condition: string, message: string): void {
    this.fail(new XmppError('unexpected-stanza', condition, message), false);
  }

  private onFeatures(f: StreamFeatures): void {
    this.endPhase(); // the next phase (auth or bind) follows at once
    if (!this.authenticated) {
      this.offeredMechanisms = f.mechanisms;
      void this.beginAuth();
      return;
    }
    this.smOffered = f.sm;
    if (this.resumeWaiter) return this.sendResume();
    if (!f.bind) {
      this.fail(
        new XmppError(
          'bind-failed',
          'not-offered',
          'the server offered no resource binding after authentication',
        ),
        false,
      );
      return;
    }
    void this.bind(f.sessionRequired);
  }

  private async beginAuth(): Promise<void> {
    this.state = 'authenticating';
    const { username } = this.o.credentials;
    const registry = this.o.saslRegistry ?? DEFAULT_SASL;
    const name = registry.choose(this.offeredMechanisms, this.o.mechanisms);
    if (!name) {
      this.fail(
        new XmppError(
          'auth-no-mechanism',
          undefined,
          `no usable SASL mechanism for ${username}@${this.o.domain}: server offered [${this.offeredMechanisms.join(', ')}], ` +
            `we allow [${(this.o.mechanisms ?? registry.names).join(', ')}]`,
        ),
        false,
      );
      return;
    }
    this.mechanism = name;
    this.arm('auth', 'the SASL outcome');
    try {
      this.sasl = registry.create(name, {
        credentials: this.o.credentials,
        crypto: this.o.crypto,
        scramCache: this.o.scramCache,
      });
      const initial = await this.sasl.initial();
      if (this.state !== 'authenticating') return;
      this.write(
        serialize(x('auth', { xmlns: NS.sasl, mechanism: name }, initial === null ? '' : initial || '=')),
      );
    } catch (e) {
      this.fail(asXmppError(e, 'auth-protocol'), false);
    }
  }

  private async onSasl(el: XmlElement): Promise<void> {
    const sasl = this.sasl;
    if (!sasl) return this.violation('unexpected-sasl', `SASL <${el.name}/> before <auth/>`);
    try {
      switch (el.localName) {
        case 'challenge': {
          const response = await sasl.challenge(el.text().trim());
          if (this.state !== 'authenticating') return;
          this.write(serialize(x('response', { xmlns: NS.sasl }, response)));
          return;
        }
        case 'success': {
          const data = el.text().trim();
          await sasl.success(data === '' || data === '=' ? null : data);
          if (this.state !== 'authenticating') return;
          this.endPhase(); // openStream() times the restart next
          this.authenticated = true;
          this.timings.authenticated = this.o.clock.now();
          this.openStream(); // RFC 6120 §6.4.6: stream restart after SASL success
          return;
        }
        case 'failure': {
          let condition = 'undefined-condition';
          let text: string | undefined;
          for (const c of el.elements) {
            if (c.localName === 'text') text = c.text();
            else condition = c.localName;
          }
          const hint = condition === 'not-authorized' ? ' (wrong password or unknown user?)' : '';
          this.fail(
            new XmppError(
              'auth-failed',
              condition,
              `auth failed for ${this.o.credentials.username}@${this.o.domain} with ${sasl.name}: ${condition}${hint}${text ? ` — server said '${text}'` : ''}`,
              text,
            ),
            false,
          );
          return;
        }
        default:
          return this.violation('unexpected-sasl', `unexpected SASL <${el.name}/>`);
      }
    } catch (e) {
      this.fail(asXmppError(e, 'auth-protocol'), false);
    }
  }

  private async bind(sessionRequired: boolean): Promise<void> {
    this.state = 'binding';
    this.arm('bind', 'the resource binding result');
    try {
      const id = this.newId();
      const result = this.trackIq(id, 0, 'bind');
      this.write(serialize(iq('set', id, bindPayload(this.o.resource))));
      const res = await result;
      this.jid = res.getChild('bind', NS.bind)?.getChildText('jid', NS.bind)?.trim();
      if (!this.jid) throw new XmppError('bind-failed', 'no-jid', 'bind result carried no <jid/>');
      if (sessionRequired) {
        const sid = this.newId();
        const sres = this.trackIq(sid, 0, 'bind');
        this.write(serialize(iq('set', sid, sessionPayload())));
        await sres;
      }
      if (this.state !== 'binding') return;
      this.timings.bound = this.o.clock.now();
      if (this.o.streamManagement && this.smOffered) {
        // XEP-0198 §3: enabled after binding; the session is ready once the server answers.
        this.arm('bind', 'the answer to <enable/>');
        this.write(SM_ENABLE);
        return;
      }
      // Ready in the same instant it is bound: one reading, so connect + auth + bind adds up to session_ready
      // exactly (two readings could straddle a clock tick).
      this.becomeReady(this.timings.bound);
    } catch (e) {
      if (this.ending()) return;
      const err = asXmppError(e, 'bind-failed');
      this.fail(
        err.kind === 'iq-error' ? new XmppError('bind-failed', err.condition, err.message) : err,
        false,
      );
    }
  }

  private becomeReady(at = this.o.clock.now()): void {
    this.disarm();
    this.timings.ready = at;
    this.state = 'ready';
    const w = this.startWaiter;
    this.startWaiter = undefined;
    w?.resolve(this.jid!);
  }

  /** A stanza frame: written, and with stream management counted and kept until the server acks it. */
  private writeStanza(frame: string): void {
    this.write(frame);
    if (this.sm === undefined) return;
    this.sm.outbound = (this.sm.outbound + 1) % H_MODULUS;
    this.unacked.push(frame);
    this.requestAck();
  }

  /** Stream management (XEP-0198) elements. */
  private onSm(el: XmlElement): void {
    switch (el.localName) {
      case 'r':
        if (this.sm !== undefined)
          this.write(serialize(x('a', { xmlns: NS.sm, h: String(this.sm.inbound) })));
        return;
      case 'a':
        return this.acked(el.attr('h'));
      case 'enabled': {
        if (this.state !== 'binding' || this.sm !== undefined)
          return this.violation('unexpected-sm', `<enabled/> while ${this.state}`);
        const resume = el.attr('resume');
        const max = Number(el.attr('max'));
        this.sm = {
          id: resume === 'true' || resume === '1' ? el.attr('id') : undefined,
          max: Number.isFinite(max) && max > 0 ? max : undefined,
          inbound: 0,
          outbound: 0,
          acked: 0,
          resent: 0,
        };
        return this.becomeReady();
      }
      case 'failed': {
        const condition = el.elements.find((c) => c.ns === NS.stanzas)?.localName ?? 'undefined-condition';
        // Enabling refused: the session goes on without stream management.
        if (this.state === 'binding') return this.becomeReady();
        if (this.state === 'resuming') {
          this.fail(
            new XmppError(
              'sm-resume-failed',
              condition,
              `the server refused to resume the session: ${condition}` +
                (condition === 'item-not-found'
                  ? ' (its resumption timeout passed, or it never kept the session)'
                  : ''),
            ),
            false,
          );
        }
        return;
      }
      case 'resumed': {
        if (this.state !== 'resuming')
          return this.violation('unexpected-sm', `<resumed/> while ${this.state}`);
        this.acked(el.attr('h'));
        this.disarm();
        this.state = 'ready';
        this.timings.resumed = this.o.clock.now();
        // What the server never acknowledged is sent again, in order (XEP-0198 §5).
        const again = this.unacked;
        for (const frame of again) this.write(frame);
        this.sm!.resent += again.length;
        if (again.length > 0) this.requestAck();
        const w = this.resumeWaiter;
        this.resumeWaiter = undefined;
        w?.resolve(this.jid!);
        return;
      }
      default:
        return this.violation('unexpected-sm', `unexpected stream management <${el.name}/>`);
    }
  }

  /** The server acknowledged `h` stanzas in all: those leave the unacked queue. */
  private acked(hAttr: string | undefined): void {
    const sm = this.sm;
    const h = Number(hAttr);
    if (sm === undefined || !Number.isInteger(h) || h < 0) return;
    const newly = (h - sm.acked + H_MODULUS) % H_MODULUS;
    if (newly > this.unacked.length) {
      return this.violation(
        'unexpected-sm',
        `the server acked ${h} stanzas, more than the ${sm.outbound} sent`,
      );
    }
    this.unacked.splice(0, newly);
    sm.acked = h;
    this.ackRequested = false;
  }

  private detachable(): boolean {
    return (
      this.sm?.id !== undefined &&
      this.state === 'ready' &&
      !this.sentClose &&
      !this.receivedClose &&
      !this.failure
    );
  }

  /** The transport broke under a resumable session: kept for resume() (or close()). */
  private detach(why: XmppError): void {
    this.transportOpen = false;
    this.state = 'detached';
    this.disarm();
    this.ackRequested = false;
    this.timings.detached = this.o.clock.now();
    this.o.onDetached?.(why);
  }

  private sendResume(): void {
    this.state = 'resuming';
    this.arm('resume', 'the answer to <resume/>');
    this.write(serialize(x('resume', { xmlns: NS.sm, h: String(this.sm!.inbound), previd: this.sm!.id! })));
  }

  private trackIq(id: string, timeoutMs: number, what: string): Promise<XmlElement> {
    return new Promise<XmlElement>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? this.o.clock.setTimeout(() => {
              this.iqs.delete(id);
              reject(
                new XmppError('timeout', 'iq', `no answer to IQ ${id} (${what}) within ${timeoutMs} ms`),
              );
            }, timeoutMs)
          : undefined;
      this.iqs.set(id, { resolve, reject, timer });
    });
  }

  private onIq(el: XmlElement): void {
    const type = el.attr('type');
    const id = el.attr('id') ?? '';
    if (type === 'result' || type === 'error') {
      const pending = this.iqs.get(id);
      if (!pending) return; // a late answer to an IQ that already timed out
      this.iqs.delete(id);
      if (pending.timer !== undefined) this.o.clock.clearTimeout(pending.timer);
      if (type === 'result') pending.resolve(el);
      else {
        const err = parseStanzaError(el);
        pending.reject(
          new XmppError(
            'iq-error',
            err.condition,
            `IQ ${id} failed: ${err.condition} (${err.type})${err.text ? ` — '${err.text}'` : ''}`,
            err.text,
          ),
        );
      }
      return;
    }
    if (!this.transportOpen || this.sentClose) return;
    // Servers ping clients (XEP-0199); anything else we do not serve gets service-unavailable (RFC 6120 §8.4).
    const isPing = type === 'get' && el.getChild('ping', NS.ping) !== undefined;
    this.writeStanza(isPing ? iqResultReply(el) : iqErrorReply(el));
  }

  private onStreamError(el: XmlElement): void {
    const info = parseStreamError(el);
    const extra = info.seeOtherHost ? ` (see-other-host: ${info.seeOtherHost})` : '';
    this.initiator ??= 'server';
    this.fail(
      new XmppError(
        'stream-error',
        info.condition,
        `stream error from the server: ${info.condition}${extra}${info.text ? ` — '${info.text}'` : ''}`,
        info.text,
        info.seeOtherHost ? { kind: 'see-other-host', to: info.seeOtherHost } : undefined,
      ),
      false,
    );
  }

  private onServerClose(el: XmlElement): void {
    this.receivedClose = true;
    this.initiator ??= 'server';
    const uri = seeOtherUri(el);
    if (uri && !this.failure && this.state !== 'closing') {
      this.failure = new XmppError(
        'see-other-uri',
        undefined,
        `server moved this session to ${uri} (see-other-uri)`,
        undefined,
        { kind: 'see-other-uri', to: uri },
      );
    }
    if (this.state === 'closing' && this.sentClose) {
      // Our <close/> was answered: the stream is closed, so we start the WebSocket closing handshake.
      this.closeTransport();
      return;
    }
    if (this.startWaiter && !this.failure) {
      this.failure = new XmppError(
        'stream-closed',
        undefined,
        `the server closed the stream while ${this.state}`,
      );
    }
    if (this.failure) this.rejectStart(this.failure);
    if (this.iqs.size > 0)
      this.rejectPending(new XmppError('closed', undefined, 'the server closed the stream'));
    this.timings.closeStarted ??= this.o.clock.now();
    this.state = 'closing';
    // Server-initiated: answer with <close/>; the server then starts the WebSocket close.
    this.sendClose();
    this.arm('close', 'the server to close the WebSocket');
  }

  /**
   * Records the failure, rejects waiters, and closes: `<close/>` while the transport is open (optionally after a
   * stream error of our own), then the transport once the server answers or the close timer fires.
   */
  private fail(err: XmppError, sendStreamError: boolean, streamCondition = 'undefined-condition'): void {
    if (this.state === 'closed') return;
    if (!this.failure) this.failure = err;
    this.initiator ??= 'client';
    this.disarm();
    this.rejectStart(this.failure);
    this.rejectResume(this.failure);
    this.rejectPending(err);
    if (this.state === 'closing' && this.sentClose) {
      this.closeTransport();
      return;
    }
    this.timings.closeStarted ??= this.o.clock.now();
    this.state = 'closing';
    if (!this.transportOpen) {
      // Nothing to say on the stream (not connected yet, or no xmpp subprotocol): just close the transport.
      this.closeTransport();
      return;
    }
    if (sendStreamError) this.write(streamErrorFrame(streamCondition));
    this.sendClose();
    this.arm('close', "the server's <close/>");
  }

  private sendClose(): void {
    if (this.sentClose || !this.transportOpen) return;
    this.sentClose = true;
    this.write(CLOSE_FRAME);
  }

  private closeTransport(): void {
    this.transport.close(1000);
    // Never hang on a peer that ignores the WebSocket close: declare the transport closed ourselves.
    this.time('handshake', '', this.timeouts.close);
  }

  private rejectResume(err: XmppError): void {
    const w = this.resumeWaiter;
    this.resumeWaiter = undefined;
    w?.reject(err);
  }

  private rejectStart(err: XmppError): void {
    const w = this.startWaiter;
    this.startWaiter = undefined;
    w?.reject(err);
  }

  private rejectPending(err: XmppError): void {
    for (const [, p] of this.iqs) {
      if (p.timer !== undefined) this.o.clock.clearTimeout(p.timer);
      p.reject(err);
    }
    this.iqs.clear();
  }

  private arm(phase: SessionPhase, what: string): void {
    this.time(phase, what, this.timeouts[phase]);
  }

  /**
   * Times `phase`: it fails (onDeadline) unless it ends within `ms`. One timer serves the phases that follow each
   * other (a login times five, a close two): a later deadline moves no timer, the timer sleeps the rest when it
   * fires early; only an earlier one replaces it. A set and a clear fewer per phase, in the engine and in Node.
   */
  private time(phase: SessionPhase | 'handshake', what: string, ms: number): void {
    const now = this.o.clock.now();
    this.timedPhase = phase;
    this.timedWhat = what;
    this.timedMs = ms;
    this.deadline = now + ms;
    if (this.phaseTimer !== undefined) {
      if (this.phaseTimerAt <= this.deadline) return;
      this.o.clock.clearTimeout(this.phaseTimer);
    }
    this.startPhaseTimer(ms, now);
  }

  private startPhaseTimer(ms: number, now: number): void {
    this.phaseTimerAt = now + ms;
    this.phaseTimer = this.o.clock.setTimeout(this.onPhaseTimer, ms);
  }

  private readonly onPhaseTimer = (): void => {
    this.phaseTimer = undefined;
    const phase = this.timedPhase;
    if (phase === undefined) return; // the phase ended and none followed
    const now = this.o.clock.now();
    if (now < this.deadline) return this.startPhaseTimer(this.deadline - now, now);
    this.timedPhase = undefined;
    if (phase === 'handshake') return this.transportClosed(undefined, 'closing handshake timed out');
    const err = new XmppError(
      'timeout',
      phase,
      `timeout:${phase}: no ${this.timedWhat} within ${this.timedMs} ms`,
    );
    if (phase === 'close' || this.state === 'closing') {
      this.failure ??= err;
      this.closeTransport();
    } else {
      this.fail(err, false);
      // A transport still connecting has no closing handshake to wait for: the session ends now, so its
      // failure counts when it happened even though the host's socket lingers (k6 cannot abort a handshake).
      if (phase === 'connect') this.finish(undefined, err.reason);
    }
  };

  /** The timed phase is over and the next follows at once: its timer stays pending for it (see time()). */
  private endPhase(): void {
    this.timedPhase = undefined;
  }

  /** No phase is timed any more, and no timer is left pending. */
  private disarm(): void {
    this.timedPhase = undefined;
    if (this.phaseTimer !== undefined) this.o.clock.clearTimeout(this.phaseTimer);
    this.phaseTimer = undefined;
  }

  private finish(code: number | undefined, reason: string): void {
    if (this.state === 'closed') return;
    this.disarm();
    this.state = 'closed';
    this.timings.closed = this.o.clock.now();
    // Errors only for someone still waiting: an Error captures a stack, a cost every clean close would pay.
    if (this.startWaiter)
      this.rejectStart(this.failure ?? new XmppError('closed', undefined, 'session closed'));
    if (this.resumeWaiter)
      this.rejectResume(this.failure ?? new XmppError('closed', undefined, 'session closed'));
    if (this.iqs.size > 0) this.rejectPending(new XmppError('closed', undefined, 'session closed'));
    const clean = !this.failure && this.sentClose && this.receivedClose && code === 1000;
    this.resolveClosed({
      clean,
      initiator: this.initiator ?? 'transport',
      code,
      reason,
      error: this.failure,
    });
  }
}

function asXmppError(e: unknown, kind: 'auth-protocol' | 'bind-failed'): XmppError {
  if (e instanceof XmppError) return e;
  return new XmppError(kind, undefined, e instanceof Error ? e.message : String(e));
}
