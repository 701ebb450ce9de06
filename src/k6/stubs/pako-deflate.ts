/**
 * Stands in for `pako` where hdr-histogram-js requires it, in k6 bundles (K6_BUILD's hdrWithoutWasm plugin):
 * deflate only (VUs encode, the collector decodes), which keeps pako's inflate (~60 KB) out of the bundle.
 *
 * A small window and hash (windowBits 9, memLevel 1) rather than pako's 32 KB/level 8 defaults: a V2 payload
 * is a few hundred bytes to a few KB, so it compresses as well, and each call allocates ~3 KB instead of
 * ~256 KB (≈10× faster per snapshot). The output is an ordinary zlib stream (its header names the window),
 * which zlib's inflate — Node's, Java's, pako's — decodes.
 */
import { deflate as pakoDeflate } from 'pako/lib/deflate.js';

export function deflate(data: Uint8Array, options?: { level?: number }): Uint8Array {
  return pakoDeflate(data, { level: options?.level ?? -1, windowBits: 9, memLevel: 1 });
}

export function inflate(): never {
  throw new Error('pako inflate is not bundled into k6 scripts: snapshots are decoded by the collector');
}

export default { deflate, inflate };
