/**
 * `k6/websockets` for one VU of the Node engine, after k6's internal/js/modules/k6/websockets (v1.6–v2.x,
 * websockets.go, params.go, listeners.go): same constructor checks and error texts, same event order, same
 * built-in metrics and tags. Exports `WebSocket` and `Blob` (the latter unsupported: starling speaks text).
 */
import { goError, goTypeName } from '../go.ts';
import { defineBuiltins } from '../metrics.ts';
import { types } from 'node:util';
import { maskUrlPasswords } from '../../xmpp/redact.ts';
import { DEFAULT_ENGINE_LIMITS, wsMessageTooBig } from '../limits.ts';
import { UnsupportedK6ApiError, type ModuleFactory, type Tags, type VuRuntime } from '../runtime.ts';
import {
  canonicalHeaderKey,
  dialErrorText,
  dialLenient,
  WS_MESSAGE_TOO_BIG,
  type Handshake,
} from './ws-client.ts';
import { CLOSED, CLOSING, CONNECTING, OPEN, type WireSocket } from './ws-wire.ts';

/** k6's built-in WebSocket metrics (metrics/builtin.go); data_* are k6's wire byte counters. */
export const WS_METRICS = {
  sessions: 'ws_sessions',
  connecting: 'ws_connecting',
  sessionDuration: 'ws_session_duration',
  msgsSent: 'ws_msgs_sent',
  msgsReceived: 'ws_msgs_received',
  ping: 'ws_ping',
  dataSent: 'data_sent',
  dataReceived: 'data_received',
} as const;

/** gorilla's `HandshakeTimeout` in k6 ("TODO configurable"). */
const HANDSHAKE_TIMEOUT_MS = 60_000;

type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

/** Event types, indexed as the listener slots are. */
const EVENT_TYPES = ['open', 'message', 'error', 'close', 'ping', 'pong'];
const OPEN_EVENT = 0;
const MESSAGE_EVENT = 1;
const ERROR_EVENT = 2;
const CLOSE_EVENT = 3;
const PING_EVENT = 4;
const PONG_EVENT = 5;

type Listener = (event: object) => unknown;

/** What a listener dispatch returns when no listener threw. */
const NO_THROW: unique symbol = Symbol('no-throw');

/** gorilla's `CloseError` labels, for the error event's text. */
const CLOSE_LABELS: Record<number, string> = {
  1000: 'normal',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status',
  1006: 'abnormal closure',
  1007: 'invalid payload data',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension missing',
  1011: 'internal server error',
  1015: 'TLS handshake error',
};

/** The sockets of one VU. */
interface VuSockets {
  readonly rt: VuRuntime;
  readonly live: Set<K6WebSocket>;
  /** The VU context's own constructors (rt.realm), so `instanceof` holds in script code; Node's in test doubles. */
  readonly ArrayBuffer: ArrayBufferConstructor;
  readonly Error: ErrorConstructor;
}

interface WsParams {
  headers: Record<string, string>;
  tags: Tags;
  compression: boolean;
}

/** performance.timeOrigin is fixed for the process: read once, not through its getter on every event. */
const TIME_ORIGIN = performance.timeOrigin;

function nowMs(): number {
  return TIME_ORIGIN + performance.now();
}

/** The last URL parseUrl accepted: a test's sessions mostly dial one URL, checked once rather than per session. */
let lastGoodUrl = '';

/** websockets.go parseURL, with Go's url.Parse leniency: the scheme and fragment checks are what bite. */
function parseUrl(E: ErrorConstructor, value: unknown): string {
  if (value === undefined || value === null) throw goError(E, 'WebSocket requires a url');
  const url = String(value);
  if (url === lastGoodUrl) return url;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase() ?? '';
  const invalid = (): Error =>
    goError(
      E,
      `WebSocket requires valid url, but got "${url}" which resulted in parse "${url}": invalid URL`,
    );
  if (scheme === 'ws' || scheme === 'wss') {
    try {
      new URL(url);
    } catch {
      throw invalid();
    }
  }
  if (scheme !== 'ws' && scheme !== 'wss') {
    throw goError(E, `WebSocket requires url with scheme ws or wss, but got "${scheme}"`);
  }
  const hash = url.indexOf('#');
  if (hash >= 0 && hash < url.length - 1) {
    let fragment: string;
    try {
      fragment = decodeURIComponent(url.slice(hash + 1));
    } catch {
      throw invalid();
    }
    throw goError(E, `WebSocket requires no url fragment, but got "${fragment}"`);
  }
  lastGoodUrl = url;
  return url;
}

