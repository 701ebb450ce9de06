/**
 * k6 options → scenario configs, as grafana/k6 derives and validates them (lib/executor/*.go,
 * execution_config_shortcuts.go, internal/cmd/config.go). Durations are milliseconds throughout.
 */
import { UnsupportedK6ApiError } from './runtime.ts';
import { parseGoDuration } from './thresholds.ts';

/** Exit code 104: k6's "There were problems with the specified script configuration". */
export class InvalidOptionsError extends Error {
  readonly exitCode = 104;
  constructor(readonly problems: string[]) {
    super(
      [
        'There were problems with the specified script configuration:',
        ...problems.map((p) => `\t- ${p}`),
      ].join('\n'),
    );
    this.name = 'InvalidOptionsError';
  }
}

export interface Stage {
  durationMs: number;
  target: number;
}

interface BaseScenario {
  name: string;
  startTimeMs: number;
  gracefulStopMs: number;
  exec: string;
  env: Record<string, string>;
  tags: Record<string, string>;
}

export type ScenarioConfig = BaseScenario &
  (
    | {
        executor: 'shared-iterations' | 'per-vu-iterations';
        vus: number;
        iterations: number;
        maxDurationMs: number;
      }
    | { executor: 'constant-vus'; vus: number; durationMs: number }
    | { executor: 'ramping-vus'; startVUs: number; stages: Stage[]; gracefulRampDownMs: number }
    | {
        executor: 'constant-arrival-rate';
        rate: number;
        timeUnitMs: number;
        durationMs: number;
        preAllocatedVUs: number;
        maxVUs: number;
      }
    | {
        executor: 'ramping-arrival-rate';
        startRate: number;
        timeUnitMs: number;
        stages: Stage[];
        preAllocatedVUs: number;
        maxVUs: number;
      }
  );

export type ExecutorType = ScenarioConfig['executor'];

/** The options the engine itself acts on, after k6's defaults are applied. */
export interface EngineOptions {
  scenarios: ScenarioConfig[];
  setupTimeoutMs: number;
  teardownTimeoutMs: number;
  handleSummaryTimeoutMs: number;
  noSetup: boolean;
  noTeardown: boolean;
  minIterationDurationMs: number;
  /** `options.tags`: added to every sample. */
  runTags: Record<string, string>;
}

const DEFAULT_SCENARIO = 'default';
const DEFAULT_GRACEFUL_STOP = 30_000;
const MIN_DURATION = 1000;
const SCENARIO_NAME_RE = /^[0-9a-zA-Z_-]+$/;

/** k6 types.ParseExtendedDuration / Duration.UnmarshalJSON: numbers and unit-less strings are milliseconds. */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`'${v}' is not a valid duration value`);
    return v;
  }
  if (typeof v !== 'string') throw new Error(`'${JSON.stringify(v)}' is not a valid duration value`);
  const trimmed = v.trim();
  if (trimmed !== '' && !Number.isNaN(Number(trimmed))) return Number(trimmed);
  const d = v.indexOf('d');
  if (d < 0) return parseGoDuration(v);
  const hours = d + 1 < v.length ? parseGoDuration(v.slice(d + 1)) : 0;
  if (hours < 0) throw new Error(`invalid time format '${v.slice(d + 1)}'`);
  const days = Number(v.slice(0, d));
  if (!/^[-+]?\d+$/.test(v.slice(0, d)))
    throw new Error(`strconv.ParseInt: parsing "${v.slice(0, d)}": invalid syntax`);
  return days * 86_400_000 + (days < 0 ? -hours : hours);
}

/** Go's time.Duration.String(), for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${+rest.toFixed(6)}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = +(rest / 1000).toFixed(9);
  return `${neg ? '-' : ''}${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads scenario fields with Go's strict JSON decoding: unknown keys and wrong types are errors. */
class FieldReader {
  readonly errors: string[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly raw: Raw) {}

