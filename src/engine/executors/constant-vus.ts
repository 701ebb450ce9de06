/** constant-vus (lib/executor/constant_vus.go): `vus` VUs loop iterations for `duration`. */
import { performance } from 'node:perf_hooks';
import { durationSignals, scenarioActivation, withPlannedVU, type Executor } from './common.ts';

export const constantVus: Executor = async (ctx) => {
  const sc = ctx.sc;
  if (sc.executor !== 'constant-vus') throw new Error(`not constant-vus: ${sc.executor}`);
  const d = durationSignals(ctx.runSignal, sc.durationMs, sc.gracefulStopMs);
  const t0 = performance.now();
  ctx.progress = () => Math.min(1, (performance.now() - t0) / sc.durationMs);
  const activation = scenarioActivation(ctx);
  try {
    await Promise.all(
      Array.from({ length: sc.vus }, () =>
        withPlannedVU(ctx, activation, async (vu) => {
          while (!d.reg.aborted) await vu.runIteration(d.max);
        }),
      ),
    );
  } finally {
    d.dispose();
  }
};
