/**
 * `k6/http` for one VU of the Node engine, after grafana/k6 js/modules/k6/http (http.go, request.go parseRequest
 * and asyncRequest, response.go, response_callback.go) and lib/netext/httpext (request.go MakeRequest,
 * transport.go measureAndEmitMetrics, tracer.go, error_codes.go, url.go, compression.go), with the defaults of
 * internal/cmd/options.go (User-Agent, maxRedirects) and internal/js/runner.go (one keep-alive transport per VU):
 * same parameters and error texts, same Response fields, same http_req_* samples and tags, one set per round trip.
 *
 * The network side is http-wire.ts. `asyncRequest` runs on the VU's event loop like k6's; the synchronous calls
 * (`get`, `post`, `request`, …) block the thread, so they run in a worker (http-sync.ts) and only where that
 * stalls no other VU: setup(), teardown(), handleSummary(), or a test with one VU. Elsewhere they throw
 * UnsupportedK6ApiError pointing at `asyncRequest`, as `sleep()` does. `batch`, `file`, cookie jars, `html()`
 * and JSON selectors are not implemented and throw the same way.
 */
import { defineBuiltins } from '../metrics.ts';
import { types } from 'node:util';
import zlib from 'node:zlib';
import { maskUrlPasswords } from '../../xmpp/redact.ts';
import { DEFAULT_ENGINE_LIMITS } from '../limits.ts';
import { parseDuration } from '../options.ts';
import { UnsupportedK6ApiError, type ModuleFactory, type Tags, type VuRuntime } from '../runtime.ts';
import { SyncClient } from './http-sync.ts';
import {
  Cancel,
  ConnectionPool,
  ERROR_CODES,
  perform,
  type PoolOptions,
  type ResponseType,
  type WireHop,
  type WireRequest,
  type WireResult,
} from './http-wire.ts';
import { canonicalHeaderKey } from './ws-client.ts';

/** The k6 release whose behaviour this follows (internal/build/version.go); it names the default User-Agent. */
export const K6_VERSION = '2.2.0';
/** internal/cmd/options.go: the `user-agent` flag's default. */
export const DEFAULT_USER_AGENT = `Grafana k6/${K6_VERSION}`;
const DEFAULT_TIMEOUT_MS = 60_000;
/** The `max-redirects` flag's default (not "valid", so k6 warns when it stops a chain). */
const DEFAULT_MAX_REDIRECTS = 10;
/** The `batch-per-host` flag's default, which is also the transport's MaxIdleConnsPerHost. */
const DEFAULT_BATCH_PER_HOST = 6;

/** k6's built-in HTTP metrics (metrics/builtin.go); data_* are k6's wire byte counters. */
export const HTTP_METRICS = {
  reqs: 'http_reqs',
  failed: 'http_req_failed',
  duration: 'http_req_duration',
  blocked: 'http_req_blocked',
  connecting: 'http_req_connecting',
  tlsHandshaking: 'http_req_tls_handshaking',
  sending: 'http_req_sending',
  waiting: 'http_req_waiting',
  receiving: 'http_req_receiving',
  dataSent: 'data_sent',
  dataReceived: 'data_received',
} as const;

/** metrics.DefaultSystemTagSet (metrics/system_tag.go). */
const DEFAULT_SYSTEM_TAGS: readonly string[] = [
  'proto',
  'subproto',
  'status',
  'method',
  'url',
  'name',
  'group',
  'check',
  'error',
  'error_code',
  'tls_version',
  'scenario',
  'service',
  'expected_response',
];

/** lib/netext/tls.go constants, exported by k6/http. */
const CONSTANTS = {
  TLS_1_0: 'tls1.0',
  TLS_1_1: 'tls1.1',
  TLS_1_2: 'tls1.2',
  TLS_1_3: 'tls1.3',
  OCSP_STATUS_GOOD: 'good',
  OCSP_STATUS_REVOKED: 'revoked',
  OCSP_STATUS_SERVER_FAILED: 'server_failed',
  OCSP_STATUS_UNKNOWN: 'unknown',
  OCSP_REASON_UNSPECIFIED: 'unspecified',
  OCSP_REASON_KEY_COMPROMISE: 'key_compromise',
  OCSP_REASON_CA_COMPROMISE: 'ca_compromise',
  OCSP_REASON_AFFILIATION_CHANGED: 'affiliation_changed',
  OCSP_REASON_SUPERSEDED: 'superseded',
  OCSP_REASON_CESSATION_OF_OPERATION: 'cessation_of_operation',
  OCSP_REASON_CERTIFICATE_HOLD: 'certificate_hold',
  OCSP_REASON_REMOVE_FROM_CRL: 'remove_from_crl',
  OCSP_REASON_PRIVILEGE_WITHDRAWN: 'privilege_withdrawn',
  OCSP_REASON_AA_COMPROMISE: 'aa_compromise',
} as const;

const INIT_CONTEXT_ERROR = 'Making http requests in the init context is not supported';
const JAR_INIT_CONTEXT_ERROR = 'Making cookie jars in the init context is not supported';

/** Options k6/http acts on that the Node engine does not implement: set, they fail loudly. */
const UNSUPPORTED_OPTIONS = [
  'hosts',
  'blacklistIPs',
  'blockHostnames',
  'rps',
  'localIPs',
  'tlsAuth',
  'tlsCipherSuites',
  'tlsVersion',
  'httpDebug',
] as const;

