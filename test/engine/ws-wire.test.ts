/**
 * The engine's hand-written WebSocket client (ws-wire.ts) below the k6 API: the request it sends, gorilla's
 * handshake checks, RFC 6455 framing at every length and split, the peer's protocol violations (each failed with
 * `ws`'s close code), the close handshake, and permessage-deflate. A hand-rolled TCP server says exactly what
 * bytes go over the wire; a `ws` server checks the client's frames from the other side.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { constants as zlib, deflateRawSync } from 'node:zlib';
import { WebSocketServer } from 'ws';
import { dialErrorText, dialLenient, type LenientDialOptions } from '../../src/engine/modules/ws-client.ts';
import type { Handshake, WireSocket } from '../../src/engine/modules/ws-wire.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** What a scripted server does once it has read the request head (the remaining bytes keep arriving on `socket`). */
type Script = (socket: Socket, head: string) => void;

/** RFC 6455 §5.2: an unmasked server frame (or a masked one, to break the rule). */
function frame(b0: number, payload: Buffer | string, mask = false): Buffer {
  const p = Buffer.from(payload);
  const n = p.length;
  const len = n < 126 ? Buffer.from([n]) : n < 65536 ? Buffer.alloc(3) : Buffer.alloc(9);
  if (n >= 126 && n < 65536) {
    len[0] = 126;
    len.writeUInt16BE(n, 1);
  } else if (n >= 65536) {
    len[0] = 127;
    len.writeBigUInt64BE(BigInt(n), 1);
  }
  if (mask) len[0] = len[0]! | 0x80;
  return Buffer.concat([Buffer.from([b0]), len, mask ? Buffer.from([0, 0, 0, 0]) : Buffer.alloc(0), p]);
}

function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code);
  b.write(reason, 2);
  return b;
}

function acceptOf(head: string): string {
  const key = /^sec-websocket-key: (.*)$/im.exec(head)![1]!.trim();
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

function switching(head: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(head)}\r\n${extra}\r\n`;
}

/** The client frames a server received: opcode and unmasked payload. */
function clientFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const out: { opcode: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let n = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (n === 126) {
      n = bytes.readUInt16BE(at + 2);
      head = 4;
    } else if (n === 127) {
      n = Number(bytes.readBigUInt64BE(at + 2));
      head = 10;
    }
    assert.ok(bytes[at + 1]! & 0x80, 'client frames are masked');
    const key = bytes.subarray(at + head, at + head + 4);
    const payload = Buffer.from(bytes.subarray(at + head + 4, at + head + 4 + n));
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    out.push({ opcode: bytes[at]! & 0x0f, payload });
    at += head + 4 + n;
  }
  return out;
}

interface Scripted {
  /** The request head, once read. */
  head: Promise<string>;
  /** Every byte the client sent after its request head, once the connection closed. */
  after: Promise<Buffer>;
}

let server: Server;
let port = 0;
let script: Script = () => undefined;
let scripted: Scripted | null = null;

before(async () => {
  server = createServer((socket) => {
    const run = script;
    let buf = Buffer.alloc(0);
    let resolveHead!: (h: string) => void;
    let resolveAfter!: (b: Buffer) => void;
    scripted = {
      head: new Promise((r) => (resolveHead = r)),
      after: new Promise((r) => (resolveAfter = r)),
    };
    let headDone = false;
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (headDone) return;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      headDone = true;
      const head = buf.toString('latin1', 0, end + 4);
      buf = buf.subarray(end + 4);
      resolveHead(head);
      run(socket, head);
    });
    socket.on('close', () => resolveAfter(buf));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(() => server.close());

const OPTS: LenientDialOptions = {
  protocols: [],
  headers: {},
  compression: false,
  handshakeTimeoutMs: 5000,
  maxMessageBytes: 1 << 20,
};

interface Dialed {
  ws: WireSocket;
  hs: Handshake;
  /** Every event, as one line. */
  seen: string[];
  closed: Promise<void>;
  server: Scripted;
}

/** Dials the scripted server and records every event of the client. */
async function dial(s: Script, opts: Partial<LenientDialOptions> = {}, path = '/xmpp'): Promise<Dialed> {
  script = s;
  const url = `ws://127.0.0.1:${port}${path}`;
  const { ws, hs } = dialLenient(url, { ...OPTS, ...opts });
  const seen: string[] = [];
  ws.on('open', () => seen.push('open'));
  ws.on('message', (d: Buffer, binary: boolean) =>
    seen.push(`${binary ? 'binary' : 'text'} ${d.length > 40 ? `${d.length} bytes` : d.toString()}`),
  );
  ws.on('ping', (d: Buffer) => seen.push(`ping ${d.toString()}`));
  ws.on('pong', (d: Buffer) => seen.push(`pong ${d.toString()}`));
  ws.on('error', (err: Error & { code?: string }) =>
    seen.push(`error ${hs.status === 101 && !hs.failure ? String(err.code) : dialErrorText(err, hs, url)}`),
  );
  const closed = new Promise<void>((resolve) =>
    ws.on('close', (code: number, reason: Buffer) => {
      seen.push(`close ${code} ${reason.toString()}`);
      resolve();
    }),
  );
  await until(() => scripted !== null);
  const server = scripted!;
  scripted = null;
  return { ws, hs, seen, closed, server };
}

