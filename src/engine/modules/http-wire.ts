/**
 * The network half of `k6/http` for the Node engine: the request/redirect loop, measured as k6 measures it.
 * Follows grafana/k6 lib/netext/httpext request.go (MakeRequest and its http.Client with CheckRedirect), over the
 * per-VU pool and round trips of http-transport.ts (transport.go, tracer.go in http-tracer.ts), with the failures
 * of http-error-codes.ts (error_codes.go) and the body decoding of http-compression.ts (compression.go).
 *
 * It knows nothing of VUs, realms or metrics: it takes a plain request and returns plain, structured-cloneable
 * data (one record per round trip, as k6 emits one set of http_req_* samples per redirect hop), so the same code
 * serves asynchronous requests on the main thread and synchronous ones in the worker (http-sync.ts).
 */
import { decodeBody, BodyTooBigError } from './http-compression.ts';
import { ERROR_CODES, timeoutFailure, urlError, urlErrorOp, type Failure } from './http-error-codes.ts';
import { Hop, type ConnectionPool, type WireHop } from './http-transport.ts';

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

/** What Go's transport refuses before dialing: an unsupported scheme, a missing host. */
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