/** params.go buildParams: only headers, tags, jar and compression. */
function parseParams(E: ErrorConstructor, raw: unknown): WsParams {
  const params: WsParams = { headers: {}, tags: {}, compression: false };
  if (raw === undefined || raw === null) return params;
  const obj = Object(raw) as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    switch (key) {
      case 'headers':
        if (value === undefined || value === null) break;
        for (const [name, v] of Object.entries(Object(value) as Record<string, unknown>)) {
          params.headers[canonicalHeaderKey(name)] = String(v);
        }
        break;
      case 'tags':
        if (value === undefined || value === null) break;
        for (const [name, v] of Object.entries(Object(value) as Record<string, unknown>)) {
          if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
            throw goError(
              E,
              `invalid WebSocket tags option: invalid value for metric tag '${name}': ` +
                'only String, Boolean and Number types are accepted as a metric tag values',
            );
          }
          params.tags[name] = String(v);
        }
        break;
      case 'jar':
        if (value === undefined || value === null) break;
        throw new UnsupportedK6ApiError(
          'k6/websockets params.jar',
          'the Node engine sends no cookies on the WebSocket handshake; drop `jar` or run with real k6',
        );
      case 'compression': {
        const algorithm = String(value).trim();
        if (algorithm !== 'deflate') {
          throw goError(
            E,
            `unsupported compression algorithm '${algorithm}', supported algorithm is 'deflate'`,
          );
        }
        params.compression = true;
        break;
      }
      default:
        throw goError(E, `unknown WebSocket's option ${key}`);
    }
  }
  return params;
}

/** k6's `insecureSkipTLSVerify` option (lib/options.go), which the VU's TLS config carries to gorilla's dialer too. */
function insecureSkipTLSVerify(rt: VuRuntime): boolean {
  try {
    return rt.execution.test.options?.insecureSkipTLSVerify === true;
  } catch {
    return false; // a test double without execution state
  }
}

/** A string or an array of strings; anything else is ignored, as in k6. */
function parseProtocols(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string' || Object.prototype.toString.call(value) === '[object String]') {
    return [String(value)];
  }
  if (Array.isArray(value)) return Object.keys(value).map((i) => String((value as unknown[])[Number(i)]));
  return [];
}

function closeErrorText(code: number, text: string): string {
  const label = CLOSE_LABELS[code];
  return `websocket: close ${code}${label ? ` (${label})` : ''}${text ? `: ${text}` : ''}`;
}

/** How sobek prints an exception for the error event (k6 adds the JS stack position, which we lack). */
function describeThrown(err: unknown): string {
  try {
    return String(err);
  } catch {
    return Object.prototype.toString.call(err);
  }
}

