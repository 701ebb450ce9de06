/**
 * `runScript`: one k6 test run in the Node engine, in k6's order (internal/cmd/run.go, internal/execution/
 * scheduler.go): init of a first VU to read `options` → options validated (exit 104) → every planned VU
 * initialized → setup() in its own VU 0 → scenarios at their startTime → teardown() in its own VU 0, which runs
 * even after Ctrl+C, test.abort() or a threshold abort, but not after setup() failed → handleSummary().
 *
 * Exit codes: 0; 99 thresholds (abortOnFail via `thresholdsCheck`; the caller applies end-of-test thresholds);
 * 100/101 setup/teardown timeout; 104 invalid options; 105 `signal`; 107 script exception in init, setup or
 * teardown (an exception in an iteration only fails that iteration); 108 exec.test.abort(); 110 exec.test.fail().
 * The first reason to stop wins.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { types } from 'node:util';
import { executors } from './executors/index.ts';
import type { ExecutorContext, VuPool } from './executors/common.ts';
import type { LogLevel } from './globals.ts';
import {
  startHealthMonitor,
  type GeneratorHealth,
  type HealthMonitor,
  type SaturationRule,
} from './health.ts';
import { loadScript, type LoadedScript } from './loader.ts';
import { deriveOptions, executionPlan, InvalidOptionsError, type EngineOptions } from './options.ts';
import { DEFAULT_ENGINE_LIMITS, type EngineLimits } from './limits.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { UnsupportedK6ApiError, type MetricSink, type ModuleFactory } from './runtime.ts';
import { errorText, ScriptError, Vu, type EngineState, type PhaseOutcome } from './vu.ts';

export const EXIT = {
  ok: 0,
  thresholdsFailed: 99,
  setupTimeout: 100,
  teardownTimeout: 101,
  invalidConfig: 104,
  externalAbort: 105,
  scriptException: 107,
  scriptAborted: 108,
  markedAsFailed: 110,
} as const;

export type RunPhase = 'init' | 'setup' | 'running' | 'teardown' | 'summary' | 'done';

export interface RunProgress {
  phase: RunPhase;
  /** ms since the test run started (setup included), 0 before. */
  elapsedMs: number;
  /** VUs running right now (k6's `vus`). */
  vus: number;
  /** VUs initialized (k6's `vus_max`). */
  vusMax: number;
  iterationsCompleted: number;
  iterationsInterrupted: number;
  /** The run is being stopped early (signal, test.abort(), abortOnFail). */
  interrupted: boolean;
  scenarios: { name: string; executor: string; started: boolean; progress: number }[];
}

/** What the caller needs to build handleSummary's data (k6: data.setup_data, state.testRunDurationMs, …). */
export interface RunFacts {
  /** The script's options with the caller's overrides over them (k6's data.options source). */
  options: Record<string, unknown>;
  engineOptions: EngineOptions | undefined;
  setupData: unknown;
  /** Epoch ms. */
  startTime: number;
  endTime: number;
  testRunDurationMs: number;
  /** The exit code so far (thresholds not applied). */
  exitCode: number;
  interrupted: boolean;
  /** The generator's own health while the scenarios ran (not part of k6's handleSummary data). */
  generator?: GeneratorHealth;
}

