/** `k6/timers`: the VU's global timer functions, as k6's module exports them (timers/timers.go). */
import { UnsupportedK6ApiError, type ModuleFactory } from '../runtime.ts';

export const timersModule: ModuleFactory = (rt) => {
  const g = rt.realm?.global;
  if (g === undefined) throw new UnsupportedK6ApiError('k6/timers without a VU context');
  return {
    setTimeout: g.setTimeout,
    clearTimeout: g.clearTimeout,
    setInterval: g.setInterval,
    clearInterval: g.clearInterval,
  };
};