/** One `k6/websockets` WebSocket: its state lives on the VU's event loop, as in k6 (websockets.go webSocket). */
class K6WebSocket {
  readonly #vu: VuSockets;
  readonly #url: string;
  /** Tags of every ws_* sample: the VU's tags when constructed, params.tags, then url/name/status/subproto. */
  readonly #tags: Tags;
  readonly #endOp: () => void;
  readonly #startedAt: number;
  readonly #startedEpoch: number;
  #ws: WireSocket | null = null;
  #hs: Handshake | null = null;
  #readyState: ReadyState = CONNECTING;
  /** The handshake succeeded (k6 then runs its session loop, which records ws_session_duration). */
  #connected = false;
  /** A dial failure's text (gorilla's wording), once known. */
  #failure: string | null = null;
  /** After `open`, the peer broke the protocol: gorilla surfaces that as a plain read error. */
  #readFailed = false;
  #binaryType: 'blob' | 'arraybuffer' = 'blob';
  #protocol = '';
  #extensions: string[] = [];
  #closeCode = 0;
  #closeReason = '';
  /** The reason of a close() called while connecting, sent once the handshake completes. */
  #deferredCloseReason = '';
  /** close() was called while CONNECTING: in k6 the VU now waits on the handshake (see #closeWhileConnecting). */
  #closedWhileConnecting = false;
  /** The handshake failed after close() while CONNECTING: k6's VU would hang here, so this socket stays pending. */
  #hung = false;
  readonly #maxMessageBytes: number;
  #bufferedAmount = 0;
  /** Payload sizes of the frames handed to the socket, oldest first: its write callbacks arrive in that order. */
  readonly #writes: number[] = [];
  #pingCounter = 0;
  readonly #pings = new Map<string, number>();
  readonly #on: (Listener | null)[] = [null, null, null, null, null, null];
  readonly #listeners: (Listener[] | null)[] = [null, null, null, null, null, null];

