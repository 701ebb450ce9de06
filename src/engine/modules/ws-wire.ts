/**
 * The Node engine's WebSocket client connection: RFC 6455 on a TCP or TLS socket, with RFC 7692's
 * permessage-deflate in the one mode gorilla speaks (no context takeover either way). Written by hand because
 * `ws` costs a sixth of a starling session's CPU (its http.ClientRequest handshake and stream-based
 * Receiver/Sender; `npm run bench -- raw-ws-flow --client ws|lean` sizes it). It keeps the part of `ws`'s client
 * interface the engine used (events open/message/ping/pong/error/close; send, ping, close, terminate) with `ws`'s
 * close and error semantics, and checks the opening handshake as gorilla (k6's dialer) does.
 */
import { hash, randomFillSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { constants as zlib, deflateRawSync, inflateRawSync } from 'node:zlib';

/** What the opening handshake produced, filled in as it progresses; read it once the socket says open or close. */
export class Handshake {
  /** HTTP status of the handshake response; 0 when none arrived (refused, unresolved, timed out). */
  status = 0;
  /** The subprotocol the server chose: its `Sec-WebSocket-Protocol` answer, '' when it sent none. */
  protocol = '';
  /** The raw `Sec-WebSocket-Extensions` response header values. */
  extensions: string[] = [];
  /** gorilla's error text for a failed handshake, when it differs from the Node error reported. */
  failure: string | null = null;
  /** The socket (for wire byte counts), once it connected (before that, Node counts queued bytes too). */
  socket: Socket | null = null;
  /** The socket the request went out on: the TLS socket for wss:// (its certificate names a verification failure). */
  requestSocket: Socket | null = null;
  /** The peer ended the TCP stream (EOF), as opposed to a socket error or our own teardown. */
  peerEnded = false;
  /** The TCP socket failed (reset, broken pipe): gorilla reports that as a plain read error, not a close. */
  socketFailed = false;
}

export interface WireOptions {
  /** Request headers besides the ones the handshake sets itself (Host only when given here). */
  headers: Readonly<Record<string, string>>;
  /** Offer permessage-deflate without context takeover. */
  compression: boolean;
  /** A deadline for the opening handshake, from the dial (gorilla's HandshakeTimeout). */
  handshakeTimeoutMs: number;
  /** The largest message accepted (bytes, after decompression); a larger one fails with close 1009. */
  maxPayload: number;
  /** For wss://: verification and roots. */
  tls?: ConnectionOptions;
}

/** An error with Node's and `ws`'s `code` property (what the engine tells apart). */
export class WireError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** `ws`'s code for a message over the limit (it also sends close 1009). */
export const WS_MESSAGE_TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';

/** The WebSocket readyState values (the same for the k6 socket and the connection under it). */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

const CONTINUATION = 0x0;
const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** gorilla's offer, the only mode it implements. */
const DEFLATE_OFFER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
/** RFC 7692 §7.2.1: a compressed message is sent without, and inflated with, this empty stored block's tail. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Node's default `maxHeaderSize`, which `ws` (through http) applied to the handshake response. */
const MAX_RESPONSE_HEAD = 16 * 1024;
/**
 * Every plain-TCP connection reads into this one buffer (net's `onread`): Node then allocates no 64 KiB buffer per
 * read and skips the Readable stream's work per chunk. Safe in one thread: a read is handled to its end before the
 * next one is made, and whatever must outlive it (a partial frame or head, a fragment) is copied (owned).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024); // over Buffer.poolSize: its own ArrayBuffer

/** `b` itself, or a copy when it views READ_BUFFER (for bytes kept past the read that brought them). */
function owned(b: Buffer): Buffer {
  return b.buffer === READ_BUFFER.buffer ? Buffer.from(b) : b;
}
/** `ws`'s wait for the peer's close frame and FIN after our close frame, before dropping the socket. */
const CLOSE_TIMEOUT_MS = 30_000;
const EMPTY = Buffer.alloc(0);
const NOOP = (): void => undefined;
/** `ws`'s error for close() or terminate() before the handshake completed. */
const CLOSED_EARLY = (): WireError =>
  new WireError('WebSocket was closed before the connection was established', 'ECLOSED');
/** Node's error for a connection that ended before its response (what `ws` reported through http). */
const HUNG_UP = (): WireError => new WireError('socket hang up', 'ECONNRESET');
/** The code of the error for a handshake past its deadline (ws-client.ts words it as gorilla does). */
export const HANDSHAKE_TIMED_OUT = 'ETIMEDOUT_HANDSHAKE';

/** Called once a frame was written (or could not be). */
export type WriteDone = (err?: Error | null) => void;

/** Random bytes for masking keys and handshake keys, drawn 8 KiB at a time. */
const random = Buffer.alloc(8192);
let randomAt = random.length;
function takeRandom(n: number): number {
  if (randomAt + n > random.length) {
    randomFillSync(random);
    randomAt = 0;
  }
  const at = randomAt;
  randomAt += n;
  return at;
}

/** RFC 6455 §7.4: close codes a peer may send (`ws`'s isValidStatusCode). */
function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

const HTTP_TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/** Where a ws:// or wss:// URL points, and what its request line and Host header say. */
interface Target {
  secure: boolean;
  /** The name or address to connect to (an IPv6 address without its brackets). */
  host: string;
  port: number;
  /** Path and query of the request line. */
  path: string;
  hostHeader: string;
}

let lastUrl = '';
let lastTarget: Target | undefined;

/** The URL's target; the last one is kept, as a test's sessions mostly dial one URL (a URL parse per session). */
function targetOf(url: string): Target {
  if (url === lastUrl && lastTarget !== undefined) return lastTarget;
  const u = new URL(url);
  const secure = u.protocol === 'wss:';
  lastTarget = {
    secure,
    host: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
    port: Number(u.port) || (secure ? 443 : 80),
    path: `${u.pathname || '/'}${u.search}`,
    hostHeader: u.host,
  };
  lastUrl = url;
  return lastTarget;
}

/** The request head, with Node's http checks of caller headers (its error texts, thrown before any I/O). */
function requestHead(path: string, hostHeader: string, key: string, o: WireOptions): string {
  let own = '';
  let host = hostHeader;
  for (const name of Object.keys(o.headers)) {
    const value = o.headers[name]!;
    if (!HTTP_TOKEN.test(name)) throw new TypeError(`Header name must be a valid HTTP token ["${name}"]`);
    if (INVALID_HEADER_CHAR.test(value))
      throw new TypeError(`Invalid character in header content ["${name}"]`);
    if (name.toLowerCase() === 'host') host = value;
    else own += `${name}: ${value}\r\n`;
  }
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nSec-WebSocket-Version: 13\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    (o.compression ? `Sec-WebSocket-Extensions: ${DEFLATE_OFFER}\r\n` : '') +
    `${own}\r\n`
  );
}

