/**
 * The network half of `k6/http` for the Node engine: one VU's connection pool and the request/redirect loop,
 * measured as k6 measures it. Follows grafana/k6 lib/netext/httpext (request.go MakeRequest and its
 * http.Client with CheckRedirect, tracer.go Tracer/Trail, transport.go measureAndEmitMetrics, error_codes.go,
 * compression.go readResponseBody) and internal/js/runner.go (the per-VU http.Transport), over Node's http/https.
 *
 * It knows nothing of VUs, realms or metrics: it takes a plain request and returns plain, structured-cloneable
 * data (one record per round trip, as k6 emits one set of http_req_* samples per redirect hop), so the same code
 * serves asynchronous requests on the main thread and synchronous ones in the worker (http-sync.ts).
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { platform } from 'node:os';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import {
  certificateOfError,
  clientTlsOptions,
  keepPeerCertificate,
  peerCertificateOf,
  tlsVerifyFailure,
} from './tls.ts';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { maskUrlPasswords } from '../../xmpp/redact.ts';
import { responseBodyTooBig } from '../limits.ts';

export type ResponseType = 'text' | 'binary' | 'none';

/** A request as the main thread prepared it (k6's ParsedHTTPRequest, after parseRequest). */
export interface WireRequest {
  /** Sent as given; Node upper-cases it on the wire. */
  method: string;
  /** The URL as the script gave it (Go's url.Parse is lenient, so it may not be a WHATWG URL). */
  url: string;
  /** Header fields in Go's canonical form, in the order Go writes them (User-Agent, then sorted). */
  headers: [string, string[]][];
  /** A `Host` header from params.headers: Go sends it as the request's Host. */
  host: string | null;
  body: Uint8Array | null;
  timeoutMs: number;
  /** How many redirects to follow (k6 `redirects` / `maxRedirects`, default 10). */
  maxRedirects: number;
  /** Whether `maxRedirects` came from the script: k6 warns when the default limit stops a chain. */
  redirectsExplicit: boolean;
  responseType: ResponseType;
  /**
   * The engine's limit on a kept body (bytes, on the wire and decompressed; k6 has none): beyond it the request
   * fails with status 0 and its connection is closed. A discarded body (`none`, redirects) is not buffered, so not
   * limited, as in k6.
   */
  maxBodyBytes: number;
}

/** k6's Trail durations, in milliseconds. */
export interface WireTimings {
  blocked: number;
  connecting: number;
  tlsHandshaking: number;
  sending: number;
  waiting: number;
  receiving: number;
  /** sending + waiting + receiving, as k6. */
  duration: number;
}

/** One round trip (k6 emits one set of http_req_* samples for each, redirects included). */
export interface WireHop {
  method: string;
  url: string;
  /** 0 when no response arrived (or the request failed later, as k6 then tags it). */
  status: number;
  statusText: string;
  proto: string;
  rawHeaders: string[];
  /** k6's error code: a failure's code, or 1000 + status for a status >= 400; 0 otherwise. */
  errorCode: number;
  /** k6's error text ('' unless the round trip failed). */
  errorMsg: string;
  timings: WireTimings;
  remoteIp: string;
  remotePort: number;
  tlsVersion: string;
  tlsCipherSuite: string;
  /** Bytes this round trip wrote to / read from the TCP socket (TLS records and handshake included). */
  bytesSent: number;
  bytesReceived: number;
  /** Epoch ms when the round trip was measured (k6's Trail.EndTime). */
  endTime: number;
}

export interface WireFailure {
  code: number;
  message: string;
  /** What k6 throws with `throw: true` (Go's error text, e.g. `Get "http://…": dial tcp …: connection refused`). */
  thrown: string;
}

export interface WireResult {
  hops: WireHop[];
  /** The last response's body, decoded; null for responseType 'none', 1xx/204/304 or a failure. */
  body: Uint8Array | null;
  failure: WireFailure | null;
  /** k6's warning when the default redirect limit stopped a chain (logged by the caller). */
  warning: string | null;
}

export interface PoolOptions {
  /** false with k6's noConnectionReuse (Go's DisableKeepAlives). */
  keepAlive: boolean;
  insecureSkipTLSVerify: boolean;
  /** Go's MaxIdleConnsPerHost: k6's batchPerHost (default 6). */
  maxIdlePerHost: number;
}

// ---- the per-VU connection pool -----------------------------------------------------------------------

/** What the pool recorded about a connection it dialed (Go's httptrace connect/TLS hooks). */
interface ConnTrace {
  /** The TCP socket: its byte counters are the wire's, TLS included. */
  raw: net.Socket;
  tls: boolean;
  /** performance.now() stamps; 0 until the event happened. */
  created: number;
  connectStart: number;
  connectDone: number;
  tlsDone: number;
  /** Handed to a request already (a later request on it is a reuse). */
  used: boolean;
}

