/** The one pako module k6 bundles use (pako-deflate.ts); @types/pako is not a dependency. */
declare module 'pako/lib/deflate.js' {
  export function deflate(
    data: Uint8Array,
    options?: { level?: number; windowBits?: number; memLevel?: number },
  ): Uint8Array;
}
