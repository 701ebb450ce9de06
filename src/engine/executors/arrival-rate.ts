/**
 * constant-arrival-rate and ramping-arrival-rate (lib/executor/*_arrival_rate.go): iterations start on a
 * schedule whether or not earlier ones finished. A start with no free VU is dropped (`dropped_iterations`)
 * and, while below maxVUs, one more VU is initialized in the background, one at a time. A VU counts as
 * active only while it runs an iteration.
 */
import { performance } from 'node:perf_hooks';
import type { Vu } from '../vu.ts';
import type { Stage } from './base-config.ts';
import {
  durationSignals,
  pushDropped,
  scenarioActivation,
  sleepUntil,
  type Executor,
  type ExecutorContext,
} from './common.ts';

/** Offsets (ms) of constant-arrival-rate starts: one every timeUnit/rate, from 0, before `durationMs`. */
export function* constantArrivals(rate: number, timeUnitMs: number, durationMs: number): Generator<number> {
  const period = timeUnitMs / rate;
  for (let i = 0; ; i++) {
    const t = i * period;
    if (t >= durationMs) return;
    yield t;
  }
}

/**
 * ramping-arrival-rate's `cal`: start n happens when the area under the (piecewise linear) rate curve
 * reaches n, so the total is the integral of the rate.
 */
export function* rampingArrivals(
  startRate: number,
  timeUnitMs: number,
  stages: readonly Stage[],
): Generator<number> {
  let from = startRate / timeUnitMs;
  let doneSoFar = 0;
  let endCount = 0;
  let stageStart = 0;
  let i = 1;
  for (const stage of stages) {
    const to = stage.target / timeUnitMs;
    const dur = stage.durationMs;
    if (from !== to) {
      endCount += dur * ((to - from) / 2 + from);
      for (; i <= endCount; i++) {
        const disc = dur * (from * from * dur + 2 * (i - doneSoFar) * (to - from));
        yield stageStart + (from * dur - Math.sqrt(Math.max(0, disc))) / (from - to);
      }
    } else {
      endCount += dur * to;
      for (; i <= endCount; i++) yield stageStart + (i - doneSoFar) / to;
    }
    doneSoFar = endCount;
    from = to;
    stageStart += dur;
  }
}

async function runArrivals(
  ctx: ExecutorContext,
  arrivals: Iterable<number>,
  durationMs: number,
  preAllocatedVUs: number,
  maxVUs: number,
): Promise<void> {
  const sc = ctx.sc;
  const d = durationSignals(ctx.runSignal, durationMs, sc.gracefulStopMs);
  const t0 = performance.now();
  ctx.progress = () => Math.min(1, (performance.now() - t0) / durationMs);
  const activation = scenarioActivation(ctx);
  const counters = ctx.state.counters;
  const owned: Vu[] = [];
  const free: Vu[] = [];
  const running = new Set<Promise<void>>();
  const take = (vu: Vu) => {
    vu.activate(activation);
    owned.push(vu);
    free.push(vu);
  };
  for (let i = 0; i < preAllocatedVUs; i++) take(ctx.pool.getPlannedVU());

  let remainingUnplanned = maxVUs - preAllocatedVUs;
  let allocating: Promise<void> | undefined;
  try {
    for (const offset of arrivals) {
      if (d.reg.aborted || !(await sleepUntil(t0 + offset, d.reg))) break;
      const vu = free.shift();
      if (vu !== undefined) {
        counters.vusActive++;
        const p: Promise<void> = vu
          .runIteration(d.max)
          .then(() => undefined)
          .finally(() => {
            counters.vusActive--;
            running.delete(p);
            free.push(vu);
          });
        running.add(p);
        continue;
      }
      pushDropped(ctx, 1);
      if (remainingUnplanned > 0 && allocating === undefined) {
        remainingUnplanned--;
        allocating = ctx.pool
          .getUnplannedVU()
          .then(take, (e: unknown) =>
            ctx.state.log('error', `Error while allocating unplanned VU: ${String(e)}`),
          )
          .finally(() => {
            allocating = undefined;
          });
      }
    }
    await allocating;
    await Promise.all(running);
  } finally {
    for (const vu of owned) {
      vu.deactivate();
      ctx.pool.returnVU(vu);
    }
    d.dispose();
  }
}

export const constantArrivalRate: Executor = (ctx) => {
  const sc = ctx.sc;
  if (sc.executor !== 'constant-arrival-rate') throw new Error(`not constant-arrival-rate: ${sc.executor}`);
  return runArrivals(
    ctx,
    constantArrivals(sc.rate, sc.timeUnitMs, sc.durationMs),
    sc.durationMs,
    sc.preAllocatedVUs,
    sc.maxVUs,
  );
};

export const rampingArrivalRate: Executor = (ctx) => {
  const sc = ctx.sc;
  if (sc.executor !== 'ramping-arrival-rate') throw new Error(`not ramping-arrival-rate: ${sc.executor}`);
  const duration = sc.stages.reduce((a, s) => a + s.durationMs, 0);
  return runArrivals(
    ctx,
    rampingArrivals(sc.startRate, sc.timeUnitMs, sc.stages),
    duration,
    sc.preAllocatedVUs,
    sc.maxVUs,
  );
};
