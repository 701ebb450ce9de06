import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import type { CryptoProvider, HashAlg } from '../xmpp/crypto.ts';

const NODE_ALG: Record<HashAlg, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256' };

/** Plain Uint8Array view of a Buffer: Buffer's own slice() shares memory where Uint8Array's copies. */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** CryptoProvider over node:crypto. pbkdf2 runs on the libuv thread pool, off the event loop. */
export const nodeCrypto: CryptoProvider = {
  async hash(alg, data) {
    return bytes(createHash(NODE_ALG[alg]).update(data).digest());
  },
  async hmac(alg, key, data) {
    return bytes(createHmac(NODE_ALG[alg], key).update(data).digest());
  },
  pbkdf2(alg, password, salt, iterations, length) {
    return new Promise((resolve, reject) => {
      pbkdf2(password, salt, iterations, length, NODE_ALG[alg], (err, key) =>
        err ? reject(err) : resolve(bytes(key)),
      );
    });
  },
  randomBytes(n) {
    return bytes(randomBytes(n));
  },
};
