/**
 * The WebSocket tap against purpose-built servers: RFC 7395 framing violations are reported with the offending
 * frame, and what passes through is untouched (text/binary, bytes, close codes, pings, the subprotocol).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as hdr from 'hdr-histogram-js';
import WebSocket, { WebSocketServer } from 'ws';
import type { Snapshot } from '../../src/contract/snapshot.ts';
import { startTap, type FramingViolation } from '../../src/collector/tap/index.ts';
import { FEATURES_SASL, FRAMING, SERVER_OPEN, startFakeServer } from '../helpers/fake-server.ts';

const CLIENT_OPEN = `<open xmlns='${FRAMING}' to='localhost' version='1.0'/>`;
const CLOSE = `<close xmlns='${FRAMING}'/>`;
const STREAMS = 'http://etherx.jabber.org/streams';
const STREAM_ERROR = `<stream:error xmlns:stream='${STREAMS}'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`;
const MESSAGE = "<message xmlns='jabber:client' to='alice@localhost' id='m1'><body>hi</body></message>";
const TWO_STANZAS =
  "<message xmlns='jabber:client' id='a'><body>one</body></message><message xmlns='jabber:client' id='b'><body>two</body></message>";
const NO_NS_OPEN = "<open from='localhost' id='x1' version='1.0' xml:lang='en'/>";
const LEGACY_HEADER = `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' from='localhost' id='x2' version='1.0'>`;

interface Run {
  violations: FramingViolation[];
  /** What onViolation saw (must equal violations). */
  reported: FramingViolation[];
  received: string[];
  logs: string[];
  snapshots: Snapshot[];
  closeCode: number;
}

/**
 * A client sends `clientFrames` through a tap to a fake server that answers the client's first frame with
 * `serverFrames` and then closes the WebSocket with 1000 when `serverCloses`; else the client closes once it
 * has every frame.
 */
async function through(
  serverFrames: string[],
  o: { clientFrames?: string[]; serverCloses?: boolean } = {},
): Promise<Run> {
  const fake = await startFakeServer({
    onFrame: (conn, _frame, n) => {
      if (n !== 0) return;
      for (const f of serverFrames) conn.ws.send(f);
      if (o.serverCloses) conn.ws.close(1000);
    },
  });
  const reported: FramingViolation[] = [];
  const logs: string[] = [];
  const snapshots: Snapshot[] = [];
  const tap = await startTap({
    upstream: fake.url,
    runId: 'framing',
    onSnapshot: (s) => snapshots.push(s),
    onViolation: (v) => reported.push(v),
    log: (l) => logs.push(l),
  });
  const client = new WebSocket(tap.url, ['xmpp']);
  const received: string[] = [];
  const closed = once(client, 'close');
  await once(client, 'open');
  for (const f of [CLIENT_OPEN, ...(o.clientFrames ?? [])]) client.send(f);
  client.on('message', (d) => {
    received.push(d.toString());
    if (!o.serverCloses && received.length === serverFrames.length) client.close(1000);
  });
  const [code] = (await closed) as [number, Buffer];
  await tap.close();
  await fake.close();
  return { violations: tap.violations, reported, received, logs, snapshots, closeCode: code };
}

function summary(vs: FramingViolation[]) {
  return vs.map(({ kind, direction, connection, frame }) => ({ kind, direction, connection, frame }));
}

function counter(snaps: Snapshot[], name: string, labels: Record<string, string>): number {
  let n = 0;
  for (const s of snaps)
    for (const c of s.counters)
      if (c.name === name && Object.entries(labels).every(([k, v]) => c.labels?.[k] === v)) n += c.delta;
  return n;
}

