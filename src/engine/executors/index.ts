/** Executor by k6 type name. */
import { constantArrivalRate, rampingArrivalRate } from './arrival-rate.ts';
import type { Executor } from './common.ts';
import type { ExecutorType } from './config.ts';
import { constantVus } from './constant-vus.ts';
import { perVuIterations } from './per-vu-iterations.ts';
import { rampingVus } from './ramping-vus.ts';
import { sharedIterations } from './shared-iterations.ts';

export const executors: Readonly<Record<ExecutorType, Executor>> = {
  'per-vu-iterations': perVuIterations,
  'shared-iterations': sharedIterations,
  'constant-vus': constantVus,
  'ramping-vus': rampingVus,
  'constant-arrival-rate': constantArrivalRate,
  'ramping-arrival-rate': rampingArrivalRate,
};

export type { Executor, ExecutorContext, VuPool } from './common.ts';
