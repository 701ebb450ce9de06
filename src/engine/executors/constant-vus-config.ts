/** constant-vus's config (lib/executor/constant_vus.go): `vus` VUs loop iterations for `duration`. */
import { formatDuration } from '../duration.ts';
import { MIN_DURATION, type BaseScenario, type FieldReader } from './base-config.ts';

export interface ConstantVusConfig extends BaseScenario {
  executor: 'constant-vus';
  vus: number;
  durationMs: number;
}

/** ConstantVUsConfig's own fields, with k6's defaults, and its Validate(): problems go to `errors`. */
export function readConstantVus(
  f: FieldReader,
  errors: string[],
): Omit<ConstantVusConfig, keyof BaseScenario> {
  const vus = f.int('vus', 1);
  const hasDuration = f.has('duration');
  const durationMs = f.duration('duration', 0);
  if (vus <= 0) errors.push('the number of VUs must be more than 0');
  if (!hasDuration) errors.push('the duration is unspecified');
  else if (durationMs < MIN_DURATION) {
    errors.push(`the duration must be at least 1s, but is ${formatDuration(durationMs)}`);
  }
  return { executor: 'constant-vus', vus, durationMs };
}
