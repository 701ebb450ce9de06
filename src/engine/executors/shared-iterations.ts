/** shared-iterations (lib/executor/shared_iterations.go): `iterations` in total, taken by whichever VU is free. */
import { durationSignals, pushDropped, scenarioActivation, withPlannedVU, type Executor } from './common.ts';

export const sharedIterations: Executor = async (ctx) => {
  const sc = ctx.sc;
  if (sc.executor !== 'shared-iterations') throw new Error(`not shared-iterations: ${sc.executor}`);
  const d = durationSignals(ctx.runSignal, sc.maxDurationMs, sc.gracefulStopMs);
  let attempted = 0;
  let done = 0;
  ctx.progress = () => done / sc.iterations;
  const activation = scenarioActivation(ctx);
  try {
    await Promise.all(
      Array.from({ length: sc.vus }, () =>
        withPlannedVU(ctx, activation, async (vu) => {
          for (;;) {
            if (d.reg.aborted) return;
            if (++attempted > sc.iterations) return;
            await vu.runIteration(d.max);
            done++;
          }
        }),
      ),
    );
    if (attempted < sc.iterations) pushDropped(ctx, sc.iterations - attempted);
  } finally {
    d.dispose();
  }
};
