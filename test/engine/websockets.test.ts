/** `k6/websockets` on the Node engine: k6's API, event order, errors and metrics, over real loopback sockets. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import vm from 'node:vm';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { DEFAULT_ENGINE_LIMITS, type EngineLimits } from '../../src/engine/limits.ts';
import { MetricStore } from '../../src/engine/metrics.ts';
import { websocketsModule } from '../../src/engine/modules/websockets.ts';
import {
  UnsupportedK6ApiError,
  type ExecutionState,
  type MetricType,
  type Tags,
  type VuRealm,
  type VuRuntime,
} from '../../src/engine/runtime.ts';
import { runScriptText } from '../helpers/engine-run.ts';

type Ev = Record<string, unknown>;
type Handler = (e: Ev) => void;

/** The script-side view of a k6 WebSocket. */
interface K6WebSocket {
  readonly url: string;
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string[];
  readonly bufferedAmount: number;
  binaryType: string;
  onopen: Handler | null;
  onmessage: Handler | null;
  onerror: Handler | null;
  onclose: Handler | null;
  onping: Handler | null;
  onpong: Handler | null;
  addEventListener(type: string, fn: Handler): void;
  send(data: unknown): void;
  ping(): void;
  close(code?: number, reason?: string): void;
}
type WebSocketCtor = new (url?: unknown, protocols?: unknown, params?: unknown) => K6WebSocket;

interface Sample {
  name: string;
  value: number;
  tags: Tags;
}

const VU_TAGS: Tags = { scenario: 'default', group: '' };

/** A VuRuntime that records samples, errors and pending ops. */
class FakeVu {
  readonly samples: Sample[] = [];
  readonly defined = new Map<string, { type: MetricType; isTime: boolean | undefined }>();
  readonly errors: unknown[] = [];
  readonly interrupts: (() => void)[] = [];
  /** The engine's own log lines, as `<level> <message>`. */
  readonly logs: string[] = [];
  readonly #logged = new Set<string>();
  ops = 0;
  readonly #idle: (() => void)[] = [];
  readonly rt: VuRuntime;
  readonly WebSocket: WebSocketCtor;

  /** `realm`: the intrinsics of a VU context, as the engine passes them; Node's own when absent. */
  constructor(realm?: VuRealm, limits: Partial<EngineLimits> = {}) {
    this.rt = this.#runtime(realm, { ...DEFAULT_ENGINE_LIMITS, ...limits });
    this.WebSocket = websocketsModule(this.rt).WebSocket as WebSocketCtor;
  }

  #runtime = (realm: VuRealm | undefined, limits: EngineLimits): VuRuntime => ({
    id: 1,
    phase: 'iteration',
    env: {},
    metrics: {
      define: (name, type, isTime) => void this.defined.set(name, { type, isTime }),
      push: (name, value, tags = {}) => void this.samples.push({ name, value, tags: { ...tags } }),
    },
    tags: () => ({ ...VU_TAGS }),
    execution: {} as ExecutionState,
    beginOp: () => {
      this.ops++;
      let ended = false;
      return () => {
        assert.equal(ended, false, 'an op ended twice');
        ended = true;
        if (--this.ops === 0) for (const resolve of this.#idle.splice(0)) resolve();
      };
    },
    reportError: (err) => void this.errors.push(err),
    onInterrupt: (fn) => void this.interrupts.push(fn),
    limits,
    engineLog: (level, message, onceKey) => {
      if (onceKey !== undefined && this.#logged.has(onceKey)) return;
      if (onceKey !== undefined) this.#logged.add(onceKey);
      this.logs.push(`${level} ${message}`);
    },
    ...(realm ? { realm } : {}),
  });

