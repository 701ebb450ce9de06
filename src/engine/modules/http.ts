/**
 * `k6/http` for one VU of the Node engine, after grafana/k6 js/modules/k6/http (http.go, request.go parseRequest
 * and asyncRequest, response.go, response_callback.go) and lib/netext/httpext (request.go MakeRequest,
 * transport.go measureAndEmitMetrics, tracer.go, error_codes.go, url.go, compression.go), with the defaults of
 * internal/cmd/options.go (User-Agent, maxRedirects) and internal/js/runner.go (one keep-alive transport per VU):
 * same parameters and error texts, same Response fields, same http_req_* samples and tags, one set per round trip.
 *
 * This file is the module (its exports and the VU's client); the parts, named after k6's files: http-options.ts
 * (the test options it reads), http-request.ts (parseRequest), http-url.ts (url.go), http-cookies.ts,
 * http-compression.ts (compression.go), http-response.ts (the Response), http-response-callback.ts,
 * http-metrics.ts (the samples), and the network side: http-wire.ts (MakeRequest, redirects), http-transport.ts
 * (the per-VU pool and one round trip), http-tracer.ts (tracer.go), http-error-codes.ts (error_codes.go).
 *
 * `asyncRequest` runs on the VU's event loop like k6's; the synchronous calls
 * (`get`, `post`, `request`, …) block the thread, so they run in a worker (http-sync.ts) and only where that
 * stalls no other VU: setup(), teardown(), handleSummary(), or a test with one VU. Elsewhere they throw
 * UnsupportedK6ApiError pointing at `asyncRequest`, as `sleep()` does. `batch`, `file`, cookie jars, `html()`
 * and JSON selectors are not implemented and throw the same way.
 */
import { goError } from '../go.ts';
import { defineBuiltins } from '../metrics.ts';
import { maskUrlPasswords } from '../../xmpp/redact.ts';
import { UnsupportedK6ApiError, type ModuleFactory } from '../runtime.ts';
import { ParseError } from './http-error-codes.ts';
import { emitSamples, HTTP_METRICS } from './http-metrics.ts';
import { readOptions, type HttpOptions } from './http-options.ts';
import { parseRequest, type Client, type ParsedRequest } from './http-request.ts';
import { CONSTANTS, K6Response, makeResponse } from './http-response.ts';
import {
  DEFAULT_EXPECTED,
  ExpectedStatuses,
  expectedStatuses as parseExpectedStatuses,
} from './http-response-callback.ts';
import { SyncClient } from './http-sync.ts';
import { ConnectionPool } from './http-transport.ts';
import { newUrl, type HttpURL } from './http-url.ts';
import { Cancel, perform, type WireResult } from './http-wire.ts';

export { DEFAULT_USER_AGENT, K6_VERSION } from './http-options.ts';
export { HTTP_METRICS } from './http-metrics.ts';

const INIT_CONTEXT_ERROR = 'Making http requests in the init context is not supported';
const JAR_INIT_CONTEXT_ERROR = 'Making cookie jars in the init context is not supported';

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

  /** MakeRequest's tail: samples, then the Response (or the thrown error with `throw`). */
  function finish(parsed: ParsedRequest, result: WireResult): K6Response {
    emitSamples(client, parsed, result);
    return makeResponse(client, realm, parsed, result);
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
    return parseExpectedStatuses(realm.Error, rt.realm?.TypeError ?? TypeError, args);
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
