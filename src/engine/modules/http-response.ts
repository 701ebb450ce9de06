/**
 * The Response of `k6/http` (grafana/k6 lib/netext/httpext/response.go, js/modules/k6/http/response.go) and how
 * MakeRequest's result becomes one: status, headers, cookies, body as responseType says, timings of the last
 * round trip, or the request's error (thrown with `throw`).
 */
import { goError } from '../go.ts';
import { UnsupportedK6ApiError } from '../runtime.ts';
import { parseSetCookie, type HTTPCookie } from './http-cookies.ts';
import type { Client, ParsedRequest } from './http-request.ts';
import type { WireHop } from './http-transport.ts';
import type { WireResult } from './http-wire.ts';
import { canonicalHeaderKey } from './ws-client.ts';

/** lib/netext/tls.go constants, exported by k6/http. */
export const CONSTANTS = {
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

/** The VU context's intrinsics the Response needs (Node's own in test doubles without a realm). */
export type Realm = { Error: ErrorConstructor; ArrayBuffer: ArrayBufferConstructor; JSON: JSON };

/** k6's Response (lib/netext/httpext/response.go, js/modules/k6/http/response.go), in its JSON field order. */
export class K6Response {
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

/** MakeRequest's tail after the samples: the Response, or the thrown error with `throw`. */
export function makeResponse(c: Client, realm: Realm, parsed: ParsedRequest, result: WireResult): K6Response {
  if (result.warning !== null) c.warn(result.warning);
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
    c.warn(`Request Failed error=${JSON.stringify(result.failure.thrown)}`);
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