export interface RunScriptOptions {
  scriptPath: string;
  /** `__ENV` (k6: the process environment only with --include-system-env-vars; pass what you want). */
  env?: Record<string, string>;
  /** Drops the script's console.log/info output (warnings and errors still show). */
  quiet?: boolean;
  /** Shows console.debug (k6 --verbose). */
  verbose?: boolean;
  metrics: MetricSink;
  /**
   * Starling's soft stop (not a k6 feature): aborting it sets `__ENV.STARLING_STOPPING = '1'` in every VU so
   * scripts that look for it can wind down (our scenarios close their sessions with `<close/>`), then after
   * `softStopGraceMs` stops the run as `signal` does. Exit code 105 either way. In real k6 the variable is never
   * set, so scripts behave as before.
   */
  softStop?: AbortSignal;
  /** How long a soft stop waits for iterations to end by themselves (default 10 s). */
  softStopGraceMs?: number;
  /** Aborting it stops the run as k6's first Ctrl+C does: iterations cut, teardown and summary still run; 105. */
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
  /**
   * Called once the script's options are known, before any VU beyond the first is initialized: thresholds are
   * parsed here, so a bad one (an error with `exitCode: 104`) ends the run as invalid config, as in k6.
   */
  onOptions?: (options: Record<string, unknown> & { thresholds?: unknown }) => void;
  /** Polled every second while the test runs; `abort: true` stops the run with 99 (thresholds' abortOnFail). */
  thresholdsCheck?: () => { abort: boolean };
  /** Options over the script's, as k6's CLI flags (`vus`, `duration`, `iterations`, `stages`, `scenarios`, …). */
  overrides?: Record<string, unknown>;
  /** Called after teardown; its result is handed to the script's handleSummary() when it exports one. */
  buildSummaryData?: (facts: RunFacts) => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** k6 modules by specifier (default: every module the engine implements). */
  modules?: ReadonlyMap<string, ModuleFactory>;
  /** Where log lines go (default: stderr). */
  log?: (line: string) => void;
  /** The engine's safety limits (not k6 options: k6 has none), over DEFAULT_ENGINE_LIMITS. */
  limits?: Partial<EngineLimits>;
  /** The generator's saturation rule over DEFAULT_SATURATION_RULE (src/engine/health.ts); false: no monitor. */
  health?: Partial<SaturationRule> | false;
}

export interface RunOutcome {
  exitCode: number;
  /** setup()'s result after the JSON round trip every VU sees. */
  setupData: unknown;
  /** Epoch ms: test run start (before setup) and end (after teardown); both 0 when init failed. */
  startTime: number;
  endTime: number;
  /** Stopped early: signal, test.abort(), abortOnFail, or a fatal engine error. */
  interrupted: boolean;
  /** Why the run failed or stopped early (script exception, invalid options, abort reason). */
  scriptError?: string;
  /** The error object behind scriptError (UnsupportedK6ApiError, InvalidOptionsError, ScriptError, …). */
  error?: unknown;
  options: Record<string, unknown>;
  engineOptions?: EngineOptions;
  iterationsCompleted: number;
  iterationsInterrupted: number;
  /** Whether the script exports handleSummary (then k6 prints no default summary). */
  hasHandleSummary: boolean;
  /** handleSummary()'s result: file name (or "stdout"/"stderr") → content. */
  summaryOutput?: Record<string, string | Uint8Array>;
  /** handleSummary() failed; k6 then falls back to the default summary. */
  summaryError?: string;
  /** The generator's own health while the scenarios ran, setup and teardown left out (absent when none ran). */
  generator?: GeneratorHealth;
}

const LEVELS: Record<LogLevel, string> = { debug: 'DEBU', info: 'INFO', warn: 'WARN', error: 'ERRO' };
const BUILTINS: [string, 'counter' | 'gauge' | 'rate' | 'trend', boolean][] = [
  ['vus', 'gauge', false],
  ['vus_max', 'gauge', false],
  ['iterations', 'counter', false],
  ['iteration_duration', 'trend', true],
  ['dropped_iterations', 'counter', false],
  ['checks', 'rate', false],
  ['group_duration', 'trend', true],
];

async function defaultModules(): Promise<ReadonlyMap<string, ModuleFactory>> {
  return (await import('./modules/index.ts')).k6Modules;
}

