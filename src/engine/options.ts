/**
 * k6's global options → the options the engine acts on, as grafana/k6 derives and validates them
 * (lib/options.go, execution_config_shortcuts.go, internal/cmd/config.go). Each executor's own config lives
 * beside it (src/engine/executors/*.ts, as lib/executor/*.go). Durations are milliseconds throughout.
 */
import { parseDuration } from './duration.ts';
import { isObject, type Raw } from './executors/base-config.ts';
import { parseScenario, type ScenarioConfig } from './executors/config.ts';

export { formatDuration, parseDuration } from './duration.ts';
export type { Stage } from './executors/base-config.ts';
export type { ExecutorType, ScenarioConfig } from './executors/config.ts';

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
