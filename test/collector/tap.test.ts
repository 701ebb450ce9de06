/**
 * The tap against real Prosody, over WebSocket and BOSH: client → tap → a recording relay → Prosody. What the
 * relay saw going upstream must be exactly what the client sent, and what the client got exactly what Prosody
 * sent; the tap's snapshots must hold parse times, IQ response and message transit samples.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import WebSocket, { WebSocketServer } from 'ws';
import { HDR_CONFIG, SNAPSHOT_VERSION, type Snapshot } from '../../src/contract/snapshot.ts';
import { startTap, type FramingViolation } from '../../src/collector/tap/index.ts';
import { fetchPost, openBoshSession } from '../../src/node/bosh-session.ts';
import { openWebSocketSession } from '../../src/node/websocket-session.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import type { BoshPost } from '../../src/xmpp/bosh.ts';
import type { XmppSession } from '../../src/xmpp/session.ts';
import type { XmlElement } from '../../src/xmpp/xml/element.ts';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

interface WsRecord {
  /** Messages the relay got from the tap (client side) and from Prosody, as sent: text flag and bytes. */
  c2s: { binary: boolean; data: Buffer }[];
  s2c: { binary: boolean; data: Buffer }[];
}

/** A pass-through WebSocket relay that records every message, one record per connection in accept order. */
async function startWsRelay(
  upstream: string,
): Promise<{ url: string; conns: WsRecord[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: false,
    handleProtocols: (p) => (p.has('xmpp') ? 'xmpp' : false),
  });
  await once(wss, 'listening');
  const conns: WsRecord[] = [];
  wss.on('connection', (client) => {
    const rec: WsRecord = { c2s: [], s2c: [] };
    conns.push(rec);
    const up = new WebSocket(upstream, ['xmpp'], { perMessageDeflate: false });
    const early: [Buffer, boolean][] = [];
    client.on('message', (raw, binary) => {
      const data = raw as Buffer;
      rec.c2s.push({ binary, data: Buffer.from(data) });
      if (up.readyState === WebSocket.OPEN) up.send(data, { binary });
      else early.push([data, binary]);
    });
    up.on('open', () => {
      for (const [data, binary] of early.splice(0)) up.send(data, { binary });
    });
    up.on('message', (raw, binary) => {
      const data = raw as Buffer;
      rec.s2c.push({ binary, data: Buffer.from(data) });
      client.send(data, { binary });
    });
    up.on('close', (code, reason) => {
      if (client.readyState === WebSocket.OPEN) client.close(code === 1005 ? undefined : code, reason);
    });
    client.on('close', (code, reason) => {
      if (up.readyState === WebSocket.OPEN) up.close(code === 1005 ? undefined : code, reason);
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}${new URL(upstream).pathname}`,
    conns,
    close: () => new Promise<void>((r) => wss.close(() => r())),
  };
}

interface Exchange {
  request: string;
  status: number;
  response: string;
}

/** A pass-through HTTP relay (keep-alive) recording each request body and the response body it got. */
async function startHttpRelay(
  upstream: string,
): Promise<{ url: string; exchanges: Exchange[]; close(): Promise<void> }> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const exchanges: Exchange[] = [];
  const read = async (m: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of m) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const server: Server = createServer(async (req, res) => {
    const body = await read(req);
    const up = httpRequest(new URL(req.url ?? '/', target), {
      method: req.method,
      agent,
      headers: { 'content-type': req.headers['content-type'] ?? 'text/xml' },
    });
    up.end(body);
    const [ures] = (await once(up, 'response')) as [IncomingMessage];
    const out = await read(ures);
    exchanges.push({ request: body.toString(), status: ures.statusCode ?? 0, response: out.toString() });
    res.writeHead(ures.statusCode ?? 502, { 'content-type': ures.headers['content-type'] ?? 'text/xml' });
    res.end(out);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    exchanges,
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
  };
}

/** Sample counts of a histogram over every snapshot, by its labels rendered `k=v,…`. */
function counts(snaps: Snapshot[], name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of snaps) {
    for (const h of s.histograms) {
      if (h.name !== name) continue;
      const decoded = hdr.decodeFromCompressedBase64(h.hdr, 32, false);
      assert.equal(decoded.highestTrackableValue >= HDR_CONFIG.highestTrackableValue, true);
      const key = Object.entries(h.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      out.set(key, (out.get(key) ?? 0) + decoded.totalCount);
    }
  }
  return out;
}

function counterSum(snaps: Snapshot[], name: string, labels: Record<string, string>): number {
  let n = 0;
  for (const s of snaps)
    for (const c of s.counters)
      if (c.name === name && Object.entries(labels).every(([k, v]) => c.labels?.[k] === v)) n += c.delta;
  return n;
}

function nextMessage(session: XmppSession, ms = 5000): Promise<XmlElement> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
    session.onMessage((el) => {
      clearTimeout(t);
      resolve(el);
    });
  });
}

/** The next snapshot the tap emits from now on. */
async function nextSnapshot(snaps: Snapshot[]): Promise<Snapshot> {
  const n = snaps.length;
  while (snaps.length === n) await new Promise((r) => setTimeout(r, 10));
  return snaps[n]!;
}

/** Snapshots from one tap: sequence numbers count up from 0, only the last is final, all are the tap's. */
function checkSequence(snaps: Snapshot[], transport: string): void {
  assert.ok(snaps.length >= 1);
  assert.deepEqual(
    snaps.map((s) => s.seq),
    snaps.map((_, i) => i),
  );
  assert.deepEqual(
    snaps.map((s) => s.final),
    snaps.map((_, i) => i === snaps.length - 1),
  );
  for (const s of snaps) {
    assert.deepEqual(
      [s.version, s.runId, s.instance, s.vu, s.scenario, s.transport],
      [SNAPSHOT_VERSION, 'tap-test', 'tap', 0, '', transport],
    );
    assert.ok(s.intervalEndMs >= s.intervalStartMs);
  }
  const last = snaps[snaps.length - 1]!;
  assert.deepEqual(last.gauges, [{ name: 'tap_connections', value: 0 }]);
}

describe('tap in front of Prosody', () => {
  let server: LocalServer;

  before(async () => {
    server = await startLocalServer({ kind: 'prosody', users: 4 });
  });
  after(async () => {
    await server?.stop();
  });

  test('WebSocket: byte-identical both ways through the tap, with parse, IQ and transit metrics', async () => {
    const relay = await startWsRelay(server.websocketUrl);
    const snaps: Snapshot[] = [];
    const reported: FramingViolation[] = [];
    const tap = await startTap({
      upstream: relay.url,
      runId: 'tap-test',
      intervalMs: 100,
      onSnapshot: (s) => snaps.push(s),
      onViolation: (v) => reported.push(v),
      log: () => {},
    });
    assert.equal(tap.url, `ws://127.0.0.1:${tap.port}/xmpp-websocket`);
    const frames = [
      { out: [] as string[], in: [] as string[] },
      { out: [] as string[], in: [] as string[] },
    ];
    const login = (n: 1 | 2) =>
      openWebSocketSession({
        url: tap.url,
        domain: server.domain,
        credentials: { username: server.account(n).username, password: server.account(n).password },
        resource: `tap${n}`,
        onFrame: (dir, f) => frames[n - 1]![dir].push(f),
      });
    const a = login(1);
    const jidA = await a.session.start();
    const b = login(2);
    const jidB = await b.session.start();
    const got = nextMessage(b.session);
    const id = a.session.sendMessage({ to: jidB, body: 'through the tap: <&> "ünïcødé" 🐦' });
    const m = await got;
    assert.deepEqual([m.attr('id'), m.attr('from')], [id, jidA]);
    await a.session.ping();
    assert.deepEqual((await nextSnapshot(snaps)).gauges, [{ name: 'tap_connections', value: 2 }]);
    const [endA, endB] = await Promise.all([a.session.close(), b.session.close()]);
    assert.deepEqual([endA.clean, endA.code, endB.clean, endB.code], [true, 1000, true, 1000]);
    await tap.close();
    await relay.close();

    assert.equal(relay.conns.length, 2);
    for (const [i, rec] of relay.conns.entries()) {
      const mine = frames[i]!;
      assert.ok(mine.out.length >= 5 && mine.in.length >= 6, `session ${i + 1} went through login`);
      assert.ok(rec.c2s.every((f) => !f.binary) && rec.s2c.every((f) => !f.binary), 'text frames only');
      assert.deepEqual(
        rec.c2s.map((f) => f.data.toString('hex')),
        mine.out.map((f) => Buffer.from(f).toString('hex')),
        `session ${i + 1}: what reached the relay is what the client sent`,
      );
      assert.deepEqual(
        mine.in.map((f) => Buffer.from(f).toString('hex')),
        rec.s2c.map((f) => f.data.toString('hex')),
        `session ${i + 1}: what the client got is what Prosody sent`,
      );
    }

    assert.deepEqual(tap.violations, [], 'Prosody frames by the book');
    assert.deepEqual(reported, []);
    checkSequence(snaps, 'websocket');
    const parse = counts(snaps, 'tap_frame_parse');
    for (const el of ['open', 'auth', 'iq', 'message', 'close'])
      assert.ok((parse.get(`direction=c2s,element=${el}`) ?? 0) >= 1, `c2s ${el}: ${[...parse.keys()]}`);
    for (const el of ['open', 'features', 'success', 'iq', 'message', 'close'])
      assert.ok((parse.get(`direction=s2c,element=${el}`) ?? 0) >= 1, `s2c ${el}: ${[...parse.keys()]}`);
    const c2s = frames[0]!.out.length + frames[1]!.out.length;
    const s2c = frames[0]!.in.length + frames[1]!.in.length;
    assert.equal(counterSum(snaps, 'tap_frames', { direction: 'c2s' }), c2s);
    assert.equal(counterSum(snaps, 'tap_frames', { direction: 's2c' }), s2c);
    const parsedC2s = [...parse]
      .filter(([k]) => k.startsWith('direction=c2s'))
      .reduce((n, [, v]) => n + v, 0);
    assert.equal(parsedC2s, c2s, 'one parse sample per frame');
    assert.deepEqual([...counts(snaps, 'tap_frame_size')].sort(), [
      ['direction=c2s', c2s],
      ['direction=s2c', s2c],
    ]);
    // Bind ×2 and the ping at least (Prosody may answer other IQs the session makes).
    assert.ok((counts(snaps, 'tap_iq_response').get('') ?? 0) >= 3);
    assert.equal(counts(snaps, 'tap_message_transit').get(''), 1);
  });

  test("WebSocket: Prosody's stream error (resource conflict) is followed by its <close/>: no violation", async () => {
    const snaps: Snapshot[] = [];
    const tap = await startTap({
      upstream: server.websocketUrl,
      runId: 'tap-test',
      onSnapshot: (s) => snaps.push(s),
      log: () => {},
    });
    const creds = { username: server.account(3).username, password: server.account(3).password };
    const frames: string[] = [];
    const old = openWebSocketSession({
      url: tap.url,
      domain: server.domain,
      credentials: creds,
      resource: 'dup',
      onFrame: (dir, f) => frames.push(`${dir} ${f}`),
    }).session;
    await old.start();
    const fresh = openWebSocketSession({
      url: tap.url,
      domain: server.domain,
      credentials: creds,
      resource: 'dup',
    });
    await fresh.session.start();
    const end = await old.closed;
    assert.equal(end.error?.reason, 'stream-error:conflict');
    await fresh.session.close();
    await tap.close();
    const errorAt = frames.findIndex((f) => f.startsWith('in <stream:error'));
    assert.ok(errorAt > 0, 'a stream error came through');
    assert.equal(
      frames.slice(errorAt + 1).find((f) => f.startsWith('in ')),
      `in <close xmlns='${FRAMING}'/>`,
    );
    assert.deepEqual(
      tap.violations.map((v) => `${v.kind}: ${v.frame}`),
      [],
    );
    checkSequence(snaps, 'websocket');
  });

  test('BOSH: byte-identical bodies both ways through the tap, with parse, IQ and transit metrics', async () => {
    const relay = await startHttpRelay(server.boshUrl);
    const snaps: Snapshot[] = [];
    const tap = await startTap({
      upstream: relay.url,
      runId: 'tap-test',
      intervalMs: 100,
      onSnapshot: (s) => snaps.push(s),
      log: () => {},
    });
    assert.equal(tap.url, `http://127.0.0.1:${tap.port}${new URL(server.boshUrl).pathname}`);
    const mine: Exchange[] = [];
    const recording = (): BoshPost => {
      const inner = fetchPost(tap.url);
      return async (body, timeoutMs) => {
        const res = await inner(body, timeoutMs);
        mine.push({ request: body, status: res.status, response: res.body });
        return res;
      };
    };
    const login = (n: 1 | 2) =>
      openBoshSession({
        url: tap.url,
        post: recording(),
        domain: server.domain,
        credentials: { username: server.account(n).username, password: server.account(n).password },
        resource: `tap${n}`,
        wait: 5,
      });
    const a = login(1);
    const jidA = await a.session.start();
    const b = login(2);
    const jidB = await b.session.start();
    const got = nextMessage(b.session);
    const id = a.session.sendMessage({ to: jidB, body: 'through the BOSH tap: <&> "ünïcødé" 🐦' });
    const m = await got;
    assert.deepEqual([m.attr('id'), m.attr('from')], [id, jidA]);
    await a.session.ping();
    assert.deepEqual(
      (await nextSnapshot(snaps)).gauges,
      [{ name: 'tap_connections', value: 2 }],
      'two BOSH sessions open',
    );
    const [endA, endB] = await Promise.all([a.session.close(), b.session.close()]);
    assert.deepEqual([endA.clean, endB.clean], [true, true]);
    await tap.close();
    await relay.close();

    const byRequest = (xs: Exchange[]) => [...xs].sort((p, q) => (p.request < q.request ? -1 : 1));
    assert.ok(mine.length >= 10, `${mine.length} exchanges`);
    assert.deepEqual(
      byRequest(relay.exchanges),
      byRequest(mine),
      'every request body reached Prosody as sent, every response body came back as Prosody sent it',
    );

    assert.deepEqual(tap.violations, []);
    checkSequence(snaps, 'bosh');
    const parse = counts(snaps, 'tap_frame_parse');
    for (const el of ['auth', 'iq', 'message', 'body'])
      assert.ok((parse.get(`direction=c2s,element=${el}`) ?? 0) >= 1, `c2s ${el}: ${[...parse.keys()]}`);
    for (const el of ['features', 'success', 'iq', 'message', 'body'])
      assert.ok((parse.get(`direction=s2c,element=${el}`) ?? 0) >= 1, `s2c ${el}: ${[...parse.keys()]}`);
    assert.equal(counterSum(snaps, 'tap_frames', { direction: 'c2s' }), mine.length);
    assert.equal(counterSum(snaps, 'tap_frames', { direction: 's2c' }), mine.length);
    assert.ok((counts(snaps, 'tap_iq_response').get('') ?? 0) >= 3);
    assert.equal(counts(snaps, 'tap_message_transit').get(''), 1);
  });
});