const traces = new WeakMap<net.Socket, ConnTrace>();

function traceConnection(socket: net.Socket, raw: net.Socket, isTls: boolean): void {
  const t: ConnTrace = {
    raw,
    tls: isTls,
    created: performance.now(),
    connectStart: 0,
    connectDone: 0,
    tlsDone: 0,
    used: false,
  };
  traces.set(socket, t);
  // Go's ConnectStart comes after the DNS lookup; an IP literal has none.
  raw.once('lookup', () => (t.connectStart = performance.now()));
  raw.once('connect', () => {
    t.connectDone = performance.now();
    if (t.connectStart === 0) t.connectStart = t.created;
  });
  if (isTls) socket.once('secureConnect', () => (t.tlsDone = performance.now()));
}

type CreateConnection = (options: Record<string, unknown>) => net.Socket;

/** One VU's keep-alive connections, as k6's per-VU http.Transport. */
export class ConnectionPool {
  readonly http: http.Agent;
  #https: https.Agent | undefined;
  readonly #common: http.AgentOptions;

  constructor(readonly options: PoolOptions) {
    this.#common = {
      keepAlive: options.keepAlive,
      maxFreeSockets: Math.max(1, options.maxIdlePerHost),
      scheduling: 'lifo',
    };
    this.http = new http.Agent(this.#common);
    // Dial the TCP socket ourselves so its counters see the wire bytes, and trace connect / TLS times.
    const plain: CreateConnection = (o) => {
      const raw = net.connect(o as unknown as net.NetConnectOpts);
      traceConnection(raw, raw, false);
      return raw;
    };
    Object.assign(this.http, { createConnection: plain });
  }

