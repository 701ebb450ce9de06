/**
 * Stands in for `pako` where hdr-histogram-js requires it, in k6 bundles (K6_BUILD's hdrWithoutWasm plugin):
 * deflate only (VUs encode, the collector decodes), which keeps pako's inflate (~60 KB) out of the bundle.
 *
 * A small window and hash (windowBits 9, memLevel 1) rather than pako's 32 KB/level 8 defaults: a V2 payload
 * is a few hundred bytes to a few KB, so it compresses as well, and each call allocates ~3 KB instead of
 * ~256 KB (≈10× faster per snapshot). The output is an ordinary zlib stream (its header names the window),
 * which zlib's inflate — Node's, Java's, pako's — decodes.
 *
 * pako itself is loaded at the first deflate, not with the script: loading it builds its CRC and Huffman tables,
 * ~0.4 ms in every VU's init (4 ms of a 10-VU start-up), and most runs send no snapshot. esbuild turns the
 * require() below into a call to the bundled module, run when first reached.
 */
import type * as Pako from 'pako/lib/deflate.js';

declare const require: (id: 'pako/lib/deflate.js') => typeof Pako;

let pako: typeof Pako | undefined;

export function deflate(data: Uint8Array, options?: { level?: number }): Uint8Array {
  pako ??= require('pako/lib/deflate.js');
  return pako.deflate(data, { level: options?.level ?? -1, windowBits: 9, memLevel: 1 });
}

export function inflate(): never {
  throw new Error('pako inflate is not bundled into k6 scripts: snapshots are decoded by the collector');
}

export default { deflate, inflate };
