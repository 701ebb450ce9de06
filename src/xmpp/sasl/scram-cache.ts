import { base64Encode } from '../bytes.ts';
import type { HashAlg } from '../crypto.ts';

/** Everything derived from the password for one (alg, password, salt, iterations). */
export interface ScramKeys {
  saltedPassword: Uint8Array;
  clientKey: Uint8Array;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

/**
 * Cache of derived SCRAM keys, as real clients keep, so repeated logins skip PBKDF2.
 * Keyed by the PBKDF2 inputs (alg, prepared password, salt, iterations): the username adds nothing
 * to the derivation, so users sharing a password and salt share an entry. Bounded, least recently
 * used evicted first. Concurrent logins needing the same keys share one derivation.
 */
export class ScramCache {
  readonly maxEntries: number;
  hits = 0;
  misses = 0;
  private readonly entries = new Map<string, Promise<ScramKeys>>();

  constructor(maxEntries = 100_000) {
    if (!(maxEntries >= 1)) throw new RangeError(`ScramCache: maxEntries must be >= 1, got ${maxEntries}`);
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.hits = this.misses = 0;
  }

  /** Cached keys, or `derive()` them and remember the result (failures are not remembered). */
  getOrDerive(
    alg: HashAlg,
    password: string,
    salt: Uint8Array,
    iterations: number,
    derive: () => Promise<ScramKeys>,
  ): Promise<ScramKeys> {
    const key = JSON.stringify([alg, password, base64Encode(salt), iterations]);
    const found = this.entries.get(key);
    if (found) {
      this.hits++;
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.entries.delete(key);
      this.entries.set(key, found);
      return found;
    }
    this.misses++;
    const p = derive();
    this.entries.set(key, p);
    p.catch(() => {
      if (this.entries.get(key) === p) this.entries.delete(key);
    });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    return p;
  }
}