  /**
   * The TLS agent, made at the first https:// request: its secure context loads the system's CA store (~160 ms of
   * CPU here), which a VU that only speaks plain HTTP (a local BOSH endpoint) never needs.
   */
  get https(): https.Agent {
    if (this.#https !== undefined) return this.#https;
    const agent = new https.Agent({
      ...this.#common,
      ...clientTlsOptions(this.options.insecureSkipTLSVerify),
    });
    const secure: CreateConnection = (o) => {
      const raw = net.connect({
        host: o.host as string,
        port: o.port as number,
        ...(o.localAddress ? { localAddress: o.localAddress as string } : {}),
        ...(o.family ? { family: o.family as number } : {}),
      });
      const socket = tls.connect({ ...(o as tls.ConnectionOptions), socket: raw });
      keepPeerCertificate(socket);
      traceConnection(socket, raw, true);
      return socket;
    };
    Object.assign(agent, { createConnection: secure });
    this.#https = agent;
    return agent;
  }

  /** Go's Transport.CloseIdleConnections (k6 noVUConnectionReuse, between iterations). */
  closeIdle(): void {
    for (const agent of [this.http, this.#https]) {
      if (agent === undefined) continue;
      for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
    }
  }

  destroy(): void {
    this.http.destroy();
    this.#https?.destroy();
  }
}

// ---- errors -------------------------------------------------------------------------------------------

interface NodeNetError extends Error {
  code?: string;
  errno?: number;
  address?: string;
  port?: number;
  hostname?: string;
}

/** k6 error codes (lib/netext/httpext/error_codes.go) and their texts. */
export const ERROR_CODES = {
  default: 1000,
  invalidUrl: 1020,
  requestTimeout: 1050,
  dns: 1100,
  dnsNoSuchHost: 1101,
  tcpBrokenPipe: 1201,
  netUnknownErrno: 1202,
  tcpDialTimeout: 1211,
  tcpDialRefused: 1212,
  tcpDialUnknownErrno: 1213,
  tcpResetByPeer: 1220,
  tlsHeader: 1301,
  x509UnknownAuthority: 1310,
  x509Hostname: 1311,
  responseDecompression: 1701,
} as const;

/** Go's syscall error strings for the errnos Node reports by name. */
const ERRNO_TEXT: Record<string, string> = {
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  ENETDOWN: 'network is down',
  EHOSTDOWN: 'host is down',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EADDRINUSE: 'address already in use',
  ECONNABORTED: 'software caused connection abort',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

const GOOS: Record<string, string> = { win32: 'windows' };

function joinHostPort(host: string, port: number | string): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * What http.Client.Do returns: a url.Error, `Get "http://alice:***@host/": …`. Go strips the password from the URL
 * (client.go stripPassword), so k6's thrown errors never show it.
 */
function urlError(op: string, url: string, detail: string): string {
  return `${op} "${maskUrlPasswords(url)}": ${detail}`;
}

/** Go's urlErrorOp: "GET" → "Get". */
function urlErrorOp(method: string): string {
  return method.slice(0, 1) + method.slice(1).toLowerCase();
}

interface Failure {
  code: number;
  message: string;
  /** Go's own error text (what `throw: true` shows, wrapped in url.Error). */
  detail: string;
}

const timeoutFailure = (): Failure => ({
  code: ERROR_CODES.requestTimeout,
  message: 'request timeout',
  detail: 'request timeout',
});

/** errorCodeForError, from what Node reported: k6's code and text, and Go's own text for `throw`. */
function classify(err: NodeNetError, hop: Hop): Failure {
  const code = err.code ?? '';
  const dialAddr = () =>
    err.address !== undefined ? joinHostPort(err.address, err.port ?? '') : `${hop.url.host}`;
  const pair = () => {
    const s = hop.raw;
    if (!s?.remoteAddress) return dialAddr();
    return `${joinHostPort(s.localAddress ?? '', s.localPort ?? '')}->${joinHostPort(s.remoteAddress, s.remotePort ?? '')}`;
  };
  const connected = hop.t.gotConn !== 0;
  const op = hop.t.wrote !== 0 ? 'read' : 'write';
  switch (code) {
    case 'ECONNREFUSED':
      return {
        code: ERROR_CODES.tcpDialRefused,
        message: 'dial: connection refused',
        detail: `dial tcp ${dialAddr()}: connect: connection refused`,
      };
    case 'ENOTFOUND':
      return {
        code: ERROR_CODES.dnsNoSuchHost,
        message: 'lookup: no such host',
        detail: `dial tcp: lookup ${err.hostname ?? hop.url.hostname}: no such host`,
      };
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NODATA': {
      const message = `lookup ${err.hostname ?? hop.url.hostname}: server misbehaving`;
      return { code: ERROR_CODES.dns, message, detail: `dial tcp: ${message}` };
    }
    case 'ETIMEDOUT':
      if (!connected) {
        return {
          code: ERROR_CODES.tcpDialTimeout,
          message: 'dial: i/o timeout',
          detail: `dial tcp ${dialAddr()}: i/o timeout`,
        };
      }
      return timeoutFailure();
    case 'ECONNRESET':
      if (err.message === 'socket hang up')
        return { code: ERROR_CODES.default, message: 'EOF', detail: 'EOF' };
      return {
        code: ERROR_CODES.tcpResetByPeer,
        message: `${op}: connection reset by peer`,
        detail: `${op} tcp ${pair()}: ${op}: connection reset by peer`,
      };
    case 'EPIPE':
      return {
        code: ERROR_CODES.tcpBrokenPipe,
        message: 'write: broken pipe',
        detail: `write tcp ${pair()}: write: broken pipe`,
      };
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return {
        code: ERROR_CODES.tlsHeader,
        message: 'tls: first record does not look like a TLS handshake',
        detail: 'tls: first record does not look like a TLS handshake',
      };
  }
  const tlsFailure = tlsVerifyFailure(
    code,
    hop.url.hostname,
    certificateOfError(err) ?? peerCertificateOf(hop.connection),
  );
  if (tlsFailure) return tlsFailure;
  const errnoText = ERRNO_TEXT[code];
  if (errnoText !== undefined) {
    const errno = Math.abs(err.errno ?? 0);
    if (!connected) {
      return {
        code: ERROR_CODES.tcpDialUnknownErrno,
        message: `dial: unknown errno ${errno} error with msg \`${errnoText}\``,
        detail: `dial tcp ${dialAddr()}: connect: ${errnoText}`,
      };
    }
    return {
      code: ERROR_CODES.netUnknownErrno,
      message: `${op}: unknown errno \`${errno}\` on ${GOOS[platform()] ?? platform()} with message \`${errnoText}\``,
      detail: `${op} tcp ${pair()}: ${op}: ${errnoText}`,
    };
  }
  return { code: ERROR_CODES.default, message: err.message, detail: err.message };
}

// ---- one round trip -----------------------------------------------------------------------------------

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Go's transport refuses an invalid method or header field before writing anything (Transport.roundTrip). */
function checkHeaders(method: string, headers: [string, string[]][]): void {
  if (!TOKEN.test(method)) throw new Error(`net/http: invalid method ${JSON.stringify(method)}`);
  for (const [name, values] of headers) {
    if (!TOKEN.test(name)) throw new Error(`net/http: invalid header field name ${JSON.stringify(name)}`);
    for (const v of values) {
      if (BAD_VALUE.test(v))
        throw new Error(`net/http: invalid header field value for ${JSON.stringify(name)}`);
    }
  }
}

/** Go writes a header value's UTF-8 bytes; Node writes header strings as latin1, so hand it those bytes. */
function wireValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(v) ? v : Buffer.from(v, 'utf8').toString('latin1');
}

/** Go's httptrace stamps for one round trip (performance.now(); 0 = did not happen). */
interface Stamps {
  getConn: number;
  connectStart: number;
  connectDone: number;
  tlsStart: number;
  tlsDone: number;
  gotConn: number;
  wrote: number;
  firstByte: number;
}

/** k6's Tracer.Done(). */
function trail(t: Stamps, done: number): WireTimings {
  const blocked = t.gotConn !== 0 && t.getConn !== 0 && t.gotConn > t.getConn ? t.gotConn - t.getConn : 0;
  const connecting = t.connectDone !== 0 && t.connectStart !== 0 ? t.connectDone - t.connectStart : 0;
  const tlsHandshaking = t.tlsDone !== 0 && t.tlsStart !== 0 ? t.tlsDone - t.tlsStart : 0;
  let sending = 0;
  let waiting = 0;
  let receiving = 0;
  if (t.wrote !== 0) {
    sending = t.wrote - (t.tlsDone !== 0 ? t.tlsDone : t.connectDone !== 0 ? t.connectDone : t.gotConn);
    if (t.firstByte !== 0) {
      if (t.firstByte > t.wrote) waiting = t.firstByte - t.wrote;
    } else {
      waiting = done - t.wrote;
    }
  }
  if (t.firstByte !== 0) receiving = done - t.firstByte;
  return {
    blocked,
    connecting,
    tlsHandshaking,
    sending,
    waiting,
    receiving,
    duration: sending + waiting + receiving,
  };
}

const TLS_VERSIONS: Record<string, string> = {
  TLSv1: 'tls1.0',
  'TLSv1.1': 'tls1.1',
  'TLSv1.2': 'tls1.2',
  'TLSv1.3': 'tls1.3',
};

interface HopSpec {
  method: string;
  url: URL;
  /** The URL's text as requested (k6 tags and reports it as given). */
  urlText: string;
  headers: [string, string[]][];
  host: string | null;
  body: Uint8Array | null;
}

type HeadOutcome = { res: http.IncomingMessage } | { failure: Failure };

/** One request on the pool: connection, request write, response head; the body is read by the caller. */
class Hop {
  readonly t: Stamps;
  readonly url: URL;
  raw: net.Socket | null = null;
  /** The connection this round trip got; bytes queued on a socket that never connected never hit the wire. */
  private trace: ConnTrace | undefined;
  private reused = false;
  private socket: net.Socket | null = null;
  /** The connection (the TLS socket for https), once the agent handed one out. */
  get connection(): net.Socket | null {
    return this.socket;
  }
  private baseWritten = 0;
  private baseRead = 0;
  private remoteIp = '';
  private remotePort = 0;
  private tlsVersion = '';
  private tlsCipherSuite = '';
  private req: http.ClientRequest | null = null;
  private res: http.IncomingMessage | null = null;
  private onData: (() => void) | null = null;
  private failed: ((f: Failure) => void) | null = null;
  private measured = false;
  failure: Failure | null = null;
  readonly head: Promise<HeadOutcome>;

