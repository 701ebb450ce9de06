/** per-vu-iterations (lib/executor/per_vu_iterations.go): each VU runs `iterations` iterations. */
import { durationSignals, pushDropped, scenarioActivation, withPlannedVU, type Executor } from './common.ts';

export const perVuIterations: Executor = async (ctx) => {
  const sc = ctx.sc;
  if (sc.executor !== 'per-vu-iterations') throw new Error(`not per-vu-iterations: ${sc.executor}`);
  const d = durationSignals(ctx.runSignal, sc.maxDurationMs, sc.gracefulStopMs);
  const total = sc.vus * sc.iterations;
  let done = 0;
  ctx.progress = () => done / total;
  const activation = scenarioActivation(ctx);
  try {
    await Promise.all(
      Array.from({ length: sc.vus }, () =>
        withPlannedVU(ctx, activation, async (vu) => {
          for (let i = 0; i < sc.iterations; i++) {
            if (d.reg.aborted) {
              pushDropped(ctx, sc.iterations - i);
              return;
            }
            await vu.runIteration(d.max);
            done++;
          }
        }),
      ),
    );
  } finally {
    d.dispose();
  }
};
