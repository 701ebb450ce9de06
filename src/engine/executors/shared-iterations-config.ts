/** shared-iterations's config (lib/executor/shared_iterations.go): `iterations` in total, shared by `vus` VUs. */
import { formatDuration } from '../duration.ts';
import { MIN_DURATION, type BaseScenario, type FieldReader } from './base-config.ts';

export interface SharedIterationsConfig extends BaseScenario {
  executor: 'shared-iterations';
  vus: number;
  iterations: number;
  maxDurationMs: number;
}

/** SharedIterationsConfig's own fields, with k6's defaults, and its Validate(): problems go to `errors`. */
export function readSharedIterations(
  f: FieldReader,
  errors: string[],
): Omit<SharedIterationsConfig, keyof BaseScenario> {
  const vus = f.int('vus', 1);
  const iterations = f.int('iterations', 1);
  const maxDurationMs = f.duration('maxDuration', 600_000);
  if (vus <= 0) errors.push('the number of VUs must be more than 0');
  if (iterations < vus) {
    errors.push(`the number of iterations (${iterations}) can't be less than the number of VUs (${vus})`);
  }
  if (maxDurationMs < MIN_DURATION) {
    errors.push(`the maxDuration must be at least 1s, but is ${formatDuration(maxDurationMs)}`);
  }
  return { executor: 'shared-iterations', vus, iterations, maxDurationMs };
}