  /** Resolves when every socket has reached CLOSED (the iteration could end). */
  idle(ms = 5000): Promise<void> {
    if (this.ops === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.ops} ops still pending after ${ms} ms`)), ms);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  interrupt(): void {
    for (const fn of this.interrupts) fn();
  }

  of(name: string): Sample[] {
    return this.samples.filter((s) => s.name === name);
  }
}

/** What the server saw of one connection. */
interface ServerConn {
  path: string;
  req: IncomingMessage;
  socket: Socket;
  closed: Promise<{ code: number; reason: string }>;
  /** The client's answer to the server's ping (only on /ping). */
  pong: Promise<unknown> | null;
}

const conns: ServerConn[] = [];
let base = '';
const http = createServer((_req, res) => res.writeHead(404).end());
const echoProtocol = new WebSocketServer({ noServer: true });
const noProtocol = new WebSocketServer({ noServer: true, handleProtocols: () => false });
const deflate = new WebSocketServer({ noServer: true, perMessageDeflate: true });

http.on('upgrade', (req, socket, head) => {
  const path = req.url ?? '/';
  if (path === '/forbidden') {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  if (path === '/endless' || path === '/huge-frame') {
    rawUpgrade(req, socket as Socket, path);
    return;
  }
  const wss = path === '/noproto' ? noProtocol : path === '/deflate' ? deflate : echoProtocol;
  wss.handleUpgrade(req, socket, head, (ws) => serve(path, req, socket as Socket, ws));
});

function serve(path: string, req: IncomingMessage, socket: Socket, ws: ServerSocket): void {
  const closed = once(ws, 'close').then(([code, reason]) => ({
    code: code as number,
    reason: String(reason),
  }));
  const pong = path === '/ping' ? once(ws, 'pong') : null;
  conns.push({ path, req, socket, closed, pong });
  let received = 0;
  ws.on('message', (data, isBinary) => {
    received++;
    if (path === '/acks') {
      if (received <= 2) ws.send(`ack${received}`);
    } else ws.send(data, { binary: isBinary });
  });
  if (path === '/ping') ws.ping('srv');
  if (path === '/close-4000') ws.close(4000, 'bye');
  if (path === '/close-1001') ws.close(1001, 'going');
  if (path === '/drop') setImmediate(() => ws.terminate());
}

/** What a hand-rolled server saw: every byte the client sent, and the frames it sent itself. */
interface RawConn {
  path: string;
  received: Buffer[];
  framesSent: number;
  closed: Promise<void>;
}
const raws: RawConn[] = [];

/** RFC 6455 §5.2: a server frame header (no mask) for `length` bytes of payload. */
function frameHeader(firstByte: number, length: number): Buffer {
  if (length < 126) return Buffer.from([firstByte, length]);
  const h = Buffer.alloc(10);
  h[0] = firstByte;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/**
 * A server that misbehaves below `ws`: `/endless` sends a text message that never ends (64 KiB fragments, none with
 * FIN, as fast as the socket takes them); `/huge-frame` announces a 2 MiB frame and sends 3 bytes of it.
 */
function rawUpgrade(req: IncomingMessage, socket: Socket, path: string): void {
  const accept = createHash('sha1')
    .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
    .digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  const conn: RawConn = {
    path,
    received: [],
    framesSent: 0,
    closed: new Promise<void>((resolve) => socket.once('close', () => resolve())),
  };
  raws.push(conn);
  socket.on('data', (d: Buffer) => conn.received.push(d));
  socket.on('error', () => undefined);
  socket.on('end', () => socket.end()); // the http server's sockets allow half-open connections
  if (path === '/huge-frame') {
    socket.write(Buffer.concat([frameHeader(0x81, 2 * 1024 * 1024), Buffer.from('xyz')]));
    return;
  }
  const payload = Buffer.alloc(64 * 1024, 'a');
  const pump = (): void => {
    while (!socket.destroyed) {
      // text opcode on the first fragment, continuation after; FIN never set
      const more = socket.write(
        Buffer.concat([frameHeader(conn.framesSent === 0 ? 0x01 : 0x00, payload.length), payload]),
      );
      conn.framesSent++;
      if (!more) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/** The close code of the first frame a client sent (clients mask their frames: RFC 6455 §5.3). */
function clientCloseCode(bytes: Buffer): number | null {
  if (bytes.length < 8 || bytes[0] !== 0x88 || (bytes[1]! & 0x7f) < 2) return null;
  const mask = bytes.subarray(2, 6);
  return ((bytes[6]! ^ mask[0]!) << 8) | (bytes[7]! ^ mask[1]!);
}

/** A loopback port nothing listens on (connections to it are refused). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  return port;
}

function lastConn(path: string): ServerConn {
  const conn = conns.filter((c) => c.path === path).pop();
  assert.ok(conn, `the server saw no connection on ${path}`);
  return conn;
}

/** The engine's warning for close() on a CONNECTING socket, as FakeVu logs it. */
function closeWhileConnectingWarning(url: string): string {
  return (
    `warn close() on a CONNECTING WebSocket (${url}): k6 blocks the VU until the handshake completes ` +
    '(the close frame waits on an unbuffered channel that only an open connection reads) and hangs the VU for good ' +
    'when the handshake fails; the Node engine does not block, it sends the close frame once connected. ' +
    'Close sockets from their open event (or once readyState is 1) to run the same in both'
  );
}

/** The error event's text for a message over `limit` bytes. */
function tooBig(limit: number): string {
  return (
    `websocket: message larger than ${limit} bytes, the Node engine's limit for one WebSocket message ` +
    '(a safety limit, k6 has none): raise it with starling run --max-ws-message <bytes>'
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

/** Records every event of a socket as one line, via the on* handlers. */
function record(ws: K6WebSocket): string[] {
  const seen: string[] = [];
  ws.onopen = () => seen.push('open');
  ws.onmessage = (e) => seen.push(`message ${String(e.data)}`);
  ws.onerror = (e) => seen.push(`error ${String(e.error)}`);
  ws.onclose = (e) => seen.push('code' in e ? `close ${String(e.code)} ${String(e.reason)}` : 'close');
  ws.onping = () => seen.push('ping');
  ws.onpong = () => seen.push('pong');
  return seen;
}

function opened(ws: K6WebSocket): Promise<void> {
  return new Promise((resolve) => ws.addEventListener('open', () => resolve()));
}

before(async () => {
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

after(() => {
  for (const wss of [echoProtocol, noProtocol, deflate]) for (const c of wss.clients) c.terminate();
  http.closeAllConnections();
  http.close();
});

describe('k6/websockets WebSocket', () => {
  test('open → message → close, each event with type, target and a millisecond timestamp', async () => {
    const vu = new FakeVu();
    const started = Date.now();
    const ws = new vu.WebSocket(`${base}/echo`);
    assert.equal(ws.readyState, 0);
    assert.equal(vu.ops, 1);
    const events: Ev[] = [];
    const states: number[] = [];
    ws.onopen = (e) => {
      events.push(e);
      states.push(ws.readyState);
      ws.send('hello');
    };
    ws.onmessage = (e) => {
      events.push(e);
      ws.close();
      states.push(ws.readyState);
    };
    ws.onclose = (e) => {
      events.push(e);
      states.push(ws.readyState);
    };
    await vu.idle();

    assert.deepEqual(vu.errors, []);
    assert.deepEqual(
      events.map((e) => e.type),
      ['open', 'message', 'close'],
    );
    assert.deepEqual(states, [1, 2, 3]);
    for (const e of events) {
      assert.equal(e.target, ws);
      assert.ok(typeof e.timestamp === 'number' && e.timestamp >= started && e.timestamp <= Date.now() + 1);
    }
    assert.equal(events[1]!.data, 'hello');
    assert.equal(events[1]!.origin, `${base}/echo`);
    assert.equal(events[2]!.code, 1000);
    assert.equal(events[2]!.reason, '');
    assert.equal('wasClean' in events[2]!, false);
    assert.equal(ws.url, `${base}/echo`);
    assert.equal(vu.ops, 0);
  });

  test('the on* handler runs first, then addEventListener listeners in the order added', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/echo`);
    const order: string[] = [];
    ws.addEventListener('open', () => order.push('first listener'));
    ws.onopen = () => order.push('onopen');
    ws.addEventListener('open', () => order.push('second listener'));
    ws.addEventListener('open', () => ws.close());
    await vu.idle();
    assert.deepEqual(order, ['onopen', 'first listener', 'second listener']);
    assert.equal((ws as unknown as Ev).removeEventListener, undefined);
  });

  test("an echoed subprotocol is the socket's protocol and the subproto tag", async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/echo`, 'xmpp');
    let protocol: string | undefined;
    ws.onopen = () => {
      protocol = ws.protocol;
      ws.close();
    };
    await vu.idle();
    assert.equal(protocol, 'xmpp');
    assert.equal(lastConn('/echo').req.headers['sec-websocket-protocol'], 'xmpp');
    assert.equal(vu.of('ws_sessions')[0]!.tags.subproto, 'xmpp');
  });

  test("a server that does not echo the subprotocol still opens, with protocol '' (gorilla does not abort)", async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/noproto`, ['xmpp', 'other']);
    const seen = record(ws);
    let protocol: string | undefined;
    ws.addEventListener('open', () => {
      protocol = ws.protocol;
      ws.close();
    });
    await vu.idle();
    assert.deepEqual(seen, ['open', 'close 1000 ']);
    assert.equal(protocol, '');
    assert.equal(lastConn('/noproto').req.headers['sec-websocket-protocol'], 'xmpp, other');
    assert.deepEqual(vu.of('ws_sessions')[0]!.tags, {
      ...VU_TAGS,
      status: '101',
      subproto: '',
      url: `${base}/noproto`,
      name: `${base}/noproto`,
    });
  });

  test("constructor arguments are checked with k6's messages, before any connection", () => {
    const vu = new FakeVu();
    const goError = (message: string) => ({ name: 'GoError', message });
    assert.throws(() => new vu.WebSocket(), goError('WebSocket requires a url'));
    assert.throws(
      () => new vu.WebSocket('http://127.0.0.1/'),
      goError('WebSocket requires url with scheme ws or wss, but got "http"'),
    );
    assert.throws(
      () => new vu.WebSocket('ws://127.0.0.1/#top'),
      goError('WebSocket requires no url fragment, but got "top"'),
    );
    assert.throws(
      () => new vu.WebSocket(`${base}/echo`, null, { timeout: '5s' }),
      goError("unknown WebSocket's option timeout"),
    );
    assert.throws(
      () => new vu.WebSocket(`${base}/echo`, null, { compression: 'gzip' }),
      goError("unsupported compression algorithm 'gzip', supported algorithm is 'deflate'"),
    );
    assert.throws(
      () => new vu.WebSocket(`${base}/echo`, null, { tags: { bad: {} } }),
      goError(
        "invalid WebSocket tags option: invalid value for metric tag 'bad': " +
          'only String, Boolean and Number types are accepted as a metric tag values',
      ),
    );
    assert.throws(() => new vu.WebSocket(`${base}/echo`, null, { jar: {} }), UnsupportedK6ApiError);
    assert.throws(() => (vu.WebSocket as unknown as (url: string) => unknown)(`${base}/echo`), TypeError);
    assert.equal(vu.ops, 0);
  });

  test('send and ping throw InvalidStateError unless open; close checks code and reason; setters check values', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/echo`);
    assert.throws(() => ws.send('early'), { name: 'GoError', message: 'InvalidStateError' });
    assert.throws(() => ws.ping(), { message: 'InvalidStateError' });
    assert.throws(() => (ws.binaryType = 'text'), {
      message: 'unknown binaryType text, the supported ones are "blob" and "arraybuffer"',
    });
    assert.throws(() => ((ws as unknown as Ev).onclose = 1), {
      message: "a value for 'onclose' should be callable",
    });
    assert.throws(() => ws.addEventListener('open', undefined as unknown as Handler), {
      message: `handler for event type "open" isn't a callable function`,
    });
    await opened(ws);
    assert.throws(() => ws.close(1001), {
      message:
        "InvalidAccessError: Failed to execute 'close' on 'WebSocket': " +
        'The close code must be either 1000, or between 3000 and 4999. 1001 is neither',
    });
    assert.throws(() => ws.close(3000, 'x'.repeat(124)), {
      message:
        "SyntaxError: Failed to execute 'close' on 'WebSocket': The message must not be greater than 123 bytes",
    });
    ws.close(4999, 'done');
    ws.close(1001); // no-op once closing, even with a bad code
    assert.throws(() => ws.send('late'), { message: 'InvalidStateError' });
    await vu.idle();
    assert.deepEqual(await lastConn('/echo').closed, { code: 4999, reason: 'done' });
    assert.deepEqual(vu.errors, []);
  });

  test('a refused connection: error event, then close without code; connect metrics without status; op released', async () => {
    const port = await closedPort();
    const vu = new FakeVu();
    const url = `ws://127.0.0.1:${port}/`;
    const ws = new vu.WebSocket(url, 'xmpp');
    const seen = record(ws);
    await vu.idle();
    assert.deepEqual(seen, [`error dial tcp 127.0.0.1:${port}: connect: connection refused`, 'close']);
    assert.equal(ws.readyState, 3);
    assert.deepEqual(vu.errors, []);
    assert.deepEqual(
      vu.samples.map((s) => s.name),
      ['ws_sessions', 'ws_connecting'],
    );
    assert.deepEqual(vu.of('ws_sessions')[0]!.tags, { ...VU_TAGS, url, name: url });
  });

  test("a URL with userinfo is gorilla's 'malformed ws or wss URL'; its url tag keeps no password", async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket('ws://alice:s3cret@127.0.0.1:1/xmpp');
    const seen = record(ws);
    await vu.idle();
    assert.deepEqual(seen, ['error malformed ws or wss URL', 'close']);
    assert.equal(ws.url, 'ws://alice:s3cret@127.0.0.1:1/xmpp', "the script's own URL, as given");
    for (const s of vu.samples) {
      assert.deepEqual(
        [s.tags.url, s.tags.name],
        ['ws://alice:***@127.0.0.1:1/xmpp', 'ws://alice:***@127.0.0.1:1/xmpp'],
      );
    }
  });

