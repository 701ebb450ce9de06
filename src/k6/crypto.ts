/** The core's CryptoProvider on k6's global WebCrypto (`crypto.subtle`, k6 ≥ v1.6). */
import type { CryptoProvider, HashAlg } from '../xmpp/crypto.ts';

export const k6Crypto: CryptoProvider = {
  async hash(alg: HashAlg, data: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.digest(alg, data));
  },
  async hmac(alg: HashAlg, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: alg }, false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign('HMAC', k, data));
  },
  async pbkdf2(alg: HashAlg, password: Uint8Array, salt: Uint8Array, iterations: number, bytes: number) {
    const k = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
    return new Uint8Array(
      await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: alg, salt, iterations }, k, bytes * 8),
    );
  },
  randomBytes(n: number): Uint8Array {
    return crypto.getRandomValues(new Uint8Array(n));
  },
};
