import type { CryptoProvider } from '../crypto.ts';
import type { ScramCache } from './scram-cache.ts';

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
 * Errors are XmppError (../errors.ts): 'auth-protocol' for a malformed exchange, 'auth-failed' for an
 * `e=` from the server, 'auth-server-signature' for a server that could not prove it knows the password;
 * a registry throws 'auth-no-mechanism' for a name it cannot build.
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

/** What a mechanism factory gets for one authentication attempt. */
export interface MechanismContext {
  credentials: SaslCredentials;
  crypto: CryptoProvider;
  /** Shared SCRAM key cache; without it every SCRAM login runs PBKDF2. Mechanisms other than SCRAM ignore it. */
  scramCache?: ScramCache | undefined;
  /** Client nonce override, for test vectors. Must be printable ASCII without ','. */
  clientNonce?: (() => string) | undefined;
}

/** Builds a fresh mechanism for one authentication attempt. */
export type MechanismFactory = (context: MechanismContext) => SaslMechanism;
