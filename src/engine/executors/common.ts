/** What every executor shares: VU pool, duration signals, activation, dropped_iterations (lib/executor/helpers.go). */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ScenarioConfig } from './config.ts';
import type { Activation, EngineState, Vu } from '../vu.ts';

export interface VuPool {
  /** A pre-initialized VU; the execution plan guarantees one is free. */
  getPlannedVU(): Vu;
  returnVU(vu: Vu): void;
  /** A VU beyond the plan (arrival-rate maxVUs), initialized now. */
  getUnplannedVU(): Promise<Vu>;
}

export interface ExecutorContext {
  readonly sc: ScenarioConfig;
  readonly pool: VuPool;
  readonly state: EngineState;
  /** Aborted when the whole run stops early (test.abort, signal, thresholds): iterations are cut at once. */
  readonly runSignal: AbortSignal;
  /** The executor sets it: scenario progress in 0..1. */
  progress: () => number;
}

export type Executor = (ctx: ExecutorContext) => Promise<void>;

/**
 * getDurationContexts: `reg` ends the regular duration (no new iterations), `max` adds gracefulStop (running
 * iterations are interrupted). Both follow `parent`.
 */
export function durationSignals(
  parent: AbortSignal,
  regularMs: number,
  gracefulStopMs: number,
): { reg: AbortSignal; max: AbortSignal; endAll(): void; dispose(): void } {
  const max = new AbortController();
  const reg = new AbortController();
  // Every running iteration listens on `max`.
  setMaxListeners(0, max.signal, reg.signal);
  const endMax = () => {
    reg.abort();
    max.abort();
  };
  const endReg = () => reg.abort();
  if (parent.aborted) endMax();
  parent.addEventListener('abort', endMax, { once: true });
  const tReg = setTimeout(endReg, regularMs);
  const tMax = setTimeout(endMax, regularMs + gracefulStopMs);
  return {
    reg: reg.signal,
    max: max.signal,
    endAll: endMax,
    dispose() {
      clearTimeout(tReg);
      clearTimeout(tMax);
      parent.removeEventListener('abort', endMax);
    },
  };
}

/** The activation every VU of one scenario run shares; iteration numbers are scenario-wide. */
export function scenarioActivation(ctx: ExecutorContext): Activation {
  let next = 0;
  return {
    scenario: ctx.sc,
    startTime: Date.now(),
    progress: () => ctx.progress(),
    nextIteration: () => next++,
  };
}

/** k6 pushes dropped_iterations only while the test run is not aborted (PushIfNotDone). */
export function pushDropped(ctx: ExecutorContext, count: number): void {
  if (count <= 0 || ctx.runSignal.aborted) return;
  ctx.state.metrics.push(
    'dropped_iterations',
    count,
    { ...ctx.state.runTags, scenario: ctx.sc.name },
    Date.now(),
  );
}

/** Resolves true at `performance.now() >= at`, false as soon as `signal` aborts. */
export function sleepUntil(at: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  const ms = at - performance.now();
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const t = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Holds a planned VU for a looping executor, counted as active the whole time (GetPlannedVU(…, true)). */
export async function withPlannedVU<T>(
  ctx: ExecutorContext,
  activation: Activation,
  body: (vu: Vu) => Promise<T>,
): Promise<T> {
  const vu = ctx.pool.getPlannedVU();
  ctx.state.counters.vusActive++;
  vu.activate(activation);
  try {
    return await body(vu);
  } finally {
    vu.deactivate();
    ctx.pool.returnVU(vu);
    ctx.state.counters.vusActive--;
  }
}