/** Whether a comma-separated header (all its values) lists `token`, case-insensitively (gorilla's check). */
function listsToken(values: readonly string[] | undefined, token: string): boolean {
  if (!values) return false;
  for (const value of values) {
    for (const item of value.split(',')) if (item.trim().toLowerCase() === token) return true;
  }
  return false;
}

/**
 * gorilla's reading of the server's extensions: the first permessage-deflate must grant no context takeover both
 * ways (else 'invalid compression negotiation'); it turns compression on whether or not it was offered.
 */
function negotiateDeflate(values: readonly string[]): boolean | 'invalid' {
  for (const header of values) {
    for (const ext of header.split(',')) {
      const [name, ...params] = ext.split(';').map((s) => s.trim().split('=')[0]!.trim());
      if (name !== 'permessage-deflate') continue;
      return params.includes('server_no_context_takeover') && params.includes('client_no_context_takeover')
        ? true
        : 'invalid';
    }
  }
  return false;
}

/**
 * A masked client frame: FIN, RSV1 when compressed, the opcode, the length, the key, the masked payload of `n`
 * bytes (a string's UTF-8 length, measured once by the caller).
 */
function clientFrame(opcode: number, payload: Buffer | string, n: number, compressed = false): Buffer {
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const at = head + 4;
  const out = Buffer.allocUnsafe(at + n);
  out[0] = 0x80 | (compressed ? 0x40 : 0) | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  random.copy(out, head, takeRandom(4), randomAt);
  if (typeof payload === 'string') out.write(payload, at);
  else payload.copy(out, at);
  const m0 = out[head]!;
  const m1 = out[head + 1]!;
  const m2 = out[head + 2]!;
  const m3 = out[head + 3]!;
  let i = at;
  const end = at + n;
  for (; i + 3 < end; i += 4) {
    out[i] = out[i]! ^ m0;
    out[i + 1] = out[i + 1]! ^ m1;
    out[i + 2] = out[i + 2]! ^ m2;
    out[i + 3] = out[i + 3]! ^ m3;
  }
  for (let k = 0; i < end; i++, k++) out[i] = out[i]! ^ (k === 0 ? m0 : k === 1 ? m1 : m2);
  return out;
}