// ---- small Go-isms ------------------------------------------------------------------------------------

/** k6 throws Go errors: sobek turns them into `GoError` objects whose message is the Go text. */
function goError(E: ErrorConstructor, message: string): Error {
  const err = new E(message);
  err.name = 'GoError';
  return err;
}

/** A parseRequest error: returned in a Response (error, error_code) unless `throw` is set. */
class ParseError extends Error {
  constructor(
    message: string,
    readonly code = 0,
  ) {
    super(message);
  }
}

/** Go's `%v` of what sobek exports a JS number as: int64 when integral, else float64 (strconv 'g', shortest). */
function goNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 2 ** 63) return BigInt(v).toString();
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  const [mantissa, exp] = v.toExponential().split('e') as [string, string];
  const e = Number(exp);
  // %e when the exponent is < -4 or >= 6 (the shortest form's precision for this decision)
  if (e < -4 || e >= 6) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  return String(v);
}

/** Go's `%T` of what sobek exports a JS value as, for k6's "unknown request body type" error. */
function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return '*big.Int';
  if (typeof v === 'function') return 'func(sobek.FunctionCall) sobek.Value';
  if (Array.isArray(v)) return '[]interface {}';
  if (ArrayBuffer.isView(v)) {
    const name = Object.prototype.toString.call(v).slice(8, -1);
    const elem: Record<string, string> = {
      Int8Array: 'int8',
      Int16Array: 'int16',
      Uint16Array: 'uint16',
      Int32Array: 'int32',
      Uint32Array: 'uint32',
      Float32Array: 'float32',
      Float64Array: 'float64',
      BigInt64Array: 'int64',
      BigUint64Array: 'uint64',
    };
    return elem[name] ? `[]${elem[name]}` : `*sobek.${name}`;
  }
  return 'map[string]interface {}';
}

/** Go's url.QueryEscape. */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** Go's url.Parse, as far as it refuses (it accepts far more than WHATWG URL does). */
function goUrlParseError(s: string): string | null {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(s)) return 'net/url: invalid control character in URL';
  const beforeQuery = s.split(/[?#]/, 1)[0]!;
  const badEscape = /%(?![0-9a-fA-F]{2})/.exec(beforeQuery);
  if (badEscape)
    return `invalid URL escape ${JSON.stringify(beforeQuery.slice(badEscape.index, badEscape.index + 3))}`;
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(s)?.[1];
  if (authority === undefined) return null;
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) return "missing ']' in host";
    const rest = host.slice(close + 1);
    if (rest !== '' && !/^:\d*$/.test(rest)) return `invalid port ${JSON.stringify(rest)} after host`;
    return null;
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !/^\d*$/.test(host.slice(colon + 1))) {
    return `invalid port ${JSON.stringify(host.slice(colon))} after host`;
  }
  if (/[\s<>"{}|\\^`]/.test(host)) {
    const c = /[\s<>"{}|\\^`]/.exec(host)![0];
    return `invalid character ${JSON.stringify(c)} in host name`;
  }
  return null;
}

/**
 * httpext.URL.Clean(): the userinfo masked for tags and output, `****:****@` with a password and `****@` without.
 * The userinfo runs to the last `@` of the authority, as Go's url.Parse reads it. Clean() cuts the raw URL by the
 * lengths of the unescaped name and password, so with %-escapes in them k6 shows part of the password; the engine
 * masks the whole userinfo instead.
 */
function cleanUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)@/, (_m, scheme: string, user: string) =>
    user.includes(':') ? `${scheme}****:****@` : `${scheme}****@`,
  );
}

/** What http.url`…` returns: the URL and its template (the `name` tag). */
class HttpURL {
  constructor(
    readonly name: string,
    readonly url: string,
    readonly clean_url: string,
  ) {}
}

/** Checked request URLs given as strings, by their text (bounded, cleared when full; the objects stay internal). */
const STRING_URLS = new Map<string, HttpURL>();
const STRING_URLS_MAX = 1024;

/** newUrl for a URL given as a string (name = url), remembered: one BOSH session requests one URL throughout. */
function stringUrl(url: string): HttpURL {
  let known = STRING_URLS.get(url);
  if (known === undefined) {
    known = newUrl(url, url);
    if (STRING_URLS.size >= STRING_URLS_MAX) STRING_URLS.clear();
    STRING_URLS.set(url, known);
  }
  return known;
}

/** httpext.NewURL. */
function newUrl(url: string, name: string): HttpURL {
  const reason = goUrlParseError(url);
  if (reason !== null) {
    // Go's url.Parse quotes the URL as given, password included; the engine stores and prints none.
    throw new ParseError(
      `invalid URL: parse ${JSON.stringify(maskUrlPasswords(url))}: ${reason}`,
      ERROR_CODES.invalidUrl,
    );
  }
  const clean = cleanUrl(url);
  return new HttpURL(url === name ? clean : name, url, clean);
}

/** What http.expectedStatuses() returns (response_callback.go). */
class ExpectedStatuses {
  constructor(
    readonly exact: readonly number[],
    readonly ranges: readonly (readonly [number, number])[],
  ) {}

  match(status: number): boolean {
    return this.exact.includes(status) || this.ranges.some(([min, max]) => min <= status && status <= max);
  }
}