  has(key: string): boolean {
    this.seen.add(key);
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  int(key: string, def: number): number {
    if (!this.has(key)) return def;
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type int64`,
      );
      return def;
    }
    return v;
  }

  duration(key: string, def: number): number {
    if (!this.has(key)) return def;
    try {
      return parseDuration(this.raw[key]);
    } catch (e) {
      this.errors.push((e as Error).message);
      return def;
    }
  }

  string(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.raw[key];
    if (typeof v !== 'string') {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type string`,
      );
      return undefined;
    }
    return v;
  }

  stringMap(key: string): Record<string, string> {
    if (!this.has(key)) return {};
    const v = this.raw[key];
    if (!isObject(v)) {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type map[string]string`,
      );
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') {
        this.errors.push(
          `json: cannot unmarshal ${JSON.stringify(val)} into Go struct field .${key} of type string`,
        );
        continue;
      }
      out[k] = val;
    }
    return out;
  }

  stages(key: string): Stage[] | undefined {
    if (!this.has(key)) return undefined;
    const v = this.raw[key];
    if (!Array.isArray(v)) {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type []executor.Stage`,
      );
      return undefined;
    }
    return v.map((s: unknown, i) => {
      const st = isObject(s) ? s : {};
      const stageNum = i + 1;
      let durationMs = NaN;
      let target = NaN;
      if (st.duration === undefined || st.duration === null) {
        this.errors.push(`stage ${stageNum} doesn't have a duration`);
      } else {
        try {
          durationMs = parseDuration(st.duration);
          if (durationMs < 0) this.errors.push(`the duration for stage ${stageNum} can't be negative`);
        } catch (e) {
          this.errors.push((e as Error).message);
        }
      }
      if (st.target === undefined || st.target === null) {
        this.errors.push(`stage ${stageNum} doesn't have a target`);
      } else if (typeof st.target !== 'number' || !Number.isInteger(st.target)) {
        this.errors.push(
          `json: cannot unmarshal ${JSON.stringify(st.target)} into Go struct field Stage.target of type int64`,
        );
      } else {
        target = st.target;
        if (target < 0) this.errors.push(`the target for stage ${stageNum} can't be negative`);
      }
      return { durationMs, target };
    });
  }

  /** Go's DisallowUnknownFields. */
  unknownKeys(): string[] {
    return Object.keys(this.raw).filter((k) => !this.seen.has(k));
  }
}

const ALL_EXECUTORS = new Set([
  'shared-iterations',
  'per-vu-iterations',
  'constant-vus',
  'ramping-vus',
  'constant-arrival-rate',
  'ramping-arrival-rate',
  'externally-controlled',
]);

