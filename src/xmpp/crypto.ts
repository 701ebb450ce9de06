/** Hash algorithms the SASL mechanisms need. */
export type HashAlg = 'SHA-1' | 'SHA-256';

/**
 * Crypto injected by the host (Node's crypto, k6's global `crypto.subtle`), so the core stays host-neutral.
 * Async because WebCrypto is.
 */
export interface CryptoProvider {
  hash(alg: HashAlg, data: Uint8Array): Promise<Uint8Array>;
  hmac(alg: HashAlg, key: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
  pbkdf2(
    alg: HashAlg,
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    bytes: number,
  ): Promise<Uint8Array>;
  randomBytes(n: number): Uint8Array;
}