const DEFAULT_EXPECTED = new ExpectedStatuses([], [[200, 399]]);

// ---- options ------------------------------------------------------------------------------------------

interface HttpOptions {
  userAgent: string;
  throw: boolean;
  maxRedirects: number;
  maxRedirectsSet: boolean;
  discardResponseBodies: boolean;
  noVUConnectionReuse: boolean;
  pool: PoolOptions;
  systemTags: ReadonlySet<string>;
}

function readOptions(rt: VuRuntime): HttpOptions {
  let o: Record<string, unknown>;
  try {
    o = rt.execution.test.options ?? {};
  } catch {
    o = {}; // a test double without execution state
  }
  for (const key of UNSUPPORTED_OPTIONS) {
    const v = o[key];
    const set =
      v !== undefined &&
      v !== null &&
      v !== false &&
      v !== '' &&
      v !== 0 &&
      !(Array.isArray(v) && v.length === 0) &&
      !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
    if (set) {
      throw new UnsupportedK6ApiError(
        `the '${key}' option with k6/http`,
        'the Node engine does not implement it; remove it or run this script with real k6',
      );
    }
  }
  const maxRedirectsSet = typeof o.maxRedirects === 'number';
  const batchPerHost = typeof o.batchPerHost === 'number' ? o.batchPerHost : DEFAULT_BATCH_PER_HOST;
  return {
    userAgent: typeof o.userAgent === 'string' ? o.userAgent : DEFAULT_USER_AGENT,
    throw: o.throw === true,
    maxRedirects: maxRedirectsSet ? Math.trunc(o.maxRedirects as number) : DEFAULT_MAX_REDIRECTS,
    maxRedirectsSet,
    discardResponseBodies: o.discardResponseBodies === true,
    noVUConnectionReuse: o.noVUConnectionReuse === true,
    pool: {
      keepAlive: o.noConnectionReuse !== true,
      insecureSkipTLSVerify: o.insecureSkipTLSVerify === true,
      maxIdlePerHost: batchPerHost > 0 ? batchPerHost : DEFAULT_BATCH_PER_HOST,
    },
    systemTags: new Set(Array.isArray(o.systemTags) ? o.systemTags.map(String) : DEFAULT_SYSTEM_TAGS),
  };
}

// ---- request parsing (request.go parseRequest) --------------------------------------------------------

interface RequestCookie {
  name: string;
  value: string;
  replace: boolean;
}

interface ParsedRequest {
  wire: WireRequest;
  /** The URL's template name (http.url) when it differs from the URL. */
  urlName: string;
  tags: Tags;
  /** The VU's own tags when the request started (data_* samples carry these, as k6's per-VU counters). */
  vuTags: Tags;
  throw: boolean;
  callback: ExpectedStatuses | null;
  request: {
    method: string;
    url: string;
    headers: Record<string, string[]>;
    body: string;
    cookies: Record<string, RequestCookie[]>;
  };
}

/** The VU context's intrinsics the Response needs (Node's own in test doubles without a realm). */
type Realm = { Error: ErrorConstructor; ArrayBuffer: ArrayBufferConstructor; JSON: JSON };

interface Client {
  rt: VuRuntime;
  options: () => HttpOptions;
  callback: ExpectedStatuses | null;
  warn: (msg: string) => void;
}

function formValue(c: Client, v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && !types.isAnyArrayBuffer(v)) {
    c.warn(
      `cannot urlencode a nested ${Array.isArray(v) ? '[]interface {}' : 'map[string]interface {}'} value in a ` +
        'request form body; encoding it as an empty value, use JSON.stringify() to send structured data',
    );
    return '';
  }
  return String(v);
}

/** The request body's bytes; an object becomes a urlencoded form, as k6 does (url.Values.Encode sorts keys). */
function requestBody(c: Client, body: unknown, headers: Map<string, string[]>): Uint8Array | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (types.isStringObject(body)) return Buffer.from(String(body), 'utf8');
  if (types.isAnyArrayBuffer(body)) return new Uint8Array(body.slice(0));
  if (types.isUint8Array(body) || types.isUint8ClampedArray(body)) {
    return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  }
  if (types.isDataView(body)) {
    throw new UnsupportedK6ApiError('a DataView request body', 'pass an ArrayBuffer or a Uint8Array instead');
  }
  if (typeof body === 'object' && !Array.isArray(body) && !ArrayBuffer.isView(body)) {
    const entries = Object.keys(body).map((k) => [k, (body as Record<string, unknown>)[k]] as const);
    const parts: string[] = [];
    for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const values = Array.isArray(v) ? v.map((el) => formValue(c, el)) : [formValue(c, v)];
      for (const value of values) parts.push(`${queryEscape(k)}=${queryEscape(value)}`);
    }
    headers.set('Content-Type', ['application/x-www-form-urlencoded']);
    return Buffer.from(parts.join('&'), 'utf8');
  }
  throw new ParseError(`unknown request body type ${goTypeName(body)}`);
}

const COMPRESSIONS = ['gzip', 'deflate', 'zstd', 'br'];

function compress(algos: string[], body: Uint8Array): Uint8Array {
  let out = Buffer.from(body);
  for (const algo of algos) {
    if (algo === 'gzip') out = zlib.gzipSync(out);
    else if (algo === 'deflate') out = zlib.deflateSync(out);
    else if (algo === 'br') out = zlib.brotliCompressSync(out);
    else {
      throw new UnsupportedK6ApiError(
        `the '${algo}' request compression`,
        'the Node engine compresses with gzip, deflate or br',
      );
    }
  }
  return out;
}

