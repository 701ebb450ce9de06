/**
 * Stands in for @assemblyscript/loader in k6 bundles (K6_BUILD's hdrWithoutWasm plugin): the real loader needs
 * TextDecoder at import, which k6 does not have, and k6 scripts never instantiate WebAssembly.
 */
const MESSAGE = '@assemblyscript/loader is not bundled into k6 scripts (no WebAssembly there)';

function unavailable(): never {
  throw new Error(MESSAGE);
}

export const instantiate = (): Promise<never> => Promise.reject(new Error(MESSAGE));
export const instantiateStreaming = instantiate;
export const instantiateSync = (): never => unavailable();
export const demangle = (): never => unavailable();
export default { instantiate, instantiateStreaming, instantiateSync, demangle };
