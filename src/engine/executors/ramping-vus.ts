/**
 * ramping-vus (lib/executor/ramping_vus.go, vu_handle.go): the raw steps start VUs and stop them gracefully
 * (the running iteration finishes); the graceful steps, which keep VUs for gracefulRampDown, hard-stop them.
 * The executor ends once the last raw step has passed and every VU is back in the pool.
 */
import { performance } from 'node:perf_hooks';
import type { Activation, Vu } from '../vu.ts';
import {
  durationSignals,
  scenarioActivation,
  sleepUntil,
  type Executor,
  type ExecutorContext,
} from './common.ts';
import { rampingGracefulSteps, rampingRawSteps } from './ramping-vus-config.ts';

type HandleState = 'stopped' | 'running' | 'toGracefulStop' | 'toHardStop';

class VuHandle {
  state: HandleState = 'stopped';
  private vu: Vu | undefined;
  private hard: AbortController | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly ctx: ExecutorContext,
    private readonly activation: Activation,
    private readonly executorDone: AbortSignal,
    private readonly onRelease: () => void,
  ) {}

  start(): void {
    if (this.state === 'running') return;
    if (this.state === 'stopped' || this.state === 'toHardStop') {
      if (this.vu === undefined) {
        this.vu = this.ctx.pool.getPlannedVU();
        this.ctx.state.counters.vusActive++;
        this.vu.activate(this.activation);
      }
      this.hard = new AbortController();
    }
    this.state = 'running';
    this.wake?.();
  }

  gracefulStop(): void {
    if (this.state === 'running') this.state = 'toGracefulStop';
  }

  hardStop(): void {
    if (this.state === 'running' || this.state === 'toGracefulStop') {
      this.state = 'toHardStop';
      this.hard?.abort();
    }
  }

  get holdsVU(): boolean {
    return this.vu !== undefined;
  }

  private release(): void {
    if (this.vu === undefined) return;
    this.vu.deactivate();
    this.ctx.pool.returnVU(this.vu);
    this.vu = undefined;
    this.ctx.state.counters.vusActive--;
    this.onRelease();
  }

  async loop(): Promise<void> {
    const done = this.executorDone;
    const onDone = () => this.hard?.abort();
    done.addEventListener('abort', onDone);
    try {
      while (!done.aborted) {
        if (this.state === 'running' && this.vu !== undefined && this.hard !== undefined) {
          await this.vu.runIteration(this.hard.signal);
          continue;
        }
        if (this.state !== 'running') {
          this.release();
          if (this.state !== 'stopped') this.state = 'stopped';
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            done.removeEventListener('abort', wake);
            resolve();
          };
          this.wake = wake;
          done.addEventListener('abort', wake, { once: true });
          if (this.state === 'running') wake();
        });
        this.wake = undefined;
      }
    } finally {
      done.removeEventListener('abort', onDone);
      this.release();
    }
  }
}

export const rampingVus: Executor = async (ctx) => {
  const sc = ctx.sc;
  if (sc.executor !== 'ramping-vus') throw new Error(`not ramping-vus: ${sc.executor}`);
  const raw = rampingRawSteps(sc.startVUs, sc.stages, true);
  const graceful = rampingGracefulSteps(sc);
  const regular = raw[raw.length - 1]!.offsetMs;
  const maxEnd = graceful[graceful.length - 1]!.offsetMs;
  const d = durationSignals(ctx.runSignal, regular, maxEnd - regular);
  const t0 = performance.now();
  ctx.progress = () => Math.min(1, (performance.now() - t0) / regular);
  const activation = scenarioActivation(ctx);
  const maxVUs = Math.max(0, ...graceful.map((s) => s.vus));

  let onAllReleased: (() => void) | undefined;
  const handles: VuHandle[] = Array.from(
    { length: maxVUs },
    () =>
      new VuHandle(ctx, activation, d.max, () => {
        if (!handles.some((h) => h.holdsVU)) onAllReleased?.();
      }),
  );
  const loops = handles.map((h) => h.loop());

  let scheduled = 0;
  const onRaw = (vus: number) => {
    for (; scheduled < vus; scheduled++) handles[scheduled]!.start();
    for (; vus < scheduled; scheduled--) handles[scheduled - 1]!.gracefulStop();
  };
  let allowed = 0;
  const onGraceful = (vus: number) => {
    for (; vus < allowed; allowed--) handles[allowed - 1]!.hardStop();
    allowed = vus;
  };

  try {
    let i = 0;
    let j = 0;
    while (i < raw.length) {
      const r = raw[i]!;
      const g = graceful[j];
      if (g !== undefined && g.offsetMs < r.offsetMs) {
        if (!(await sleepUntil(t0 + g.offsetMs, ctx.runSignal))) break;
        onGraceful(g.vus);
        j++;
      } else {
        if (!(await sleepUntil(t0 + r.offsetMs, ctx.runSignal))) break;
        onRaw(r.vus);
        i++;
      }
    }
    // Remaining graceful steps run while the last VUs finish their iterations.
    const remaining = graceful.slice(j);
    void (async () => {
      for (const g of remaining) {
        if (!(await sleepUntil(t0 + g.offsetMs, d.max))) return;
        onGraceful(g.vus);
      }
    })();
    if (handles.some((h) => h.holdsVU) && !d.max.aborted) {
      await new Promise<void>((resolve) => {
        onAllReleased = resolve;
        d.max.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  } finally {
    d.endAll();
    await Promise.all(loops);
    d.dispose();
  }
};
