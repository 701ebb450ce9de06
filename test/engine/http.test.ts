/** `k6/http` on the Node engine: k6's parameters, Response, errors and metrics, over real loopback sockets. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { DEFAULT_USER_AGENT } from '../../src/engine/modules/http.ts';
import type { RunScriptOptions } from '../../src/engine/run.ts';
import { UnsupportedK6ApiError } from '../../src/engine/runtime.ts';
import { runScriptText, type RecordedSample } from '../helpers/engine-run.ts';

/** A self-signed certificate for localhost and 127.0.0.1, valid until 2126. */
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghzOE4l2lleCX+ISB
GOjfCtaCGR+GufvE6HH08fEFtlqhRANCAASA/rZq0jstu8DSm1CIXipwiY+T/BGz
tPbxNFQQ8aj460K4xgDhoWepP/o+yuT4yNZ/ikoMgzi/VfOWfk91mJoF
-----END PRIVATE KEY-----`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUGKZJqM0lojdHjH1c+Imo2WqshmUwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTEyMTI0NFoYDzIxMjYxMTAx
MTIxMjQ0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASA/rZq0jstu8DSm1CIXipwiY+T/BGztPbxNFQQ8aj460K4xgDhoWep
P/o+yuT4yNZ/ikoMgzi/VfOWfk91mJoFo28wbTAdBgNVHQ4EFgQU/fj/A+tmQijp
gCasnkw2wRjAVZ4wHwYDVR0jBBgwFoAU/fj/A+tmQijpgCasnkw2wRjAVZ4wDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAOjLa52xT9Tnu42/MufZr4Qu+n0ORP8//Bpvdn6XT3tdAiBh
05hleoZgV3EDOsQ4FWCgPPS4x5q3ERYQm3hox/xAXg==
-----END CERTIFICATE-----`;

const HTTP_REQ_METRICS = [
  'http_reqs',
  'http_req_duration',
  'http_req_blocked',
  'http_req_connecting',
  'http_req_tls_handshaking',
  'http_req_sending',
  'http_req_waiting',
  'http_req_receiving',
  'http_req_failed',
];

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

const seen: Seen[] = [];
/** The `/endless` responses whose connection the client closed. */
const endlessClosed: string[] = [];
const sockets: Socket[] = [];
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function route(req: IncomingMessage, body: string, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  switch (url.pathname) {
    case '/echo':
      res.setHeader('x-multi', ['a', 'b']);
      res.setHeader('set-cookie', ['sid=abc; Path=/; Max-Age=60; HttpOnly', 'theme=dark']);
      res.writeHead(Number(url.searchParams.get('status') ?? 200), { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, body }));
      return;
    case '/slow':
      setTimeout(() => res.end('late'), Number(url.searchParams.get('ms') ?? 1000));
      return;
    case '/bin':
      res.end(BINARY);
      return;
    case '/gzip':
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync('zipped text'));
      return;
    case '/nocontent':
      res.writeHead(204).end();
      return;
    case '/redirect':
      res.writeHead(302, { location: '/echo?from=redirect' }).end('moved');
      return;
    case '/bye':
      // Keeps the connection open in the headers, then closes it: the next request finds it dead.
      res.end('bye');
      res.socket?.end();
      return;
    case '/not-json':
      res.end('{"a": nope}');
      return;
    case '/endless': {
      // A body that never ends (chunked, no Content-Length), written as fast as the client takes it.
      res.writeHead(200, { 'content-type': 'text/xml' });
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => endlessClosed.push(req.url!));
      pump();
      return;
    }
    case '/big-length':
      // Announces 5 MB, sends 3 bytes and waits: the client must not wait for the rest.
      res.writeHead(200, { 'content-length': '5000000' });
      res.write('abc');
      return;
    case '/gzip-bomb':
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync(Buffer.alloc(300_000, 'z')));
      return;
    case '/bytes':
      res.end(Buffer.alloc(Number(url.searchParams.get('n')), 'b'));
      return;
    default:
      res.writeHead(404).end('not found');
  }
}

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
    route(req, body, res);
  });
});
server.on('connection', (s: Socket) => sockets.push(s));
const tlsServer = createHttpsServer({ key: TLS_KEY, cert: TLS_CERT }, (req, res) => {
  req.resume();
  req.on('end', () => res.end(`secure ${req.url}`));
});
tlsServer.on('connection', (s: Socket) => sockets.push(s));

let base = '';
let port = 0;
let tlsBase = '';

before(async () => {
  server.listen(0, '127.0.0.1');
  tlsServer.listen(0, '127.0.0.1');
  await Promise.all([once(server, 'listening'), once(tlsServer, 'listening')]);
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  tlsBase = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
});

after(() => {
  for (const s of [server, tlsServer]) {
    s.closeAllConnections();
    s.close();
  }
});

beforeEach(() => {
  seen.length = 0;
  sockets.length = 0;
});