async function until(done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Writes `bytes` in pieces of 1, 2, 3 … `most` bytes, one per macrotask. */
async function trickle(socket: Socket, bytes: Buffer, most = 7): Promise<void> {
  for (let at = 0, n = 1; at < bytes.length; at += n, n = (n % most) + 1) {
    socket.write(bytes.subarray(at, at + n));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('ws-wire: the opening handshake', () => {
  test("the request: gorilla's headers, the caller's in canonical form, a caller Host replacing the URL's", async () => {
    const d = await dial((s, head) => s.end(switching(head)), {
      protocols: ['xmpp'],
      headers: { 'X-Trace': 'abc', Host: 'chat.example' },
    });
    await d.closed;
    const head = await d.server.head;
    const lines = head.trimEnd().split('\r\n');
    assert.equal(lines[0], 'GET /xmpp HTTP/1.1');
    assert.deepEqual(
      lines
        .slice(1)
        .map((l) => l.replace(/^(Sec-WebSocket-Key: ).*/, '$1<key>'))
        .sort(),
      [
        'Connection: Upgrade',
        'Host: chat.example',
        'Sec-WebSocket-Key: <key>',
        'Sec-WebSocket-Protocol: xmpp',
        'Sec-WebSocket-Version: 13',
        'Upgrade: websocket',
        'X-Trace: abc',
      ],
    );
    assert.equal(Buffer.from(/Sec-WebSocket-Key: (.*)/.exec(head)![1]!, 'base64').length, 16);
    assert.deepEqual(d.seen, ['open', 'close 1006 ']);
  });

  test('a header value Node would refuse throws before any I/O, naming the header', () => {
    assert.throws(
      () => dialLenient(`ws://127.0.0.1:${port}/`, { ...OPTS, headers: { 'X-Bad': 'a\r\nInjected: 1' } }),
      { message: 'Invalid character in header content ["X-Bad"]' },
    );
    assert.throws(() => dialLenient(`ws://127.0.0.1:${port}/`, { ...OPTS, headers: { 'X Bad': '1' } }), {
      message: 'Header name must be a valid HTTP token ["X Bad"]',
    });
  });

  test("a wrong Sec-WebSocket-Accept, a missing Upgrade or Connection token: gorilla's 'bad handshake', status 101", async () => {
    const answers: ((head: string) => string)[] = [
      () =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n',
      (head) => `HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(head)}\r\n\r\n`,
      (head) => `HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${acceptOf(head)}\r\n\r\n`,
    ];
    for (const answer of answers) {
      const d = await dial((s, head) => s.write(answer(head)));
      await d.closed;
      assert.deepEqual(d.seen, ['error websocket: bad handshake', 'close 1006 ']);
      assert.equal(d.hs.status, 101);
    }
    // token lists and case are gorilla's: "keep-alive, Upgrade" and "WebSocket" are fine
    const ok = await dial((s, head) =>
      s.end(
        `HTTP/1.1 101 OK\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(head)}\r\n\r\n`,
      ),
    );
    await ok.closed;
    assert.deepEqual(ok.seen, ['open', 'close 1006 ']);
  });

  test('deflate with context takeover is refused; a response head over 16 KiB or not HTTP fails, bounded', async () => {
    const takeover = await dial(
      (s, head) => s.write(switching(head, 'Sec-WebSocket-Extensions: permessage-deflate\r\n')),
      { compression: true },
    );
    await takeover.closed;
    assert.deepEqual(takeover.seen, ['error websocket: invalid compression negotiation', 'close 1006 ']);

    const huge = await dial((s) => s.write(`HTTP/1.1 101 OK\r\nX-Filler: ${'a'.repeat(20_000)}`));
    await huge.closed;
    assert.deepEqual(huge.seen, ['error Parse Error: Header overflow', 'close 1006 ']);

    const garbage = await dial((s) => s.write('SSH-2.0-OpenSSH\r\n\r\n'));
    await garbage.closed;
    assert.deepEqual(garbage.seen, ['error malformed HTTP response "SSH-2.0-OpenSSH"', 'close 1006 ']);
  });

  test('a server that never answers: the handshake deadline, in gorilla words', async () => {
    const d = await dial(() => undefined, { handshakeTimeoutMs: 150 });
    await d.closed;
    assert.equal(d.seen.length, 2);
    assert.match(d.seen[0]!, /^error read tcp 127\.0\.0\.1:\d+->127\.0\.0\.1:\d+: i\/o timeout$/);
  });
});

describe('ws-wire: frames', () => {
  test('every length form, split at every byte count, a fragmented message with a ping inside', async () => {
    const big = Buffer.alloc(70_000, 'b');
    const bytes = Buffer.concat([
      frame(0x81, 'hello'),
      frame(0x82, Buffer.alloc(126, 1)),
      frame(0x01, 'frag-'), // text, no FIN
      frame(0x89, 'p1'), // a ping between fragments
      frame(0x00, 'ment-'),
      frame(0x80, 'ed'),
      frame(0x8a, 'unasked'),
      frame(0x81, ''),
    ]);
    let socket!: Socket;
    const d = await dial((s, head) => {
      socket = s;
      s.write(switching(head));
    });
    await until(() => d.seen.includes('open'));
    await trickle(socket, bytes);
    await trickle(socket, frame(0x82, big), 4096);
    await until(() => d.seen.length === 8);
    d.ws.close(1000);
    socket.write(frame(0x88, closePayload(1000)));
    await d.closed;
    assert.deepEqual(d.seen, [
      'open',
      'text hello',
      'binary 126 bytes',
      'ping p1',
      'text frag-ment-ed',
      'pong unasked',
      'text ',
      'binary 70000 bytes',
      'close 1000 ',
    ]);
    const sent = clientFrames(await d.server.after);
    assert.deepEqual(
      sent.map((f) => [f.opcode, f.payload.toString('hex')]),
      [
        [0xa, Buffer.from('p1').toString('hex')], // the pong carries the ping's data
        [0x8, closePayload(1000).toString('hex')],
      ],
    );
  });

  test("a fragment read whole survives another connection's read (the read buffer is shared)", async () => {
    let a!: Socket;
    let b!: Socket;
    const da = await dial((s, head) => {
      a = s;
      s.write(switching(head));
    });
    const db = await dial((s, head) => {
      b = s;
      s.write(switching(head));
    });
    try {
      await until(() => da.seen.includes('open') && db.seen.includes('open'));
      // One read: the first fragment whole and a ping (whose event says the read happened).
      a.write(Buffer.concat([frame(0x01, 'AAAA'), frame(0x89, 'x')]));
      await until(() => da.seen.includes('ping x'));
      // The other connection's read lands on the same bytes of the shared buffer.
      b.write(frame(0x81, 'BBBBBBBB'));
      await until(() => db.seen.includes('text BBBBBBBB'));
      a.write(frame(0x80, 'aa'));
      await until(() => da.seen.length === 3);
      assert.deepEqual(da.seen, ['open', 'ping x', 'text AAAAaa']);
      for (const [d, s] of [
        [da, a],
        [db, b],
      ] as const) {
        d.ws.close(1000);
        s.write(frame(0x88, closePayload(1000)));
        await d.closed;
      }
    } finally {
      // A failed assertion must not leave the sockets open (the server's close would wait for them).
      for (const s of [a, b]) s.destroy();
    }
  });

  test('sent frames at 0, 125, 126, 65535, 65536 and 70000 bytes come back whole from a ws server', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    wss.on('connection', (peer) => peer.on('message', (data, binary) => peer.send(data, { binary })));
    try {
      const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
      const { ws } = dialLenient(url, OPTS);
      const sizes = [0, 125, 126, 65535, 65536, 70000];
      const got: string[] = [];
      ws.on('message', (d: Buffer) => got.push(createHash('sha1').update(d).digest('hex')));
      await once(ws, 'open');
      const want = sizes.map((n, i) => {
        const payload = Buffer.alloc(n);
        for (let k = 0; k < n; k++) payload[k] = (k * 7 + i) & 0x7f; // ASCII: as long sent as a string
        if (i % 2 === 0) ws.send(payload, true, () => undefined);
        else ws.send(payload.toString('latin1'), true, () => undefined);
        return createHash('sha1').update(payload).digest('hex');
      });
      await until(() => got.length === sizes.length);
      assert.deepEqual(got, want);
      ws.close(1000);
      const [code] = (await once(ws, 'close')) as [number];
      assert.equal(code, 1000);
    } finally {
      wss.close();
    }
  });

  test("the peer's protocol violations: ws's error code, a close frame with 1002 (1009 for size), then 1006", async () => {
    const cases: [Buffer, string, number][] = [
      [frame(0x81, 'masked', true), 'WS_ERR_UNEXPECTED_MASK', 1002],
      [frame(0xc1, 'rsv1'), 'WS_ERR_UNEXPECTED_RSV_1', 1002], // RSV1 with no deflate negotiated
      [frame(0xa1, 'rsv2'), 'WS_ERR_UNEXPECTED_RSV_2_3', 1002],
      [frame(0x83, 'op3'), 'WS_ERR_INVALID_OPCODE', 1002],
      [frame(0x80, 'orphan'), 'WS_ERR_INVALID_OPCODE', 1002], // a continuation with nothing to continue
      [Buffer.concat([frame(0x01, 'a'), frame(0x81, 'b')]), 'WS_ERR_INVALID_OPCODE', 1002],
      [frame(0x09, 'p'), 'WS_ERR_EXPECTED_FIN', 1002], // a fragmented ping
      [frame(0x89, Buffer.alloc(126)), 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 1002],
      [frame(0x88, Buffer.from([3])), 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 1002],
      [frame(0x88, closePayload(1005)), 'WS_ERR_INVALID_CLOSE_CODE', 1002],
      [frame(0x81, Buffer.alloc(2000)), 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009],
    ];
    for (const [bytes, code, closeCode] of cases) {
      const d = await dial(
        (s, head) => {
          s.write(switching(head));
          s.write(bytes);
          s.write(frame(0x81, 'after')); // never read
        },
        { maxMessageBytes: 1000 },
      );
      await d.closed;
      assert.deepEqual(d.seen, ['open', `error ${code}`, 'close 1006 '], code);
      const sent = clientFrames(await d.server.after);
      assert.deepEqual(
        sent.map((f) => [f.opcode, f.payload.readUInt16BE(0)]),
        [[0x8, closeCode]],
      );
    }
  });

  test("the peer's close: echoed with its code and reason, its code and reason on the close event", async () => {
    const d = await dial((s, head) => {
      s.write(switching(head));
      s.write(frame(0x88, closePayload(4001, 'bye now')));
      s.write(frame(0x81, 'after the close')); // not delivered
      s.on('data', () => s.end());
    });
    await d.closed;
    assert.deepEqual(d.seen, ['open', 'close 4001 bye now']);
    const sent = clientFrames(await d.server.after);
    assert.deepEqual(
      sent.map((f) => [f.opcode, f.payload.toString('hex')]),
      [[0x8, closePayload(4001, 'bye now').toString('hex')]],
    );
    // a close frame without a code is 1005 and answered with an empty close frame
    const bare = await dial((s, head) => {
      s.write(switching(head));
      s.write(frame(0x88, ''));
      s.on('data', () => s.end());
    });
    await bare.closed;
    assert.deepEqual(bare.seen, ['open', 'close 1005 ']);
    assert.deepEqual(
      clientFrames(await bare.server.after).map((f) => [f.opcode, f.payload.length]),
      [[0x8, 0]],
    );
  });

  test('writes after the peer closed fail through their callback, not by throwing', async () => {
    const d = await dial((s, head) => {
      s.write(switching(head));
      s.write(frame(0x88, closePayload(1000)));
    });
    await until(() => d.seen.includes('open'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const errors: string[] = [];
    d.ws.send('late', false, (err) => errors.push(String(err?.message)));
    d.ws.ping('1', (err) => errors.push(String(err?.message)));
    await d.closed;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 2);
    for (const e of errors) assert.match(e, /^WebSocket is not open: readyState [23]$/);
  });
});

describe('ws-wire: permessage-deflate', () => {
  test('a compressed message in fragments is inflated; RSV1 on a continuation is a protocol error', async () => {
    const text = 'compressible '.repeat(50);
    const packed = deflateRawSync(text, { finishFlush: zlib.Z_SYNC_FLUSH }).subarray(0, -4); // RFC 7692 §7.2.1
    const half = packed.length >> 1;
    const d = await dial(
      (s, head) => {
        s.write(
          switching(
            head,
            'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n',
          ),
        );
        s.write(Buffer.concat([frame(0x41, packed.subarray(0, half)), frame(0x80, packed.subarray(half))]));
        s.write(Buffer.concat([frame(0x41, packed.subarray(0, half)), frame(0xc0, packed.subarray(half))]));
      },
      { compression: true },
    );
    await d.closed;
    assert.deepEqual(d.seen, [
      'open',
      `text ${text.length} bytes`,
      'error WS_ERR_UNEXPECTED_RSV_1',
      'close 1006 ',
    ]);
  });

  test('sent messages are compressed (RSV1, no trailing empty block) and a ws server reads them', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await once(wss, 'listening');
    const received: string[] = [];
    wss.on('connection', (peer, req) => {
      received.push(String(req.headers['sec-websocket-extensions']));
      peer.on('message', (data) => received.push(String(data)));
    });
    try {
      const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
      const { ws, hs } = dialLenient(url, { ...OPTS, compression: true });
      await once(ws, 'open');
      assert.match(hs.extensions[0]!, /^permessage-deflate/);
      ws.send('x'.repeat(1000), false, () => undefined);
      ws.send('', false, () => undefined);
      ws.send('short', false, () => undefined);
      await until(() => received.length === 4);
      assert.deepEqual(received, [
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        'x'.repeat(1000),
        '',
        'short',
      ]);
      ws.terminate();
      await once(ws, 'close');
    } finally {
      wss.close();
    }
  });
});
