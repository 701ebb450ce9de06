/**
 * The WebSocket side of the tap: a loopback WebSocket server that opens, for each client, a WebSocket to the
 * upstream with the subprotocols the client asked for, completes the client's handshake with whatever the
 * upstream chose (nothing when it chose nothing), then relays messages unchanged (text as text, binary as
 * binary, same bytes), pings, pongs and close codes both ways. Each message is handed to the analyzer after it
 * has been sent on.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { newConnState, type ConnState } from './analyzer.ts';
import type { Proxy, ProxyContext } from './context.ts';
import { endToEnd } from './http.ts';
import type { Direction } from './types.ts';

/** Bytes queued towards one peer before reading from the other pauses, and the level reading resumes at. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 1 << 18;
/** How often a paused reader checks whether the other side has drained (ws has no public 'drain' event). */
const DRAIN_POLL_MS = 5;
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** How long close() lets the closing handshakes run before cutting the sockets. */
const CLOSE_GRACE_MS = 1000;

/** Headers the tap's own upstream handshake sets; the client's are not forwarded. */
const HANDSHAKE_HEADERS = [
  'host',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
  'content-length',
];

interface Pair {
  c: ConnState;
  client: WebSocket;
  upstream: WebSocket;
  ended: boolean;
}

/** A close code ws may send (RFC 6455 §7.4): 1005/1006/1015 only ever describe a close, never travel. */
function sendable(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** The upstream URL with the client's path and query (normally the same path: the tap's URL mirrors it). */
export function upstreamTarget(upstream: URL, requestUrl: string | undefined): URL {
  const asked = new URL(requestUrl ?? '/', 'http://tap.invalid');
  const target = new URL(upstream.href);
  target.pathname = asked.pathname;
  target.search = asked.search;
  return target;
}

function stringHeaders(h: OutgoingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
}

