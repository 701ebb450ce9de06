/** per-vu-iterations's config (lib/executor/per_vu_iterations.go): each VU runs `iterations` iterations. */
import { formatDuration } from '../duration.ts';
import { MIN_DURATION, type BaseScenario, type FieldReader } from './base-config.ts';

export interface PerVuIterationsConfig extends BaseScenario {
  executor: 'per-vu-iterations';
  vus: number;
  iterations: number;
  maxDurationMs: number;
}

/** PerVUIterationsConfig's own fields, with k6's defaults, and its Validate(): problems go to `errors`. */
export function readPerVuIterations(
  f: FieldReader,
  errors: string[],
): Omit<PerVuIterationsConfig, keyof BaseScenario> {
  const vus = f.int('vus', 1);
  const iterations = f.int('iterations', 1);
  const maxDurationMs = f.duration('maxDuration', 600_000);
  if (vus <= 0) errors.push('the number of VUs must be more than 0');
  if (iterations <= 0) errors.push('the number of iterations must be more than 0');
  if (maxDurationMs < MIN_DURATION) {
    errors.push(`the maxDuration must be at least 1s, but is ${formatDuration(maxDurationMs)}`);
  }
  return { executor: 'per-vu-iterations', vus, iterations, maxDurationMs };
}