async function run(code: string, extra: Partial<RunScriptOptions> = {}) {
  const r = await runScriptText(code, extra);
  const msgs = r.lines.flatMap((l) => {
    const m = /^INFO\[\d+\] \[VU \d+\] (.*)$/s.exec(l);
    return m ? [m[1]!] : [];
  });
  const warnings = r.lines.flatMap((l) => {
    const m = /^WARN\[\d+\] \[VU \d+\] (.*)$/s.exec(l);
    return m ? [m[1]!] : [];
  });
  const of = (name: string) => r.samples.filter((s) => s.name === name);
  return { ...r, msgs, warnings, of };
}

/** Every http_req_* sample of a run, grouped by request (in emission order). */
function httpSamples(samples: RecordedSample[]): Map<string, RecordedSample>[] {
  const requests: Map<string, RecordedSample>[] = [];
  for (const s of samples) {
    if (s.name === 'http_reqs') requests.push(new Map());
    if (HTTP_REQ_METRICS.includes(s.name)) requests[requests.length - 1]!.set(s.name, s);
  }
  return requests;
}

/** The Response's error for a body over `limit` bytes (`how`: where it was seen). */
function bodyTooBig(limit: number, how?: string): string {
  return (
    `response body larger than ${limit} bytes${how ? ` (${how})` : ''}, the Node engine's limit for one response ` +
    'body (a safety limit, k6 has none): raise it with starling run --max-response-body <bytes>'
  );
}