/**
 * One WebSocket client connection (the events and methods of `ws`'s client that the engine uses). A message, ping
 * or pong payload may be a view of the shared read buffer: a listener copies what it keeps past the event.
 */
export class WireSocket extends EventEmitter {
  readonly #socket: Socket;
  readonly #hs: Handshake;
  readonly #key: string;
  readonly #maxPayload: number;
  #state = CONNECTING;
  #deflate = false;
  #handshakeTimer: NodeJS.Timeout | null;
  #closeTimer: NodeJS.Timeout | null = null;
  /** Bytes received and not yet consumed (a partial response head or frame), oldest first. */
  #chunks: Buffer[] = [];
  #chunkBytes = 0;
  /** Bytes the frame at the head of #chunks needs in all; 0 while its header is not complete. */
  #need = 0;
  /** Frames are read until a close frame arrives or the peer broke the protocol. */
  #reading = true;
  /** The data message being reassembled: its opcode (0 when none), its fragments and their bytes. */
  #messageOpcode = 0;
  #messageCompressed = false;
  #fragments: Buffer[] = [];
  #messageBytes = 0;
  #closeFrameSent = false;
  #closeFrameReceived = false;
  #readFailed = false;
  #closeCode = 1006;
  #closeReason = EMPTY;
  #errored = false;

