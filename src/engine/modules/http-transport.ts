/**
 * The per-VU transport of `k6/http` (grafana/k6 internal/js/runner.go's http.Transport, lib/netext/httpext
 * transport.go): a keep-alive connection pool whose sockets the engine dials itself (so their byte counters see
 * the wire, TLS included, and the tracer sees connect and TLS times), and one round trip on it (a Hop: connection,
 * request write, response head, body), measured as k6's Tracer measures it.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { clientTlsOptions, keepPeerCertificate } from './tls.ts';
import { bodyTooBig, classify, ERROR_CODES, type Failure, type NodeNetError } from './http-error-codes.ts';
import {
  trail,
  traceConnection,
  traces,
  type ConnTrace,
  type Stamps,
  type WireTimings,
} from './http-tracer.ts';

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

export interface PoolOptions {
  /** false with k6's noConnectionReuse (Go's DisableKeepAlives). */
  keepAlive: boolean;
  insecureSkipTLSVerify: boolean;
  /** Go's MaxIdleConnsPerHost: k6's batchPerHost (default 6). */
  maxIdlePerHost: number;
}

// ---- the per-VU connection pool -----------------------------------------------------------------------

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

const TLS_VERSIONS: Record<string, string> = {
  TLSv1: 'tls1.0',
  'TLSv1.1': 'tls1.1',
  'TLSv1.2': 'tls1.2',
  'TLSv1.3': 'tls1.3',
};

export interface HopSpec {
  method: string;
  url: URL;
  /** The URL's text as requested (k6 tags and reports it as given). */
  urlText: string;
  headers: [string, string[]][];
  host: string | null;
  body: Uint8Array | null;
}

export type HeadOutcome = { res: http.IncomingMessage } | { failure: Failure };

/** One request on the pool: connection, request write, response head; the body is read by the caller. */
export class Hop {
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
    // Go's GetConn comes once the request is built (Transport.getConn), not with its preparation: Node builds the
    // ClientRequest (~1 ms the first time, cold) and asks the agent last, so now is that moment (the dial itself
    // starts on a later tick, connectionAttempt). A retry keeps its first GetConn.
    if (this.retried === undefined) this.t.getConn = performance.now();
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