  /** A retry of `retried` (a stale keep-alive connection): the same round trip for k6, on another connection. */
  constructor(
    pool: ConnectionPool,
    readonly spec: HopSpec,
    private readonly retried?: Hop,
  ) {
    this.url = spec.url;
    this.t = {
      getConn: retried?.t.getConn ?? performance.now(),
      connectStart: 0,
      connectDone: 0,
      tlsStart: 0,
      tlsDone: 0,
      gotConn: 0,
      wrote: 0,
      firstByte: 0,
    };
    this.head = new Promise<HeadOutcome>((resolve) => {
      let settled = false;
      this.failed = (f) => {
        if (this.failure === null) this.failure = f;
        if (!settled) {
          settled = true;
          resolve({ failure: this.failure });
        }
      };
      try {
        this.req = this.start(pool, (res) => {
          if (settled) return;
          settled = true;
          resolve({ res });
        });
      } catch (e) {
        this.fail(classify(e as NodeNetError, this));
      }
    });
  }

  private start(pool: ConnectionPool, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    const { url, body } = this.spec;
    const method = this.spec.method.toUpperCase();
    checkHeaders(this.spec.method, this.spec.headers);
    const secure = url.protocol === 'https:';
    const port = url.port !== '' ? Number(url.port) : secure ? 443 : 80;
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const req = (secure ? https : http).request({
      agent: secure ? pool.https : pool.http,
      method,
      hostname,
      port,
      path: `${url.pathname}${url.search}`,
      setHost: false,
    });
    // Go writes Host, User-Agent, Content-Length, then the other fields sorted (Request.write).
    req.setHeader('Host', wireValue(this.spec.host ?? url.host));
    const userAgent = this.spec.headers.find(([k]) => k === 'User-Agent');
    if (userAgent && userAgent[1][0] !== '') req.setHeader('User-Agent', wireValue(userAgent[1][0]!));
    const length = body?.length ?? 0;
    if (length > 0 || method === 'POST' || method === 'PUT' || method === 'PATCH') {
      req.setHeader('Content-Length', String(length));
    }
    for (const [name, values] of this.spec.headers) {
      if (name === 'User-Agent' || name === 'Host') continue;
      req.setHeader(name, values.length === 1 ? wireValue(values[0]!) : values.map(wireValue));
    }
    if (url.username !== '' && !this.spec.headers.some(([k]) => k === 'Authorization')) {
      const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      req.setHeader('Authorization', `Basic ${Buffer.from(user).toString('base64')}`);
    }
    // Go sends no Connection field on a keep-alive request (HTTP/1.1's default) and `close` with
    // DisableKeepAlives; Node's agent would add `Connection: keep-alive` (24 bytes k6 does not send).
    if (pool.options.keepAlive) req.removeHeader('Connection');
    req.on('socket', (socket) => this.gotSocket(socket));
    req.on('finish', () => (this.t.wrote = performance.now()));
    req.on('response', (res) => {
      this.res = res;
      onResponse(res);
    });
    req.on('error', (err) => this.fail(classify(err, this)));
    req.end(length > 0 ? body : undefined);
    return req;
  }