describe('tap framing checks (RFC 7395)', () => {
  test('two stanzas in one frame: multiple-roots, with the frame', async () => {
    const r = await through([SERVER_OPEN, FEATURES_SASL, TWO_STANZAS]);
    assert.deepEqual(r.received, [SERVER_OPEN, FEATURES_SASL, TWO_STANZAS], 'forwarded all the same');
    assert.deepEqual(summary(r.violations), [
      { kind: 'multiple-roots', direction: 's2c', connection: 1, frame: TWO_STANZAS },
    ]);
    assert.equal(
      r.violations[0]!.message,
      'frame is not one standalone XML document (RFC 7395 §3.3): second root element (a WebSocket frame holds ' +
        `exactly one XML document, RFC 7395) at offset ${TWO_STANZAS.indexOf('<message', 1)}`,
    );
    assert.deepEqual(r.reported, r.violations);
    assert.equal(r.logs.length, 1);
    assert.ok(r.logs[0]!.includes(JSON.stringify(TWO_STANZAS)), r.logs[0]);
    assert.equal(
      counter(r.snapshots, 'tap_framing_violations', { kind: 'multiple-roots', direction: 's2c' }),
      1,
    );
    assert.equal(counter(r.snapshots, 'tap_frames', { direction: 's2c' }), 3);
    assert.equal(counter(r.snapshots, 'tap_frames', { direction: 'c2s' }), 1);
    const parse = r.snapshots
      .flatMap((s) => s.histograms)
      .filter((h) => h.name === 'tap_frame_parse' && h.labels?.direction === 's2c')
      .map((h) => [h.labels?.element, hdr.decodeFromCompressedBase64(h.hdr, 32, false).totalCount]);
    assert.deepEqual(parse.sort(), [
      ['(invalid)', 1],
      ['features', 1],
      ['open', 1],
    ]);
  });

  test("a client's broken frame is reported with its SASL payload redacted, never the password", async () => {
    const secret = Buffer.from('\0user1\0s3cret-pass').toString('base64');
    const auth = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${secret}</auth>`;
    const r = await through([SERVER_OPEN, FEATURES_SASL], { clientFrames: [`${auth}<x/>`] });
    assert.deepEqual(summary(r.violations), [
      {
        kind: 'multiple-roots',
        direction: 'c2s',
        connection: 1,
        frame: `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</auth><x/>`,
      },
    ]);
    assert.ok(!r.logs.join('\n').includes(secret), 'the log never holds the payload');
  });

  test('a namespace-less <open>: open-namespace (and nothing else)', async () => {
    const r = await through([NO_NS_OPEN, FEATURES_SASL]);
    assert.deepEqual(summary(r.violations), [
      { kind: 'open-namespace', direction: 's2c', connection: 1, frame: NO_NS_OPEN },
    ]);
    assert.equal(r.violations[0]!.message, `<open> in namespace '', not '${FRAMING}' (RFC 7395 §3.3.2)`);
  });

  test('a stream error followed by another frame instead of <close/>: stream-error-without-close', async () => {
    const r = await through([SERVER_OPEN, STREAM_ERROR, MESSAGE]);
    assert.deepEqual(summary(r.violations), [
      { kind: 'stream-error-without-close', direction: 's2c', connection: 1, frame: MESSAGE },
    ]);
    assert.match(r.violations[0]!.message, /^<message> followed the server's stream error <stream:error /);
  });

  test('a stream error and then the socket closes without <close/>: stream-error-without-close', async () => {
    const r = await through([SERVER_OPEN, STREAM_ERROR], { serverCloses: true });
    assert.equal(r.closeCode, 1000, 'the close code is relayed');
    assert.deepEqual(summary(r.violations), [
      { kind: 'stream-error-without-close', direction: 's2c', connection: 1, frame: STREAM_ERROR },
    ]);
  });

  test('a stream error followed by <close/> is what the spec asks for: no violation', async () => {
    const r = await through([SERVER_OPEN, STREAM_ERROR, CLOSE], { serverCloses: true });
    assert.deepEqual(r.violations, []);
    assert.deepEqual(r.received, [SERVER_OPEN, STREAM_ERROR, CLOSE]);
  });

  test('pre-RFC <stream:stream>, a first frame that is not <open/>, a bad client <close>', async () => {
    const legacy = await through([LEGACY_HEADER]);
    assert.deepEqual(summary(legacy.violations), [
      { kind: 'legacy-stream-header', direction: 's2c', connection: 1, frame: LEGACY_HEADER },
    ]);
    const noOpen = await through([FEATURES_SASL]);
    assert.deepEqual(summary(noOpen.violations), [
      { kind: 'first-frame-not-open', direction: 's2c', connection: 1, frame: FEATURES_SASL },
    ]);
    const badClose = "<close xmlns='jabber:client'/>";
    const client = await through([SERVER_OPEN, FEATURES_SASL], { clientFrames: [badClose, MESSAGE] });
    assert.deepEqual(summary(client.violations), [
      { kind: 'close-namespace', direction: 'c2s', connection: 1, frame: badClose },
      { kind: 'frame-after-close', direction: 'c2s', connection: 1, frame: MESSAGE },
    ]);
  });

  test('the frame in a violation is cut to 2 KiB of UTF-8, never mid-character', async () => {
    const big = `<message xmlns='jabber:client'><body>${'é'.repeat(3000)}</body>`; // unclosed: truncated
    const r = await through([SERVER_OPEN, big]);
    assert.deepEqual(
      r.violations.map((v) => v.kind),
      ['truncated'],
    );
    const frame = r.violations[0]!.frame;
    assert.ok(big.startsWith(frame));
    assert.ok(
      Buffer.byteLength(frame) <= 2048 && Buffer.byteLength(frame) >= 2046,
      `${Buffer.byteLength(frame)}`,
    );
  });
});

describe('tap transparency (WebSocket)', () => {
  test('text stays text, binary stays binary, same bytes; pings, close code and reason pass both ways', async () => {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      autoPong: true,
      handleProtocols: (p) => (p.has('xmpp') ? 'xmpp' : false),
    });
    await once(wss, 'listening');
    const seen: { data: Buffer; binary: boolean }[] = [];
    const serverSides: { ws: WebSocket; closed: Promise<unknown[]> }[] = [];
    wss.on('connection', (ws) => {
      serverSides.push({ ws, closed: once(ws, 'close') });
      ws.on('message', (data, binary) => {
        seen.push({ data: data as Buffer, binary });
        ws.send(data as Buffer, { binary });
      });
    });
    const port = (wss.address() as AddressInfo).port;
    const tap = await startTap({
      upstream: `ws://127.0.0.1:${port}/ws`,
      runId: 't',
      onSnapshot: () => {},
      log: () => {},
    });
    const client = new WebSocket(tap.url, ['xmpp', 'other']);
    await once(client, 'open');
    assert.equal(client.protocol, 'xmpp');
    const back: { data: Buffer; binary: boolean }[] = [];
    client.on('message', (data, binary) => back.push({ data: data as Buffer, binary }));
    const text = Buffer.from(`<message xmlns='jabber:client'><body>ünïcødé 🐦</body></message>`);
    const bin = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x3c]);
    client.send(text, { binary: false });
    client.send(bin, { binary: true });
    while (back.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      seen.map((m) => [m.binary, m.data.toString('hex')]),
      [
        [false, text.toString('hex')],
        [true, bin.toString('hex')],
      ],
    );
    assert.deepEqual(
      back.map((m) => [m.binary, m.data.toString('hex')]),
      [
        [false, text.toString('hex')],
        [true, bin.toString('hex')],
      ],
    );
    // Pings go to the server and its pong comes back.
    client.ping(Buffer.from('p1'));
    const [pong] = (await once(client, 'pong')) as [Buffer];
    assert.equal(pong.toString(), 'p1');
    // The server's close code and reason reach the client.
    const clientClosed = once(client, 'close');
    serverSides[0]!.ws.close(4002, 'server says bye');
    const [code, reason] = (await clientClosed) as [number, Buffer];
    assert.deepEqual([code, reason.toString()], [4002, 'server says bye']);
    await serverSides[0]!.closed;
    // Not an <open/> first, and binary: reported, forwarded all the same.
    assert.deepEqual(tap.violations.map((v) => `${v.direction} ${v.kind}`).sort(), [
      'c2s binary-message',
      'c2s first-frame-not-open',
      's2c binary-message',
      's2c first-frame-not-open',
    ]);

    // The client's close code and reason reach the server.
    const c2 = new WebSocket(tap.url, ['xmpp']);
    await once(c2, 'open');
    assert.equal(serverSides.length, 2, 'the tap opened the upstream before completing the handshake');
    c2.close(4003, 'client says bye');
    const [code2, reason2] = (await serverSides[1]!.closed) as [number, Buffer];
    assert.deepEqual([code2, reason2.toString()], [4003, 'client says bye']);
    await tap.close();
    await new Promise<void>((r) => wss.close(() => r()));
  });

  test('an upstream that picks no subprotocol: the client gets none (the tap invents nothing)', async () => {
    const fake = await startFakeServer({ subprotocol: false });
    const tap = await startTap({ upstream: fake.url, runId: 't', onSnapshot: () => {}, log: () => {} });
    // ws refuses such a handshake, as an RFC 7395 client must.
    const client = new WebSocket(tap.url, ['xmpp']);
    const [err] = (await once(client, 'error')) as [Error];
    assert.equal(err.message, 'Server sent no subprotocol');
    // Without asking for one, the handshake completes with none.
    const plain = new WebSocket(tap.url);
    await once(plain, 'open');
    assert.equal(plain.protocol, '');
    plain.close();
    await once(plain, 'close');
    await tap.close();
    await fake.close();
  });

  test('an upstream refusing the handshake: its status and body reach the client; an unreachable one is a 502', async () => {
    const refusing = createServer();
    refusing.on('upgrade', (_req, socket: Duplex) => {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nnope!');
    });
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    const port = (refusing.address() as AddressInfo).port;
    const tap = await startTap({
      upstream: `ws://127.0.0.1:${port}/xmpp-websocket`,
      runId: 't',
      onSnapshot: () => {},
      log: () => {},
    });
    const client = new WebSocket(tap.url, ['xmpp']);
    const [req, res] = (await once(client, 'unexpected-response')) as [ClientRequest, IncomingMessage];
    let body = '';
    for await (const chunk of res) body += String(chunk);
    assert.deepEqual([res.statusCode, res.headers['content-type'], body], [403, 'text/plain', 'nope!']);
    req.destroy();
    await tap.close();
    await new Promise<void>((r) => refusing.close(() => r()));

    const logs: string[] = [];
    const dead = await startTap({
      upstream: `ws://127.0.0.1:${port}/xmpp-websocket`,
      runId: 't',
      onSnapshot: () => {},
      log: (l) => logs.push(l),
    });
    const c2 = new WebSocket(dead.url, ['xmpp']);
    const [req2, res2] = (await once(c2, 'unexpected-response')) as [ClientRequest, IncomingMessage];
    assert.equal(res2.statusCode, 502);
    req2.destroy();
    await dead.close();
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /handshake failed: connect ECONNREFUSED/);
  });
});

