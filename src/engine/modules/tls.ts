/**
 * TLS for the Node engine's k6/http and k6/websockets, as k6 (Go's crypto/tls and crypto/x509) does it:
 * certificates are verified against the system roots unless the `insecureSkipTLSVerify` option is set, the
 * roots can be extended the way Go's are on Linux (SSL_CERT_FILE, SSL_CERT_DIR), and a failed verification
 * is reported with Go's error texts (k6's error codes 1310/1311 for http).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { goRfc3339 } from '../go.ts';

/** Env vars Go reads on Linux to find root certificates (crypto/x509/root_unix.go). */
export const CERT_FILE_ENV = 'SSL_CERT_FILE';
export const CERT_DIR_ENV = 'SSL_CERT_DIR';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

let cached: { key: string; ca: string[] | undefined } | undefined;

function pemCertificates(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').match(PEM_CERT) ?? [];
  } catch {
    return []; // Go skips unreadable files and directories too
  }
}

/**
 * The CA certificates to verify servers against: undefined (Node's default roots) unless SSL_CERT_FILE or
 * SSL_CERT_DIR is set, in which case Node's roots plus the certificates found there. Go uses the file and dirs
 * instead of its default locations but keeps the default dirs when only the file is given; Node's bundled roots
 * stand in for the system store in both cases, so a private CA is trusted in addition to the public ones.
 */
export function trustedCertificates(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const file = env[CERT_FILE_ENV] ?? '';
  const dirs = env[CERT_DIR_ENV] ?? '';
  const key = `${file}\0${dirs}`;
  if (cached?.key === key) return cached.ca;
  let ca: string[] | undefined;
  if (file === '' && dirs === '') ca = undefined;
  else {
    const extra = file === '' ? [] : pemCertificates(file);
    for (const dir of dirs.split(':').filter((d) => d !== '')) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const path = join(dir, name);
        try {
          if (statSync(path).isFile()) extra.push(...pemCertificates(path));
        } catch {
          // a dangling link: skipped, as Go does
        }
      }
    }
    ca = [...tls.rootCertificates, ...extra];
  }
  cached = { key, ca };
  return ca;
}

let contextFor: { ca: string[]; context: tls.SecureContext } | undefined;

/**
 * TLS options for a client connection: k6's `insecureSkipTLSVerify` and the trusted roots. The extra roots
 * come as one shared SecureContext: passing `ca` per connection would parse every root again each time.
 */
export function clientTlsOptions(insecureSkipTLSVerify: boolean): {
  rejectUnauthorized: boolean;
  secureContext?: tls.SecureContext;
} {
  const ca = insecureSkipTLSVerify ? undefined : trustedCertificates();
  if (!ca) return { rejectUnauthorized: !insecureSkipTLSVerify };
  if (contextFor?.ca !== ca) contextFor = { ca, context: tls.createSecureContext({ ca }) };
  return { rejectUnauthorized: true, secureContext: contextFor.context };
}

// ---- the peer certificate, for error texts ------------------------------------------------------------

const peerCertificates = new WeakMap<object, tls.PeerCertificate>();

/**
 * Keeps the server's certificate of a TLS socket for the error text of a failed verification: Node destroys
 * the socket (and with it the certificate) before the error reaches us. 'secure' is the handshake-done event
 * Node's own verification listens to; prepending runs ours first.
 */
export function keepPeerCertificate(socket: tls.TLSSocket): void {
  socket.prependOnceListener('secure', () => {
    try {
      const cert = socket.getPeerCertificate();
      if (cert && Object.keys(cert).length > 0) peerCertificates.set(socket, cert);
    } catch {
      // no certificate: the texts go without its details
    }
  });
}

export function peerCertificateOf(socket: object | null | undefined): tls.PeerCertificate | undefined {
  return socket ? peerCertificates.get(socket) : undefined;
}

// ---- error texts --------------------------------------------------------------------------------------

/** Node's (OpenSSL's) codes for a chain that does not lead to a trusted root: Go's UnknownAuthorityError. */
export const UNKNOWN_AUTHORITY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

const EXPIRY_CODES = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