function requestedProtocols(req: IncomingMessage): string[] {
  const h = req.headers['sec-websocket-protocol'];
  if (!h) return [];
  return h
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

export async function startWebSocketProxy(
  upstream: URL,
  host: string,
  port: number,
  ctx: ProxyContext,
): Promise<Proxy> {
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' });
    res.end('starling tap: this endpoint relays XMPP over WebSocket (RFC 7395) only\n');
  });
  /** The subprotocol the upstream chose for a pending handshake (undefined: none). */
  const chosen = new WeakMap<IncomingMessage, string | undefined>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    autoPong: false,
    skipUTF8Validation: true,
    handleProtocols: (_offered, req) => chosen.get(req) ?? false,
  });
  const pending = new Set<Duplex>();
  const pairs = new Set<Pair>();
  let closing = false;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (closing) {
      socket.destroy();
      return;
    }
    pending.add(socket);
    socket.on('error', () => {});
    const protocols = requestedProtocols(req);
    const target = upstreamTarget(upstream, req.url);
    let up: WebSocket;
    try {
      up = new WebSocket(target, protocols, {
        perMessageDeflate: false,
        autoPong: false,
        skipUTF8Validation: true,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        headers: stringHeaders(endToEnd(req.headers, HANDSHAKE_HEADERS)),
      });
    } catch (e) {
      refuse(socket, 400, `tap: cannot open ${target.href}: ${(e as Error).message}`);
      pending.delete(socket);
      return;
    }
    let actual: string | undefined;
    let settled = false;
    const onEarlyClose = () => {
      pending.delete(socket);
      if (!settled) {
        settled = true;
        up.terminate();
      }
    };
    socket.once('close', onEarlyClose);
    up.on('upgrade', (res) => {
      const got = res.headers['sec-websocket-protocol'];
      actual = typeof got === 'string' ? got : undefined;
      // `ws` rejects an upstream answer that does not pick one of the offered subprotocols; whether that is
      // acceptable is the client's call, so the tap accepts it here and hands the client the upstream's answer.
      if (protocols.length === 0) delete res.headers['sec-websocket-protocol'];
      else if (actual === undefined || !protocols.includes(actual)) {
        res.headers['sec-websocket-protocol'] = protocols[0];
      }
    });
    up.on('unexpected-response', (upReq, res) => {
      settled = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
        const keep = endToEnd(res.headers, ['content-length']);
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const k = res.rawHeaders[i]!;
          if (keep[k.toLowerCase()] !== undefined) head += `${k}: ${res.rawHeaders[i + 1]}\r\n`;
        }
        head += `Connection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
        socket.end(Buffer.concat([Buffer.from(head), body]));
        upReq.destroy();
      });
      res.on('error', () => socket.destroy());
    });
    up.on('error', (err) => {
      if (settled) return;
      settled = true;
      ctx.log(`tap: upstream ${target.href} handshake failed: ${err.message}`);
      refuse(socket, 502, `tap: upstream handshake failed: ${err.message}`);
    });
    up.once('open', () => {
      if (settled) {
        up.terminate();
        return;
      }
      settled = true;
      socket.removeListener('close', onEarlyClose);
      pending.delete(socket);
      chosen.set(req, actual);
      // ws answers an invalid client handshake with 400 and never calls back: the upstream must go then.
      const onBadHandshake = () => up.terminate();
      socket.once('close', onBadHandshake);
      wss.handleUpgrade(req, socket, head, (client) => {
        socket.removeListener('close', onBadHandshake);
        pairUp(client, up);
      });
    });
  });

  function pairUp(client: WebSocket, up: WebSocket): void {
    const c = newConnState(ctx.nextConnectionId());
    const pair: Pair = { c, client, upstream: up, ended: false };
    pairs.add(pair);
    ctx.metrics.connections++;
    relay(pair, client, up, 'c2s');
    relay(pair, up, client, 's2c');
    if (closing) {
      client.close(1001, 'tap closing');
      up.close(1001, 'tap closing');
    }
  }

  function relay(pair: Pair, from: WebSocket, to: WebSocket, dir: Direction): void {
    let drainTimer: NodeJS.Timeout | undefined;
    // Reading from `from` pauses while `to` has more than HIGH_WATER bytes unsent, until it is under LOW_WATER.
    const waitForDrain = () => {
      from.pause();
      drainTimer = setInterval(() => {
        if (to.readyState !== WebSocket.OPEN || to.bufferedAmount <= LOW_WATER) {
          clearInterval(drainTimer);
          drainTimer = undefined;
          from.resume();
        }
      }, DRAIN_POLL_MS);
    };
    from.on('message', (raw, isBinary) => {
      const t = process.hrtime.bigint();
      const data = raw as Buffer; // binaryType 'nodebuffer': fragments arrive concatenated
      if (to.readyState === WebSocket.OPEN) {
        to.send(data, { binary: isBinary, compress: false });
        if (drainTimer === undefined && to.bufferedAmount > HIGH_WATER) waitForDrain();
      }
      ctx.defer(() => ctx.analyzer.wsFrame(pair.c, dir, data, isBinary, t));
    });
    from.on('ping', (data) => {
      if (to.readyState === WebSocket.OPEN) to.ping(data);
    });
    from.on('pong', (data) => {
      if (to.readyState === WebSocket.OPEN) to.pong(data);
    });
    from.on('error', (err) => {
      ctx.log(
        `tap: connection ${pair.c.id}: ${dir === 'c2s' ? 'client' : 'upstream'} socket error: ${err.message}`,
      );
    });
    from.on('close', (code, reason) => {
      if (drainTimer !== undefined) clearInterval(drainTimer);
      if (to.readyState === WebSocket.OPEN) {
        if (code === 1005) to.close();
        else if (sendable(code)) to.close(code, reason);
        else to.terminate();
      }
      end(pair);
    });
  }

  function end(pair: Pair): void {
    if (pair.ended) return;
    pair.ended = true;
    ctx.metrics.connections--;
    ctx.defer(() => ctx.analyzer.wsEnd(pair.c));
    // Forget it once both sides are closed.
    const done = () => {
      if (pair.client.readyState === WebSocket.CLOSED && pair.upstream.readyState === WebSocket.CLOSED) {
        pairs.delete(pair);
      }
    };
    pair.client.once('close', done);
    pair.upstream.once('close', done);
    done();
  }

  server.listen(port, host);
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;

  return {
    port: bound,
    sweep: () => {},
    close: async () => {
      closing = true;
      for (const s of pending) s.destroy();
      const closed: Promise<unknown>[] = [];
      for (const p of pairs) {
        for (const ws of [p.client, p.upstream]) {
          if (ws.readyState === WebSocket.CLOSED) continue;
          closed.push(once(ws, 'close'));
          if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'tap closing');
        }
      }
      const grace = setTimeout(() => {
        for (const p of pairs) {
          p.client.terminate();
          p.upstream.terminate();
        }
      }, CLOSE_GRACE_MS);
      await Promise.all(closed);
      clearTimeout(grace);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function refuse(socket: Duplex, status: number, text: string): void {
  if (socket.destroyed) return;
  const body = Buffer.from(text + '\n');
  const reason = status === 502 ? 'Bad Gateway' : 'Bad Request';
  socket.end(
    Buffer.concat([
      Buffer.from(
        `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
          `Content-Length: ${body.length}\r\n\r\n`,
      ),
      body,
    ]),
  );
}
