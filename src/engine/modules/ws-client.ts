/**
 * Opens a `ws` client the way k6's dialer (gorilla/websocket) does, so the Node engine sees what k6 sees:
 * the requested subprotocols are only a request (a server that does not echo one still opens, with
 * protocol ''), compression is gorilla's no-context-takeover deflate, and handshake failures carry
 * gorilla's error texts.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import {
  certificateOfError,
  clientTlsOptions,
  keepPeerCertificate,
  peerCertificateOf,
  tlsVerifyFailure,
} from './tls.ts';

export interface LenientDialOptions {
  /** Requested subprotocols; sent as one `Sec-WebSocket-Protocol` header, joined with ", " as gorilla does. */
  protocols: readonly string[];
  /** Extra request headers, names in Go's canonical form (what k6's `http.Header.Set` produced). */
  headers: Readonly<Record<string, string>>;
  /** Offer permessage-deflate without context takeover, the only mode gorilla implements. */
  compression: boolean;
  handshakeTimeoutMs: number;
  /** k6's `insecureSkipTLSVerify` option: wss:// without certificate verification. */
  insecureSkipTLSVerify?: boolean;
  /**
   * The engine's limit on one message (bytes, after decompression), not gorilla's (which has none in k6): `ws`
   * checks each frame header against it before buffering the payload, then fails with 1009.
   */
  maxMessageBytes: number;
}

/** What the opening handshake produced, filled in as it progresses; read it once `ws` says open or close. */
export class Handshake {
  /** HTTP status of the handshake response; 0 when none arrived (refused, unresolved, timed out). */
  status = 0;
  /** The subprotocol the server chose: its `Sec-WebSocket-Protocol` answer, '' when it sent none. */
  protocol = '';
  /** The raw `Sec-WebSocket-Extensions` response header values. */
  extensions: string[] = [];
  /** gorilla's error text for a failed handshake, when it differs from what `ws` reports. */
  failure: string | null = null;
  /** The TCP socket (for wire byte counts), once it connected (before that, Node counts queued bytes too). */
  socket: Socket | null = null;
  /** The socket the request got: the TLS socket for wss:// (its certificate names a verification failure). */
  requestSocket: Socket | null = null;
  /** The peer ended the TCP stream (EOF), as opposed to a socket error or our own teardown. */
  peerEnded = false;
  /** The TCP socket failed (reset, broken pipe): gorilla reports that as a plain read error, not a close. */
  socketFailed = false;
}

/** `ws`'s error code for a message over `maxPayload` (it also sends close 1009). */
export const WS_MESSAGE_TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';

/** A dial that fails before any network I/O, as gorilla's `DialContext` does (reported as an error event). */
export class DialError extends Error {
  override name = 'DialError';
}

/** Header names gorilla sets itself and refuses from the caller (`websocket: duplicate header not allowed`). */
const GORILLA_OWN_HEADERS = new Set([
  'Upgrade',
  'Connection',
  'Sec-Websocket-Key',
  'Sec-Websocket-Version',
  'Sec-Websocket-Extensions',
]);

/**
 * gorilla's offer is exactly `permessage-deflate; server_no_context_takeover; client_no_context_takeover`;
 * `clientMaxWindowBits: false` keeps `ws` from adding `client_max_window_bits` (its typings only admit numbers).
 * `threshold: 0`: gorilla compresses every data message, `ws` by default only those of 1 KiB and more.
 */
const GORILLA_DEFLATE = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  clientMaxWindowBits: false as unknown as number,
  threshold: 0,
};

/** Go's `textproto.CanonicalMIMEHeaderKey`: `sec-websocket-protocol` → `Sec-Websocket-Protocol`. */
export function canonicalHeaderKey(key: string): string {
  const known = canonicalKeys.get(key);
  if (known !== undefined) return known;
  const canonical = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)
    ? key.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase())
    : key;
  if (canonicalKeys.size < MAX_CANONICAL_KEYS) canonicalKeys.set(key, canonical);
  return canonical;
}

/** Header names seen so far: every response header of every request goes through canonicalHeaderKey. */
const canonicalKeys = new Map<string, string>();
const MAX_CANONICAL_KEYS = 4096;

/**
 * Starts the handshake. Throws DialError for what gorilla refuses before dialing; anything else thrown
 * synchronously (e.g. Node rejecting a header value) is likewise a dial failure for the caller to report.
 */
