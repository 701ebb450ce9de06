/**
 * Opens a WebSocket (ws-wire.ts) the way k6's dialer (gorilla/websocket) does, so the Node engine sees what k6 sees:
 * the requested subprotocols are only a request (a server that does not echo one still opens, with
 * protocol ''), compression is gorilla's no-context-takeover deflate, and handshake failures carry
 * gorilla's error texts.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import {
  certificateOfError,
  clientTlsOptions,
  keepPeerCertificate,
  peerCertificateOf,
  tlsVerifyFailure,
} from './tls.ts';
import { HANDSHAKE_TIMED_OUT, Handshake, WireSocket } from './ws-wire.ts';

export { Handshake, WS_MESSAGE_TOO_BIG } from './ws-wire.ts';

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
   * The engine's limit on one message (bytes, after decompression), not gorilla's (which has none in k6): the
   * socket checks each frame header against it before buffering the payload, then fails with 1009.
   */
  maxMessageBytes: number;
}

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
export function dialLenient(url: string, o: LenientDialOptions): { ws: WireSocket; hs: Handshake } {
  if (/^wss?:\/\/[^/?#]*@/i.test(url)) throw new DialError('malformed ws or wss URL'); // gorilla: no userinfo
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(o.headers)) {
    if (GORILLA_OWN_HEADERS.has(name) || (name === 'Sec-Websocket-Protocol' && o.protocols.length > 0)) {
      throw new DialError(`websocket: duplicate header not allowed: ${name}`);
    }
    headers[name] = value;
  }
  // Only a request: a server that echoes none still opens (gorilla), with protocol ''.
  if (o.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = o.protocols.join(', ');

  const hs = new Handshake();
  const ws = new WireSocket(url, hs, {
    headers,
    compression: o.compression,
    handshakeTimeoutMs: o.handshakeTimeoutMs,
    maxPayload: o.maxMessageBytes,
    // k6 hands gorilla the VU's TLS config: verification on unless insecureSkipTLSVerify, roots + SSL_CERT_FILE.
    ...(url.toLowerCase().startsWith('wss:')
      ? { tls: clientTlsOptions(o.insecureSkipTLSVerify === true) }
      : {}),
  });
  if (hs.requestSocket instanceof TLSSocket) keepPeerCertificate(hs.requestSocket);
  return { ws, hs };
}

interface NodeNetError extends Error {
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** gorilla's (Go's) text for a handshake that failed before `open`, from the error the socket reported. */
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
  if (err.code === HANDSHAKE_TIMED_OUT) {
    return hs.socket?.remoteAddress
      ? `read tcp ${socketPair(hs.socket)}: i/o timeout`
      : `dial tcp ${hostPort(undefined, undefined, url)}: i/o timeout`;
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