  constructor(url: string, hs: Handshake, o: WireOptions) {
    super();
    const { secure, host, port, path, hostHeader } = targetOf(url);
    this.#hs = hs;
    this.#maxPayload = o.maxPayload;
    this.#key = random.toString('base64', takeRandom(16), randomAt);
    // Throws for a header Node's http would refuse, before any I/O.
    const head = requestHead(path, hostHeader, this.#key, o);
    const socket = secure
      ? tlsConnect({ ...o.tls, host, port, servername: isIP(host) ? '' : host })
      : netConnect({ host, port, onread: { buffer: READ_BUFFER, callback: this.#onRead } });
    this.#socket = socket;
    hs.requestSocket = socket;
    socket.once('connect', () => (hs.socket = socket));
    if (secure) socket.on('data', this.#onData); // TLS has no onread: its chunks are the socket's own
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.write(head);
    this.#handshakeTimer = setTimeout(
      () => this.#failHandshake(new WireError('Opening handshake has timed out', HANDSHAKE_TIMED_OUT)),
      o.handshakeTimeoutMs,
    );
  }

  /**
   * Sends one data message and returns its size in bytes (before compression); `cb` runs once it was written, never
   * before this returns (with an error when the socket is not open).
   */
  send(data: Buffer | string, binary: boolean, cb: WriteDone): number {
    const n = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (this.#state !== OPEN) {
      this.#notOpen(cb);
      return n;
    }
    const opcode = binary ? BINARY : TEXT;
    if (this.#deflate) {
      let packed = deflateRawSync(data, { level: 1, finishFlush: zlib.Z_SYNC_FLUSH });
      if (packed.length >= 4 && packed.subarray(-4).equals(DEFLATE_TAIL)) packed = packed.subarray(0, -4);
      this.#socket.write(clientFrame(opcode, packed, packed.length, true), cb);
    } else this.#socket.write(clientFrame(opcode, data, n), cb);
    return n;
  }

  ping(data: string, cb: WriteDone): void {
    if (this.#state !== OPEN) {
      this.#notOpen(cb);
      return;
    }
    this.#socket.write(clientFrame(PING, data, Buffer.byteLength(data)), cb);
  }

  /** Starts the close handshake (a no-op once it started); the socket ends when both close frames have passed. */
  close(code?: number, reason = ''): void {
    if (this.#state === CLOSED) return;
    if (this.#state === CONNECTING) {
      this.#failHandshake(CLOSED_EARLY());
      return;
    }
    if (this.#state === CLOSING) {
      if (this.#closeFrameSent && (this.#closeFrameReceived || this.#readFailed)) this.#socket.end();
      return;
    }
    this.#state = CLOSING;
    let payload = EMPTY;
    if (code !== undefined) {
      payload = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
    }
    this.#socket.write(clientFrame(CLOSE, payload, payload.length), (err) => {
      if (err) return;
      this.#closeFrameSent = true;
      if (this.#closeFrameReceived || this.#readFailed) this.#socket.end();
    });
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
  }

  /** Drops the connection at once (no close handshake). */
  terminate(): void {
    if (this.#state === CLOSED) return;
    if (this.#state === CONNECTING) {
      this.#failHandshake(CLOSED_EARLY());
      return;
    }
    this.#state = CLOSING;
    this.#reading = false;
    this.#socket.destroy();
  }

  /** `ws`'s answer to a write on a socket that is not open: an error, after the current call returns. */
  #notOpen(cb: WriteDone): void {
    if (this.#state === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    process.nextTick(cb, new Error(`WebSocket is not open: readyState ${this.#state}`));
  }

  /** The handshake failed: the error event once, then the close event when the socket has gone. */
  #failHandshake(err: Error): void {
    if (this.#state !== CONNECTING) return;
    this.#state = CLOSING;
    this.#reading = false; // bytes after a refused response are not frames
    this.#emitError(err);
    this.#socket.destroy();
  }

  #emitError(err: Error): void {
    if (this.#errored) return;
    this.#errored = true;
    this.emit('error', err);
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.#reading) return;
    this.#chunks.push(chunk);
    this.#chunkBytes += chunk.length;
    if (this.#state === CONNECTING && !this.#readResponse()) return;
    if (this.#need > this.#chunkBytes) return; // the rest of a frame whose header was read
    this.#readFrames();
  };

  /**
   * A read into READ_BUFFER: handled in place, and what is left of it (a partial frame or head) copied. Only the
   * newest chunk can be a view of the buffer (older ones were copied when their read ended), so a large message
   * arriving in many reads is copied once per read, not joined again at each.
   */
  readonly #onRead = (n: number): boolean => {
    this.#onData(READ_BUFFER.subarray(0, n));
    const chunks = this.#chunks;
    const last = chunks.length - 1;
    if (last >= 0) chunks[last] = owned(chunks[last]!);
    return true; // false would stop reading
  };

  readonly #onEnd = (): void => {
    this.#hs.peerEnded = true;
    if (this.#state === CONNECTING) {
      this.#failHandshake(HUNG_UP());
      return;
    }
    this.#state = CLOSING;
    // Not twice: end() on a socket already ended (after both close frames) builds an error nobody reads.
    if (!this.#socket.writableEnded && !this.#socket.destroyed) this.#socket.end();
  };

  readonly #onError = (err: Error): void => {
    this.#hs.socketFailed = true;
    if (this.#state === CONNECTING) this.#failHandshake(err);
    else {
      this.#state = CLOSING;
      this.#socket.destroy();
    }
  };

  readonly #onClose = (): void => {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#handshakeTimer = this.#closeTimer = null;
    if (this.#state === CONNECTING) this.#emitError(HUNG_UP());
    this.#state = CLOSED;
    this.#chunks = [];
    this.#chunkBytes = 0;
    this.#fragments = [];
    this.emit('close', this.#closeCode, this.#closeReason);
  };

  /** All bytes received so far as one buffer (the common case: one chunk, no copy). */
  #joined(): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#chunkBytes);
    this.#chunks = [all];
    return all;
  }

  #consume(all: Buffer, from: number): void {
    if (from >= all.length) {
      this.#chunks = [];
      this.#chunkBytes = 0;
    } else {
      this.#chunks = [all.subarray(from)];
      this.#chunkBytes = all.length - from;
    }
  }

  /** Reads the response head once it is complete; true when the socket opened. */
  #readResponse(): boolean {
    const all = this.#joined();
    let end = all.indexOf('\r\n\r\n');
    let sep = 4;
    if (end < 0) {
      end = all.indexOf('\n\n'); // llhttp's leniency for bare line feeds
      sep = 2;
    }
    if (end < 0) {
      if (all.length > MAX_RESPONSE_HEAD) {
        this.#failHandshake(new WireError('Parse Error: Header overflow', 'HPE_HEADER_OVERFLOW'));
      }
      return false;
    }
    const lines = all.toString('latin1', 0, end).split(/\r?\n/);
    this.#consume(all, end + sep);
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
    if (!status) {
      this.#failHandshake(
        new WireError(`malformed HTTP response ${JSON.stringify(lines[0])}`, 'HPE_INVALID'),
      );
      return false;
    }
    const headers = new Map<string, string[]>();
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i]!.indexOf(':');
      if (colon <= 0) continue;
      const name = lines[i]!.slice(0, colon).trim().toLowerCase();
      const value = lines[i]!.slice(colon + 1).trim();
      const list = headers.get(name);
      if (list) list.push(value);
      else headers.set(name, [value]);
    }
    const hs = this.#hs;
    hs.status = Number(status[1]);
    hs.extensions = headers.get('sec-websocket-extensions') ?? [];
    const accept = hash('sha1', this.#key + GUID, 'base64'); // one-shot: no Hash object per handshake
    if (
      hs.status !== 101 ||
      !listsToken(headers.get('upgrade'), 'websocket') ||
      !listsToken(headers.get('connection'), 'upgrade') ||
      headers.get('sec-websocket-accept')?.[0] !== accept
    ) {
      hs.failure = 'websocket: bad handshake';
      this.#failHandshake(new WireError(hs.failure, 'EBADHANDSHAKE'));
      return false;
    }
    const deflate = negotiateDeflate(hs.extensions);
    if (deflate === 'invalid') {
      hs.failure = 'websocket: invalid compression negotiation';
      this.#failHandshake(new WireError(hs.failure, 'EBADHANDSHAKE'));
      return false;
    }
    this.#deflate = deflate;
    hs.protocol = headers.get('sec-websocket-protocol')?.[0] ?? '';
    clearTimeout(this.#handshakeTimer!);
    this.#handshakeTimer = null;
    this.#state = OPEN;
    this.#socket.setNoDelay(true);
    this.emit('open');
    return this.#reading;
  }

  /** Reads every complete frame received; a partial one waits for its bytes (its header checked already). */
  #readFrames(): void {
    while (this.#reading && this.#chunkBytes >= 2) {
      const all = this.#joined();
      const b0 = all[0]!;
      const b1 = all[1]!;
      let length = b1 & 0x7f;
      let head = 2;
      if (length === 126) {
        if (all.length < 4) return;
        length = all.readUInt16BE(2);
        head = 4;
      } else if (length === 127) {
        if (all.length < 10) return;
        const high = all.readUInt32BE(2);
        if (high > 0x1fffff) {
          this.#protocolError(
            'Unsupported WebSocket frame: payload length > 2^53 - 1',
            WS_MESSAGE_TOO_BIG,
            1009,
          );
          return;
        }
        length = high * 2 ** 32 + all.readUInt32BE(6);
        head = 10;
      }
      if (this.#need === 0 && !this.#checkHeader(b0, b1, length)) return;
      this.#need = head + length;
      if (all.length < this.#need) return;
      const payload = all.subarray(head, this.#need);
      this.#consume(all, this.#need);
      this.#need = 0;
      this.#frame(b0, payload);
    }
  }

  /** RFC 6455 §5.2–5.5 and RFC 7692 §6 checks of a frame header, and the message limit, before its payload. */
  #checkHeader(b0: number, b1: number, length: number): boolean {
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if ((b0 & 0x30) !== 0)
      return this.#protocolError('RSV2 and RSV3 must be clear', 'WS_ERR_UNEXPECTED_RSV_2_3');
    if ((b1 & 0x80) !== 0) return this.#protocolError('MASK must be clear', 'WS_ERR_UNEXPECTED_MASK');
    const rsv1 = (b0 & 0x40) !== 0;
    if (opcode >= CLOSE) {
      if (opcode > PONG) return this.#protocolError(`Invalid opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE');
      if (rsv1) return this.#protocolError('RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1');
      if (!fin) return this.#protocolError('FIN must be set', 'WS_ERR_EXPECTED_FIN');
      if (length > 125) {
        return this.#protocolError(
          `invalid payload length ${length}`,
          'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
        );
      }
      return true;
    }
    if (opcode === CONTINUATION) {
      if (rsv1) return this.#protocolError('RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1');
      if (this.#messageOpcode === 0) return this.#protocolError('invalid opcode 0', 'WS_ERR_INVALID_OPCODE');
    } else if (opcode === TEXT || opcode === BINARY) {
      if (this.#messageOpcode !== 0)
        return this.#protocolError(`invalid opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE');
      if (rsv1 && !this.#deflate) return this.#protocolError('RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1');
    } else return this.#protocolError(`Invalid opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE');
    if (this.#messageBytes + length > this.#maxPayload) {
      return this.#protocolError('Max payload size exceeded', WS_MESSAGE_TOO_BIG, 1009);
    }
    return true;
  }

  #frame(b0: number, payload: Buffer): void {
    const opcode = b0 & 0x0f;
    if (opcode === PING) {
      if (this.#state === OPEN) this.#socket.write(clientFrame(PONG, payload, payload.length), NOOP);
      this.emit('ping', payload);
      return;
    }
    if (opcode === PONG) {
      this.emit('pong', payload);
      return;
    }
    if (opcode === CLOSE) {
      this.#closeFrame(payload);
      return;
    }
    const fin = (b0 & 0x80) !== 0;
    if (opcode !== CONTINUATION) {
      this.#messageOpcode = opcode;
      this.#messageCompressed = (b0 & 0x40) !== 0;
      if (fin && !this.#messageCompressed) {
        this.#messageOpcode = 0;
        this.emit('message', payload, opcode === BINARY); // the common case: one frame, as it came
        return;
      }
    }
    // A fragment waiting for the next ones outlives this read; the last is joined or inflated before it returns.
    this.#fragments.push(fin ? payload : owned(payload));
    this.#messageBytes += payload.length;
    if (!fin) return;
    let data =
      this.#fragments.length === 1 ? this.#fragments[0]! : Buffer.concat(this.#fragments, this.#messageBytes);
    const binary = this.#messageOpcode === BINARY;
    this.#fragments = [];
    this.#messageBytes = 0;
    this.#messageOpcode = 0;
    if (this.#messageCompressed) {
      try {
        data = inflateRawSync(Buffer.concat([data, DEFLATE_TAIL]), {
          finishFlush: zlib.Z_SYNC_FLUSH, // the message ends the block, not the stream
          maxOutputLength: this.#maxPayload,
        });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          this.#protocolError('Max payload size exceeded', WS_MESSAGE_TOO_BIG, 1009);
        } else this.#protocolError(String((err as Error).message), 'Z_DATA_ERROR', 1007);
        return;
      }
    }
    this.emit('message', data, binary);
  }

  /** The peer's close frame: remembered for the close event, answered with the same code, nothing read after. */
  #closeFrame(payload: Buffer): void {
    let code = 1005;
    if (payload.length === 1) {
      this.#protocolError('invalid payload length 1', 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH');
      return;
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) {
        this.#protocolError(`invalid status code ${code}`, 'WS_ERR_INVALID_CLOSE_CODE');
        return;
      }
    }
    this.#reading = false;
    this.#closeFrameReceived = true;
    this.#closeCode = code;
    this.#closeReason = Buffer.from(payload.subarray(2));
    if (code === 1005) this.close();
    else this.close(code, this.#closeReason.toString());
  }

  /** The peer broke the protocol: close frame with `statusCode`, the error event, nothing read after (as `ws`). */
  #protocolError(message: string, code: string, statusCode = 1002): false {
    this.#reading = false;
    this.#readFailed = true;
    this.#chunks = [];
    this.#chunkBytes = 0;
    this.#fragments = [];
    this.close(statusCode);
    this.#emitError(new WireError(message, code));
    return false;
  }
}
