/**
 * Scenario configs across executors (lib/executors.go): the union of every executor's config (each one in
 * <executor>-config.ts beside its executor), a scenario parsed by its `executor` type, and the execution
 * requirements that size the VU pool.
 */
import { UnsupportedK6ApiError } from '../runtime.ts';
import {
  readConstantArrivalRate,
  readRampingArrivalRate,
  type ConstantArrivalRateConfig,
  type RampingArrivalRateConfig,
} from './arrival-rate-config.ts';
import { FieldReader, isObject, readBaseConfig } from './base-config.ts';
import { readConstantVus, type ConstantVusConfig } from './constant-vus-config.ts';
import { readPerVuIterations, type PerVuIterationsConfig } from './per-vu-iterations-config.ts';
import { rampingGracefulSteps, readRampingVus, type RampingVusConfig } from './ramping-vus-config.ts';
import { readSharedIterations, type SharedIterationsConfig } from './shared-iterations-config.ts';

export type ScenarioConfig =
  | SharedIterationsConfig
  | PerVuIterationsConfig
  | ConstantVusConfig
  | RampingVusConfig
  | ConstantArrivalRateConfig
  | RampingArrivalRateConfig;

export type ExecutorType = ScenarioConfig['executor'];

const ALL_EXECUTORS = new Set([
  'shared-iterations',
  'per-vu-iterations',
  'constant-vus',
  'ramping-vus',
  'constant-arrival-rate',
  'ramping-arrival-rate',
  'externally-controlled',
]);

/** One scenario of `options.scenarios`; its problems go to `problems` (then undefined). */
export function parseScenario(name: string, raw: unknown, problems: string[]): ScenarioConfig | undefined {
  if (!isObject(raw)) {
    problems.push(
      `scenario ${name} has configuration errors: json: cannot unmarshal ${JSON.stringify(raw)} into a scenario`,
    );
    return undefined;
  }
  const executor = raw.executor;
  if (typeof executor !== 'string' || executor === '') {
    problems.push(`scenario ${name} has configuration errors: missing or empty type field`);
    return undefined;
  }
  if (!ALL_EXECUTORS.has(executor)) {
    problems.push(`unknown executor type '${executor}'`);
    return undefined;
  }
  if (executor === 'externally-controlled') {
    throw new UnsupportedK6ApiError(
      `the externally-controlled executor (scenario ${name})`,
      'it is driven by k6 REST API, which the Node engine does not have',
    );
  }
  const f = new FieldReader(raw);
  f.has('executor');
  const errors: string[] = [];
  const base = readBaseConfig(name, raw, f, errors);

  let sc: ScenarioConfig;
  switch (executor) {
    case 'shared-iterations':
      sc = { ...base, ...readSharedIterations(f, errors) };
      break;
    case 'per-vu-iterations':
      sc = { ...base, ...readPerVuIterations(f, errors) };
      break;
    case 'constant-vus':
      sc = { ...base, ...readConstantVus(f, errors) };
      break;
    case 'ramping-vus':
      sc = { ...base, ...readRampingVus(f, errors) };
      break;
    case 'constant-arrival-rate':
      sc = { ...base, ...readConstantArrivalRate(f, errors) };
      break;
    case 'ramping-arrival-rate':
      sc = { ...base, ...readRampingArrivalRate(f, errors) };
      break;
    default:
      return undefined;
  }
  const unknown = f.unknownKeys();
  errors.unshift(...f.errors, ...unknown.map((k) => `json: unknown field "${k}"`));
  if (errors.length > 0) {
    problems.push(`scenario ${name} has configuration errors: ${errors.join(', ')}`);
    return undefined;
  }
  return sc;
}

export interface ExecutionStep {
  offsetMs: number;
  plannedVUs: number;
  maxUnplannedVUs: number;
}

/** Regular duration of a scenario (without gracefulStop); iteration executors: maxDuration. */
export function regularDurationMs(sc: ScenarioConfig): number {
  switch (sc.executor) {
    case 'shared-iterations':
    case 'per-vu-iterations':
      return sc.maxDurationMs;
    case 'constant-vus':
    case 'constant-arrival-rate':
      return sc.durationMs;
    case 'ramping-vus':
    case 'ramping-arrival-rate':
      return sc.stages.reduce((a, s) => a + s.durationMs, 0);
  }
}

/** GetExecutionRequirements, offsets relative to the scenario's own start. */
export function executionRequirements(sc: ScenarioConfig): ExecutionStep[] {
  const end = regularDurationMs(sc) + sc.gracefulStopMs;
  switch (sc.executor) {
    case 'shared-iterations':
    case 'per-vu-iterations':
    case 'constant-vus':
      return [
        { offsetMs: 0, plannedVUs: sc.vus, maxUnplannedVUs: 0 },
        { offsetMs: end, plannedVUs: 0, maxUnplannedVUs: 0 },
      ];
    case 'constant-arrival-rate':
    case 'ramping-arrival-rate':
      return [
        { offsetMs: 0, plannedVUs: sc.preAllocatedVUs, maxUnplannedVUs: sc.maxVUs - sc.preAllocatedVUs },
        { offsetMs: end, plannedVUs: 0, maxUnplannedVUs: 0 },
      ];
    case 'ramping-vus':
      return rampingGracefulSteps(sc).map((s) => ({
        offsetMs: s.offsetMs,
        plannedVUs: s.vus,
        maxUnplannedVUs: 0,
      }));
  }
}

/** The whole test's plan (all scenarios at their start times): max planned VUs and max unplanned VUs. */
export function executionPlan(scenarios: readonly ScenarioConfig[]): {
  maxPlannedVUs: number;
  maxUnplannedVUs: number;
  maxDurationMs: number;
} {
  const perScenario = scenarios.map((sc) =>
    executionRequirements(sc).map((s) => ({ ...s, offsetMs: s.offsetMs + sc.startTimeMs })),
  );
  const offsets = [...new Set(perScenario.flatMap((steps) => steps.map((s) => s.offsetMs)))].sort(
    (a, b) => a - b,
  );
  let maxPlanned = 0;
  let maxUnplanned = 0;
  for (const t of offsets) {
    let planned = 0;
    let unplanned = 0;
    for (const steps of perScenario) {
      const cur = steps.filter((s) => s.offsetMs <= t).pop();
      if (cur === undefined) continue;
      planned += cur.plannedVUs;
      unplanned += cur.maxUnplannedVUs;
    }
    maxPlanned = Math.max(maxPlanned, planned);
    maxUnplanned = Math.max(maxUnplanned, unplanned);
  }
  return {
    maxPlannedVUs: maxPlanned,
    maxUnplannedVUs: maxUnplanned,
    maxDurationMs: offsets[offsets.length - 1] ?? 0,
  };
}
