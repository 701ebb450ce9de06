/**
 * Stands in for hdr-histogram-js's dist/wasm in k6 bundles (K6_BUILD's hdrWithoutWasm plugin). The real module
 * embeds the WebAssembly build and, at import, reads `window` or `process`, which k6 does not have. Here
 * WebAssembly is "not available", so the package's builder falls back to its pure-JS histograms, and any
 * direct use throws.
 */
const MESSAGE =
  'hdr-histogram-js WebAssembly is not bundled into k6 scripts: use the pure-JS histograms (src/k6/hdr.ts)';

function unavailable(): never {
  throw new Error(MESSAGE);
}

export const webAssemblyAvailable = false;
export const webAssemblyReady = (): boolean => false;
export const initWebAssembly = (): Promise<void> => Promise.reject(new Error(MESSAGE));
export const initWebAssemblySync = (): void => unavailable();

export class WasmHistogram {
  constructor() {
    unavailable();
  }
  static build(): never {
    return unavailable();
  }
  static decode(): never {
    return unavailable();
  }
}
