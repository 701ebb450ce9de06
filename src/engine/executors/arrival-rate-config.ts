/**
 * constant-arrival-rate's and ramping-arrival-rate's configs (lib/executor/constant_arrival_rate.go,
 * ramping_arrival_rate.go): iterations start at `rate` per `timeUnit`, on preAllocatedVUs up to maxVUs.
 */
import { formatDuration } from '../duration.ts';
import { MIN_DURATION, type BaseScenario, type FieldReader, type Stage } from './base-config.ts';

export interface ConstantArrivalRateConfig extends BaseScenario {
  executor: 'constant-arrival-rate';
  rate: number;
  timeUnitMs: number;
  durationMs: number;
  preAllocatedVUs: number;
  maxVUs: number;
}

export interface RampingArrivalRateConfig extends BaseScenario {
  executor: 'ramping-arrival-rate';
  startRate: number;
  timeUnitMs: number;
  stages: Stage[];
  preAllocatedVUs: number;
  maxVUs: number;
}

/** ConstantArrivalRateConfig's own fields, with k6's defaults, and its Validate(): problems go to `errors`. */
export function readConstantArrivalRate(
  f: FieldReader,
  errors: string[],
): Omit<ConstantArrivalRateConfig, keyof BaseScenario> {
  const hasRate = f.has('rate');
  const rate = f.int('rate', 0);
  const timeUnitMs = f.duration('timeUnit', 1000);
  const hasDuration = f.has('duration');
  const durationMs = f.duration('duration', 0);
  const hasPre = f.has('preAllocatedVUs');
  const preAllocatedVUs = f.int('preAllocatedVUs', 0);
  const hasMax = f.has('maxVUs');
  const maxVUs = f.int('maxVUs', preAllocatedVUs);
  if (!hasRate) errors.push("the iteration rate isn't specified");
  else if (rate <= 0) errors.push('the iteration rate must be more than 0');
  if (timeUnitMs <= 0) errors.push('the timeUnit must be more than 0');
  if (!hasDuration) errors.push('the duration is unspecified');
  else if (durationMs < MIN_DURATION) {
    errors.push(`the duration must be at least 1s, but is ${formatDuration(durationMs)}`);
  }
  if (!hasPre) errors.push("the number of preAllocatedVUs isn't specified");
  else if (preAllocatedVUs < 0) errors.push("the number of preAllocatedVUs can't be negative");
  if (hasMax && maxVUs < preAllocatedVUs) errors.push("maxVUs can't be less than preAllocatedVUs");
  return { executor: 'constant-arrival-rate', rate, timeUnitMs, durationMs, preAllocatedVUs, maxVUs };
}

/** RampingArrivalRateConfig's own fields, with k6's defaults, and its Validate(): problems go to `errors`. */
export function readRampingArrivalRate(
  f: FieldReader,
  errors: string[],
): Omit<RampingArrivalRateConfig, keyof BaseScenario> {
  const startRate = f.int('startRate', 0);
  const timeUnitMs = f.duration('timeUnit', 1000);
  const stages = f.stages('stages') ?? [];
  const hasPre = f.has('preAllocatedVUs');
  const preAllocatedVUs = f.int('preAllocatedVUs', 0);
  const hasMax = f.has('maxVUs');
  const maxVUs = f.int('maxVUs', preAllocatedVUs);
  if (startRate < 0) errors.push("the startRate value can't be negative");
  if (timeUnitMs <= 0) errors.push('the timeUnit must be more than 0');
  if (stages.length === 0) errors.push('at least one stage has to be specified');
  if (!hasPre) errors.push("the number of preAllocatedVUs isn't specified");
  else if (preAllocatedVUs < 0) errors.push("the number of preAllocatedVUs can't be negative");
  if (hasMax && maxVUs < preAllocatedVUs) errors.push("maxVUs can't be less than preAllocatedVUs");
  return { executor: 'ramping-arrival-rate', startRate, timeUnitMs, stages, preAllocatedVUs, maxVUs };
}
