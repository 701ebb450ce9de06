/**
 * Request parsing of `k6/http` (grafana/k6 js/modules/k6/http/request.go parseRequest): the URL, body and params
 * a script gives, checked and turned into the plain request http-wire.ts performs, with k6's errors and warnings.
 */
import { types } from 'node:util';
import { goNumber, goTypeName, queryEscape } from '../go.ts';
import { DEFAULT_ENGINE_LIMITS } from '../limits.ts';
import { parseDuration } from '../options.ts';
import { UnsupportedK6ApiError, type Tags, type VuRuntime } from '../runtime.ts';
import { COMPRESSIONS, compress } from './http-compression.ts';
import { cookieValue, type RequestCookie } from './http-cookies.ts';
import { ERROR_CODES, ParseError } from './http-error-codes.ts';
import { DEFAULT_TIMEOUT_MS, type HttpOptions } from './http-options.ts';
import { ExpectedStatuses } from './http-response-callback.ts';
import { HttpURL, stringUrl } from './http-url.ts';
import type { ResponseType, WireRequest } from './http-wire.ts';
import { canonicalHeaderKey } from './ws-client.ts';

export interface ParsedRequest {
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

/** What parseRequest and the Response need of the VU's k6/http (its options, callback and warnings). */
export interface Client {
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

export function parseRequest(
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