export interface TlsVerifyFailure {
  /** k6's error code for k6/http (lib/netext/httpext/error_codes.go). */
  code: number;
  /** k6's `error` text for k6/http. */
  message: string;
  /** Go's own error text: what gorilla (k6/websockets' error event) reports, and `throw` wraps. */
  detail: string;
}

export const TLS_ERROR_CODES = { default: 1000, x509UnknownAuthority: 1310, x509Hostname: 1311 } as const;

const VERIFY_PREFIX = 'tls: failed to verify certificate: ';

/** The certificate's SANs, as Node spells them: "DNS:localhost, IP Address:127.0.0.1". */
function sans(cert: tls.PeerCertificate | undefined): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const entry of (cert?.subjectaltname ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) dns.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ip.push(entry.slice(11));
  }
  return { dns, ip };
}

/** Go's x509.HostnameError text. */
export function hostnameErrorText(host: string, cert: tls.PeerCertificate | undefined): string {
  const bare = host.replace(/^\[|\]$/g, '');
  const { dns, ip } = sans(cert);
  const isIp = /^[\d.]+$/.test(bare) || bare.includes(':');
  if (cert && dns.length === 0 && ip.length === 0 && cert.subject?.CN === bare) {
    return 'x509: certificate relies on legacy Common Name field, use SANs instead';
  }
  if (isIp && cert && ip.length === 0) {
    return `x509: cannot validate certificate for ${bare} because it doesn't contain any IP SANs`;
  }
  const valid = (isIp ? ip : dns).join(', ');
  if (!cert) return `x509: certificate is not valid for ${bare}`;
  if (valid === '') return `x509: certificate is not valid for any names, but wanted to match ${bare}`;
  return `x509: certificate is valid for ${valid}, not ${bare}`;
}

/** Go's x509.CertificateInvalidError text for an expired (or not yet valid) certificate. */
export function expiryErrorText(
  cert: tls.PeerCertificate | undefined,
  code: string,
  now = new Date(),
): string {
  const prefix = 'x509: certificate has expired or is not yet valid: ';
  if (!cert)
    return `${prefix}${code === 'CERT_NOT_YET_VALID' ? 'certificate is not yet valid' : 'certificate has expired'}`;
  const notBefore = new Date(cert.valid_from);
  const notAfter = new Date(cert.valid_to);
  if (code === 'CERT_NOT_YET_VALID' || now < notBefore) {
    return `${prefix}current time ${goRfc3339(now)} is before ${goRfc3339(notBefore, true)}`;
  }
  return `${prefix}current time ${goRfc3339(now)} is after ${goRfc3339(notAfter, true)}`;
}

/**
 * k6's and Go's texts for a certificate verification failure Node reported (`err.code`), or null when the
 * error is not one. `host` is the URL's host name; `cert` the server certificate when it was kept.
 */
export function tlsVerifyFailure(
  code: string | undefined,
  host: string,
  cert: tls.PeerCertificate | undefined,
): TlsVerifyFailure | null {
  if (code === undefined) return null;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      code: TLS_ERROR_CODES.x509Hostname,
      message: "x509: certificate doesn't match hostname",
      detail: VERIFY_PREFIX + hostnameErrorText(host, cert),
    };
  }
  if (UNKNOWN_AUTHORITY_CODES.has(code)) {
    return {
      code: TLS_ERROR_CODES.x509UnknownAuthority,
      message: 'x509: unknown authority',
      detail: `${VERIFY_PREFIX}x509: certificate signed by unknown authority`,
    };
  }
  if (EXPIRY_CODES.has(code)) {
    // k6 has no code of its own for it: errorCodeForError unwraps to x509.CertificateInvalidError → 1000, its text.
    const text = expiryErrorText(cert, code);
    return { code: TLS_ERROR_CODES.default, message: text, detail: VERIFY_PREFIX + text };
  }
  return null;
}

/** Node's error for a host name check carries the certificate itself. */
export function certificateOfError(err: unknown): tls.PeerCertificate | undefined {
  const cert = (err as { cert?: tls.PeerCertificate } | null)?.cert;
  return cert && typeof cert === 'object' ? cert : undefined;
}