describe('tap transparency and checks (BOSH)', () => {
  test('methods, status, end-to-end headers and body bytes pass; bad bodies are reported; gzip is parsed', async () => {
    const HTTPBIND = 'http://jabber.org/protocol/httpbind';
    const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
    const twoRoots = `<body xmlns='${HTTPBIND}' sid='s1'/><body xmlns='${HTTPBIND}'/>`;
    const upstream = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'Access-Control-Allow-Origin': '*', 'X-Upstream': 'yes' });
        res.end();
      } else if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<html>not XMPP</html>');
      } else if (body.includes("rid='1'")) {
        res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Encoding': 'gzip' });
        res.end(
          gzipSync(
            `<body xmlns='${HTTPBIND}' sid='s1' wait='5' requests='2'><stream:features xmlns:stream='${STREAMS}'/></body>`,
          ),
        );
      } else {
        res.writeHead(200, { 'Content-Type': 'text/xml' });
        res.end(twoRoots);
      }
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = (upstream.address() as AddressInfo).port;
    const snapshots: Snapshot[] = [];
    const tap = await startTap({
      upstream: `http://127.0.0.1:${port}/http-bind?x=1`,
      runId: 'bosh',
      onSnapshot: (s) => snapshots.push(s),
      log: () => {},
    });
    assert.equal(tap.url, `http://127.0.0.1:${tap.port}/http-bind?x=1`);
    const call = (method: string, body?: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
        (resolve, reject) => {
          const req = httpRequest(tap.url, { method, headers }, async (res) => {
            const chunks: Buffer[] = [];
            for await (const c of res) chunks.push(c as Buffer);
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
          });
          req.on('error', reject);
          req.end(body);
        },
      );

    const opt = await call('OPTIONS', undefined, { Origin: 'http://example.com', 'X-Custom': 'kept' });
    assert.deepEqual(
      [opt.status, opt.headers['access-control-allow-origin'], opt.headers['x-upstream']],
      [204, '*', 'yes'],
    );
    const get = await call('GET');
    assert.deepEqual([get.status, get.body.toString()], [200, '<html>not XMPP</html>']);
    const create = `<body xmlns='${HTTPBIND}' rid='1' to='localhost' wait='5' hold='1' ver='1.6'/>`;
    const created = await call('POST', create, {
      'Content-Type': 'text/xml; charset=utf-8',
      'Keep-Alive': 'timeout=5',
      'Proxy-Authorization': 'x',
    });
    assert.equal(created.headers['content-encoding'], 'gzip', 'the compressed bytes are passed as they are');
    assert.equal(
      gunzipSync(created.body).toString(),
      `<body xmlns='${HTTPBIND}' sid='s1' wait='5' requests='2'><stream:features xmlns:stream='${STREAMS}'/></body>`,
    );
    const notBody = `<iq xmlns='jabber:client' type='get' id='q1'/>`;
    const bad = await call('POST', notBody);
    assert.equal(bad.body.toString(), twoRoots);
    await tap.close();
    await new Promise<void>((r) => upstream.close(() => r()));

    assert.deepEqual(
      seen.map((s) => [s.method, s.url, s.body]),
      [
        ['OPTIONS', '/http-bind?x=1', ''],
        ['GET', '/http-bind?x=1', ''],
        ['POST', '/http-bind?x=1', create],
        ['POST', '/http-bind?x=1', notBody],
      ],
    );
    assert.deepEqual(
      [seen[0]!.headers['origin'], seen[0]!.headers['x-custom'], seen[0]!.headers['host']],
      ['http://example.com', 'kept', `127.0.0.1:${port}`],
    );
    assert.deepEqual(
      [
        seen[2]!.headers['keep-alive'],
        seen[2]!.headers['proxy-authorization'],
        seen[2]!.headers['content-type'],
      ],
      [undefined, undefined, 'text/xml; charset=utf-8'],
      'hop-by-hop headers stay on their hop',
    );
    // The creation made session 1 (its gzip response parsed); a request without a sid is taken for another
    // session creation: session 2.
    assert.deepEqual(summary(tap.violations), [
      { kind: 'bosh-not-body', direction: 'c2s', connection: 2, frame: notBody },
      { kind: 'multiple-roots', direction: 's2c', connection: 2, frame: twoRoots },
    ]);
    const parsed = snapshots
      .flatMap((s) => s.histograms)
      .filter((h) => h.name === 'tap_frame_parse')
      .map(
        (h) =>
          `${h.labels?.direction} ${h.labels?.element} ${hdr.decodeFromCompressedBase64(h.hdr, 32, false).totalCount}`,
      );
    assert.deepEqual(parsed.sort(), ['c2s body 1', 'c2s iq 1', 's2c (invalid) 1', 's2c features 1']);
    assert.deepEqual(
      [
        counter(snapshots, 'tap_frames', { direction: 'c2s' }),
        counter(snapshots, 'tap_frames', { direction: 's2c' }),
      ],
      [2, 2],
      'only POST bodies are frames',
    );
  });
});
