/**
 * k6's HTTP error codes and texts (grafana/k6 lib/netext/httpext/error_codes.go errorCodeForError), from what Node
 * reports: each failure carries k6's code and text and Go's own error text (what `throw: true` shows, wrapped in
 * the url.Error http.Client.Do returns). Also the error parseRequest returns in a Response (ParseError).
 */
import type net from 'node:net';
import { platform } from 'node:os';
import { maskUrlPasswords } from '../../xmpp/redact.ts';
import { responseBodyTooBig } from '../limits.ts';
import { certificateOfError, peerCertificateOf, tlsVerifyFailure } from './tls.ts';

export interface NodeNetError extends Error {
  code?: string;
  errno?: number;
  address?: string;
  port?: number;
  hostname?: string;
}

/** k6 error codes (lib/netext/httpext/error_codes.go) and their texts. */
export const ERROR_CODES = {
  default: 1000,
  invalidUrl: 1020,
  requestTimeout: 1050,
  dns: 1100,
  dnsNoSuchHost: 1101,
  tcpBrokenPipe: 1201,
  netUnknownErrno: 1202,
  tcpDialTimeout: 1211,
  tcpDialRefused: 1212,
  tcpDialUnknownErrno: 1213,
  tcpResetByPeer: 1220,
  tlsHeader: 1301,
  x509UnknownAuthority: 1310,
  x509Hostname: 1311,
  responseDecompression: 1701,
} as const;

/** Go's syscall error strings for the errnos Node reports by name. */
const ERRNO_TEXT: Record<string, string> = {
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  ENETDOWN: 'network is down',
  EHOSTDOWN: 'host is down',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EADDRINUSE: 'address already in use',
  ECONNABORTED: 'software caused connection abort',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

const GOOS: Record<string, string> = { win32: 'windows' };

function joinHostPort(host: string, port: number | string): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * What http.Client.Do returns: a url.Error, `Get "http://alice:***@host/": …`. Go strips the password from the URL
 * (client.go stripPassword), so k6's thrown errors never show it.
 */
export function urlError(op: string, url: string, detail: string): string {
  return `${op} "${maskUrlPasswords(url)}": ${detail}`;
}

/** Go's urlErrorOp: "GET" → "Get". */
export function urlErrorOp(method: string): string {
  return method.slice(0, 1) + method.slice(1).toLowerCase();
}

export interface Failure {
  code: number;
  message: string;
  /** Go's own error text (what `throw: true` shows, wrapped in url.Error). */
  detail: string;
}

export const timeoutFailure = (): Failure => ({
  code: ERROR_CODES.requestTimeout,
  message: 'request timeout',
  detail: 'request timeout',
});

/** What classify reads of the round trip that failed (http-transport.ts Hop). */
export interface FailedRoundTrip {
  readonly url: URL;
  /** The TCP socket, once the agent handed one out. */
  readonly raw: net.Socket | null;
  /** The connection (the TLS socket for https). */
  readonly connection: net.Socket | null;
  /** Go's httptrace stamps: 0 until the connection was got / the request written. */
  readonly t: { readonly gotConn: number; readonly wrote: number };
}

/** errorCodeForError, from what Node reported: k6's code and text, and Go's own text for `throw`. */
export function classify(err: NodeNetError, hop: FailedRoundTrip): Failure {
  const code = err.code ?? '';
  const dialAddr = () =>
    err.address !== undefined ? joinHostPort(err.address, err.port ?? '') : `${hop.url.host}`;
  const pair = () => {
    const s = hop.raw;
    if (!s?.remoteAddress) return dialAddr();
    return `${joinHostPort(s.localAddress ?? '', s.localPort ?? '')}->${joinHostPort(s.remoteAddress, s.remotePort ?? '')}`;
  };
  const connected = hop.t.gotConn !== 0;
  const op = hop.t.wrote !== 0 ? 'read' : 'write';
  switch (code) {
    case 'ECONNREFUSED':
      return {
        code: ERROR_CODES.tcpDialRefused,
        message: 'dial: connection refused',
        detail: `dial tcp ${dialAddr()}: connect: connection refused`,
      };
    case 'ENOTFOUND':
      return {
        code: ERROR_CODES.dnsNoSuchHost,
        message: 'lookup: no such host',
        detail: `dial tcp: lookup ${err.hostname ?? hop.url.hostname}: no such host`,
      };
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NODATA': {
      const message = `lookup ${err.hostname ?? hop.url.hostname}: server misbehaving`;
      return { code: ERROR_CODES.dns, message, detail: `dial tcp: ${message}` };
    }
    case 'ETIMEDOUT':
      if (!connected) {
        return {
          code: ERROR_CODES.tcpDialTimeout,
          message: 'dial: i/o timeout',
          detail: `dial tcp ${dialAddr()}: i/o timeout`,
        };
      }
      return timeoutFailure();
    case 'ECONNRESET':
      if (err.message === 'socket hang up')
        return { code: ERROR_CODES.default, message: 'EOF', detail: 'EOF' };
      return {
        code: ERROR_CODES.tcpResetByPeer,
        message: `${op}: connection reset by peer`,
        detail: `${op} tcp ${pair()}: ${op}: connection reset by peer`,
      };
    case 'EPIPE':
      return {
        code: ERROR_CODES.tcpBrokenPipe,
        message: 'write: broken pipe',
        detail: `write tcp ${pair()}: write: broken pipe`,
      };
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return {
        code: ERROR_CODES.tlsHeader,
        message: 'tls: first record does not look like a TLS handshake',
        detail: 'tls: first record does not look like a TLS handshake',
      };
  }
  const tlsFailure = tlsVerifyFailure(
    code,
    hop.url.hostname,
    certificateOfError(err) ?? peerCertificateOf(hop.connection),
  );
  if (tlsFailure) return tlsFailure;
  const errnoText = ERRNO_TEXT[code];
  if (errnoText !== undefined) {
    const errno = Math.abs(err.errno ?? 0);
    if (!connected) {
      return {
        code: ERROR_CODES.tcpDialUnknownErrno,
        message: `dial: unknown errno ${errno} error with msg \`${errnoText}\``,
        detail: `dial tcp ${dialAddr()}: connect: ${errnoText}`,
      };
    }
    return {
      code: ERROR_CODES.netUnknownErrno,
      message: `${op}: unknown errno \`${errno}\` on ${GOOS[platform()] ?? platform()} with message \`${errnoText}\``,
      detail: `${op} tcp ${pair()}: ${op}: ${errnoText}`,
    };
  }
  return { code: ERROR_CODES.default, message: err.message, detail: err.message };
}

/** The engine's body limit was crossed (k6 has none; for k6 it would be an error of no known type: code 1000). */
export function bodyTooBig(limit: number, how?: string): Failure {
  const message = responseBodyTooBig(limit, how);
  return { code: ERROR_CODES.default, message, detail: message };
}

/** A parseRequest error: returned in a Response (error, error_code) unless `throw` is set. */
export class ParseError extends Error {
  constructor(
    message: string,
    readonly code = 0,
  ) {
    super(message);
  }
}