export async function runScript(opts: RunScriptOptions): Promise<RunOutcome> {
  const t0 = Date.now();
  const write = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const consoleLog = (level: LogLevel, message: string, vu?: number) => {
    if (level === 'debug' && !opts.verbose) return;
    if (opts.quiet && vu !== undefined && (level === 'info' || level === 'debug')) return;
    const secs = String(Math.floor((Date.now() - t0) / 1000)).padStart(4, '0');
    write(`${LEVELS[level]}[${secs}] ${vu !== undefined ? `[VU ${vu}] ` : ''}${message}`);
  };
  // The engine's own lines (errors, warnings) may quote a URL the script was given: its password never shows.
  // The script's console output is printed as k6 prints it.
  const log = (level: LogLevel, message: string, vu?: number) =>
    consoleLog(level, maskUrlPasswords(message), vu);
  const logged = new Set<string>();

  const outcome: RunOutcome = {
    exitCode: EXIT.ok,
    setupData: undefined,
    startTime: 0,
    endTime: 0,
    interrupted: false,
    options: {},
    iterationsCompleted: 0,
    iterationsInterrupted: 0,
    hasHandleSummary: false,
  };
  let exitCode: number | undefined;
  const runCtl = new AbortController();
  setMaxListeners(0, runCtl.signal);
  /** The first reason to stop wins (errext.WithExitCodeIfNone). */
  const stopRun = (code: number, reason: string, error?: unknown) => {
    if (exitCode === undefined) {
      exitCode = code;
      outcome.scriptError = reason;
      if (error !== undefined) outcome.error = error;
    }
    outcome.interrupted = true;
    runCtl.abort();
  };
  /** A failure that ends the run without interrupting anything (init, setup, teardown). */
  const setError = (code: number, reason: string, error?: unknown) => {
    if (exitCode !== undefined) return;
    exitCode = code;
    outcome.scriptError = reason;
    if (error !== undefined) outcome.error = error;
  };
  const fail = (code: number, reason: string, error?: unknown): RunOutcome => {
    setError(code, reason, error);
    outcome.exitCode = exitCode!;
    return outcome;
  };
  const onSignal = () => {
    log('warn', 'test run was aborted by a signal: stopping iterations, then teardown');
    stopRun(EXIT.externalAbort, 'test run was aborted by a signal');
  };
  let softStopTimer: NodeJS.Timeout | undefined;
  const onSoftStop = () => {
    const grace = opts.softStopGraceMs ?? 10_000;
    log(
      'warn',
      `soft stop: STARLING_STOPPING set in every VU; iterations get ${grace} ms to end, then they are cut`,
    );
    if (exitCode === undefined) {
      exitCode = EXIT.externalAbort;
      outcome.scriptError = 'test run was stopped by a signal';
    }
    outcome.interrupted = true;
    state.env = Object.freeze({ ...state.env, STARLING_STOPPING: '1' });
    for (const vu of vus) {
      const env = (vu.realm.global as { __ENV?: Record<string, string> }).__ENV;
      if (env) env.STARLING_STOPPING = '1';
    }
    softStopTimer = setTimeout(onSignal, grace);
  };

  const modules = opts.modules ?? (await defaultModules());
  let script: LoadedScript;
  try {
    script = await loadScript(opts.scriptPath, new Set(modules.keys()));
  } catch (e) {
    log('error', errorText(e));
    return fail(EXIT.scriptException, (e as Error).message ?? String(e), e);
  }
  for (const [name, type, isTime] of BUILTINS) opts.metrics.define(name, type, isTime);

  const files = new Map<string, Buffer>();
  let markedFailed = false;
  const vus: Vu[] = [];
  const state: EngineState = {
    metrics: opts.metrics,
    modules,
    shared: new Map(),
    env: Object.freeze({ ...(opts.env ?? {}) }),
    script,
    options: {},
    runTags: {},
    minIterationDurationMs: 0,
    setupDataJson: undefined,
    testStartTime: 0,
    counters: { vusActive: 0, vusInitialized: 0, iterationsCompleted: 0, iterationsInterrupted: 0 },
    limits: { ...DEFAULT_ENGINE_LIMITS, ...definedLimits(opts.limits) },
    log,
    logOnce: (key, level, message, vu) => {
      if (logged.has(key)) return;
      logged.add(key);
      log(level, message, vu);
    },
    consoleLog,
    abortTest: (reason) => {
      log('error', reason);
      stopRun(EXIT.scriptAborted, reason);
    },
    markFailed: (reason) => {
      log('error', reason);
      markedFailed = true;
    },
    fatal: (err) => {
      log('error', errorText(err));
      stopRun(EXIT.scriptException, (err as Error).message ?? String(err), err);
    },
    readFile: (p) => {
      let b = files.get(p);
      if (b === undefined) {
        b = readFileSync(p);
        files.set(p, b);
      }
      return b;
    },
  };
  const newVu = async (id: number): Promise<Vu> => {
    const vu = new Vu(id, state);
    vus.push(vu);
    await vu.init();
    return vu;
  };

  const timers: NodeJS.Timeout[] = [];
  let monitor: HealthMonitor | undefined;
  let phase: RunPhase = 'init';
  const running: { ctx: ExecutorContext; started: boolean }[] = [];
  const progress = (): RunProgress => ({
    phase,
    elapsedMs: state.testStartTime === 0 ? 0 : Date.now() - state.testStartTime,
    vus: state.counters.vusActive,
    vusMax: state.counters.vusInitialized,
    iterationsCompleted: state.counters.iterationsCompleted,
    iterationsInterrupted: state.counters.iterationsInterrupted,
    interrupted: outcome.interrupted,
    scenarios: running.map((r) => ({
      name: r.ctx.sc.name,
      executor: r.ctx.sc.executor,
      started: r.started,
      progress: r.started ? r.ctx.progress() : 0,
    })),
  });

  try {
    if (opts.signal?.aborted) onSignal();
    else opts.signal?.addEventListener('abort', onSignal, { once: true });
    if (opts.softStop?.aborted) onSoftStop();
    else opts.softStop?.addEventListener('abort', onSoftStop, { once: true });
    if (opts.onProgress) {
      const onProgress = opts.onProgress;
      timers.push(setInterval(() => onProgress(progress()), 1000));
    }

    // Init of the first VU (id 0) reads the options.
    let probe: Vu;
    try {
      probe = await newVu(0);
    } catch (e) {
      return initFailure(e);
    }
    const scriptOptions = plainOptions(probe.exports.options);
    outcome.options = { ...scriptOptions, ...(opts.overrides ?? {}) };
    outcome.hasHandleSummary = typeof probe.exports.handleSummary === 'function';
    let eo: EngineOptions;
    try {
      eo = deriveOptions(scriptOptions, (n) => typeof probe.exports[n] === 'function', opts.overrides);
      opts.onOptions?.(outcome.options);
    } catch (e) {
      log('error', (e as Error).message);
      const invalid =
        e instanceof InvalidOptionsError || (e as { exitCode?: number }).exitCode === EXIT.invalidConfig;
      return fail(invalid ? EXIT.invalidConfig : EXIT.scriptException, (e as Error).message, e);
    }
    outcome.engineOptions = eo;
    state.options = outcome.options;
    state.runTags = eo.runTags;
    state.minIterationDurationMs = eo.minIterationDurationMs;
    probe.dispose();

    // Every planned VU is initialized before setup(), as k6's scheduler Init.
    const plan = executionPlan(eo.scenarios);
    const idle: Vu[] = [];
    let nextId = 1;
    for (let i = 0; i < plan.maxPlannedVUs && !runCtl.signal.aborted; i++) {
      const id = nextId++;
      try {
        idle.push(await newVu(id));
      } catch (e) {
        return initFailure(e, id);
      }
      state.counters.vusInitialized++;
    }
    if (runCtl.signal.aborted) return finish();
    const pool: VuPool = {
      getPlannedVU() {
        const vu = idle.shift();
        if (vu === undefined) throw new Error('no pre-initialized VU is free: the execution plan is wrong');
        return vu;
      },
      returnVU(vu) {
        idle.push(vu);
      },
      async getUnplannedVU() {
        const vu = await newVu(nextId++);
        state.counters.vusInitialized++;
        return vu;
      },
    };

    state.testStartTime = Date.now();
    outcome.startTime = state.testStartTime;
    const tags = () => ({ ...state.runTags });
    timers.push(
      setInterval(() => {
        const now = Date.now();
        opts.metrics.push('vus', state.counters.vusActive, tags(), now);
        opts.metrics.push('vus_max', state.counters.vusInitialized, tags(), now);
      }, 1000),
    );
    if (opts.thresholdsCheck) {
      const check = opts.thresholdsCheck;
      timers.push(
        setInterval(() => {
          if (phase !== 'setup' && phase !== 'running') return;
          if (check().abort) {
            log('error', 'thresholds have been crossed: aborting the test run (abortOnFail)');
            stopRun(EXIT.thresholdsFailed, 'thresholds on metrics have been crossed');
          }
        }, 1000),
      );
    }

    // setup()
    phase = 'setup';
    let setupFailed = false;
    if (!eo.noSetup) {
      const out = await runPart(0, 'setup', undefined, eo.setupTimeoutMs, runCtl.signal);
      if (out !== undefined) {
        if (out.status === 'ok') {
          try {
            const json = out.value === undefined ? undefined : JSON.stringify(out.value);
            state.setupDataJson = json;
            outcome.setupData = json === undefined ? undefined : JSON.parse(json);
          } catch (e) {
            setupFailed = true;
            const msg = `error marshaling setup() data to JSON: ${(e as Error).message}`;
            log('error', msg);
            setError(EXIT.scriptException, msg, e);
          }
        } else {
          setupFailed = true;
          partFailure('setup', out, EXIT.setupTimeout);
        }
      }
    }

    // Scenarios, each at its startTime.
    if (!setupFailed && !runCtl.signal.aborted) {
      phase = 'running';
      // The generator's own health while the scenarios run (not setup/teardown: their VU's init is no load).
      if (opts.health !== false) {
        monitor = startHealthMonitor({ env: state.env, rule: opts.health, log: (level, m) => log(level, m) });
      }
      await Promise.all(
        eo.scenarios.map(async (sc) => {
          const ctx: ExecutorContext = { sc, pool, state, runSignal: runCtl.signal, progress: () => 0 };
          const r = { ctx, started: false };
          running.push(r);
          if (sc.startTimeMs > 0 && !(await delay(sc.startTimeMs, runCtl.signal))) return;
          r.started = true;
          await executors[sc.executor](ctx);
        }),
      );
      if (monitor) outcome.generator = await monitor.stop();
    }

    // teardown(): with the global context, so not cut by signal/abort/thresholds; skipped after setup failed.
    if (!setupFailed && !eo.noTeardown) {
      phase = 'teardown';
      const data = state.setupDataJson === undefined ? undefined : JSON.parse(state.setupDataJson);
      const out = await runPart(0, 'teardown', data, eo.teardownTimeoutMs);
      if (out !== undefined && out.status !== 'ok') partFailure('teardown', out, EXIT.teardownTimeout);
    }
    return await finish();
  } finally {
    for (const t of timers) clearInterval(t);
    void monitor?.stop();
    opts.signal?.removeEventListener('abort', onSignal);
    opts.softStop?.removeEventListener('abort', onSoftStop);
    clearTimeout(softStopTimer);
    for (const vu of vus) vu.dispose();
  }

  /** Runs setup/teardown/handleSummary in a fresh VU 0 (k6's runPart); undefined when not exported. */
  async function runPart(
    id: number,
    name: 'setup' | 'teardown' | 'handleSummary',
    arg: unknown,
    timeoutMs: number,
    stop?: AbortSignal,
  ): Promise<PhaseOutcome | undefined> {
    let vu: Vu;
    try {
      vu = await newVu(id);
    } catch (e) {
      const out: PhaseOutcome = { status: 'failed', error: (e as ScriptError).cause ?? e, durationMs: 0 };
      return out;
    }
    const realmArg = arg === undefined ? undefined : vu.realm.JSON.parse(JSON.stringify(arg));
    const out = await vu.runPart(name, realmArg, timeoutMs, stop);
    return out.exported ? out : undefined;
  }

  function partFailure(name: 'setup' | 'teardown', out: PhaseOutcome, timeoutCode: number): void {
    if (out.status === 'timeout') {
      const ms =
        name === 'setup' ? outcome.engineOptions!.setupTimeoutMs : outcome.engineOptions!.teardownTimeoutMs;
      const msg = `${name}() execution timed out after ${ms / 1000} seconds`;
      log('error', msg);
      setError(timeoutCode, msg);
    } else if (out.status === 'failed') {
      const text = errorText(out.error, out.rejection);
      log('error', `${text}  source=stacktrace`);
      setError(
        EXIT.scriptException,
        out.error instanceof UnsupportedK6ApiError ? out.error.message : text,
        out.error,
      );
    }
    // 'aborted' and 'interrupted' already carry their exit code.
  }

  function initFailure(e: unknown, id?: number): RunOutcome {
    const cause = e instanceof ScriptError ? (e.cause ?? e) : e;
    const text = e instanceof ScriptError ? e.message : errorText(e);
    const where = id === undefined ? '' : ` (error while initializing VU #${id})`;
    log('error', `${text}${where}`);
    if (exitCode === undefined && !runCtl.signal.aborted) {
      return fail(EXIT.scriptException, `${text}${where}`, cause);
    }
    return fail(exitCode ?? EXIT.externalAbort, outcome.scriptError ?? text);
  }

  async function finish(): Promise<RunOutcome> {
    phase = 'summary';
    outcome.endTime = Date.now();
    if (outcome.startTime === 0) outcome.startTime = outcome.endTime;
    outcome.iterationsCompleted = state.counters.iterationsCompleted;
    outcome.iterationsInterrupted = state.counters.iterationsInterrupted;
    outcome.exitCode = exitCode ?? (markedFailed ? EXIT.markedAsFailed : EXIT.ok);
    if (opts.buildSummaryData) {
      const data = await opts.buildSummaryData({
        options: outcome.options,
        engineOptions: outcome.engineOptions,
        setupData: outcome.setupData,
        startTime: outcome.startTime,
        endTime: outcome.endTime,
        testRunDurationMs: outcome.endTime - outcome.startTime,
        exitCode: outcome.exitCode,
        interrupted: outcome.interrupted,
        generator: outcome.generator,
      });
      if (outcome.hasHandleSummary) {
        const out = await runPart(
          0,
          'handleSummary',
          data,
          outcome.engineOptions?.handleSummaryTimeoutMs ?? 120_000,
        );
        if (out !== undefined) {
          if (out.status === 'ok') {
            try {
              outcome.summaryOutput = summaryResult(out.value);
            } catch (e) {
              outcome.summaryError = (e as Error).message;
            }
          } else {
            outcome.summaryError =
              out.status === 'timeout'
                ? 'handleSummary() execution timed out'
                : errorText(out.error, out.rejection);
          }
          if (outcome.summaryError !== undefined) {
            log('error', `failed to handle the end-of-test summary: ${outcome.summaryError}`);
          }
        }
      }
    }
    phase = 'done';
    opts.onProgress?.(progress());
    return outcome;
  }
}

/** The limits the caller set (an `undefined` field keeps the default). */
function definedLimits(limits: Partial<EngineLimits> | undefined): Partial<EngineLimits> {
  return Object.fromEntries(Object.entries(limits ?? {}).filter(([, v]) => v !== undefined));
}

/** handleSummary's return value: an object of file name → string or binary content. */
function summaryResult(v: unknown): Record<string, string | Uint8Array> {
  const out: Record<string, string | Uint8Array> = {};
  if (v === undefined || v === null) return out;
  if (typeof v !== 'object') throw new Error('handleSummary() must return an object');
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') out[k] = val;
    else if (types.isAnyArrayBuffer(val)) out[k] = new Uint8Array((val as ArrayBuffer).slice(0));
    else if (ArrayBuffer.isView(val))
      out[k] = new Uint8Array(val.buffer.slice(val.byteOffset, val.byteOffset + val.byteLength));
    else out[k] = JSON.stringify(val) ?? String(val);
  }
  return out;
}

/** The exported `options` as plain JSON (k6 marshals it from the init VU). */
function plainOptions(v: unknown): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
}

function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  const end = performance.now() + ms;
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, end - performance.now());
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