  private gotSocket(socket: net.Socket): void {
    this.socket = socket;
    const trace = traces.get(socket);
    this.trace = trace;
    this.reused = trace === undefined || trace.used;
    this.raw = trace?.raw ?? socket;
    const ready = () => {
      const now = performance.now();
      this.t.gotConn = now;
      if (trace && !trace.used) {
        trace.used = true;
        this.t.connectStart = trace.connectStart || now;
        this.t.connectDone = trace.connectDone || now;
        if (trace.tls) {
          this.t.tlsStart = this.t.connectDone;
          this.t.tlsDone = trace.tlsDone || now;
        }
      } else {
        // A reused connection: Go's GotConn sets the connect (and TLS) stamps to now.
        this.t.connectStart = this.t.connectDone = now;
        if (socket instanceof tls.TLSSocket) this.t.tlsStart = this.t.tlsDone = now;
        this.baseWritten = this.raw!.bytesWritten;
        this.baseRead = this.raw!.bytesRead;
      }
      this.remoteIp = this.raw!.remoteAddress ?? '';
      this.remotePort = this.raw!.remotePort ?? 0;
      if (socket instanceof tls.TLSSocket) {
        this.tlsVersion = TLS_VERSIONS[socket.getProtocol() ?? ''] ?? '';
        this.tlsCipherSuite = socket.getCipher()?.standardName ?? '';
      }
      this.onData = () => {
        if (this.t.firstByte === 0) this.t.firstByte = performance.now();
      };
      socket.prependListener('data', this.onData);
    };
    if (trace && !trace.used) {
      const connected = trace.tls ? trace.tlsDone !== 0 : trace.connectDone !== 0;
      if (connected) ready();
      else socket.once(trace.tls ? 'secureConnect' : 'connect', ready);
    } else {
      ready();
    }
  }

