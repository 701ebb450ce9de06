import { createHash, createHmac, pbkdf2, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** Both servers refuse fewer (RFC 5802 recommends at least 4096). */
export const SCRAM_ITERATIONS = 4096;

export type ScramHash = 'sha1' | 'sha256';

const HASH_BYTES: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

/** What a server stores for SCRAM (RFC 5802 §3, RFC 7677): never the password itself. */
export interface ScramCredentials {
  hash: ScramHash;
  /** Raw salt bytes, ASCII (a UUID, as Prosody itself generates) so it needs no escaping in Lua or XML. */
  salt: string;
  iterationCount: number;
  /** H(HMAC(SaltedPassword, "Client Key")) */
  storedKey: Buffer;
  /** HMAC(SaltedPassword, "Server Key") */
  serverKey: Buffer;
}

/** PBKDF2 runs on libuv's thread pool, so concurrent calls use every core. */
export async function deriveScram(
  hash: ScramHash,
  password: string,
  salt: string = randomUUID(),
  iterationCount: number = SCRAM_ITERATIONS,
): Promise<ScramCredentials> {
  const saltedPassword = await pbkdf2Async(password, salt, iterationCount, HASH_BYTES[hash], hash);
  const clientKey = createHmac(hash, saltedPassword).update('Client Key').digest();
  return {
    hash,
    salt,
    iterationCount,
    storedKey: createHash(hash).update(clientKey).digest(),
    serverKey: createHmac(hash, saltedPassword).update('Server Key').digest(),
  };
}

/**
 * Credentials for accounts 1..count. When every account has the same password (no `{n}` in the
 * pattern) one derivation with one salt serves all of them; otherwise each gets its own salt.
 */
export function credentialsSource(
  hash: ScramHash,
  passwordOf: (n: number) => string,
  samePasswordForAll: boolean,
): (n: number) => Promise<ScramCredentials> {
  if (samePasswordForAll) {
    let shared: Promise<ScramCredentials> | undefined;
    return (n) => (shared ??= deriveScram(hash, passwordOf(n)));
  }
  return (n) => deriveScram(hash, passwordOf(n));
}
