/**
 * Globals k6 provides that @types/k6 does not declare (k6 ≥ v1.6): timers and WebCrypto. Only what
 * src/k6 uses; the scenario bundles are checked against exactly this set.
 */
declare global {
  function setTimeout(fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): number;
  function clearTimeout(id: number | undefined): void;
  function setInterval(fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): number;
  function clearInterval(id: number | undefined): void;

  interface K6CryptoKey {
    readonly type: string;
  }
  interface K6SubtleCrypto {
    digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
    importKey(
      format: 'raw',
      keyData: Uint8Array,
      algorithm: string | { name: string; hash?: string },
      extractable: boolean,
      usages: string[],
    ): Promise<K6CryptoKey>;
    sign(algorithm: string | { name: string }, key: K6CryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
    deriveBits(
      algorithm: { name: 'PBKDF2'; hash: string; salt: Uint8Array; iterations: number },
      baseKey: K6CryptoKey,
      length: number,
    ): Promise<ArrayBuffer>;
  }
  const crypto: {
    getRandomValues<T extends Uint8Array>(array: T): T;
    randomUUID(): string;
    subtle: K6SubtleCrypto;
  };
}

export {};