function parseScenario(name: string, raw: unknown, problems: string[]): ScenarioConfig | undefined {
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
  const base: BaseScenario = {
    name,
    startTimeMs: f.duration('startTime', 0),
    gracefulStopMs: f.duration('gracefulStop', DEFAULT_GRACEFUL_STOP),
    exec: f.string('exec') ?? 'default',
    env: f.stringMap('env'),
    tags: f.stringMap('tags'),
  };
  if (f.has('options')) {
    throw new UnsupportedK6ApiError(`scenario options (scenario ${name}: browser scenarios)`);
  }
  if (!SCENARIO_NAME_RE.test(name)) {
    errors.push('the scenario name should contain only numbers, latin letters, underscores, and dashes');
  }
  if (f.has('exec') && raw.exec === '') errors.push('exec value cannot be empty');
  if (base.startTimeMs < 0) errors.push("the startTime can't be negative");
  if (base.gracefulStopMs < 0) errors.push("the gracefulStop timeout can't be negative");

  let sc: ScenarioConfig;
  switch (executor) {
    case 'shared-iterations':
    case 'per-vu-iterations': {
      const vus = f.int('vus', 1);
      const iterations = f.int('iterations', 1);
      const maxDurationMs = f.duration('maxDuration', 600_000);
      if (vus <= 0) errors.push('the number of VUs must be more than 0');
      if (executor === 'per-vu-iterations' && iterations <= 0) {
        errors.push('the number of iterations must be more than 0');
      }
      if (executor === 'shared-iterations' && iterations < vus) {
        errors.push(`the number of iterations (${iterations}) can't be less than the number of VUs (${vus})`);
      }
      if (maxDurationMs < MIN_DURATION) {
        errors.push(`the maxDuration must be at least 1s, but is ${formatDuration(maxDurationMs)}`);
      }
      sc = { ...base, executor, vus, iterations, maxDurationMs };
      break;
    }
    case 'constant-vus': {
      const vus = f.int('vus', 1);
      const hasDuration = f.has('duration');
      const durationMs = f.duration('duration', 0);
      if (vus <= 0) errors.push('the number of VUs must be more than 0');
      if (!hasDuration) errors.push('the duration is unspecified');
      else if (durationMs < MIN_DURATION) {
        errors.push(`the duration must be at least 1s, but is ${formatDuration(durationMs)}`);
      }
      sc = { ...base, executor, vus, durationMs };
      break;
    }
    case 'ramping-vus': {
      const startVUs = f.int('startVUs', 1);
      const stages = f.stages('stages') ?? [];
      const gracefulRampDownMs = f.duration('gracefulRampDown', DEFAULT_GRACEFUL_STOP);
      if (startVUs < 0) errors.push("the number of start VUs can't be negative");
      if (Math.max(startVUs, ...stages.map((s) => s.target)) <= 0) {
        errors.push("either startVUs or one of the stages' target values must be greater than 0");
      }
      if (stages.length === 0) errors.push('at least one stage has to be specified');
      sc = { ...base, executor, startVUs, stages, gracefulRampDownMs };
      break;
    }
    case 'constant-arrival-rate': {
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
      sc = { ...base, executor, rate, timeUnitMs, durationMs, preAllocatedVUs, maxVUs };
      break;
    }
    case 'ramping-arrival-rate': {
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
      sc = { ...base, executor, startRate, timeUnitMs, stages, preAllocatedVUs, maxVUs };
      break;
    }
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

/** DeriveScenariosFromShortcuts: `iterations` / `duration` / `stages` / `vus` become a scenario named "default". */
function shortcutScenarios(options: Raw, problems: string[]): Raw | undefined {
  const has = (k: string) => options[k] !== undefined && options[k] !== null;
  const stages = options.stages;
  const hasStages = Array.isArray(stages) && stages.length > 0;
  const vus = has('vus') ? options.vus : undefined;
  if (has('iterations')) {
    if (hasStages) problems.push('using `iterations` and `stages` options simultaneously is not allowed');
    else if (has('scenarios'))
      problems.push('using `iterations` and `scenarios` options simultaneously is not allowed');
    else {
      const sc: Raw = { executor: 'shared-iterations', iterations: options.iterations, vus: vus ?? 1 };
      if (has('duration')) sc.maxDuration = options.duration;
      return { [DEFAULT_SCENARIO]: sc };
    }
    return undefined;
  }
  if (has('duration')) {
    if (hasStages) problems.push('using `duration` and `stages` options simultaneously is not allowed');
    else if (has('scenarios'))
      problems.push('using `duration` and `scenarios` options simultaneously is not allowed');
    else {
      let ms: number;
      try {
        ms = parseDuration(options.duration);
      } catch (e) {
        problems.push((e as Error).message);
        return undefined;
      }
      if (ms <= 0) {
        problems.push(
          '`duration` option should be more than 0, for infinite duration use the externally-controlled executor',
        );
        return undefined;
      }
      return { [DEFAULT_SCENARIO]: { executor: 'constant-vus', duration: options.duration, vus: vus ?? 1 } };
    }
    return undefined;
  }
  if (hasStages) {
    if (has('scenarios')) {
      problems.push('using `stages` and `scenarios` options simultaneously is not allowed');
      return undefined;
    }
    const kept = (stages as unknown[]).filter(
      (s) => isObject(s) && s.duration !== undefined && s.duration !== null,
    );
    return { [DEFAULT_SCENARIO]: { executor: 'ramping-vus', startVUs: vus ?? 1, stages: kept } };
  }
  if (vus !== undefined && !has('stages')) {
    return { [DEFAULT_SCENARIO]: { executor: 'shared-iterations', vus, iterations: vus } };
  }
  if (isObject(options.scenarios) && Object.keys(options.scenarios).length > 0) return options.scenarios;
  return { [DEFAULT_SCENARIO]: { executor: 'per-vu-iterations' } };
}

function optionalDuration(options: Raw, key: string, def: number, problems: string[]): number {
  const v = options[key];
  if (v === undefined || v === null) return def;
  try {
    return parseDuration(v);
  } catch (e) {
    problems.push(`${key}: ${(e as Error).message}`);
    return def;
  }
}

/**
 * Consolidates the script's `options` (after `overrides`, e.g. CLI flags) into the scenarios to run.
 * `isExecutable(name)`: whether the script exports a function of that name.
 * Throws InvalidOptionsError (exit 104) listing every problem, as k6 does.
 */
export function deriveOptions(
  scriptOptions: Raw | undefined,
  isExecutable: (name: string) => boolean,
  overrides: Raw = {},
): EngineOptions {
  const options: Raw = { ...(scriptOptions ?? {}) };
  // A shortcut given at a higher level (CLI) replaces the script's own execution config, as in k6.
  const overrideKeys = ['vus', 'duration', 'iterations', 'stages', 'scenarios'].filter(
    (k) => overrides[k] !== undefined && overrides[k] !== null,
  );
  if (overrideKeys.some((k) => k !== 'vus')) {
    for (const k of ['duration', 'iterations', 'stages', 'scenarios']) delete options[k];
  }
  Object.assign(options, overrides);

  const problems: string[] = [];
  const rawScenarios = shortcutScenarios(options, problems) ?? {};
  const scenarios: ScenarioConfig[] = [];
  for (const [name, raw] of Object.entries(rawScenarios)) {
    const sc = parseScenario(name, raw, problems);
    if (sc === undefined) continue;
    if (!isExecutable(sc.exec)) {
      problems.push(`executor ${name}: function '${sc.exec}' not found in exports`);
      continue;
    }
    scenarios.push(sc);
  }
  const runTags: Record<string, string> = {};
  if (isObject(options.tags)) {
    for (const [k, v] of Object.entries(options.tags)) runTags[k] = String(v);
  }
  const engine: EngineOptions = {
    // Sorted by start time then name, as k6's GetSortedConfigs.
    scenarios: scenarios.sort((a, b) => a.startTimeMs - b.startTimeMs || (a.name < b.name ? -1 : 1)),
    setupTimeoutMs: optionalDuration(options, 'setupTimeout', 60_000, problems),
    teardownTimeoutMs: optionalDuration(options, 'teardownTimeout', 60_000, problems),
    handleSummaryTimeoutMs: optionalDuration(options, 'handleSummaryTimeout', 120_000, problems),
    minIterationDurationMs: optionalDuration(options, 'minIterationDuration', 0, problems),
    noSetup: options.noSetup === true,
    noTeardown: options.noTeardown === true,
    runTags,
  };
  if (problems.length > 0) throw new InvalidOptionsError(problems);
  return engine;
}

export interface ExecutionStep {
  offsetMs: number;
  plannedVUs: number;
  maxUnplannedVUs: number;
}

/** ramping-vus getRawExecutionSteps (single instance: scaled == unscaled). */
export function rampingRawSteps(
  startVUs: number,
  stages: Stage[],
  zeroEnd: boolean,
): { offsetMs: number; vus: number }[] {
  const steps = [{ offsetMs: 0, vus: startVUs }];
  const add = (offsetMs: number, vus: number) => {
    if (steps[steps.length - 1]!.vus !== vus) steps.push({ offsetMs, vus });
  };
  let from = startVUs;
  // Mirrors k6's SegmentedIndex position: after a ramp-up it rests one past the target.
  let unscaled = startVUs;
  let timeTillEnd = 0;
  for (const stage of stages) {
    const end = stage.target;
    const dur = stage.durationMs;
    timeTillEnd += dur;
    const diff = end - from;
    if (diff === 0) continue;
    if (dur === 0) {
      unscaled = end;
      add(timeTillEnd, end);
      from = end;
      continue;
    }
    if (unscaled > end) {
      for (; unscaled > end; unscaled--) add(timeTillEnd - (dur * (end - unscaled + 1)) / diff, unscaled - 1);
    } else {
      for (; unscaled <= end; unscaled++) add(timeTillEnd - (dur * (end - unscaled)) / diff, unscaled);
    }
    from = end;
  }
  if (zeroEnd && steps[steps.length - 1]!.vus !== 0) steps.push({ offsetMs: timeTillEnd, vus: 0 });
  return steps;
}

/** ramping-vus GetExecutionRequirements: raw steps with VUs kept for gracefulRampDown, ending at 0 VUs. */
export function rampingGracefulSteps(
  sc: Extract<ScenarioConfig, { executor: 'ramping-vus' }>,
): { offsetMs: number; vus: number }[] {
  let steps = rampingRawSteps(sc.startVUs, sc.stages, false);
  const endOffset = sc.stages.reduce((a, s) => a + s.durationMs, 0) + sc.gracefulStopMs;
  if (sc.gracefulRampDownMs > 0) steps = reserveForGracefulRampDowns(steps, sc.gracefulRampDownMs, endOffset);
  if (steps[steps.length - 1]!.vus !== 0) steps.push({ offsetMs: endOffset, vus: 0 });
  return steps;
}

function reserveForGracefulRampDowns(
  raw: { offsetMs: number; vus: number }[],
  rampDown: number,
  endOffset: number,
): { offsetMs: number; vus: number }[] {
  const out: { offsetMs: number; vus: number }[] = [];
  let last = 0;
  let lastDownwardSlope = 0;
  for (let i = 0; i < raw.length; i++) {
    const step = raw[i]!;
    if (i === 0 || step.vus > last) {
      out.push(step);
      last = step.vus;
      continue;
    }
    if (step.vus === last) continue;
    let skipped = false;
    const withTimeout = step.offsetMs + rampDown;
    let wasRampingDown = true;
    for (let j = Math.max(lastDownwardSlope, i + 1); j < raw.length; j++) {
      const adv = raw[j]!;
      if (adv.offsetMs > withTimeout) break;
      if (adv.vus >= last) {
        i = j - 1;
        skipped = true;
        break;
      }
      if (wasRampingDown) {
        if (raw[j - 1]!.vus > adv.vus) lastDownwardSlope = j;
        else wasRampingDown = false;
      }
    }
    if (skipped) continue;
    if (withTimeout >= endOffset) break;
    out.push({ offsetMs: withTimeout, vus: step.vus });
    last = step.vus;
  }
  return out;
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