/** Resolves once `done()` holds (polled), or fails after `ms`. */
async function until(done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A free port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

describe('k6/http asyncRequest', () => {
  test('GET and POST round-trip bodies and headers; the Response has k6 fields', async () => {
    const { msgs, outcome } = await run(`
      import http from 'k6/http';
      export default async function () {
        const g = await http.asyncRequest('GET', '${base}/echo?q=1', null, { headers: { 'x-custom-thing': 'yes' } });
        console.log(JSON.stringify([g.status, g.status_text, g.proto, g.url, g.remote_ip, g.remote_port, g.error, g.error_code]));
        console.log(JSON.stringify(g.headers));
        console.log(JSON.stringify(g.cookies.sid), g.cookies.theme[0].value);
        console.log(JSON.stringify(g.json()), g.tls_version === '', g.timings.looking_up);
        console.log(JSON.stringify(g.request));
        const p = await http.asyncRequest('POST', '${base}/echo', 'héllo', { cookies: { a: '1', b: { value: 'x y' } } });
        console.log(p.json().body, JSON.stringify(p.request.cookies), p.request.body);
        const f = await http.asyncRequest('PUT', '${base}/echo', { b: 'x y&', a: [1, 2.5], c: null, d: true });
        console.log(f.json().body, f.request.headers['Content-Type'][0]);
        const t = g.timings;
        console.log(t.duration === t.sending + t.waiting + t.receiving, t.waiting > 0, t.connecting > 0);
      }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(JSON.parse(msgs[0]!), [
      200,
      '200 OK',
      'HTTP/1.1',
      `${base}/echo?q=1`,
      '127.0.0.1',
      port,
      '',
      0,
    ]);
    const headers = JSON.parse(msgs[1]!) as Record<string, string>;
    assert.equal(headers['X-Multi'], 'a, b');
    assert.equal(headers['Content-Type'], 'application/json');
    assert.equal(headers['Set-Cookie'], 'sid=abc; Path=/; Max-Age=60; HttpOnly, theme=dark');
    assert.equal(headers['Transfer-Encoding'], undefined);
    assert.ok(
      Object.keys(headers).every((k) => /^[A-Z][a-z]*(-[A-Z][a-z]*)*$/.test(k)),
      Object.keys(headers).join(),
    );
    assert.deepEqual(JSON.parse(msgs[2]!.split(' ')[0]!), [
      {
        name: 'sid',
        value: 'abc',
        domain: '',
        path: '/',
        http_only: true,
        secure: false,
        max_age: 60,
        expires: -6795364578871,
      },
    ]);
    assert.equal(msgs[2]!.split(' ')[1], 'dark');
    assert.equal(msgs[3], `{"method":"GET","url":"/echo?q=1","body":""} true 0`);
    assert.deepEqual(JSON.parse(msgs[4]!), {
      method: 'GET',
      url: `${base}/echo?q=1`,
      headers: { 'User-Agent': [DEFAULT_USER_AGENT], 'X-Custom-Thing': ['yes'] },
      body: '',
      cookies: {},
    });
    assert.equal(
      msgs[5],
      'héllo {"a":[{"name":"a","value":"1","replace":false}],"b":[{"name":"b","value":"x y","replace":false}]} héllo',
    );
    assert.equal(msgs[6], 'a=1&a=2.5&b=x+y%26&c=&d=true application/x-www-form-urlencoded');
    assert.equal(msgs[7], 'true true true');

    const [get, post, put] = seen;
    assert.equal(get!.headers['user-agent'], 'Grafana k6/2.2.0');
    assert.equal(get!.headers['x-custom-thing'], 'yes');
    assert.equal(get!.headers['content-length'], undefined);
    assert.deepEqual(get!.rawHeaders.filter((_, i) => i % 2 === 0).slice(0, 2), ['Host', 'User-Agent']);
    assert.equal(post!.body, 'héllo');
    assert.equal(post!.headers['content-length'], String(Buffer.byteLength('héllo')));
    assert.equal(post!.headers.cookie, 'a=1; b="x y"');
    assert.equal(put!.headers['content-type'], 'application/x-www-form-urlencoded');
  });

  test('a second request of the VU reuses its keep-alive connection', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export default async function () {
        const a = await http.asyncRequest('GET', '${base}/echo');
        const b = await http.asyncRequest('GET', '${base}/echo');
        console.log(a.timings.connecting > 0, b.timings.connecting, b.timings.tls_handshaking, a.remote_port === b.remote_port);
      }
    `);
    assert.deepEqual(msgs, ['true 0 0 true']);
    assert.equal(sockets.length, 1);
    // As Go's net/http: no Connection field on keep-alive requests (Node's agent would add `keep-alive`).
    assert.equal(seen[0]!.headers.connection, undefined);
    assert.equal(seen[1]!.headers.connection, undefined);
  });

  test('a GET that finds its keep-alive connection closed by the server is retried on a new one, as Go does', async () => {
    const { msgs, of } = await run(`
      import http from 'k6/http';
      export default async function () {
        const a = await http.asyncRequest('GET', '${base}/bye');
        const b = await http.asyncRequest('HEAD', '${base}/echo');
        console.log(a.body, b.status, JSON.stringify(b.body), JSON.stringify(b.error), b.timings.connecting > 0);
      }
    `);
    assert.deepEqual(msgs, ['bye 200 "" "" true']);
    assert.equal(sockets.length, 2);
    assert.deepEqual(
      of('http_reqs').map((s) => [s.tags.method, s.tags.status]),
      [
        ['GET', '200'],
        ['HEAD', '200'],
      ],
    );
    // The first attempt reached the server on the half-closed connection, whose answer could not come back.
    assert.deepEqual(
      seen.map((s) => s.method),
      ['GET', 'HEAD', 'HEAD'],
    );
  });

  test('batchPerHost is how many idle connections a VU keeps per host (default 6): the rest are closed', async () => {
    // Ten requests at once need ten connections; the next ten find as many idle ones as the VU kept.
    const script = (option: string) => `
      import http from 'k6/http';
      export const options = { ${option} };
      export default async function () {
        const wave = () => Promise.all(Array.from({ length: 10 }, () => http.asyncRequest('GET', '${base}/slow?ms=50')));
        await wave();
        await wave();
      }
    `;
    await run(script(''));
    assert.equal(sockets.length, 14, 'k6 default: 6 kept, 4 dialled again');
    sockets.length = 0;
    await run(script('batchPerHost: 20'));
    assert.equal(sockets.length, 10, 'all ten kept');
  });

  test('noConnectionReuse: every request dials a new connection and asks for it to be closed', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export const options = { noConnectionReuse: true };
      export default async function () {
        const a = await http.asyncRequest('GET', '${base}/echo');
        const b = await http.asyncRequest('GET', '${base}/echo');
        console.log(a.timings.connecting > 0, b.timings.connecting > 0);
      }
    `);
    assert.deepEqual(msgs, ['true true']);
    assert.equal(sockets.length, 2);
    assert.deepEqual(
      seen.map((s) => s.headers.connection),
      ['close', 'close'],
    );
  });

  test('noVUConnectionReuse: connections are kept within an iteration, not across iterations', async () => {
    const script = (option: string) => `
      import http from 'k6/http';
      export const options = { iterations: 2, ${option} };
      export default async function () {
        await http.asyncRequest('GET', '${base}/echo');
        await http.asyncRequest('GET', '${base}/echo');
      }
    `;
    await run(script('noVUConnectionReuse: true'));
    assert.equal(sockets.length, 2);
    sockets.length = 0;
    await run(script('noVUConnectionReuse: false'));
    assert.equal(sockets.length, 1);
  });

  test("params.timeout '200ms': status 0, 'request timeout', error_code 1050, long before the server answers", async () => {
    const started = Date.now();
    const { msgs, warnings, of } = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/slow?ms=2000', null, { timeout: '200ms' });
        console.log(JSON.stringify([r.status, r.error, r.error_code, r.body, r.status_text, r.proto]));
      }
    `);
    const elapsed = Date.now() - started;
    assert.deepEqual(JSON.parse(msgs[0]!), [0, 'request timeout', 1050, null, '', '']);
    assert.ok(elapsed < 1500, `took ${elapsed} ms`);
    assert.deepEqual(warnings, [`Request Failed error="Get \\"${base}/slow?ms=2000\\": request timeout"`]);
    const [waiting] = of('http_req_waiting');
    assert.ok(waiting!.value >= 195 && waiting!.value < 1000, `waiting ${waiting!.value}`);
    assert.deepEqual(of('http_reqs')[0]!.tags, {
      group: '',
      scenario: 'default',
      name: `${base}/slow?ms=2000`,
      url: `${base}/slow?ms=2000`,
      method: 'GET',
      error: 'request timeout',
      error_code: '1050',
      status: '0',
      expected_response: 'false',
    });
  });

  test('a numeric timeout is milliseconds', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/slow?ms=2000', null, { timeout: 150 });
        console.log(r.error_code, r.timings.duration);
      }
    `);
    const [code, duration] = msgs[0]!.split(' ').map(Number);
    assert.equal(code, 1050);
    assert.ok(duration! > 100 && duration! < 1000, `duration ${duration}`);
  });

  test("connection refused: k6's 1212 'dial: connection refused', or Go's error thrown with throw: true", async () => {
    const p = await closedPort();
    const { msgs, of } = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', 'http://127.0.0.1:${p}/x');
        console.log(JSON.stringify([r.status, r.error, r.error_code, r.url, r.remote_ip, r.body]));
        try {
          await http.asyncRequest('POST', 'http://127.0.0.1:${p}/x', 'b', { throw: true });
          console.log('no throw');
        } catch (e) {
          console.log(e.name, e.message, e instanceof Error);
        }
      }
    `);
    assert.deepEqual(JSON.parse(msgs[0]!), [
      0,
      'dial: connection refused',
      1212,
      `http://127.0.0.1:${p}/x`,
      '',
      null,
    ]);
    assert.equal(
      msgs[1],
      `GoError Post "http://127.0.0.1:${p}/x": dial tcp 127.0.0.1:${p}: connect: connection refused true`,
    );
    // Nothing reached the wire; both attempts are still measured, as k6 does.
    assert.deepEqual(
      of('http_reqs').map((s) => [s.tags.error, s.tags.error_code, s.tags.status, s.tags.method]),
      [
        ['dial: connection refused', '1212', '0', 'GET'],
        ['dial: connection refused', '1212', '0', 'POST'],
      ],
    );
    // Nothing reached the wire: only the 0 that k6 sends after every iteration (runner.go Dialer.IOSamples).
    assert.deepEqual(
      of('data_sent').map((s) => s.value),
      [0],
    );
  });

  test('an unresolvable host is 1101 and an unsupported scheme 1000, as in error_codes.go', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export default async function () {
        for (const u of ['http://nonexistent.invalid/', 'ftp://127.0.0.1/', 'http://[::1/']) {
          const r = await http.asyncRequest('GET', u);
          console.log(r.error_code, r.error);
        }
      }
    `);
    assert.deepEqual(msgs, [
      '1101 lookup: no such host',
      '1000 unsupported protocol scheme "ftp"',
      `1020 invalid URL: parse "http://[::1/": missing ']' in host`,
    ]);
  });

  test('one request emits the nine http_req_* samples with exact tags, data_* equal to the wire bytes', async () => {
    const { msgs, samples, of } = await run(`
      import http from 'k6/http';
      import { group } from 'k6';
      export const options = { tags: { run: 'r1' } };
      export default async function () {
        const r = await http.asyncRequest('POST', '${base}/echo', 'payload', { tags: { step: 'one' } });
        console.log(JSON.stringify(r.timings));
      }
    `);
    const requests = httpSamples(samples);
    assert.equal(requests.length, 1);
    const tags = {
      run: 'r1',
      group: '',
      scenario: 'default',
      step: 'one',
      name: `${base}/echo`,
      url: `${base}/echo`,
      method: 'POST',
      status: '200',
      proto: 'HTTP/1.1',
      expected_response: 'true',
    };
    const req = requests[0]!;
    assert.deepEqual([...req.keys()].sort(), [...HTTP_REQ_METRICS].sort());
    for (const s of req.values()) assert.deepEqual(s.tags, tags, s.name);
    const timings = JSON.parse(msgs[0]!) as Record<string, number>;
    assert.equal(req.get('http_reqs')!.value, 1);
    assert.equal(req.get('http_req_failed')!.value, 0);
    assert.equal(req.get('http_req_duration')!.value, timings.duration);
    assert.equal(req.get('http_req_blocked')!.value, timings.blocked);
    assert.equal(req.get('http_req_connecting')!.value, timings.connecting);
    assert.equal(req.get('http_req_tls_handshaking')!.value, 0);
    assert.equal(req.get('http_req_sending')!.value, timings.sending);
    assert.equal(req.get('http_req_waiting')!.value, timings.waiting);
    assert.equal(req.get('http_req_receiving')!.value, timings.receiving);
    assert.ok(timings.blocked! >= timings.connecting!);
    // data_* carry the VU's tags, and count exactly what the server's socket saw.
    assert.equal(sockets.length, 1);
    // Then the 0 that k6 sends after every iteration (runner.go Dialer.IOSamples).
    assert.deepEqual(
      of('data_sent').map((s) => s.value),
      [sockets[0]!.bytesRead, 0],
    );
    assert.deepEqual(
      of('data_received').map((s) => s.value),
      [sockets[0]!.bytesWritten, 0],
    );
    assert.deepEqual(of('data_sent')[0]!.tags, { run: 'r1', group: '', scenario: 'default' });
  });

  test('a 500 counts as failed (http_req_failed 1, expected_response false, error_code 1500)', async () => {
    const { msgs, of } = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/echo?status=500');
        console.log(r.status, r.status_text, JSON.stringify(r.error), r.error_code);
      }
    `);
    assert.deepEqual(msgs, ['500 500 Internal Server Error "" 1500']);
    const [failed] = of('http_req_failed');
    assert.equal(failed!.value, 1);
    assert.equal(failed!.tags.expected_response, 'false');
    assert.equal(failed!.tags.error_code, '1500');
    assert.equal(failed!.tags.status, '500');
    assert.equal(failed!.tags.error, undefined);
  });

  test('setResponseCallback(expectedStatuses(...)) and params.responseCallback decide what failed', async () => {
    const { msgs, of } = await run(`
      import http from 'k6/http';
      export default async function () {
        http.setResponseCallback(http.expectedStatuses(500, { min: 200, max: 201 }));
        await http.asyncRequest('GET', '${base}/echo?status=500');
        await http.asyncRequest('GET', '${base}/echo?status=202');
        await http.asyncRequest('GET', '${base}/echo?status=202', null, { responseCallback: http.expectedStatuses(202) });
        http.setResponseCallback(null);
        await http.asyncRequest('GET', '${base}/echo?status=500');
        for (const args of [[], [1.5], [{ min: 1 }], [{ min: 1, max: 'x' }]]) {
          try { http.expectedStatuses(...args); } catch (e) { console.log(e.message); }
        }
        try { http.setResponseCallback(() => true); } catch (e) { console.log(e.message); }
      }
    `);
    assert.deepEqual(
      of('http_req_failed').map((s) => [s.tags.status, s.value, s.tags.expected_response]),
      [
        ['500', 0, 'true'],
        ['202', 1, 'false'],
        ['202', 0, 'true'],
      ],
    );
    assert.equal(of('http_reqs').length, 4);
    assert.equal(of('http_reqs')[3]!.tags.expected_response, undefined);
    assert.deepEqual(msgs, [
      'no arguments',
      'argument number 1 to expectedStatuses was neither an integer nor an object like {min:100, max:329}',
      'argument number 1 to expectedStatuses was neither an integer nor an object like {min:100, max:329}',
      'both min and max need to be integers for argument number 1',
      'unsupported argument, expected http.expectedStatuses',
    ]);
  });

  test('the iteration waits for an asyncRequest nobody awaits', async () => {
    const { msgs, values } = await run(`
      import http from 'k6/http';
      export default function () {
        http.asyncRequest('GET', '${base}/slow?ms=300').then((r) => console.log('settled', r.body));
        console.log('returned');
      }
    `);
    assert.deepEqual(msgs, ['returned', 'settled late']);
    assert.ok(
      values('iteration_duration')[0]! >= 295,
      `iteration_duration ${values('iteration_duration')[0]}`,
    );
  });

  test('an iteration that fails cancels its requests in flight: no samples, nothing settles', async () => {
    const { lines, samples } = await run(`
      import http from 'k6/http';
      export default function () {
        http.asyncRequest('GET', '${base}/slow?ms=300').then(() => console.log('settled'), () => console.log('rejected'));
        setTimeout(() => { throw new Error('boom'); }, 50);
      }
    `);
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(lines.some((l) => l.includes('Error: boom')));
    assert.deepEqual(
      lines.filter((l) => /settled|rejected/.test(l)),
      [],
    );
    assert.equal(samples.filter((s) => s.name.startsWith('http_req')).length, 0);
    assert.equal(seen.length, 1, 'the request was sent');
  });

  test('responseType binary gives an ArrayBuffer, none and discardResponseBodies give null', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export const options = { discardResponseBodies: true };
      export default async function () {
        const b = await http.asyncRequest('GET', '${base}/bin', null, { responseType: 'binary' });
        const bytes = new Uint8Array(b.body);
        console.log(b.body instanceof ArrayBuffer, b.body.byteLength, bytes[0], bytes[255]);
        const n = await http.asyncRequest('GET', '${base}/bin', null, { responseType: 'none' });
        const d = await http.asyncRequest('GET', '${base}/echo');
        const t = await http.asyncRequest('GET', '${base}/echo', null, { responseType: 'text' });
        console.log(n.body, d.body, typeof t.body);
        const x = await http.asyncRequest('GET', '${base}/echo', null, { responseType: 'xml' });
        console.log(x.error, x.error_code, x.status);
      }
    `);
    assert.deepEqual(msgs, [
      'true 256 0 255',
      'null null string',
      'xml does not belong to ResponseType values 0 0',
    ]);
    assert.equal(seen.length, 4, 'a request that fails to parse is not sent');
  });

  test('a gzip body is decoded, a 204 body is null, redirects are followed and measured hop by hop', async () => {
    const { msgs, of } = await run(`
      import http from 'k6/http';
      export default async function () {
        const z = await http.asyncRequest('GET', '${base}/gzip');
        console.log(z.body, z.headers['Content-Encoding']);
        const n = await http.asyncRequest('GET', '${base}/nocontent');
        console.log(n.status, n.body);
        const r = await http.asyncRequest('GET', '${base}/redirect');
        console.log(r.status, r.url, r.json().url);
        const s = await http.asyncRequest('GET', '${base}/redirect', null, { redirects: 0 });
        console.log(s.status, s.url, s.body, s.headers.Location);
      }
    `);
    assert.deepEqual(msgs, [
      'zipped text gzip',
      '204 null',
      `200 ${base}/echo?from=redirect /echo?from=redirect`,
      `302 ${base}/redirect moved /echo?from=redirect`,
    ]);
    assert.deepEqual(
      of('http_reqs').map((s) => [s.tags.url, s.tags.status]),
      [
        [`${base}/gzip`, '200'],
        [`${base}/nocontent`, '204'],
        [`${base}/redirect`, '302'],
        [`${base}/echo?from=redirect`, '200'],
        [`${base}/redirect`, '302'],
      ],
    );
    assert.equal(seen[3]!.headers.referer, `${base}/redirect`);
  });

  test('a body that never ends fails at the 1 MiB default: status 0, the limit and flag named, code 1000, socket closed', async () => {
    const started = Date.now();
    const { msgs, warnings, of, outcome } = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/endless');
        console.log(JSON.stringify([r.status, r.error, r.error_code, r.body, r.status_text]));
      }
    `);
    assert.equal(outcome.exitCode, 0);
    const text = bodyTooBig(1048576);
    assert.deepEqual(JSON.parse(msgs[0]!), [0, text, 1000, null, '']);
    assert.ok(Date.now() - started < 5000, 'failed at the limit, not at the 60 s timeout');
    assert.deepEqual(warnings, [`Request Failed error=${JSON.stringify(text)}`]);
    const tags = of('http_reqs')[0]!.tags;
    assert.deepEqual([tags.status, tags.error, tags.error_code], ['0', text, '1000']);
    assert.deepEqual(
      of('http_req_failed').map((s) => s.value),
      [1],
    );
    const received = of('data_received')[0]!.value;
    assert.ok(received > 1048576 && received < 1048576 + 1024 * 1024, `${received} bytes read`);
    await until(() => endlessClosed.includes('/endless'));
  });

  test('a Content-Length over the limit fails at the headers, without waiting for the body', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/big-length', null, { timeout: '20s' });
        console.log(JSON.stringify([r.status, r.error, r.error_code, r.timings.duration < 2000]));
      }
    `);
    assert.deepEqual(JSON.parse(msgs[0]!), [0, bodyTooBig(1048576, 'Content-Length 5000000'), 1000, true]);
  });

  test('the limit is set with limits.maxResponseBodyBytes: exactly the limit passes, one byte more fails', async () => {
    const { msgs } = await run(
      `
      import http from 'k6/http';
      export default async function () {
        for (const n of [1000, 1001]) {
          const r = await http.asyncRequest('GET', '${base}/bytes?n=' + n);
          console.log(r.status, r.body === null ? null : r.body.length, r.error);
        }
      }
    `,
      { limits: { maxResponseBodyBytes: 1000 } },
    );
    assert.deepEqual(msgs, ['200 1000 ', `0 null ${bodyTooBig(1000, 'Content-Length 1001')}`]);
  });

  test('a compressed body is limited once decompressed too', async () => {
    const { msgs } = await run(
      `
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/gzip-bomb');
        console.log(r.status, r.error_code, r.error);
      }
    `,
      { limits: { maxResponseBodyBytes: 100_000 } },
    );
    assert.deepEqual(msgs, [`0 1000 ${bodyTooBig(100000, 'once decompressed from gzip')}`]);
  });

  test('a body the request discards (responseType none) is not buffered, so not limited: it runs to the timeout', async () => {
    const { msgs } = await run(
      `
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/endless?none', null, { responseType: 'none', timeout: '300ms' });
        console.log(r.status, r.error_code, r.error);
      }
    `,
      { limits: { maxResponseBodyBytes: 1000 } },
    );
    assert.deepEqual(msgs, ['0 1050 request timeout']);
  });

  test('credentials in a URL: tags as URL.Clean() (****:****@), thrown and logged errors as Go (user:***@)', async () => {
    const p = await closedPort();
    const { msgs, warnings, of, lines } = await run(`
      import http from 'k6/http';
      export default async function () {
        const ok = await http.asyncRequest('GET', 'http://alice:s3cret@127.0.0.1:${port}/echo');
        await http.asyncRequest('GET', 'http://bob@127.0.0.1:${port}/echo');
        await http.asyncRequest('GET', 'http://carol:p@ss@127.0.0.1:${port}/echo');
        console.log(ok.status, ok.url === 'http://alice:s3cret@127.0.0.1:${port}/echo');
        await http.asyncRequest('GET', 'http://alice:s3cret@127.0.0.1:${p}/x');
        try {
          await http.asyncRequest('GET', 'http://alice:s3cret@127.0.0.1:${p}/x', null, { throw: true });
        } catch (e) {
          console.log(e.message);
        }
        const bad = await http.asyncRequest('GET', 'http://alice:s3cret@127.0.0.1:bad/');
        console.log(bad.error);
      }
    `);
    // The script's own Response keeps the URL it asked for; what k6 reports and stores does not.
    assert.equal(msgs[0], '200 true');
    assert.equal(
      msgs[1],
      `Get "http://alice:***@127.0.0.1:${p}/x": dial tcp 127.0.0.1:${p}: connect: connection refused`,
    );
    assert.equal(
      msgs[2],
      'invalid URL: parse "http://alice:***@127.0.0.1:bad/": invalid port ":bad" after host',
    );
    assert.deepEqual(
      of('http_reqs').map((s) => [s.tags.name, s.tags.url]),
      [
        [`http://****:****@127.0.0.1:${port}/echo`, `http://****:****@127.0.0.1:${port}/echo`],
        [`http://****@127.0.0.1:${port}/echo`, `http://****@127.0.0.1:${port}/echo`],
        [`http://****:****@127.0.0.1:${port}/echo`, `http://****:****@127.0.0.1:${port}/echo`],
        [`http://****:****@127.0.0.1:${p}/x`, `http://****:****@127.0.0.1:${p}/x`],
        [`http://****:****@127.0.0.1:${p}/x`, `http://****:****@127.0.0.1:${p}/x`],
      ],
    );
    assert.deepEqual(warnings, [
      `Request Failed error=${JSON.stringify(`Get "http://alice:***@127.0.0.1:${p}/x": dial tcp 127.0.0.1:${p}: connect: connection refused`)}`,
      `Request Failed error=${JSON.stringify('invalid URL: parse "http://alice:***@127.0.0.1:bad/": invalid port ":bad" after host')}`,
    ]);
    assert.equal(seen[0]!.headers.authorization, `Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    assert.ok(!lines.some((l) => /s3cret|p@ss/.test(l) && !l.startsWith('INFO')), lines.join('\n'));
  });

  test('http.url names the request after its template; a name tag becomes the url tag too', async () => {
    const { msgs, of } = await run(`
      import http from 'k6/http';
      export default async function () {
        const id = 42;
        const u = http.url\`${base}/echo?id=\${id}\`;
        console.log(u.url, u.name);
        await http.asyncRequest('GET', u);
        await http.asyncRequest('GET', '${base}/echo?id=7', null, { tags: { name: 'EchoById' } });
      }
    `);
    assert.deepEqual(msgs, [`${base}/echo?id=42 ${base}/echo?id=\${}`]);
    assert.deepEqual(
      of('http_reqs').map((s) => [s.tags.name, s.tags.url]),
      [
        [`${base}/echo?id=\${}`, `${base}/echo?id=\${}`],
        ['EchoById', 'EchoById'],
      ],
    );
    assert.deepEqual(
      seen.map((s) => s.url),
      ['/echo?id=42', '/echo?id=7'],
    );
  });

  test('json() parses the body and reports bad JSON as k6 does', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${base}/not-json');
        try { r.json(); } catch (e) { console.log(e.message.startsWith('cannot parse json due to an error at line 1, character'), e.name); }
        const f = await http.asyncRequest('GET', 'http://127.0.0.1:1/');
        try { f.json(); } catch (e) { console.log(e.message); }
      }
    `);
    assert.deepEqual(msgs, [
      'true GoError',
      "the body is null so we can't transform it to JSON - this likely was because of a request error getting the response",
    ]);
  });

  test('https: insecureSkipTLSVerify, the TLS handshake time and tls_version; an unknown CA is 1310', async () => {
    const { msgs, of } = await run(`
      import http from 'k6/http';
      export const options = { insecureSkipTLSVerify: true };
      export default async function () {
        const r = await http.asyncRequest('GET', '${tlsBase}/s');
        const again = await http.asyncRequest('GET', '${tlsBase}/s');
        console.log(r.status, r.body, r.tls_version, r.timings.tls_handshaking > 0, again.timings.tls_handshaking, r.ocsp.status);
      }
    `);
    assert.deepEqual(msgs, ['200 secure /s tls1.3 true 0 unknown']);
    assert.deepEqual(
      of('http_reqs').map((s) => s.tags.tls_version),
      ['tls1.3', 'tls1.3'],
    );
    // TLS records and the handshake are counted on the wire too.
    assert.equal(sockets.length, 1);
    assert.equal(
      of('data_sent').reduce((a, s) => a + s.value, 0),
      sockets[0]!.bytesRead,
    );
    assert.equal(
      of('data_received').reduce((a, s) => a + s.value, 0),
      sockets[0]!.bytesWritten,
    );

    const strict = await run(`
      import http from 'k6/http';
      export default async function () {
        const r = await http.asyncRequest('GET', '${tlsBase}/s');
        console.log(r.status, r.error_code, r.error, r.timings.connecting > 0);
      }
    `);
    assert.deepEqual(strict.msgs, ['0 1310 x509: unknown authority true']);
  });

  test('requests in the init context throw k6 error; options the engine lacks fail loudly', async () => {
    const init = await run(`
      import http from 'k6/http';
      http.get('${base}/echo');
      export default function () {}
    `);
    assert.equal(init.outcome.exitCode, 107);
    assert.match(init.outcome.scriptError!, /Making http requests in the init context is not supported/);

    const hosts = await run(`
      import http from 'k6/http';
      export const options = { hosts: { 'a.test': '127.0.0.1' } };
      export default async function () { await http.asyncRequest('GET', '${base}/echo'); }
    `);
    assert.equal(hosts.outcome.exitCode, 107);
    assert.ok(hosts.outcome.error instanceof UnsupportedK6ApiError);
    assert.match(hosts.outcome.scriptError!, /^the 'hosts' option with k6\/http is not supported/);
  });

  for (const [what, code] of [
    ['http.batch()', `http.batch([['GET', '${base}/echo']])`],
    ['http.file()', `http.file('x')`],
    ['http.cookieJar()', 'http.cookieJar()'],
    ['Response.html()', `(await http.asyncRequest('GET', '${base}/echo')).html()`],
    ['Response.json(selector)', `(await http.asyncRequest('GET', '${base}/echo')).json('method')`],
  ] as const) {
    test(`${what} stops the run with UnsupportedK6ApiError`, async () => {
      const { outcome } = await run(`
        import http from 'k6/http';
        export default async function () { ${code}; }
      `);
      assert.equal(outcome.exitCode, 107);
      assert.ok(outcome.error instanceof UnsupportedK6ApiError);
      assert.ok(outcome.scriptError!.startsWith(`${what} is not supported`), outcome.scriptError);
    });
  }
});

describe('k6/http synchronous requests', () => {
  /** The server runs in its own thread: this one blocks while a synchronous request is in flight. */
  let worker: Worker;
  let syncBase = '';

  before(async () => {
    worker = new Worker(
      `const http = require('node:http');
       const { parentPort } = require('node:worker_threads');
       const server = http.createServer((req, res) => {
         let body = '';
         req.on('data', (c) => (body += c));
         req.on('end', () => {
           if (req.url === '/slow') return setTimeout(() => res.end('late'), 2000);
           if (req.url === '/endless') {
             const chunk = Buffer.alloc(65536, 'a');
             const pump = () => { while (!res.destroyed && res.write(chunk)); if (!res.destroyed) res.once('drain', pump); };
             return pump();
           }
           res.setHeader('content-type', 'text/plain');
           res.end(req.method + ' ' + req.url + ' ' + body);
         });
       });
       server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
      { eval: true },
    );
    const [p] = (await once(worker, 'message')) as [number];
    syncBase = `http://127.0.0.1:${p}`;
  });

  after(() => worker.terminate());

  test('http.get/post/del in setup() and teardown() block until the answer', async () => {
    const { msgs, outcome, of } = await run(`
      import http from 'k6/http';
      export const options = { vus: 2, iterations: 2 };
      export function setup() {
        const g = http.get('${syncBase}/hostmeta');
        const p = http.post('${syncBase}/p', 'data', { headers: { 'X-A': 'b' } });
        console.log(g.status, g.body, g.headers['Content-Type'], p.body, p.request.headers['X-A'][0]);
        return { discovered: g.body };
      }
      export default async function (data) {
        const r = await http.asyncRequest('GET', '${syncBase}/it');
        console.log(data.discovered, '|', r.body);
      }
      export function teardown() {
        const d = http.del('${syncBase}/t');
        const t = http.get('${syncBase}/slow', { timeout: '100ms' });
        console.log(d.body, t.error_code);
      }
    `);
    assert.equal(outcome.exitCode, 0, outcome.scriptError);
    assert.deepEqual(msgs, [
      '200 GET /hostmeta  text/plain POST /p data b',
      'GET /hostmeta  | GET /it ',
      'GET /hostmeta  | GET /it ',
      'DELETE /t  1050',
    ]);
    const reqs = of('http_reqs');
    assert.deepEqual(
      reqs.map((s) => [s.tags.group, s.tags.method, s.tags.status]),
      [
        ['::setup', 'GET', '200'],
        ['::setup', 'POST', '200'],
        ['', 'GET', '200'],
        ['', 'GET', '200'],
        ['::teardown', 'DELETE', '200'],
        ['::teardown', 'GET', '0'],
      ],
    );
    const setupConnecting = of('http_req_connecting').slice(0, 2);
    assert.ok(setupConnecting[0]!.value > 0);
    assert.equal(setupConnecting[1]!.value, 0, 'setup reuses its connection');
  });

  test('a synchronous request (setup) is limited the same way', async () => {
    const { msgs } = await run(`
      import http from 'k6/http';
      export function setup() {
        const r = http.get('${syncBase}/endless');
        console.log(r.status, r.error_code, r.error);
      }
      export default function () {}
    `);
    assert.deepEqual(msgs, [`0 1000 ${bodyTooBig(1048576)}`]);
  });

  test('with exactly one VU, a synchronous request works in the iteration too', async () => {
    const { msgs, outcome } = await run(`
      import http from 'k6/http';
      export const options = { iterations: 2 };
      export default function () { console.log(http.request('PATCH', '${syncBase}/one', 'x').body); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(msgs, ['PATCH /one x', 'PATCH /one x']);
  });

  test('with two VUs, a synchronous request in the iteration stops the run (107) pointing at asyncRequest', async () => {
    const { outcome } = await run(`
      import http from 'k6/http';
      export const options = { vus: 2, iterations: 2 };
      export default function () { http.get('${syncBase}/x'); }
    `);
    assert.equal(outcome.exitCode, 107);
    assert.ok(outcome.error instanceof UnsupportedK6ApiError);
    assert.equal(
      outcome.scriptError,
      "http.get() (a synchronous request) in a test with more than one VU is not supported by starling's Node " +
        "engine: starling's VUs share one thread, so a blocking request would stall them all; use " +
        '`await http.asyncRequest(method, url, body, params)` instead, which k6 runs the same way',
    );
  });
});
