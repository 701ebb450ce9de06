/**
 * mulberry32: a small, fast, seeded PRNG with uniform output in [0, 1). The engine's `randomSeed()` uses it (k6
 * seeds Go's math/rand, whose sequence cannot be reproduced here; only determinism is kept), and so do the tests
 * that need reproducible random cases: one implementation, so a failing seed replays everywhere.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