export function dialLenient(url: string, o: LenientDialOptions): { ws: WebSocket; hs: Handshake } {
  if (/^wss?:\/\/[^/?#]*@/i.test(url)) throw new DialError('malformed ws or wss URL'); // gorilla: no userinfo
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(o.headers)) {
    if (GORILLA_OWN_HEADERS.has(name) || (name === 'Sec-Websocket-Protocol' && o.protocols.length > 0)) {
      throw new DialError(`websocket: duplicate header not allowed: ${name}`);
    }
    headers[name] = value;
  }
  // The subprotocol header is ours, not ws's `protocols`: ws aborts when the server does not echo one (gorilla opens).
  if (o.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = o.protocols.join(', ');

  const hs = new Handshake();
  const ws = new WebSocket(url, {
    headers,
    perMessageDeflate: o.compression ? GORILLA_DEFLATE : false,
    handshakeTimeout: o.handshakeTimeoutMs,
    maxPayload: o.maxMessageBytes,
    skipUTF8Validation: true, // gorilla does not validate UTF-8 in text messages
    // k6 hands gorilla the VU's TLS config: verification on unless insecureSkipTLSVerify, roots + SSL_CERT_FILE.
    ...(url.toLowerCase().startsWith('wss:') ? clientTlsOptions(o.insecureSkipTLSVerify === true) : {}),
    finishRequest: (req: ClientRequest) => {
      req.once('socket', (socket: Socket) => {
        hs.requestSocket = socket;
        if (socket instanceof TLSSocket) keepPeerCertificate(socket);
        trackSocket(hs, socket);
      });
      req.end();
    },
  });
  ws.on('upgrade', (res: IncomingMessage) => {
    readResponse(hs, res);
    const chosen = res.headersDistinct['sec-websocket-protocol'];
    if (chosen !== undefined) {
      hs.protocol = chosen[0] ?? '';
      // ws checks the answer against the protocols it was given (none): hide it, we already took it.
      delete res.headers['sec-websocket-protocol'];
    }
    if (o.compression && !gorillaAcceptsDeflate(hs.extensions)) {
      hs.failure = 'websocket: invalid compression negotiation';
      ws.terminate();
    }
  });
  ws.on('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => {
    readResponse(hs, res);
    hs.failure = 'websocket: bad handshake';
    ws.terminate();
  });
  return { ws, hs };
}

function readResponse(hs: Handshake, res: IncomingMessage): void {
  hs.status = res.statusCode ?? 0;
  hs.extensions = res.headersDistinct['sec-websocket-extensions'] ?? [];
}

function trackSocket(hs: Handshake, socket: Socket): void {
  if (socket.connecting) socket.once('connect', () => (hs.socket = socket));
  else hs.socket = socket;
  socket.once('end', () => {
    hs.peerEnded = true;
  });
  socket.once('error', () => {
    hs.socketFailed = true;
  });
}

/** gorilla refuses a permessage-deflate answer that does not grant no-context-takeover both ways. */
function gorillaAcceptsDeflate(extensionHeaders: readonly string[]): boolean {
  for (const header of extensionHeaders) {
    for (const ext of header.split(',')) {
      const [name, ...params] = ext.split(';').map((s) => s.trim().split('=')[0]!.trim());
      if (name !== 'permessage-deflate') continue;
      return params.includes('server_no_context_takeover') && params.includes('client_no_context_takeover');
    }
  }
  return true;
}

interface NodeNetError extends Error {
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** gorilla's (Go's) text for a handshake that failed before `open`, from what `ws` reported. */
export function dialErrorText(err: NodeNetError, hs: Handshake, url: string): string {
  if (hs.failure !== null) return hs.failure;
  const host = new URL(url).hostname;
  const tlsFailure = tlsVerifyFailure(
    err.code,
    host,
    certificateOfError(err) ?? peerCertificateOf(hs.requestSocket),
  );
  if (tlsFailure) return tlsFailure.detail; // gorilla returns crypto/tls's error as is
  if (err.code === 'ERR_SSL_WRONG_VERSION_NUMBER')
    return 'tls: first record does not look like a TLS handshake';
  switch (err.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${hostPort(err.address, err.port, url)}: connect: connection refused`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `lookup ${err.hostname ?? new URL(url).hostname}: no such host`;
    case 'ETIMEDOUT':
      return `dial tcp ${hostPort(err.address, err.port, url)}: i/o timeout`;
    case 'ECONNRESET':
      return hs.socket?.remoteAddress
        ? `read tcp ${socketPair(hs.socket)}: read: connection reset by peer`
        : err.message;
  }
  if (err.message === 'Opening handshake has timed out') {
    return hs.socket?.remoteAddress
      ? `read tcp ${socketPair(hs.socket)}: i/o timeout`
      : `dial tcp ${hostPort(undefined, undefined, url)}: i/o timeout`;
  }
  if (err.message === 'Invalid Upgrade header' || err.message === 'Invalid Sec-WebSocket-Accept header') {
    return 'websocket: bad handshake';
  }
  return err.message;
}

/** Go's `net.JoinHostPort` of the dialed address, or of the URL's host when Node did not say. */
function hostPort(address: string | undefined, port: number | undefined, url: string): string {
  if (address === undefined) {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'wss:' ? '443' : '80')}`;
  }
  return joinHostPort(address, port);
}

function joinHostPort(address: string | undefined, port: number | undefined): string {
  const host = address ?? '';
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? ''}`;
}

function socketPair(s: Socket): string {
  return `${joinHostPort(s.localAddress, s.localPort)}->${joinHostPort(s.remoteAddress, s.remotePort)}`;
}
