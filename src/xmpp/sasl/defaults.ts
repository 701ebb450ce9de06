import type { CryptoProvider } from '../crypto.ts';
import type { MechanismContext, SaslCredentials, SaslMechanism } from './mechanism.ts';
import { PlainMechanism } from './plain.ts';
import { SaslRegistry } from './registry.ts';
import { ScramMechanism, type ScramCache, type ScramOptions } from './scram.ts';

/**
 * A new registry with the mechanisms starling runs, strongest first: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN.
 * -PLUS variants are absent on purpose: no channel binding. Add to it with `use()`, or build a SaslRegistry
 * of your own, and pass it to the session as `saslRegistry`.
 */
export function defaultSaslRegistry(): SaslRegistry {
  return new SaslRegistry()
    .use('SCRAM-SHA-256', (c) => new ScramMechanism('SHA-256', c.credentials, c.crypto, scramOptions(c)))
    .use('SCRAM-SHA-1', (c) => new ScramMechanism('SHA-1', c.credentials, c.crypto, scramOptions(c)))
    .use('PLAIN', (c) => new PlainMechanism(c.credentials));
}

function scramOptions(c: MechanismContext): ScramOptions {
  return { cache: c.scramCache, clientNonce: c.clientNonce };
}

/** The default registry behind the functions below; private, so nobody can `use()` on it. */
const defaults = defaultSaslRegistry();

/** Mechanisms the default registry knows, strongest first. */
export const SUPPORTED_MECHANISMS: readonly string[] = Object.freeze(defaults.names);

/**
 * Pick the first name of `preference` (default SUPPORTED_MECHANISMS) that the server offers, from the
 * default registry: names we cannot run (unknown, or -PLUS) are never picked, even when preferred.
 * Comparison ignores case and surrounding whitespace; the result is the canonical (upper-case) name.
 */
export function chooseMechanism(
  offered: readonly string[],
  preference?: readonly string[],
): string | undefined {
  return defaults.choose(offered, preference);
}

/** Options for createMechanism / negotiateMechanism. */
export interface MechanismOptions {
  /** Shared SCRAM key cache; without it every SCRAM login runs PBKDF2. */
  cache?: ScramCache;
  /** SCRAM client nonce override, for test vectors. Must be printable ASCII without ','. */
  clientNonce?: () => string;
}

/** Build the default mechanism `name`; throws XmppError 'auth-no-mechanism' for a name we do not support. */
export function createMechanism(
  name: string,
  credentials: SaslCredentials,
  crypto: CryptoProvider,
  cache?: ScramCache,
  options: Omit<MechanismOptions, 'cache'> = {},
): SaslMechanism {
  return defaults.create(name, { credentials, crypto, scramCache: cache, clientNonce: options.clientNonce });
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
  const { preference, cache, clientNonce } = options;
  return defaults.negotiate(offered, { credentials, crypto, scramCache: cache, clientNonce }, preference);
}
