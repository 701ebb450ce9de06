/**
 * A WebSocket client with no library, for the floor only (`raw-ws-flow --client lean`): the opening handshake
 * written and read by hand on a TCP socket, RFC 6455 frames built and parsed by hand. It sizes what the `ws`
 * package itself costs a session (its HTTP request machinery and its stream-based sender and receiver), which no
 * library can tell us. Enough for the standard flow against a local server: ws:// only, no extensions, text
 * frames, the close handshake, pings answered; not a general client.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { FloorEvents, FloorSocket } from './floor-flow.ts';

const TEXT = 0x1;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

/** Masking keys, 2,048 at a time. */
const keys = Buffer.alloc(8192);
let keyAt = keys.length;

/** A masked client frame: FIN, `opcode`, the payload length and key, the payload XORed with the key. */
function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  if (keyAt === keys.length) {
    randomFillSync(keys);
    keyAt = 0;
  }
  keys.copy(out, head, keyAt, keyAt + 4);
  keyAt += 4;
  const at = head + 4;
  for (let i = 0; i < n; i++) out[at + i] = payload[i]! ^ out[head + (i & 3)]!;
  return out;
}

/** Opens `url` (ws://host:port/path) with subprotocol `protocol`; the flow's socket, events as `ws` would give them. */
export function leanSocket(url: string, protocol: string, events: FloorEvents): FloorSocket {
  const u = new URL(url);
  if (u.protocol !== 'ws:') throw new Error(`the lean client speaks ws:// only, not ${u.protocol}`);
  const sock: Socket = connect(Number(u.port || 80), u.hostname);
  sock.setNoDelay(true);
  const key = randomBytes(16).toString('base64');
  sock.write(
    `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
  let open = false;
  let pending: Buffer | null = null;
  let sentClose = false;
  /** The close code the server sent (1005: none), 0 before its close frame. */
  let code = 0;
  let ended = false;

  const onData = (chunk: Buffer): void => {
    let buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    pending = null;
    if (!open) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        pending = buf;
        return;
      }
      if (!buf.toString('latin1', 0, 13).startsWith('HTTP/1.1 101 ')) {
        events.error(`ws-error:status ${buf.toString('latin1', 9, 12)}`);
        sock.destroy();
        return;
      }
      open = true;
      events.opened();
      buf = buf.subarray(end + 4);
    }
    while (buf.length >= 2) {
      const opcode = buf[0]! & 0x0f;
      let n = buf[1]! & 0x7f;
      let head = 2;
      if (n === 126) {
        if (buf.length < 4) break;
        n = buf.readUInt16BE(2);
        head = 4;
      } else if (n === 127) {
        if (buf.length < 10) break;
        n = Number(buf.readBigUInt64BE(2));
        head = 10;
      }
      if (buf.length < head + n) break;
      const payload = buf.subarray(head, head + n);
      buf = buf.subarray(head + n);
      if (opcode === TEXT) events.frame(payload.toString());
      else if (opcode === PING) sock.write(frame(PONG, Buffer.from(payload)));
      else if (opcode === CLOSE) {
        code = n >= 2 ? payload.readUInt16BE(0) : 1005;
        if (!sentClose) {
          sentClose = true;
          sock.write(frame(CLOSE, Buffer.from(payload.subarray(0, 2))));
        }
        sock.end();
      }
    }
    if (buf.length > 0) pending = Buffer.from(buf);
  };
  sock.on('data', onData);
  // After the server's close frame the server may reset the connection: the close has happened by then.
  sock.on('error', (err: NodeJS.ErrnoException) => {
    if (code === 0) events.error(`ws-error:${err.code ?? err.message}`);
  });
  sock.on('close', () => {
    if (ended) return;
    ended = true;
    events.closed(code || 1006);
  });
  return {
    send: (text) => void sock.write(frame(TEXT, Buffer.from(text))),
    close: () => {
      if (sentClose) return;
      sentClose = true;
      const p = Buffer.alloc(2);
      p.writeUInt16BE(1000);
      sock.write(frame(CLOSE, p));
    },
    drop: () => void sock.destroy(),
  };
}