  /**
   * Go's Transport retries a request that failed on a reused connection before any response byte arrived (the
   * server closed it while idle): always when nothing was written yet, else only for idempotent methods.
   */
  retryable(): boolean {
    const f = this.failure;
    if (!this.reused || this.t.firstByte !== 0 || f === null) return false;
    const stale =
      f.message === 'EOF' || f.code === ERROR_CODES.tcpResetByPeer || f.code === ERROR_CODES.tcpBrokenPipe;
    const idempotent = ['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(this.spec.method.toUpperCase());
    return stale && (idempotent || this.t.wrote === 0);
  }

  fail(f: Failure): void {
    if (!this.measured) this.failed?.(f);
  }

  /** Cuts the round trip (timeout, cancellation): Go closes the connection. */
  abort(f: Failure): void {
    this.fail(f);
    this.res?.destroy();
    this.req?.destroy();
  }

  /**
   * Reads the whole body (its chunks kept when `keep`, up to `limit` bytes), or resolves with the failure that cut
   * it. A kept body over the limit fails before it is buffered: at once when Content-Length says so, else with the
   * chunk that crosses it; the connection is closed (the rest of the body never arrives).
   */
  readBody(keep: boolean, limit = Infinity): Promise<{ chunks: Buffer[] } | { failure: Failure }> {
    const res = this.res!;
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (v: { chunks: Buffer[] } | { failure: Failure }) => {
        if (done) return;
        done = true;
        resolve(v);
      };
      this.failed = (f) => {
        if (this.failure === null) this.failure = f;
        finish({ failure: this.failure });
      };
      if (this.failure !== null) return finish({ failure: this.failure });
      const declared = Number(res.headers['content-length'] ?? -1);
      if (keep && declared > limit) {
        this.abort(bodyTooBig(limit, `Content-Length ${declared}`));
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (!keep || done) return;
        size += chunk.length;
        if (size > limit) {
          chunks.length = 0;
          this.abort(bodyTooBig(limit));
        } else chunks.push(chunk);
      });
      res.on('end', () => finish({ chunks }));
      res.on('error', () => undefined);
      res.on('close', () => {
        if (!res.complete) this.fail({ code: 1000, message: 'unexpected EOF', detail: 'unexpected EOF' });
      });
    });
  }

  /** Go's redirect handling closes the body: small ones are drained so the connection is reused. */
  async discardBody(): Promise<void> {
    const length = Number(this.res!.headers['content-length'] ?? -1);
    if (length > 2048) {
      this.res!.destroy();
      this.req!.destroy();
      return;
    }
    await this.readBody(false);
    this.failure = null;
  }

  /** The round trip's record (k6's finishedRequest), at `done`. */
  measure(): WireHop {
    const earlier = this.retried?.measured === false ? this.retried.measure() : undefined;
    const done = performance.now();
    this.measured = true;
    const trace = this.trace;
    if (this.t.gotConn === 0 && trace !== undefined && !this.reused && trace.connectDone !== 0) {
      // Connected, then failed (TLS handshake, reset): Go's tracer still has the connect and TLS-start stamps.
      this.t.connectStart = trace.connectStart;
      this.t.connectDone = trace.connectDone;
      if (trace.tls) this.t.tlsStart = trace.connectDone;
    }
    if (this.onData) this.socket?.removeListener('data', this.onData);
    const res = this.res;
    const failure = this.failure;
    const ok = failure === null && res !== null;
    const status = ok ? (res.statusCode ?? 0) : 0;
    const raw = this.raw !== null && (this.reused || this.trace?.connectDone !== 0) ? this.raw : null;
    return {
      method: this.spec.method,
      url: this.spec.urlText,
      status,
      statusText: ok ? `${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}` : '',
      proto: ok ? `HTTP/${res.httpVersion}` : '',
      rawHeaders: ok ? res.rawHeaders : [],
      errorCode: failure !== null ? failure.code : status >= 400 ? 1000 + status : 0,
      errorMsg: failure !== null ? failure.message : '',
      timings: trail(this.t, done),
      remoteIp: this.remoteIp,
      remotePort: this.remotePort,
      tlsVersion: ok ? this.tlsVersion : '',
      tlsCipherSuite: ok ? this.tlsCipherSuite : '',
      bytesSent: (raw ? (raw.bytesWritten ?? 0) - this.baseWritten : 0) + (earlier?.bytesSent ?? 0),
      bytesReceived: (raw ? (raw.bytesRead ?? 0) - this.baseRead : 0) + (earlier?.bytesReceived ?? 0),
      endTime: Date.now(),
    };
  }
}

// ---- the request: redirects, timeout, body ------------------------------------------------------------

/** Lets the caller cancel a request in flight (k6 cancels the VU context when an iteration is cut short). */
export class Cancel {
  cancelled = false;
  private hook: (() => void) | null = null;
  cancel(): void {
    this.cancelled = true;
    this.hook?.();
  }
  /** @internal */
  on(fn: (() => void) | null): void {
    this.hook = fn;
  }
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);
const zstd = (zlib as unknown as { zstdDecompress?: typeof zlib.gunzip }).zstdDecompress;
const unzstd = zstd ? promisify(zstd) : undefined;

/** The engine's body limit was crossed (k6 has none; for k6 it would be an error of no known type: code 1000). */
function bodyTooBig(limit: number, how?: string): Failure {
  const message = responseBodyTooBig(limit, how);
  return { code: ERROR_CODES.default, message, detail: message };
}

class BodyTooBigError extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/**
 * compression.go readResponseBody: undoes the Content-Encoding, last applied first; unknown ones stay. Each step's
 * output is capped at `limit` (zlib stops inflating there), so a small bomb cannot take more than the limit.
 */
