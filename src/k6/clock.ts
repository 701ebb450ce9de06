import type { Clock } from '../xmpp/clock.ts';

/** k6 has no performance.now(): milliseconds from Date.now() and the global timers. */
export const k6Clock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
};
