/** Time and timers injected by the host (k6's globals, Node's timers, a fake clock in tests). */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds; k6 only has Date.now(), so nothing finer is assumed. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}