async function decodeBody(body: Buffer, contentEncoding: string | undefined, limit: number): Promise<Buffer> {
  if (!contentEncoding) return body;
  const encodings = contentEncoding.split(',');
  const opts = Number.isFinite(limit) ? { maxOutputLength: limit } : {};
  let out = body;
  for (let i = encodings.length - 1; i >= 0; i--) {
    const enc = encodings[i]!.trim();
    try {
      if (enc === 'gzip') out = await gunzip(out, opts);
      else if (enc === 'deflate') out = await inflate(out, opts);
      else if (enc === 'br') out = await brotli(out, opts);
      else if (enc === 'zstd' && unzstd) out = await unzstd(out, opts);
    } catch (e) {
      if ((e as NodeNetError).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new BodyTooBigError(bodyTooBig(limit, `once decompressed from ${enc}`));
      }
      throw new DecompressionError(enc, e as NodeNetError);
    }
  }
  return out;
}

class DecompressionError extends Error {
  constructor(encoding: string, cause: NodeNetError) {
    const m = cause.message;
    const prefix = encoding === 'gzip' ? 'gzip' : encoding === 'deflate' ? 'zlib' : encoding;
    const go = /header/.test(m)
      ? `${prefix}: invalid header`
      : /check/.test(m)
        ? `${prefix}: invalid checksum`
        : encoding === 'br'
          ? `brotli: ${m}`
          : m;
    super(`error decompressing response body (${go})`);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Go's refererForURL. */
function referer(last: URL, next: URL, explicit: string | undefined): string {
  if (last.protocol === 'https:' && next.protocol === 'http:') return '';
  if (explicit) return explicit;
  const u = new URL(last.href);
  u.username = '';
  u.password = '';
  u.hash = '';
  return u.href;
}

/** Go's shouldCopyHeaderOnRedirect: credentials only go to the same domain or its subdomains. */
function sameDomainOrSub(initial: URL, dest: URL): boolean {
  const ihost = initial.hostname.toLowerCase();
  const dhost = dest.hostname.toLowerCase();
  return dhost === ihost || dhost.endsWith(`.${ihost}`);
}

const SENSITIVE = new Set(['Authorization', 'Www-Authenticate', 'Cookie', 'Cookie2']);

/** The scheme Go's url.Parse would see (lower-cased), '' when there is none. */
function schemeOf(url: string): string {
  return /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase() ?? '';
}

/** What Go's transport refuses before dialing: an unsupported scheme, a missing host. */
/**
 * Parsed request URLs by their text, bounded (cleared when full): a BOSH session posts to one URL for its whole
 * life, and a WHATWG parse per request showed among the top allocations. Entries are only read, never changed.
 */
const PARSED_URLS = new Map<string, URL>();
const PARSED_URLS_MAX = 1024;

function preflight(urlText: string): URL | Failure {
  const known = PARSED_URLS.get(urlText);
  if (known !== undefined) return known;
  const parsed = parseRequestUrl(urlText);
  if (parsed instanceof URL) {
    if (PARSED_URLS.size >= PARSED_URLS_MAX) PARSED_URLS.clear();
    PARSED_URLS.set(urlText, parsed);
  }
  return parsed;
}

function parseRequestUrl(urlText: string): URL | Failure {
  const scheme = schemeOf(urlText);
  if (scheme !== 'http' && scheme !== 'https') {
    const m = `unsupported protocol scheme "${scheme}"`;
    return { code: ERROR_CODES.default, message: m, detail: m };
  }
  try {
    const u = new URL(urlText);
    if (u.hostname !== '') return u;
  } catch {
    // below
  }
  return {
    code: ERROR_CODES.default,
    message: 'http: no Host in request URL',
    detail: 'http: no Host in request URL',
  };
}

/** A round trip that failed before any I/O (k6 still measures and emits it). */
function unsentHop(method: string, urlText: string, f: Failure): WireHop {
  return {
    method,
    url: urlText,
    status: 0,
    statusText: '',
    proto: '',
    rawHeaders: [],
    errorCode: f.code,
    errorMsg: f.message,
    timings: {
      blocked: 0,
      connecting: 0,
      tlsHandshaking: 0,
      sending: 0,
      waiting: 0,
      receiving: 0,
      duration: 0,
    },
    remoteIp: '',
    remotePort: 0,
    tlsVersion: '',
    tlsCipherSuite: '',
    bytesSent: 0,
    bytesReceived: 0,
    endTime: Date.now(),
  };
}

/**
 * k6's MakeRequest: follows redirects as Go's http.Client with k6's CheckRedirect, under one timeout for the
 * whole exchange (body included), and reads the last body as `responseType` says.
 */
export async function perform(pool: ConnectionPool, r: WireRequest, cancel?: Cancel): Promise<WireResult> {
  const result: WireResult = { hops: [], body: null, failure: null, warning: null };
  const op = urlErrorOp(r.method);
  let current: Hop | null = null;
  let stopped: Failure | null = null;
  const stop = (f: Failure) => {
    stopped ??= f;
    current?.abort(stopped);
  };
  const timer = setTimeout(() => stop(timeoutFailure()), Math.max(0, r.timeoutMs));
  cancel?.on(() =>
    stop({ code: ERROR_CODES.default, message: 'context canceled', detail: 'context canceled' }),
  );
  const initial = r.url;
  let spec: {
    method: string;
    urlText: string;
    headers: [string, string[]][];
    host: string | null;
    body: Uint8Array | null;
  } = {
    method: r.method,
    urlText: r.url,
    headers: r.headers,
    host: r.host,
    body: r.body,
  };
  try {
    for (;;) {
      const url = preflight(spec.urlText);
      if (!(url instanceof URL)) {
        result.hops.push(unsentHop(spec.method, spec.urlText, url));
        result.failure = {
          code: url.code,
          message: url.message,
          thrown: urlError(op, spec.urlText, url.detail),
        };
        return result;
      }
      let hop: Hop = new Hop(pool, { ...spec, url });
      current = hop;
      if (stopped !== null) hop.abort(stopped);
      let head = await hop.head;
      while ('failure' in head && stopped === null && hop.retryable()) {
        hop = new Hop(pool, { ...spec, url }, hop);
        current = hop;
        head = await hop.head;
      }
      if ('failure' in head) {
        result.hops.push(hop.measure());
        const f = head.failure;
        result.failure = { code: f.code, message: f.message, thrown: urlError(op, spec.urlText, f.detail) };
        return result;
      }
      const res = head.res;
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECTS.has(status) && location) {
        let next: URL | null = null;
        try {
          next = new URL(location, url);
        } catch {
          next = null;
        }
        if (next === null) {
          await hop.discardBody();
          result.hops.push(hop.measure());
          const m = `failed to parse Location header "${location}"`;
          result.failure = { code: ERROR_CODES.default, message: m, thrown: urlError(op, spec.urlText, m) };
          return result;
        }
        const via = result.hops.length + 1;
        if (via <= r.maxRedirects) {
          await hop.discardBody();
          result.hops.push(hop.measure());
          const keepBody = status === 307 || status === 308;
          const upper = spec.method.toUpperCase();
          const method = keepBody || upper === 'GET' || upper === 'HEAD' ? spec.method : 'GET';
          const first = new URL(initial);
          // Go copies the first request's header fields to every redirect, credentials only within its domain.
          const headers = r.headers.filter(
            ([k]) => k !== 'Referer' && (!SENSITIVE.has(k) || sameDomainOrSub(first, next)),
          );
          const explicitRef = r.headers.find(([k]) => k === 'Referer')?.[1][0];
          const ref = referer(url, next, explicitRef);
          if (ref !== '') headers.push(['Referer', [ref]]);
          headers.sort(([a], [b]) =>
            a === 'User-Agent' ? -1 : b === 'User-Agent' ? 1 : a < b ? -1 : a > b ? 1 : 0,
          );
          // A custom Host survives a redirect only to a relative Location.
          const relative = schemeOf(location) === '' && !location.startsWith('//');
          spec = {
            method,
            urlText: next.href,
            headers,
            host: spec.host !== null && relative ? spec.host : null,
            body: keepBody ? spec.body : null,
          };
          continue;
        }
        if (!r.redirectsExplicit) {
          result.warning =
            `Stopped after ${via} redirects and returned the redirection; pass { redirects: n }` +
            ` in request params or set global maxRedirects to silence this (url=${initial})`;
        }
      }
      // The last response: its body, read as responseType says.
      const noContent = (status >= 100 && status <= 199) || status === 204 || status === 304;
      const keep = r.responseType !== 'none' && !noContent;
      const read = await hop.readBody(keep, r.maxBodyBytes);
      if ('failure' in read) {
        result.hops.push(hop.measure());
        const f = read.failure;
        result.failure = { code: f.code, message: f.message, thrown: f.detail };
        return result;
      }
      if (keep) {
        try {
          const decoded = await decodeBody(
            Buffer.concat(read.chunks),
            res.headers['content-encoding'],
            r.maxBodyBytes,
          );
          result.body = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.length);
        } catch (e) {
          hop.failure =
            e instanceof BodyTooBigError
              ? e.failure
              : {
                  code: ERROR_CODES.responseDecompression,
                  message: (e as Error).message,
                  detail: (e as Error).message,
                };
          result.hops.push(hop.measure());
          result.failure = {
            code: hop.failure.code,
            message: hop.failure.message,
            thrown: hop.failure.message,
          };
          return result;
        }
      }
      result.hops.push(hop.measure());
      return result;
    }
  } finally {
    clearTimeout(timer);
    cancel?.on(null);
  }
}
