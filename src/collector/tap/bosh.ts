/**
 * The BOSH side of the tap: an HTTP reverse proxy on loopback. Every request (POST, OPTIONS, GET, …) goes to
 * the upstream with the same method, path and body bytes, and its headers minus hop-by-hop ones (Host names
 * the upstream); the response comes back the same way, over kept-alive connections on both sides. Bodies
 * stream through as they arrive; POST bodies are also collected and, once forwarded, parsed: per `<body/>`
 * child, parse time, size, IQ response time and message transit keyed by BOSH sid.
 */
import { once } from 'node:events';
import {
  Agent as HttpAgent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { XmlElement } from '../../xmpp/xml/element.ts';
import { newConnState, type ConnState } from './analyzer.ts';
import type { Proxy, ProxyContext } from './context.ts';
import { endToEnd } from './http.ts';
import { upstreamTarget } from './websocket.ts';

/** A session the connection manager has not heard from for this long is forgotten (XEP-0124 inactivity). */
const SESSION_IDLE_MS = 10 * 60_000;
/** Held BOSH requests last up to `wait` (commonly 60 s): keep idle client connections longer than that. */
const KEEP_ALIVE_MS = 120_000;

interface BoshConn extends ConnState {
  sid: string | undefined;
  lastSeen: number;
  /** Counted in tap_connections. */
  open: boolean;
}

const SID = /^\s*(?:<\?xml[^>]*\?>\s*)?<body\b[^>]*?\ssid\s*=\s*(?:'([^']*)'|"([^"]*)")/;

/** The body bytes as the XML the peer meant: decoded from its Content-Encoding (the wire copy is untouched). */
function decoded(buf: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return buf;
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(buf);
    case 'deflate':
      try {
        return inflateSync(buf);
      } catch {
        return inflateRawSync(buf);
      }
    case 'br':
      return brotliDecompressSync(buf);
    default:
      throw new Error(`unsupported Content-Encoding '${encoding}'`);
  }
}

export async function startBoshProxy(
  upstream: URL,
  host: string,
  port: number,
  ctx: ProxyContext,
): Promise<Proxy> {
  const secure = upstream.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const sessions = new Map<string, BoshConn>();
  /** Stands in for the session of a body that names none we can read. */
  const unknown: BoshConn = { ...newConnState(0), sid: undefined, lastSeen: 0, open: false };

  function newConn(sid: string | undefined): BoshConn {
    const c: BoshConn = { ...newConnState(ctx.nextConnectionId()), sid, lastSeen: Date.now(), open: false };
    if (sid !== undefined) {
      sessions.set(sid, c);
      c.open = true;
      ctx.metrics.connections++;
    }
    return c;
  }

  function endSession(c: BoshConn): void {
    if (c.sid !== undefined && sessions.get(c.sid) === c) sessions.delete(c.sid);
    if (c.open) {
      c.open = false;
      ctx.metrics.connections--;
    }
    c.iqs.clear();
  }

  /** The session a request belongs to: its sid's, or a new one for a session creation request. */
  function requestConn(body: XmlElement | undefined, raw: Buffer): BoshConn {
    let sid = body?.attr('sid');
    if (body === undefined) {
      const m = SID.exec(raw.toString('utf8', 0, Math.min(raw.length, 4096)));
      if (!m) return unknown;
      sid = m[1] ?? m[2];
    }
    if (sid === undefined) return newConn(undefined);
    return sessions.get(sid) ?? newConn(sid);
  }

  function analyzeRequest(raw: Buffer, encoding: string | undefined, t: bigint): BoshConn {
    let conn: BoshConn = unknown;
    let data: Buffer;
    try {
      data = decoded(raw, encoding);
    } catch (e) {
      ctx.log(`tap: BOSH request body not analyzed: ${(e as Error).message}`);
      return unknown;
    }
    const body = ctx.analyzer.boshBody('c2s', data, t, (b) => (conn = requestConn(b, data)));
    conn.lastSeen = Date.now();
    if (body?.attr('type') === 'terminate') endSession(conn);
    return conn;
  }

  function analyzeResponse(conn: BoshConn, raw: Buffer, encoding: string | undefined, t: bigint): void {
    let data: Buffer;
    try {
      data = decoded(raw, encoding);
    } catch (e) {
      ctx.log(`tap: BOSH response body not analyzed: ${(e as Error).message}`);
      return;
    }
    let c = conn;
    const body = ctx.analyzer.boshBody('s2c', data, t, (b) => {
      // The session creation response names the sid the request could not.
      const sid = b?.attr('sid');
      if (sid !== undefined && c.sid === undefined && c !== unknown) {
        c.sid = sid;
        sessions.set(sid, c);
        c.open = true;
        ctx.metrics.connections++;
      } else if (sid !== undefined && c === unknown) {
        c = sessions.get(sid) ?? newConn(sid);
      }
      return c;
    });
    if (body?.attr('type') === 'terminate') endSession(c);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const target = upstreamTarget(upstream, req.url);
    const headers = endToEnd(req.headers);
    headers['host'] = upstream.host;
    const isPost = req.method === 'POST';
    const send = secure ? httpsRequest : httpRequest;
    const up = send(target, { method: req.method, headers, agent });
    const reqChunks: Buffer[] = [];
    let conn: BoshConn = unknown;
    let requestDone = false;
    if (isPost) req.on('data', (c: Buffer) => reqChunks.push(c));
    req.pipe(up);
    req.on('end', () => {
      requestDone = true;
      if (!isPost) return;
      const t = process.hrtime.bigint();
      conn = analyzeRequest(Buffer.concat(reqChunks), req.headers['content-encoding'], t);
    });
    up.on('response', (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, endToEnd(ures.headers));
      const chunks: Buffer[] = [];
      const analyze = isPost && (ures.statusCode ?? 0) >= 200 && (ures.statusCode ?? 0) < 300;
      if (analyze) ures.on('data', (c: Buffer) => chunks.push(c));
      ures.pipe(res);
      ures.on('end', () => {
        if (!analyze) return;
        const t = process.hrtime.bigint();
        const body = Buffer.concat(chunks);
        const encoding = ures.headers['content-encoding'];
        // The request is analyzed at its end, which comes first unless the upstream answered early.
        if (requestDone) analyzeResponse(conn, body, encoding, t);
        else req.once('end', () => analyzeResponse(conn, body, encoding, t));
      });
      ures.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      ctx.log(`tap: BOSH upstream ${req.method} ${target.href} failed: ${err.message}`);
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`starling tap: upstream request failed: ${err.message}\n`);
      } else res.destroy();
    });
    // The client gave up (e.g. its own timeout on a held request): so does the upstream request.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
  }

  const server = createServer({ keepAlive: true }, handle);
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
  server.listen(port, host);
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;

  return {
    port: bound,
    sweep: () => {
      const cutoff = Date.now() - SESSION_IDLE_MS;
      for (const c of sessions.values()) if (c.lastSeen < cutoff) endSession(c);
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
      for (const c of [...sessions.values()]) endSession(c);
    },
  };
}