/** Go's sanitizeCookieValue: a value with a space or a comma is quoted. */
function cookieValue(v: string): string {
  return /[ ,]/.test(v) ? `"${v}"` : v;
}

function parseRequest(
  c: Client,
  method: string,
  urlArg: unknown,
  body: unknown,
  params: unknown,
): ParsedRequest {
  const opts = c.options();
  let url: HttpURL;
  if (urlArg instanceof HttpURL) url = urlArg;
  else if (typeof urlArg === 'string' || types.isStringObject(urlArg)) url = stringUrl(String(urlArg));
  else {
    throw new ParseError(
      `invalid URL: '#${typeof urlArg === 'object' && urlArg !== null ? 'map[]' : String(urlArg)}'`,
      ERROR_CODES.invalidUrl,
    );
  }
  const headers = new Map<string, string[]>();
  let bytes = requestBody(c, body, headers);
  const requestBodyText = bytes === null ? '' : Buffer.from(bytes).toString('utf8');
  headers.set('User-Agent', [opts.userAgent]);
  const tags: Tags = {};
  const cookies = new Map<string, RequestCookie>();
  let host: string | null = null;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  let throwOpt = opts.throw;
  let responseType: ResponseType = opts.discardResponseBodies ? 'none' : 'text';
  let maxRedirects = opts.maxRedirects;
  let redirectsExplicit = opts.maxRedirectsSet;
  let callback = c.callback;
  let compression: string[] = [];

  if (params !== undefined && params !== null) {
    const p = Object(params) as Record<string, unknown>;
    for (const key of Object.keys(p)) {
      const v = p[key];
      switch (key) {
        case 'cookies':
          if (v === undefined || v === null) break;
          for (const [name, cv] of Object.entries(Object(v) as Record<string, unknown>)) {
            if (cv === undefined || cv === null) continue;
            if (typeof cv === 'object' && !Array.isArray(cv)) {
              const o = cv as Record<string, unknown>;
              const cookie: RequestCookie = { name, value: '', replace: false };
              for (const attr of Object.keys(o)) {
                if (attr.toLowerCase() === 'replace') cookie.replace = Boolean(o[attr]);
                else if (attr.toLowerCase() === 'value') cookie.value = String(o[attr]);
              }
              cookies.set(name, cookie);
            } else {
              cookies.set(name, { name, value: String(cv), replace: false });
            }
          }
          break;
        case 'headers':
          if (v === undefined || v === null) break;
          for (const [name, hv] of Object.entries(Object(v) as Record<string, unknown>)) {
            const value = String(hv);
            if (name.toLowerCase() === 'host') host = value;
            headers.set(canonicalHeaderKey(name), [value]);
          }
          break;
        case 'jar':
          if (v === undefined || v === null) break;
          throw new UnsupportedK6ApiError(
            'k6/http params.jar',
            'cookie jars are not implemented; send cookies with params.cookies',
          );
        case 'compression': {
          const s = String(v).trim();
          if (s === '') break;
          compression = s.split(',').map((a) => a.trim());
          for (const algo of compression) {
            if (!COMPRESSIONS.includes(algo)) {
              throw new ParseError(
                `unknown compression algorithm ${algo}, supported algorithms are [${COMPRESSIONS.join(' ')}]`,
              );
            }
          }
          break;
        }
        case 'redirects':
          maxRedirects = Math.trunc(Number(v)) || 0;
          redirectsExplicit = true;
          break;
        case 'tags':
          if (v === undefined || v === null) break;
          for (const [name, tv] of Object.entries(Object(v) as Record<string, unknown>)) {
            if (typeof tv !== 'string' && typeof tv !== 'number' && typeof tv !== 'boolean') {
              throw new ParseError(
                `invalid HTTP request metric tags: invalid value for metric tag '${name}': ` +
                  'only String, Boolean and Number types are accepted as a metric tag values',
              );
            }
            tags[name] = String(tv);
          }
          break;
        case 'auth': {
          const auth = String(v);
          if (auth === 'digest' || auth === 'ntlm') {
            throw new UnsupportedK6ApiError(`${auth} authentication (params.auth)`);
          }
          break;
        }
        case 'timeout':
          if (typeof v !== 'string' && typeof v !== 'number') {
            throw new ParseError(
              `invalid timeout value: unable to use type ${goTypeName(v)} as a duration value`,
            );
          }
          try {
            timeoutMs = parseDuration(v);
          } catch (e) {
            throw new ParseError(`invalid timeout value: ${(e as Error).message}`);
          }
          break;
        case 'throw':
          throwOpt = Boolean(v);
          break;
        case 'responseType': {
          const s = String(v);
          if (s !== 'text' && s !== 'binary' && s !== 'none') {
            throw new ParseError(`${s} does not belong to ResponseType values`);
          }
          responseType = s;
          break;
        }
        case 'responseCallback':
          if (v === undefined || v === null) callback = null;
          else if (v instanceof ExpectedStatuses) callback = v;
          else throw new ParseError('unsupported responseCallback');
          break;
      }
    }
  }

  if (cookies.size > 0) {
    const pairs = [...cookies.values()].map((ck) => `${ck.name}=${cookieValue(ck.value)}`).join('; ');
    const existing = headers.get('Cookie')?.[0];
    headers.set('Cookie', [existing ? `${existing}; ${pairs}` : pairs]);
  }
  if (bytes !== null && compression.length > 0) {
    bytes = compress(compression, bytes);
    const encoding = compression.join(', ');
    const current = headers.get('Content-Encoding')?.[0];
    if (current === undefined || current === '') headers.set('Content-Encoding', [encoding]);
    else if (current !== encoding) {
      c.warn(
        "There's a mismatch between the desired `compression` the manually set `Content-Encoding` header " +
          `in the ${method} request for '${url.url}', the custom header has precedence and won't be overwritten. ` +
          'This may result in invalid data being sent to the server.',
      );
    }
  }
  const userLength = headers.get('Content-Length')?.[0];
  if (userLength !== undefined) {
    headers.delete('Content-Length');
    const length = bytes?.length ?? 0;
    if (!/^[+-]?\d+$/.test(userLength) || Number(userLength) !== length) {
      c.warn(
        `The specified Content-Length header ${JSON.stringify(userLength)} in the ${method} request for ` +
          `${url.url} doesn't match the actual request body length of ${length}, so it will be ignored!`,
      );
    }
  }
  // The header map k6 reports as response.request.headers (Go's Request.Header: no Content-Length in it).
  const reported: Record<string, string[]> = {};
  for (const [k, v] of headers) reported[k] = [...v];
  headers.delete('Host');
  const wireHeaders = [...headers].sort(([a], [b]) =>
    a === 'User-Agent' ? -1 : b === 'User-Agent' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  const requestCookies: Record<string, RequestCookie[]> = {};
  for (const ck of cookies.values()) (requestCookies[ck.name] ??= []).push({ ...ck, replace: false });
  return {
    wire: {
      method,
      url: url.url,
      headers: wireHeaders,
      host,
      body: bytes,
      timeoutMs,
      maxRedirects,
      redirectsExplicit,
      responseType,
      maxBodyBytes: c.rt.limits?.maxResponseBodyBytes ?? DEFAULT_ENGINE_LIMITS.maxResponseBodyBytes,
    },
    urlName: url.name !== '' && url.name !== url.clean_url ? url.name : '',
    tags: { ...c.rt.tags(), ...tags },
    vuTags: c.rt.tags(),
    throw: throwOpt,
    callback,
    request: { method, url: url.url, headers: reported, body: requestBodyText, cookies: requestCookies },
  };
}

// ---- the Response -------------------------------------------------------------------------------------

interface HTTPCookie {
  name: string;
  value: string;
  domain: string;
  path: string;
  http_only: boolean;
  secure: boolean;
  max_age: number;
  expires: number;
}

/** What Go's zero time.Time gives for `UnixNano() / 1e6` (k6's `expires` of a cookie without one). */
const GO_ZERO_TIME_MS = -6795364578871;

/** Go's readSetCookies for one Set-Cookie line, with k6's HTTPCookie fields. */
function parseSetCookie(line: string): HTTPCookie | null {
  const parts = line.trim().split(';');
  const first = parts.shift()!.trim();
  const eq = first.indexOf('=');
  if (eq < 0) return null;
  const name = first.slice(0, eq).trim();
  let value = first.slice(eq + 1).trim();
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return null;
  if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  const c: HTTPCookie = {
    name,
    value,
    domain: '',
    path: '',
    http_only: false,
    secure: false,
    max_age: 0,
    expires: GO_ZERO_TIME_MS,
  };
  for (const part of parts) {
    const p = part.trim();
    if (p === '') continue;
    const i = p.indexOf('=');
    const attr = (i < 0 ? p : p.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? '' : p.slice(i + 1).trim();
    switch (attr) {
      case 'secure':
        c.secure = true;
        break;
      case 'httponly':
        c.http_only = true;
        break;
      case 'domain':
        c.domain = val;
        break;
      case 'path':
        c.path = val;
        break;
      case 'max-age': {
        if (!/^-?\d+$/.test(val) || (val !== '0' && val.startsWith('0'))) break;
        const secs = Number(val);
        c.max_age = secs <= 0 ? -1 : secs;
        break;
      }
      case 'expires': {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) c.expires = t;
        break;
      }
    }
  }
  return c;
}

/** k6's Response (lib/netext/httpext/response.go, js/modules/k6/http/response.go), in its JSON field order. */
class K6Response {
  remote_ip = '';
  remote_port = 0;
  url = '';
  status = 0;
  status_text = '';
  proto = '';
  headers: Record<string, string> = {};
  cookies: Record<string, HTTPCookie[]> = {};
  body: string | ArrayBuffer | null = null;
  timings = {
    duration: 0,
    blocked: 0,
    looking_up: 0,
    connecting: 0,
    tls_handshaking: 0,
    sending: 0,
    waiting: 0,
    receiving: 0,
  };
  tls_version = '';
  tls_cipher_suite = '';
  ocsp = { produced_at: 0, this_update: 0, next_update: 0, revoked_at: 0, revocation_reason: '', status: '' };
  error = '';
  error_code = 0;
  request: ParsedRequest['request'] | null = null;
  readonly #realm: Realm;
  #json: { value: unknown } | null = null;

  constructor(realm: Realm) {
    this.#realm = realm;
  }

  json(selector?: unknown): unknown {
    if (selector !== undefined) {
      throw new UnsupportedK6ApiError(
        'Response.json(selector)',
        'gjson selectors are not implemented; call res.json() and read the field',
      );
    }
    if (this.body === null || this.body === undefined) {
      throw goError(
        this.#realm.Error,
        "the body is null so we can't transform it to JSON - this likely was because of a request error getting the response",
      );
    }
    if (this.#json !== null) return this.#json.value;
    const text = typeof this.body === 'string' ? this.body : Buffer.from(this.body).toString('utf8');
    try {
      this.#json = { value: this.#realm.JSON.parse(text) };
    } catch (e) {
      const message = (e as Error).message;
      const pos = /at position (\d+)/.exec(message);
      const offset = pos ? Number(pos[1]) : text.length;
      const before = text.slice(0, offset);
      const line = before.split('\n').length;
      const character = offset - (before.lastIndexOf('\n') + 1) + (text.length === 0 ? 0 : 1);
      throw goError(
        this.#realm.Error,
        `cannot parse json due to an error at line ${line}, character ${character} , error: ${message}`,
      );
    }
    return this.#json.value;
  }

  html(): never {
    throw new UnsupportedK6ApiError('Response.html()', 'k6/html is not implemented; parse res.body yourself');
  }

  submitForm(): never {
    throw new UnsupportedK6ApiError('Response.submitForm()', 'k6/html is not implemented');
  }

  clickLink(): never {
    throw new UnsupportedK6ApiError('Response.clickLink()', 'k6/html is not implemented');
  }
}

// ---- the module ---------------------------------------------------------------------------------------

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export const httpModule: ModuleFactory = (rt) => {
  defineBuiltins(rt.metrics, Object.values(HTTP_METRICS));
  const realm = {
    Error: rt.realm?.Error ?? Error,
    ArrayBuffer: rt.realm?.ArrayBuffer ?? ArrayBuffer,
    JSON: rt.realm?.JSON ?? JSON,
  };
  const RealmPromise = rt.realm?.Promise ?? Promise;
  // The VU's console (engine log with the VU id), taken before the script can replace it.
  const vuConsole = rt.realm?.global.console as { warn?: (...a: unknown[]) => void } | undefined;
  const consoleWarn = vuConsole?.warn?.bind(vuConsole);
  let options: HttpOptions | null = null;
  const client: Client = {
    rt,
    options: () => (options ??= readOptions(rt)),
    callback: DEFAULT_EXPECTED,
    // k6's own warnings quote request URLs as given (Go's URL.String() keeps the password); the engine's do not.
    warn: (msg) => {
      const masked = maskUrlPasswords(msg);
      if (rt.engineLog) rt.engineLog('warn', masked);
      else if (consoleWarn) consoleWarn(masked);
      else process.stderr.write(`WARN ${masked}\n`);
    },
  };
  let pool: ConnectionPool | null = null;
  let sync: SyncClient | null = null;
  /** The iteration the pools last served (noVUConnectionReuse closes idle connections between iterations). */
  let lastIteration: number | null = null;
  const inflight = new Set<Cancel>();
  rt.onInterrupt(() => {
    for (const c of [...inflight]) c.cancel();
    inflight.clear();
  });

  function iterationChanged(): boolean {
    let iteration: number;
    try {
      iteration = rt.execution.vu.iterationInInstance;
    } catch {
      iteration = -1; // a test double without execution state
    }
    const changed = lastIteration !== null && lastIteration !== iteration;
    lastIteration = iteration;
    return changed && client.options().noVUConnectionReuse;
  }

  /** k6's measureAndEmitMetrics for every round trip of a request. */
  function emit(parsed: ParsedRequest, result: WireResult): void {
    const enabled = client.options().systemTags;
    const set = (tags: Tags, key: string, value: string) => {
      if (enabled.has(key)) tags[key] = value;
    };
    const m = rt.metrics;
    for (const hop of result.hops) {
      const tags: Tags = { ...parsed.tags };
      const manualName = parsed.tags.name ?? (parsed.urlName !== '' ? parsed.urlName : undefined);
      if (manualName === undefined) {
        const clean = cleanUrl(hop.url);
        set(tags, 'name', clean);
        set(tags, 'url', clean);
      } else {
        tags.name = manualName;
        set(tags, 'url', manualName);
      }
      set(tags, 'method', hop.method);
      const failed = hop.errorMsg !== '' || hop.status === 0;
      if (failed) {
        set(tags, 'error', hop.errorMsg);
        set(tags, 'error_code', String(hop.errorCode));
        set(tags, 'status', '0');
      } else {
        set(tags, 'status', String(hop.status));
        if (hop.status >= 400) set(tags, 'error_code', String(hop.errorCode));
        set(tags, 'proto', hop.proto);
        if (hop.tlsVersion !== '') set(tags, 'tls_version', hop.tlsVersion);
      }
      if (enabled.has('ip') && hop.remoteIp !== '') tags.ip = hop.remoteIp;
      let expected: boolean | null = null;
      if (parsed.callback !== null) {
        expected = parsed.callback.match(failed ? 0 : hop.status);
        set(tags, 'expected_response', String(expected));
      }
      const t = hop.timings;
      const at = hop.endTime;
      m.push(HTTP_METRICS.reqs, 1, tags, at);
      m.push(HTTP_METRICS.duration, t.duration, tags, at);
      m.push(HTTP_METRICS.blocked, t.blocked, tags, at);
      m.push(HTTP_METRICS.connecting, t.connecting, tags, at);
      m.push(HTTP_METRICS.tlsHandshaking, t.tlsHandshaking, tags, at);
      m.push(HTTP_METRICS.sending, t.sending, tags, at);
      m.push(HTTP_METRICS.waiting, t.waiting, tags, at);
      m.push(HTTP_METRICS.receiving, t.receiving, tags, at);
      if (expected !== null) m.push(HTTP_METRICS.failed, expected ? 0 : 1, tags, at);
      if (hop.bytesSent > 0) m.push(HTTP_METRICS.dataSent, hop.bytesSent, parsed.vuTags, at);
      if (hop.bytesReceived > 0) m.push(HTTP_METRICS.dataReceived, hop.bytesReceived, parsed.vuTags, at);
    }
  }

  /** MakeRequest's tail: samples, then the Response (or the thrown error with `throw`). */
  function finish(parsed: ParsedRequest, result: WireResult): K6Response {
    emit(parsed, result);
    if (result.warning !== null) client.warn(result.warning);
    const res = new K6Response(realm);
    res.request = parsed.request;
    res.url = parsed.wire.url;
    const last: WireHop | undefined = result.hops[result.hops.length - 1];
    if (last !== undefined) {
      res.url = last.url;
      res.remote_ip = last.remoteIp;
      res.remote_port = last.remotePort;
      res.error = last.errorMsg;
      res.error_code = last.errorCode;
      const t = last.timings;
      res.timings = {
        duration: t.duration,
        blocked: t.blocked,
        looking_up: 0,
        connecting: t.connecting,
        tls_handshaking: t.tlsHandshaking,
        sending: t.sending,
        waiting: t.waiting,
        receiving: t.receiving,
      };
    }
    if (result.failure !== null) {
      if (parsed.throw) throw goError(realm.Error, result.failure.thrown);
      client.warn(`Request Failed error=${JSON.stringify(result.failure.thrown)}`);
      return res;
    }
    if (last === undefined) return res;
    res.status = last.status;
    res.status_text = last.statusText;
    res.proto = last.proto;
    if (last.tlsVersion !== '') {
      res.tls_version = last.tlsVersion;
      res.tls_cipher_suite = last.tlsCipherSuite;
      res.ocsp = { ...res.ocsp, status: CONSTANTS.OCSP_STATUS_UNKNOWN };
    }
    const headers: Record<string, string[]> = {};
    const raw = last.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const key = canonicalHeaderKey(raw[i]!);
      if (key === 'Transfer-Encoding') continue; // Go moves it out of the header map
      (headers[key] ??= []).push(raw[i + 1]!);
    }
    for (const [k, v] of Object.entries(headers)) res.headers[k] = v.join(', ');
    for (const line of headers['Set-Cookie'] ?? []) {
      const cookie = parseSetCookie(line);
      if (cookie !== null) (res.cookies[cookie.name] ??= []).push(cookie);
    }
    const body = result.body;
    if (body !== null) {
      if (parsed.wire.responseType === 'binary') {
        const ab = new realm.ArrayBuffer(body.length);
        new Uint8Array(ab).set(body);
        res.body = ab;
      } else {
        res.body = Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8');
      }
    }
    return res;
  }

  /** handleParseRequestError: thrown with `throw`, else a Response carrying the error. */
  function parseFailure(err: ParseError, throwOpt: boolean): K6Response {
    if (throwOpt) throw goError(realm.Error, err.message);
    client.warn(`Request Failed error=${JSON.stringify(err.message)}`);
    const res = new K6Response(realm);
    res.error = err.message;
    res.error_code = err.code;
    return res;
  }

  function parse(method: string, url: unknown, body: unknown, params: unknown): ParsedRequest | ParseError {
    try {
      return parseRequest(client, method, url, body, params);
    } catch (e) {
      if (e instanceof ParseError) return e;
      throw e;
    }
  }

  /** A parse error is thrown only with the global `throw` option (handleParseRequestError), not params.throw. */
  function throwsOnParseError(): boolean {
    return client.options().throw;
  }

  function vusInitialized(): number {
    try {
      return rt.execution.instance.vusInitialized;
    } catch {
      return Infinity;
    }
  }

  function requestSync(
    api: string,
    method: string,
    url: unknown,
    body: unknown,
    params: unknown,
  ): K6Response {
    if (rt.phase === 'init') throw goError(realm.Error, INIT_CONTEXT_ERROR);
    if (rt.phase === 'iteration' && !(vusInitialized() <= 1)) {
      throw new UnsupportedK6ApiError(
        `${api} (a synchronous request) in a test with more than one VU`,
        "starling's VUs share one thread, so a blocking request would stall them all; use " +
          '`await http.asyncRequest(method, url, body, params)` instead, which k6 runs the same way',
      );
    }
    const parsed = parse(method, url, body, params);
    if (parsed instanceof ParseError) return parseFailure(parsed, throwsOnParseError());
    sync ??= new SyncClient();
    const closeIdle = iterationChanged();
    return finish(parsed, sync.perform(client.options().pool, closeIdle, parsed.wire));
  }

  function asyncRequest(
    method: unknown,
    url: unknown,
    body?: unknown,
    params?: unknown,
  ): Promise<K6Response> {
    if (rt.phase === 'init') throw goError(realm.Error, INIT_CONTEXT_ERROR);
    const parsed = parse(String(method), url, body, params);
    if (parsed instanceof ParseError) {
      try {
        return RealmPromise.resolve(parseFailure(parsed, throwsOnParseError()));
      } catch (e) {
        return RealmPromise.reject(e);
      }
    }
    pool ??= new ConnectionPool(client.options().pool);
    if (iterationChanged()) pool.closeIdle();
    const cancel = new Cancel();
    inflight.add(cancel);
    const endOp = rt.beginOp('http');
    const connections = pool;
    return new RealmPromise<K6Response>((resolve, reject) => {
      perform(connections, parsed.wire, cancel).then(
        (result) => {
          inflight.delete(cancel);
          // A cancelled request (the iteration was cut short) settles nothing and emits nothing, as in k6.
          if (!cancel.cancelled) {
            try {
              resolve(finish(parsed, result));
            } catch (e) {
              reject(e);
            }
          }
          endOp();
        },
        (e: unknown) => {
          inflight.delete(cancel);
          if (!cancel.cancelled) reject(e);
          endOp();
        },
      );
    });
  }

  const method =
    (m: Method, api: string) =>
    (url: unknown, body?: unknown, params?: unknown): K6Response =>
      requestSync(api, m, url, body, params);
  /** http.get / http.head take no body: their second argument is the params. */
  const bodyless =
    (m: Method, api: string) =>
    (url: unknown, params?: unknown, ...rest: unknown[]): K6Response => {
      if (rest.length > 0) {
        client.warn(
          `${api.slice(0, -2)} only accepts a url and a params argument (2 arguments), but ${rest.length + 2} were given`,
        );
      }
      return requestSync(api, m, url, undefined, params);
    };

  function expectedStatuses(...args: unknown[]): ExpectedStatuses {
    if (args.length === 0) throw goError(realm.Error, 'no arguments');
    const exact: number[] = [];
    const ranges: [number, number][] = [];
    args.forEach((arg, i) => {
      if (arg === undefined || arg === null) {
        throw new (rt.realm?.TypeError ?? TypeError)('Cannot convert undefined or null to object');
      }
      if (Number.isInteger(arg)) {
        exact.push(arg as number);
        return;
      }
      const o = Object(arg) as Record<string, unknown>;
      if (!('min' in o) || !('max' in o)) {
        throw goError(
          realm.Error,
          `argument number ${i + 1} to expectedStatuses was neither an integer nor an object like {min:100, max:329}`,
        );
      }
      if (!Number.isInteger(o.min) || !Number.isInteger(o.max)) {
        throw goError(realm.Error, `both min and max need to be integers for argument number ${i + 1}`);
      }
      ranges.push([o.min as number, o.max as number]);
    });
    return new ExpectedStatuses(exact, ranges);
  }

  function setResponseCallback(value: unknown): void {
    if (value === null) client.callback = null;
    else if (value instanceof ExpectedStatuses) client.callback = value;
    else throw goError(realm.Error, 'unsupported argument, expected http.expectedStatuses');
  }

  function url(parts: unknown, ...pieces: unknown[]): HttpURL {
    const strings = Array.isArray(parts) ? (parts as unknown[]).map(String) : [String(parts)];
    let name = '';
    let text = '';
    strings.forEach((part, i) => {
      name += part;
      text += part;
      if (i < pieces.length) {
        name += '${}';
        text += String(pieces[i]);
      }
    });
    try {
      return newUrl(text, name);
    } catch (e) {
      throw goError(realm.Error, (e as Error).message);
    }
  }

  function request(m: unknown, u: unknown, body?: unknown, params?: unknown): K6Response {
    return requestSync('http.request()', String(m), u, body, params);
  }

  function batch(): never {
    if (rt.phase === 'init') throw goError(realm.Error, 'Using batch in the init context is not supported');
    throw new UnsupportedK6ApiError(
      'http.batch()',
      'issue the requests with http.asyncRequest and await Promise.all(...) instead',
    );
  }

  function file(): never {
    throw new UnsupportedK6ApiError('http.file()', 'multipart bodies are not implemented');
  }

  function cookieJar(): never {
    if (rt.phase === 'init') throw goError(realm.Error, JAR_INIT_CONTEXT_ERROR);
    throw new UnsupportedK6ApiError(
      'http.cookieJar()',
      'cookie jars are not implemented (the Node engine neither stores nor sends response cookies)',
    );
  }

  function CookieJar(): never {
    throw new UnsupportedK6ApiError(
      'http.CookieJar',
      'cookie jars are not implemented (the Node engine neither stores nor sends response cookies)',
    );
  }

  return {
    ...CONSTANTS,
    url,
    CookieJar,
    cookieJar,
    file,
    get: bodyless('GET', 'http.get()'),
    head: bodyless('HEAD', 'http.head()'),
    post: method('POST', 'http.post()'),
    put: method('PUT', 'http.put()'),
    patch: method('PATCH', 'http.patch()'),
    del: method('DELETE', 'http.del()'),
    options: method('OPTIONS', 'http.options()'),
    request,
    asyncRequest,
    batch,
    setResponseCallback,
    expectedStatuses,
  };
};