  test("a non-101 answer fails with gorilla's 'bad handshake' and tags the status", async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/forbidden`);
    const seen = record(ws);
    await vu.idle();
    assert.deepEqual(seen, ['error websocket: bad handshake', 'close']);
    assert.equal(vu.of('ws_sessions')[0]!.tags.status, '403');
    assert.equal(vu.of('ws_sessions')[0]!.tags.subproto, '');
    assert.equal(vu.of('ws_session_duration').length, 0);
  });

  test('metrics of a session with 3 messages sent and 2 received: ws_* with k6 tags, data_* = wire bytes', async () => {
    const vu = new FakeVu();
    const url = `${base}/acks`;
    const ws = new vu.WebSocket(url, null, { tags: { lorem: 'ipsum', version: 13 } });
    let acks = 0;
    let buffered = -1;
    ws.onopen = () => {
      ws.send('one');
      ws.send(new Uint8Array([1, 2, 3, 4]));
      ws.send('three');
      buffered = ws.bufferedAmount;
    };
    ws.onmessage = () => {
      if (++acks === 2) ws.close();
    };
    await vu.idle();
    const server = lastConn('/acks');
    await server.closed;
    if (!server.socket.destroyed) await once(server.socket, 'close');

    assert.deepEqual(vu.errors, []);
    assert.equal(buffered, 3 + 4 + 5, 'payload bytes queued in the same tick');
    assert.equal(ws.bufferedAmount, 0);
    const tags = { ...VU_TAGS, lorem: 'ipsum', version: '13', status: '101', subproto: '', url, name: url };
    // k6 counts every frame its write pump sends: the three messages and the close frame.
    assert.deepEqual(
      vu.of('ws_msgs_sent').map((s) => [s.value, s.tags]),
      [
        [1, tags],
        [1, tags],
        [1, tags],
        [1, tags],
      ],
    );
    assert.deepEqual(
      vu.of('ws_msgs_received').map((s) => [s.value, s.tags]),
      [
        [1, tags],
        [1, tags],
      ],
    );
    assert.deepEqual(
      vu.of('ws_sessions').map((s) => [s.value, s.tags]),
      [[1, tags]],
    );
    const [connecting] = vu.of('ws_connecting');
    const [duration] = vu.of('ws_session_duration');
    assert.deepEqual(connecting!.tags, tags);
    assert.deepEqual(duration!.tags, tags);
    assert.ok(connecting!.value > 0 && duration!.value >= connecting!.value);
    assert.deepEqual(vu.of('ws_ping'), []);
    assert.deepEqual(vu.of('data_sent'), [
      { name: 'data_sent', value: server.socket.bytesRead, tags: VU_TAGS },
    ]);
    assert.deepEqual(vu.of('data_received'), [
      { name: 'data_received', value: server.socket.bytesWritten, tags: VU_TAGS },
    ]);
    assert.deepEqual(vu.defined.get('ws_connecting'), { type: 'trend', isTime: true });
    assert.deepEqual(vu.defined.get('ws_msgs_sent'), { type: 'counter', isTime: undefined });
    assert.deepEqual(vu.defined.get('data_sent'), { type: 'counter', isTime: undefined });
    // and the engine's registry, where k6's built-ins already exist (data_* as `data`), accepts them all
    assert.doesNotThrow(() => websocketsModule({ ...vu.rt, metrics: new MetricStore() }));
  });

  test('params.tags.name names the session: it becomes both the name and the url tag', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/echo`, null, { tags: { name: 'xmpp-ws' } });
    ws.onopen = () => ws.close();
    await vu.idle();
    for (const s of vu.samples.filter((x) => x.name.startsWith('ws_'))) {
      assert.equal(s.tags.name, 'xmpp-ws');
      assert.equal(s.tags.url, 'xmpp-ws');
    }
  });

  test('ping() records ws_ping when its pong arrives; server pings are answered and fire ping', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/ping`);
    const seen = record(ws);
    ws.addEventListener('open', () => ws.ping());
    let pongs = 0;
    ws.addEventListener('pong', () => {
      if (++pongs === 1) setTimeout(() => ws.close(), 20);
    });
    await vu.idle();
    await lastConn('/ping').pong;
    assert.ok(seen.includes('ping'), `no ping event in ${seen.join(', ')}`);
    assert.ok(seen.includes('pong'));
    assert.equal(vu.of('ws_ping').length, 1);
    assert.ok(vu.of('ws_ping')[0]!.value >= 0);
    assert.equal(vu.of('ws_msgs_sent').length, 2, 'the ping and the close frame');
  });

  test('a throwing message listener: the socket is dropped, error and close fire, the iteration fails', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/echo`);
    const seen = record(ws);
    const boom = new Error('boom');
    ws.onopen = () => ws.send('trigger');
    ws.addEventListener('message', () => {
      throw boom;
    });
    await vu.idle();
    assert.deepEqual(seen, ['message trigger', 'error Error: boom', 'close']);
    assert.deepEqual(vu.errors, [boom]);
    assert.equal((await lastConn('/echo').closed).code, 1006, 'no close frame, like gorilla conn.Close()');
    assert.equal(vu.of('ws_session_duration').length, 1);
  });

  test('a throwing error listener fails the iteration and skips the close listeners', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/forbidden`);
    const boom = new Error('in onerror');
    let closed = false;
    ws.onerror = () => {
      throw boom;
    };
    ws.onclose = () => (closed = true);
    await vu.idle();
    assert.deepEqual(vu.errors, [boom]);
    assert.equal(closed, false);
  });

  test('onInterrupt closes open sockets with 1000 and cancels dials', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/echo`);
    const seen = record(ws);
    await opened(ws);
    const dialing = new vu.WebSocket(`${base}/echo`);
    const dialSeen = record(dialing);
    vu.interrupt();
    await vu.idle();
    assert.deepEqual(seen, ['open', 'close 1000 ']);
    assert.deepEqual(await lastConn('/echo').closed, { code: 1000, reason: '' });
    assert.deepEqual(dialSeen, ['error context canceled', 'close']);
    assert.equal(vu.ops, 0);
  });

  test('close() while connecting: no open event, the close handshake follows the opening one, and a warning', async () => {
    const vu = new FakeVu();
    const url = `${base}/echo`;
    const ws = new vu.WebSocket(url);
    const seen = record(ws);
    ws.close(3001, 'changed my mind');
    assert.equal(ws.readyState, 2);
    await vu.idle();
    // As in k6, an echoed close code other than 1000/1001 is also an error (gorilla's unexpected CloseError).
    assert.deepEqual(seen, ['error websocket: close 3001: changed my mind', 'close 3001 changed my mind']);
    assert.deepEqual(await lastConn('/echo').closed, { code: 3001, reason: 'changed my mind' });
    assert.equal(vu.of('ws_sessions').length, 1);
    assert.deepEqual(vu.logs, [closeWhileConnectingWarning(url)]);
  });

  test('a second close() while connecting, on another socket, logs no second warning', async () => {
    const vu = new FakeVu();
    for (let i = 0; i < 2; i++) {
      const ws = new vu.WebSocket(`${base}/echo`);
      record(ws);
      ws.close();
    }
    await vu.idle();
    assert.deepEqual(vu.logs, [closeWhileConnectingWarning(`${base}/echo`)]);
  });

  test('close() while connecting, then the handshake fails: no event, CLOSING for good, the op stays pending (k6 hangs the VU)', async () => {
    const port = await closedPort();
    const vu = new FakeVu();
    const url = `ws://127.0.0.1:${port}/`;
    const ws = new vu.WebSocket(url);
    const seen = record(ws);
    ws.close();
    await until(() => vu.logs.length === 2);
    assert.deepEqual(vu.logs, [
      closeWhileConnectingWarning(url),
      'error k6 would hang this VU forever: close() was called while CONNECTING and the handshake failed: ' +
        `dial tcp 127.0.0.1:${port}: connect: connection refused (${url}). The Node engine holds the iteration, ` +
        'with no error or close event, until the VU is interrupted (gracefulStop, maxDuration, Ctrl+C); ' +
        'close sockets from their open event instead',
    ]);
    // k6 pushes the connect metrics from the dialing goroutine, before the (never run) event callbacks.
    assert.deepEqual(
      vu.samples.map((s) => s.name),
      ['ws_sessions', 'ws_connecting'],
    );
    vu.interrupt(); // the engine then ends the iteration itself; the socket still fires nothing
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(seen, []);
    assert.equal(ws.readyState, 2);
    assert.equal(vu.ops, 1);
    assert.deepEqual(vu.errors, []);
  });

  test('in a run, that hang holds the iteration until maxDuration interrupts it, with the warning and the error', async () => {
    const port = await closedPort();
    const url = `ws://127.0.0.1:${port}/`;
    const run = await runScriptText(`
      import { WebSocket } from 'k6/websockets';
      export const options = {
        scenarios: { s: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '1s', gracefulStop: '0s' } },
      };
      export default function () {
        const ws = new WebSocket('${url}');
        ws.onerror = (e) => console.log('error event: ' + e.error);
        ws.onclose = () => console.log('close event');
        ws.close();
      }`);
    assert.equal(run.outcome.exitCode, 0);
    assert.equal(run.outcome.iterationsCompleted, 0);
    assert.equal(run.outcome.iterationsInterrupted, 1);
    assert.ok(run.wallMs >= 1000, `the iteration ended after ${run.wallMs} ms`);
    assert.deepEqual(
      run.lines.map((l) => l.replace(/^(\w+)\[\d+\]/, '$1')),
      [
        `WARN [VU 1] ${closeWhileConnectingWarning(url).slice('warn '.length)}`,
        `ERRO [VU 1] k6 would hang this VU forever: close() was called while CONNECTING and the handshake failed: ` +
          `dial tcp 127.0.0.1:${port}: connect: connection refused (${url}). The Node engine holds the iteration, ` +
          'with no error or close event, until the VU is interrupted (gracefulStop, maxDuration, Ctrl+C); ' +
          'close sockets from their open event instead',
      ],
    );
  });

  test('server closes: 1001 is a clean close, 4000 also fires error, a dropped TCP stream is 1006', async () => {
    const vu = new FakeVu();
    const going = record(new vu.WebSocket(`${base}/close-1001`));
    const bye = record(new vu.WebSocket(`${base}/close-4000`));
    const drop = record(new vu.WebSocket(`${base}/drop`));
    await vu.idle();
    assert.deepEqual(going, ['open', 'close 1001 going']);
    assert.deepEqual(bye, ['open', 'error websocket: close 4000: bye', 'close 4000 bye']);
    assert.deepEqual(drop, [
      'open',
      'error websocket: close 1006 (abnormal closure): unexpected EOF',
      'close 1006 unexpected EOF',
    ]);
    assert.deepEqual(vu.errors, []);
  });

  test("compression: 'deflate' offers gorilla's no-context-takeover deflate and reports the extension", async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/deflate`, null, { compression: 'deflate' });
    const seen = record(ws);
    let extensions: string[] = [];
    ws.addEventListener('open', () => {
      extensions = ws.extensions;
      ws.send('squeeze me '.repeat(20));
    });
    ws.addEventListener('message', () => ws.close());
    await vu.idle();
    assert.equal(
      lastConn('/deflate').req.headers['sec-websocket-extensions'],
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    );
    assert.equal(extensions.length, 1);
    assert.match(extensions[0]!, /^permessage-deflate;.*server_no_context_takeover/);
    assert.match(extensions[0]!, /client_no_context_takeover/);
    assert.deepEqual(seen, ['open', `message ${'squeeze me '.repeat(20)}`, 'close 1000 ']);
  });

  test('binary messages: ArrayBuffer with binaryType "arraybuffer"; "blob" fails loudly (Blob unsupported)', async () => {
    const vu = new FakeVu();
    const ws = new vu.WebSocket(`${base}/echo`);
    ws.binaryType = 'arraybuffer';
    let data: unknown;
    ws.onopen = () => ws.send(new Uint8Array([7, 8, 9]).buffer);
    ws.onmessage = (e) => {
      data = e.data;
      ws.close();
    };
    const blob = new vu.WebSocket(`${base}/echo`);
    const blobSeen = record(blob);
    blob.onopen = () => blob.send(new Uint8Array([1]));
    await vu.idle();
    assert.ok(data instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(data)], [7, 8, 9]);
    assert.equal(blobSeen.length, 2);
    assert.match(
      blobSeen[0]!,
      /^error UnsupportedK6ApiError: a binary WebSocket message with binaryType "blob"/,
    );
    assert.equal(vu.errors.length, 1);
    assert.ok(vu.errors[0] instanceof UnsupportedK6ApiError);
    assert.throws(() => new (websocketsModule(vu.rt).Blob as new () => unknown)(), UnsupportedK6ApiError);
  });

  test('a frame announcing more than the default 1 MiB fails at its header: error naming the limit and flag, close 1009', async () => {
    const vu = new FakeVu();
    const url = `${base}/huge-frame`;
    const ws = new vu.WebSocket(url);
    const seen = record(ws);
    await vu.idle();
    assert.deepEqual(seen, ['open', `error ${tooBig(1048576)}`, 'close 1009 ']);
    assert.equal(ws.readyState, 3);
    assert.deepEqual(vu.errors, []);
    assert.equal(vu.of('ws_session_duration').length, 1);
    assert.equal(vu.of('ws_msgs_received').length, 0);
    assert.deepEqual(vu.logs, [`warn ${tooBig(1048576)} (${url}; this warning shows once per run)`]);
    const server = raws.filter((r) => r.path === '/huge-frame').pop()!;
    await server.closed;
    assert.equal(clientCloseCode(Buffer.concat(server.received)), 1009, 'the close frame ws sent the server');
  });

  test('a message that never ends (64 KiB fragments, no FIN) stops at the limit; the warning shows once', async () => {
    const vu = new FakeVu(undefined, { maxWsMessageBytes: 200_000 });
    const first = record(new vu.WebSocket(`${base}/endless`));
    await vu.idle();
    const second = record(new vu.WebSocket(`${base}/endless`));
    await vu.idle();
    for (const seen of [first, second])
      assert.deepEqual(seen, ['open', `error ${tooBig(200000)}`, 'close 1009 ']);
    assert.deepEqual(vu.logs, [`warn ${tooBig(200000)} (${base}/endless; this warning shows once per run)`]);
    assert.equal(vu.of('ws_session_duration').length, 2);
    // Read up to the fragment that crossed the limit, and not much more: nothing was buffered beyond it.
    for (const s of vu.of('data_received')) assert.ok(s.value < 1024 * 1024, `${s.value} bytes read`);
  });

  test('a message of exactly the limit arrives; one byte more closes with 1009', async () => {
    const vu = new FakeVu(undefined, { maxWsMessageBytes: 1000 });
    const ws = new vu.WebSocket(`${base}/echo`);
    const seen: string[] = [];
    ws.onopen = () => ws.send('x'.repeat(1000));
    ws.onmessage = (e) => {
      seen.push(`message of ${String(e.data).length}`);
      ws.send('y'.repeat(1001));
    };
    ws.onerror = (e) => seen.push(`error ${String(e.error)}`);
    ws.onclose = (e) => seen.push(`close ${String(e.code)}`);
    await vu.idle();
    assert.deepEqual(seen, ['message of 1000', `error ${tooBig(1000)}`, 'close 1009']);
  });

  test('the limit counts the decompressed message (permessage-deflate)', async () => {
    const vu = new FakeVu(undefined, { maxWsMessageBytes: 200_000 });
    const ws = new vu.WebSocket(`${base}/deflate`, null, { compression: 'deflate' });
    const seen = record(ws);
    ws.addEventListener('open', () => ws.send('a'.repeat(300_000))); // echoed back in a few hundred bytes
    await vu.idle();
    assert.deepEqual(seen, ['open', `error ${tooBig(200000)}`, 'close 1009 ']);
  });

  test("in a VU's own JS context: binary data and thrown errors are that context's ArrayBuffer and Error", async () => {
    const context = vm.createContext({});
    const realm = vm.runInContext(
      '({ global: globalThis, Object, Array, Error, TypeError, Promise, ArrayBuffer, Uint8Array, JSON })',
      context,
    ) as VuRealm;
    const vu = new FakeVu(realm);
    Object.assign(context, { WebSocket: vu.WebSocket, url: `${base}/echo`, result: {} });
    vm.runInContext(
      `const ws = new WebSocket(url);
      try { ws.send('early'); } catch (e) { result.error = e instanceof Error && e.name + ': ' + e.message; }
      try { WebSocket(url); } catch (e) { result.noNew = e instanceof TypeError; }
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => ws.send(new Uint8Array([5, 6]).buffer);
      ws.onmessage = (e) => {
        result.data = e.data instanceof ArrayBuffer && Array.from(new Uint8Array(e.data)).join();
        ws.close();
      };`,
      context,
    );
    await vu.idle();
    assert.deepEqual(vu.errors, []);
    assert.deepEqual(
      { ...(context.result as object) },
      {
        error: 'GoError: InvalidStateError',
        noNew: true,
        data: '5,6',
      },
    );
  });
});