  constructor(vu: VuSockets, url: unknown, protocols: unknown, params: unknown) {
    if (vu.rt.phase === 'init') {
      throw new vu.Error(
        'k6/websockets: a WebSocket cannot be opened in the init context (k6 has no VU state there)',
      );
    }
    this.#vu = vu;
    this.#url = parseUrl(vu.Error, url);
    this.#maxMessageBytes = vu.rt.limits?.maxWsMessageBytes ?? DEFAULT_ENGINE_LIMITS.maxWsMessageBytes;
    const p = parseParams(vu.Error, params);
    const subprotocols = parseProtocols(protocols);
    this.#tags = { ...vu.rt.tags(), ...p.tags };
    this.#startedAt = performance.now();
    this.#startedEpoch = Date.now();
    this.#endOp = vu.rt.beginOp('socket');
    vu.live.add(this);
    try {
      const { ws, hs } = dialLenient(this.#url, {
        protocols: subprotocols,
        headers: p.headers,
        compression: p.compression,
        handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
        insecureSkipTLSVerify: insecureSkipTLSVerify(vu.rt),
        maxMessageBytes: this.#maxMessageBytes,
      });
      this.#ws = ws;
      this.#hs = hs;
      ws.on('open', () => this.#opened());
      ws.on('message', (data: Buffer, isBinary: boolean) => this.#received(data, isBinary));
      ws.on('ping', () => this.#pinged());
      ws.on('pong', (data: Buffer) => this.#ponged(data));
      ws.on('error', (err: Error & { code?: string }) => this.#wsError(err));
      ws.on('close', (code: number, reason: Buffer) => this.#wsClosed(code, reason));
    } catch (err) {
      // Refused before any I/O (gorilla: duplicate header, userinfo; Node: invalid header value): still an event.
      this.#failure = err instanceof Error ? err.message : String(err);
      setImmediate(() => this.#connectFailed());
    }
  }

  get url(): string {
    return this.#url;
  }

  get readyState(): ReadyState {
    return this.#readyState;
  }

  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  get extensions(): string[] {
    return this.#extensions;
  }

  get protocol(): string {
    return this.#protocol;
  }

  get binaryType(): string {
    return this.#binaryType;
  }

  set binaryType(value: unknown) {
    const s = String(value);
    if (s !== 'blob' && s !== 'arraybuffer') {
      throw goError(
        this.#vu.Error,
        `unknown binaryType ${s}, the supported ones are "blob" and "arraybuffer"`,
      );
    }
    this.#binaryType = s;
  }

  get onopen(): Listener | null {
    return this.#on[OPEN_EVENT]!;
  }
  set onopen(fn: unknown) {
    this.#setOn(OPEN_EVENT, 'onopen', fn);
  }
  get onmessage(): Listener | null {
    return this.#on[MESSAGE_EVENT]!;
  }
  set onmessage(fn: unknown) {
    this.#setOn(MESSAGE_EVENT, 'onmessage', fn);
  }
  get onerror(): Listener | null {
    return this.#on[ERROR_EVENT]!;
  }
  set onerror(fn: unknown) {
    this.#setOn(ERROR_EVENT, 'onerror', fn);
  }
  get onclose(): Listener | null {
    return this.#on[CLOSE_EVENT]!;
  }
  set onclose(fn: unknown) {
    this.#setOn(CLOSE_EVENT, 'onclose', fn);
  }
  get onping(): Listener | null {
    return this.#on[PING_EVENT]!;
  }
  set onping(fn: unknown) {
    this.#setOn(PING_EVENT, 'onping', fn);
  }
  get onpong(): Listener | null {
    return this.#on[PONG_EVENT]!;
  }
  set onpong(fn: unknown) {
    this.#setOn(PONG_EVENT, 'onpong', fn);
  }

  /** Listeners run after the on* handler, in the order added; there is no removeEventListener in k6. */
  addEventListener(type: unknown, handler: unknown): void {
    const name = String(type);
    if (typeof handler !== 'function') {
      throw goError(this.#vu.Error, `handler for event type "${name}" isn't a callable function`);
    }
    const index = EVENT_TYPES.indexOf(name);
    if (index < 0) {
      console.warn(`can't add event handler: unknown event type: ${name}`);
      return;
    }
    (this.#listeners[index] ??= []).push(handler as Listener);
  }

  send(data: unknown): void {
    if (this.#readyState !== OPEN) throw goError(this.#vu.Error, 'InvalidStateError');
    let payload: string | Buffer;
    if (typeof data === 'string')
      payload = data; // measured and encoded straight into the frame
    else if (types.isAnyArrayBuffer(data)) payload = Buffer.from(data);
    else if (ArrayBuffer.isView(data)) payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else throw goError(this.#vu.Error, `unsupported send type ${goTypeName(data)}`);
    // The write callback runs after send returns, so the size is queued before it can be taken.
    const size = this.#ws!.send(payload, typeof payload !== 'string', this.#written);
    this.#bufferedAmount += size;
    this.#writes.push(size);
  }

  ping(): void {
    if (this.#readyState !== OPEN) throw goError(this.#vu.Error, 'InvalidStateError');
    const id = String(this.#pingCounter++);
    this.#writes.push(0);
    this.#ws!.ping(id, this.#written);
    this.#pings.set(id, performance.now());
  }

  close(code?: unknown, reason?: unknown): void {
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    let c = code === undefined || code === null ? 0 : Math.trunc(Number(code));
    if (Number.isNaN(c)) c = 0;
    if (c !== 0 && c !== 1000 && (c < 3000 || c > 4999)) {
      throw goError(
        this.#vu.Error,
        "InvalidAccessError: Failed to execute 'close' on 'WebSocket': " +
          `The close code must be either 1000, or between 3000 and 4999. ${c} is neither`,
      );
    }
    const r = reason === undefined || reason === null ? '' : String(reason);
    if (Buffer.byteLength(r) > 123) {
      throw goError(
        this.#vu.Error,
        "SyntaxError: Failed to execute 'close' on 'WebSocket': The message must not be greater than 123 bytes",
      );
    }
    this.#readyState = CLOSING;
    this.#closeCode = c === 0 ? 1000 : c;
    if (this.#connected) this.#sendClose(this.#closeCode, r);
    else this.#closeWhileConnecting(r);
  }

  /**
   * k6's close() hands the close frame to an unbuffered channel that only the write pump of an established
   * connection reads (websockets.go close(), establishConnection(), loop()): the VU's event loop blocks until the
   * handshake completes, and for good when it fails. One VU cannot block here without stalling every other, so the
   * engine sends the close frame once connected (what k6 then does) and says how k6 differs.
   */
  #closeWhileConnecting(reason: string): void {
    this.#deferredCloseReason = reason;
    this.#closedWhileConnecting = true;
    this.#engineLog(
      'warn',
      `close() on a CONNECTING WebSocket (${this.#url}): k6 blocks the VU until the handshake completes ` +
        '(the close frame waits on an unbuffered channel that only an open connection reads) and hangs the VU for ' +
        'good when the handshake fails; the Node engine does not block, it sends the close frame once connected. ' +
        'Close sockets from their open event (or once readyState is 1) to run the same in both',
      'ws-close-while-connecting',
    );
  }

  /** onInterrupt: k6 closes open sockets with 1000; a dial still under way is cancelled with the VU context. */
  static interruptAll(live: ReadonlySet<K6WebSocket>): void {
    for (const socket of [...live]) {
      if (!socket.#connected) {
        socket.#failure ??= 'context canceled';
        socket.#ws?.terminate();
      } else if (socket.#readyState === OPEN) {
        socket.close(1000);
      }
    }
  }

  /** One callback for every frame this socket writes (no allocation per message): k6 counts after the write. */
  readonly #written = (err?: Error | null): void => {
    const size = this.#writes.shift() ?? 0;
    if (err) return;
    this.#bufferedAmount -= size;
    this.#vu.rt.metrics.push(WS_METRICS.msgsSent, 1, this.#tags);
  };

  #setOn(index: number, property: string, fn: unknown): void {
    if (fn === undefined || fn === null) this.#on[index] = null;
    else if (typeof fn === 'function') this.#on[index] = fn as Listener;
    else throw goError(this.#vu.Error, `a value for '${property}' should be callable`);
  }

  /** Runs the on* handler then the listeners; returns what one threw (the rest are then skipped), or NO_THROW. */
  #emit(index: number, event: object): unknown {
    try {
      const on = this.#on[index];
      if (on) on(event);
      const list = this.#listeners[index];
      if (list) for (let i = 0, n = list.length; i < n; i++) list[i]!(event);
    } catch (err) {
      return err;
    }
    return NO_THROW;
  }

  #sendClose(code: number, reason: string): void {
    this.#ws!.close(code, reason);
    this.#vu.rt.metrics.push(WS_METRICS.msgsSent, 1, this.#tags); // k6 sends the close frame as a message
  }

  /** When the dial ends, either way: k6's emitConnectionMetrics, after the response tags are known. */
  #connectEnded(): void {
    const tags = this.#tags;
    const hs = this.#hs;
    if (hs !== null && hs.status !== 0) {
      this.#extensions = hs.extensions;
      tags.status = String(hs.status);
      tags.subproto = this.#protocol;
    }
    // Since k6 v0.41 a manual `name` tag also becomes the `url` tag. k6 tags the URL as given, password included
    // (gorilla refuses userinfo, so such a session only ever fails); the engine stores no password.
    if (tags.name !== undefined) {
      tags.url = tags.name;
    } else {
      tags.url = maskUrlPasswords(this.#url);
      tags.name = tags.url;
    }
    const metrics = this.#vu.rt.metrics;
    metrics.push(WS_METRICS.sessions, 1, tags, this.#startedEpoch);
    metrics.push(WS_METRICS.connecting, performance.now() - this.#startedAt, tags, this.#startedEpoch);
  }

  #opened(): void {
    this.#connected = true;
    this.#protocol = this.#hs!.protocol;
    this.#connectEnded();
    if (this.#readyState === CLOSING) {
      this.#sendClose(this.#closeCode, this.#deferredCloseReason); // close() while connecting: no open event
      return;
    }
    this.#readyState = OPEN;
    const thrown = this.#emit(OPEN_EVENT, { type: 'open', target: this, timestamp: nowMs() });
    if (thrown !== NO_THROW) this.#listenerFailed(thrown);
  }

  #received(data: Buffer, isBinary: boolean): void {
    if (this.#readyState !== OPEN) return; // k6 drops (and does not count) messages once closing
    this.#vu.rt.metrics.push(WS_METRICS.msgsReceived, 1, this.#tags);
    let payload: string | ArrayBuffer;
    if (!isBinary) {
      payload = data.toString();
    } else if (this.#binaryType === 'arraybuffer') {
      payload = new this.#vu.ArrayBuffer(data.length);
      new Uint8Array(payload).set(data);
    } else {
      this.#listenerFailed(
        new UnsupportedK6ApiError(
          'a binary WebSocket message with binaryType "blob"',
          'set ws.binaryType = "arraybuffer" before messages arrive (Blob is not implemented)',
        ),
      );
      return;
    }
    const event = { type: 'message', target: this, timestamp: nowMs(), data: payload, origin: this.#url };
    const thrown = this.#emit(MESSAGE_EVENT, event);
    if (thrown !== NO_THROW) this.#listenerFailed(thrown);
  }

  #pinged(): void {
    if (this.#readyState === CLOSED) return;
    const thrown = this.#emit(PING_EVENT, { type: 'ping', target: this, timestamp: nowMs() });
    if (thrown !== NO_THROW) this.#iterationFailed(thrown);
  }

  #ponged(data: Buffer): void {
    if (this.#readyState === CLOSED) return;
    const id = data.toString();
    const sentAt = this.#pings.get(id);
    if (sentAt !== undefined) {
      this.#pings.delete(id);
      this.#vu.rt.metrics.push(WS_METRICS.ping, performance.now() - sentAt, this.#tags);
    }
    const thrown = this.#emit(PONG_EVENT, { type: 'pong', target: this, timestamp: nowMs() });
    if (thrown !== NO_THROW) this.#iterationFailed(thrown);
  }

  #wsError(err: Error & { code?: string }): void {
    if (!this.#connected) this.#failure ??= dialErrorText(err, this.#hs!, this.#url);
    else if (err.code === WS_MESSAGE_TOO_BIG) this.#messageTooBig();
    else this.#readFailed = true;
  }

  #wsClosed(code: number, reason: Buffer): void {
    if (this.#readyState === CLOSED) return;
    if (!this.#connected) {
      this.#connectFailed();
      return;
    }
    const hs = this.#hs!;
    let errorText: string | null = null;
    if (this.#readFailed || (code === 1006 && (hs.socketFailed || !hs.peerEnded))) {
      // gorilla: a plain read error (protocol violation, reset, our own teardown): no error event, code kept
    } else if (code === 1006) {
      this.#closeCode = 1006;
      this.#closeReason = 'unexpected EOF';
      errorText = closeErrorText(1006, 'unexpected EOF');
    } else {
      this.#closeCode = code;
      this.#closeReason = reason.toString();
      if (code !== 1000 && code !== 1001) errorText = closeErrorText(code, this.#closeReason);
    }
    this.#finish(errorText, NO_THROW);
  }

  #connectFailed(): void {
    if (this.#readyState === CLOSED || this.#hung) return;
    this.#connectEnded();
    const failure = this.#failure ?? 'websocket: bad handshake';
    if (this.#closedWhileConnecting) this.#hang(failure);
    else this.#finish(failure, NO_THROW);
  }

  /**
   * The handshake failed after close() while CONNECTING. In k6 nothing will ever read the close frame, so the VU
   * stays blocked in close() for good: the queued error and close events never run and the iteration never ends.
   * The engine does the same (no events, readyState CLOSING, the socket's op left pending) until the VU is
   * interrupted, and says why.
   */
  #hang(failure: string): void {
    this.#hung = true;
    this.#vu.live.delete(this);
    this.#engineLog(
      'error',
      `k6 would hang this VU forever: close() was called while CONNECTING and the handshake failed: ${failure}` +
        ` (${this.#url}). The Node engine holds the iteration, with no error or close event, until the VU is ` +
        'interrupted (gracefulStop, maxDuration, Ctrl+C); close sockets from their open event instead',
    );
  }

  /**
   * A message outgrew the engine's limit (k6 has none): the socket stopped reading before buffering it and sent close
   * 1009; the script sees an error naming the limit and a close with 1009 at once, as for any failed session.
   */
  #messageTooBig(): void {
    if (this.#readyState === CLOSED) return;
    this.#ws!.terminate(); // the peer may never end the message: no close handshake to wait for
    this.#closeCode = 1009;
    this.#closeReason = '';
    const text = wsMessageTooBig(this.#maxMessageBytes);
    this.#engineLog('warn', `${text} (${this.#url}; this warning shows once per run)`, 'ws-message-too-big');
    this.#finish(text, NO_THROW);
  }

  /** The engine's own log line; stderr in test doubles without one. */
  #engineLog(level: 'warn' | 'error', message: string, once?: string): void {
    const rt = this.#vu.rt;
    if (rt.engineLog) rt.engineLog(level, message, once);
    else process.stderr.write(`${level.toUpperCase()} ${maskUrlPasswords(message)}\n`);
  }

  /** An open or message listener threw: k6 drops the connection, fires error + close, fails the iteration. */
  #listenerFailed(err: unknown): void {
    this.#ws?.terminate();
    this.#finish(describeThrown(err), err);
  }

  /** A ping or pong listener threw: k6 fails the iteration, whose end then closes the socket with 1000. */
  #iterationFailed(err: unknown): void {
    this.#vu.rt.reportError(err);
    if (this.#readyState === OPEN) this.close(1000);
  }

  /**
   * k6's connectionClosedWithError: CLOSED, error event (when there is an error), close event; a throwing
   * error listener skips the close event. `cause` (a listener's exception) wins over what these throw.
   */
  #finish(errorText: string | null, cause: unknown): void {
    this.#readyState = CLOSED;
    this.#vu.live.delete(this);
    const rt = this.#vu.rt;
    if (this.#connected) {
      rt.metrics.push(WS_METRICS.sessionDuration, performance.now() - this.#startedAt, this.#tags);
    }
    this.#pushWireBytes();
    let thrown: unknown = NO_THROW;
    if (errorText !== null) {
      thrown = this.#emit(ERROR_EVENT, { type: 'error', target: this, timestamp: nowMs(), error: errorText });
    }
    if (thrown === NO_THROW) {
      const timestamp = nowMs();
      const reason = this.#closeReason;
      const event =
        this.#closeCode !== 0
          ? { type: 'close', target: this, timestamp, code: this.#closeCode, reason }
          : { type: 'close', target: this, timestamp, reason };
      thrown = this.#emit(CLOSE_EVENT, event);
    }
    const failure = cause !== NO_THROW ? cause : thrown;
    if (failure !== NO_THROW) rt.reportError(failure);
    this.#endOp();
  }

  /** Bytes on the wire (handshake and frames, headers included), tagged like k6's per-iteration data_* samples. */
  #pushWireBytes(): void {
    const socket = this.#hs?.socket;
    if (!socket) return;
    const tags = this.#vu.rt.tags();
    if (socket.bytesWritten > 0) this.#vu.rt.metrics.push(WS_METRICS.dataSent, socket.bytesWritten, tags);
    if (socket.bytesRead > 0) this.#vu.rt.metrics.push(WS_METRICS.dataReceived, socket.bytesRead, tags);
  }
}

function Blob(): never {
  throw new UnsupportedK6ApiError(
    'Blob from k6/websockets',
    'starling scenarios exchange text frames; send strings or ArrayBuffers, or run this script with real k6',
  );
}

export const websocketsModule: ModuleFactory = (rt) => {
  defineBuiltins(rt.metrics, Object.values(WS_METRICS));
  const vu: VuSockets = {
    rt,
    live: new Set(),
    ArrayBuffer: rt.realm?.ArrayBuffer ?? ArrayBuffer,
    Error: rt.realm?.Error ?? Error,
  };
  const NoNewError = rt.realm?.TypeError ?? TypeError;
  rt.onInterrupt(() => K6WebSocket.interruptAll(vu.live));
  // A plain constructor function, as k6's: the instance is not `instanceof WebSocket`, and there are no
  // WebSocket.OPEN-style constants (k6 defines none, whatever the typings say).
  function WebSocket(url?: unknown, protocols?: unknown, params?: unknown): K6WebSocket {
    if (new.target === undefined)
      throw new NoNewError("Class constructor WebSocket cannot be invoked without 'new'");
    return new K6WebSocket(vu, url, protocols, params);
  }
  return { WebSocket, Blob };
};
