/**
 * Stands in for hdr-histogram-js's dist/wasm/generated-wasm (≈200 KB of base64 WebAssembly) in k6 bundles
 * (K6_BUILD's hdrWithoutWasm plugin). Empty: nothing in a k6 script may instantiate it, and the loader stub
 * throws if anything tries.
 */
export const BINARY = '';
