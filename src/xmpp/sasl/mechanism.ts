import { base64Decode, base64Encode, EncodingError } from '../bytes.ts';
import type { CryptoProvider } from '../crypto.ts';
import { XmppError } from '../errors.ts';
import { PlainMechanism } from './plain.ts';
import { ScramMechanism, type ScramCache } from './scram.ts';

export const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';

/**
 * A client SASL mechanism, one instance per authentication attempt.
 *
 * Every method takes and returns the text content of the XML element exactly as it goes on the wire
 * (base64, RFC 6120 §6.4.2), so the session never encodes or decodes:
 * - `initial()` → text of `<auth mechanism=name>`: base64, `=` for an empty initial response,
 *   or null to send no initial response (then the server starts with a `<challenge>`).
 * - `challenge(text)` → text of the `<response>` ('' for an empty one).
 * - `success(text)` ← text of `<success>` ('' or null when it is empty); resolves once the server
 *   is verified (SCRAM: ServerSignature), rejects with an XmppError otherwise.
 * Errors are XmppError: 'auth-protocol' for a malformed exchange, 'auth-failed' for an `e=` from the
 * server, 'auth-server-signature' for a server that could not prove it knows the password.
 */
export interface SaslMechanism {
  readonly name: string;
  initial(): Promise<string | null>;
  challenge(data: string): Promise<string>;
  success(additionalData: string | null): Promise<void>;
}

export interface SaslCredentials {
  /** authcid: the localpart for XMPP, not the bare JID. */
  username: string;
  password: string;
  /** Identity to act as, when different from the one authenticated (rarely used). */
  authzid?: string;
}

/** Mechanisms createMechanism() knows, strongest first. -PLUS variants are absent on purpose: no channel binding. */
export const SUPPORTED_MECHANISMS: readonly string[] = ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'];

/**
 * Pick the first name of `preference` (default SUPPORTED_MECHANISMS) that the server offers.
 * Names we cannot run (unknown, or -PLUS) are never picked, even when preferred.
 * Comparison ignores case and surrounding whitespace; the result is the canonical (upper-case) name.
 */
export function chooseMechanism(
  offered: readonly string[],
  preference: readonly string[] = SUPPORTED_MECHANISMS,
): string | undefined {
  const offeredSet = new Set(offered.map((m) => m.trim().toUpperCase()));
  for (const p of preference) {
    const name = p.trim().toUpperCase();
    if (SUPPORTED_MECHANISMS.includes(name) && offeredSet.has(name)) return name;
  }
  return undefined;
}

/** Options for createMechanism / negotiateMechanism. */
export interface MechanismOptions {
  /** Shared SCRAM key cache; without it every SCRAM login runs PBKDF2. */
  cache?: ScramCache;
  /** SCRAM client nonce override, for test vectors. Must be printable ASCII without ','. */
  clientNonce?: () => string;
}

/** Build the mechanism `name`; throws XmppError 'auth-no-mechanism' for a name we do not support. */
export function createMechanism(
  name: string,
  credentials: SaslCredentials,
  crypto: CryptoProvider,
  cache?: ScramCache,
  options: Omit<MechanismOptions, 'cache'> = {},
): SaslMechanism {
  switch (name.trim().toUpperCase()) {
    case 'SCRAM-SHA-256':
      return new ScramMechanism('SHA-256', credentials, crypto, { ...options, cache });
    case 'SCRAM-SHA-1':
      return new ScramMechanism('SHA-1', credentials, crypto, { ...options, cache });
    case 'PLAIN':
      return new PlainMechanism(credentials);
    default:
      throw new XmppError(
        'auth-no-mechanism',
        undefined,
        `unsupported SASL mechanism ${name}; we support ${SUPPORTED_MECHANISMS.join(', ')}`,
      );
  }
}

/**
 * chooseMechanism + createMechanism. Throws XmppError 'auth-no-mechanism' naming both lists when
 * the server offers nothing we support.
 */
export function negotiateMechanism(
  offered: readonly string[],
  credentials: SaslCredentials,
  crypto: CryptoProvider,
  options: MechanismOptions & { preference?: readonly string[] } = {},
): SaslMechanism {
  const { preference, cache, ...rest } = options;
  const name = chooseMechanism(offered, preference);
  if (name === undefined) {
    const wanted = (preference ?? SUPPORTED_MECHANISMS)
      .map((p) => p.trim().toUpperCase())
      .filter((p) => SUPPORTED_MECHANISMS.includes(p));
    throw new XmppError(
      'auth-no-mechanism',
      undefined,
      `no usable SASL mechanism: server offers [${offered.join(', ')}], we support [${wanted.join(', ')}]`,
    );
  }
  return createMechanism(name, credentials, crypto, cache, rest);
}

/** Payload → text of `<auth>`: base64, with `=` for an empty initial response (RFC 6120 §6.4.2). */
export function encodeInitialResponse(payload: Uint8Array): string {
  return payload.length === 0 ? '=' : base64Encode(payload);
}

/** Payload → text of `<response>`: base64, '' when empty. */
export function encodeResponse(payload: Uint8Array): string {
  return base64Encode(payload);
}

/** Text of `<challenge>`/`<success>` → payload. Empty, `=` and null mean no data; bad base64 is 'auth-protocol'. */
export function decodeSaslData(text: string | null | undefined): Uint8Array {
  const t = (text ?? '').trim();
  if (t === '' || t === '=') return new Uint8Array(0);
  try {
    return base64Decode(t);
  } catch (e) {
    if (e instanceof EncodingError)
      throw new XmppError('auth-protocol', undefined, `SASL data: ${e.message}`);
    throw e;
  }
}
