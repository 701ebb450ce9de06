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
import { executionPlan } from './executors/config.ts';
import type { LogLevel } from './globals.ts';
import {
  startHealthMonitor,
  type GeneratorHealth,
  type HealthMonitor,
  type SaturationRule,
} from './health.ts';
import { loadScript, type LoadedScript } from './loader.ts';
import { deriveOptions, InvalidOptionsError, type EngineOptions } from './options.ts';
import { DEFAULT_ENGINE_LIMITS, type EngineLimits } from './limits.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { UnsupportedK6ApiError, type MetricSink, type ModuleFactory } from './runtime.ts';
import { errorText, ScriptError, Vu, type EngineState, type PhaseOutcome } from './vu.ts';
import { runGroupSummary, type SummaryGroup } from './summary.ts';

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
  /** Every group and check of the run, setup and teardown included (k6's data.root_group). */
  rootGroup: SummaryGroup;
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
  /** false: handleSummary() is not called, as k6 skips it under `--summary-mode=disabled` (default true). */
  handleSummary?: boolean;
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
  const run = new EngineRun(opts);
  if (!(await run.load(opts.modules ?? (await defaultModules())))) return run.outcome;
  try {
    run.watch();
    const eo = await run.initOptions();
    if (eo === undefined) return run.outcome;
    const pool = await run.initVus(eo);
    if (pool === undefined) return run.outcome;
    // Awaited, so the clean-up below also disposes of handleSummary's VU (it ran after it, and leaked that VU).
    if (run.aborted) return await run.finish();
    run.startTestRun();
    const setupOk = await run.setup(eo);
    if (setupOk && !run.aborted) await run.runScenarios(eo, pool);
    if (setupOk) await run.teardown(eo);
    return await run.finish();
  } finally {
    run.cleanUp();
  }
}

/** One run: the outcome being built, the first reason to stop, the engine state, its VUs and timers. */
class EngineRun {
  private readonly t0 = Date.now();
  readonly outcome: RunOutcome = {
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
  private exitCode: number | undefined;
  private markedFailed = false;
  private readonly runCtl = new AbortController();
  private readonly write: (line: string) => void;
  private readonly logged = new Set<string>();
  private readonly files = new Map<string, Buffer>();
  /** Every VU ever initialized, disposed of at the end. */
  private readonly vus: Vu[] = [];
  /** Set by load(). */
  private state!: EngineState;
  private readonly timers: NodeJS.Timeout[] = [];
  private softStopTimer: NodeJS.Timeout | undefined;
  private monitor: HealthMonitor | undefined;
  private phase: RunPhase = 'init';
  private readonly running: { ctx: ExecutorContext; started: boolean }[] = [];

  constructor(private readonly opts: RunScriptOptions) {
    this.write = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    setMaxListeners(0, this.runCtl.signal);
  }

  get aborted(): boolean {
    return this.runCtl.signal.aborted;
  }

  private readonly consoleLog = (level: LogLevel, message: string, vu?: number) => {
    if (level === 'debug' && !this.opts.verbose) return;
    if (this.opts.quiet && vu !== undefined && (level === 'info' || level === 'debug')) return;
    const secs = String(Math.floor((Date.now() - this.t0) / 1000)).padStart(4, '0');
    this.write(`${LEVELS[level]}[${secs}] ${vu !== undefined ? `[VU ${vu}] ` : ''}${message}`);
  };

  // The engine's own lines (errors, warnings) may quote a URL the script was given: its password never shows.
  // The script's console output is printed as k6 prints it.
  private readonly log = (level: LogLevel, message: string, vu?: number) =>
    this.consoleLog(level, maskUrlPasswords(message), vu);

  /** The first reason to stop wins (errext.WithExitCodeIfNone). */
  private stopRun(code: number, reason: string, error?: unknown): void {
    if (this.exitCode === undefined) {
      this.exitCode = code;
      this.outcome.scriptError = reason;
      if (error !== undefined) this.outcome.error = error;
    }
    this.outcome.interrupted = true;
    this.runCtl.abort();
  }

  /** A failure that ends the run without interrupting anything (init, setup, teardown). */
  private setError(code: number, reason: string, error?: unknown): void {
    if (this.exitCode !== undefined) return;
    this.exitCode = code;
    this.outcome.scriptError = reason;
    if (error !== undefined) this.outcome.error = error;
  }

  /** Ends the run here: the outcome gets the exit code so far (or this one). */
  private fail(code: number, reason: string, error?: unknown): void {
    this.setError(code, reason, error);
    this.outcome.exitCode = this.exitCode!;
  }

  private readonly onSignal = () => {
    this.log('warn', 'test run was aborted by a signal: stopping iterations, then teardown');
    this.stopRun(EXIT.externalAbort, 'test run was aborted by a signal');
  };

  private readonly onSoftStop = () => {
    const grace = this.opts.softStopGraceMs ?? 10_000;
    this.log(
      'warn',
      `soft stop: STARLING_STOPPING set in every VU; iterations get ${grace} ms to end, then they are cut`,
    );
    if (this.exitCode === undefined) {
      this.exitCode = EXIT.externalAbort;
      this.outcome.scriptError = 'test run was stopped by a signal';
    }
    this.outcome.interrupted = true;
    this.state.env = Object.freeze({ ...this.state.env, STARLING_STOPPING: '1' });
    for (const vu of this.vus) {
      const env = (vu.realm.global as { __ENV?: Record<string, string> }).__ENV;
      if (env) env.STARLING_STOPPING = '1';
    }
    this.softStopTimer = setTimeout(this.onSignal, grace);
  };

  /** Loads the script and builds the engine state; false when the script does not load (107). */
  async load(modules: ReadonlyMap<string, ModuleFactory>): Promise<boolean> {
    const opts = this.opts;
    let script: LoadedScript;
    try {
      script = await loadScript(opts.scriptPath, new Set(modules.keys()));
    } catch (e) {
      this.log('error', errorText(e));
      this.fail(EXIT.scriptException, (e as Error).message ?? String(e), e);
      return false;
    }
    for (const [name, type, isTime] of BUILTINS) opts.metrics.define(name, type, isTime);
    this.state = {
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
      log: this.log,
      logOnce: (key, level, message, vu) => {
        if (this.logged.has(key)) return;
        this.logged.add(key);
        this.log(level, message, vu);
      },
      consoleLog: this.consoleLog,
      abortTest: (reason) => {
        this.log('error', reason);
        this.stopRun(EXIT.scriptAborted, reason);
      },
      markFailed: (reason) => {
        this.log('error', reason);
        this.markedFailed = true;
      },
      fatal: (err) => {
        this.log('error', errorText(err));
        this.stopRun(EXIT.scriptException, (err as Error).message ?? String(err), err);
      },
      readFile: (p) => {
        let b = this.files.get(p);
        if (b === undefined) {
          b = readFileSync(p);
          this.files.set(p, b);
        }
        return b;
      },
    };
    return true;
  }

  private async newVu(id: number): Promise<Vu> {
    const vu = new Vu(id, this.state);
    this.vus.push(vu);
    await vu.init();
    return vu;
  }

  private progress(): RunProgress {
    const state = this.state;
    return {
      phase: this.phase,
      elapsedMs: state.testStartTime === 0 ? 0 : Date.now() - state.testStartTime,
      vus: state.counters.vusActive,
      vusMax: state.counters.vusInitialized,
      iterationsCompleted: state.counters.iterationsCompleted,
      iterationsInterrupted: state.counters.iterationsInterrupted,
      interrupted: this.outcome.interrupted,
      scenarios: this.running.map((r) => ({
        name: r.ctx.sc.name,
        executor: r.ctx.sc.executor,
        started: r.started,
        progress: r.started ? r.ctx.progress() : 0,
      })),
    };
  }

  /** Listens for the caller's signal and soft stop, and reports progress every second. */
  watch(): void {
    const opts = this.opts;
    if (opts.signal?.aborted) this.onSignal();
    else opts.signal?.addEventListener('abort', this.onSignal, { once: true });
    if (opts.softStop?.aborted) this.onSoftStop();
    else opts.softStop?.addEventListener('abort', this.onSoftStop, { once: true });
    if (opts.onProgress) {
      const onProgress = opts.onProgress;
      this.timers.push(setInterval(() => onProgress(this.progress()), 1000));
    }
  }

  /** Init of the first VU (id 0) reads the options, validated into the engine's (104); undefined: the run ends. */
  async initOptions(): Promise<EngineOptions | undefined> {
    const { opts, outcome, state } = this;
    let probe: Vu;
    try {
      probe = await this.newVu(0);
    } catch (e) {
      this.initFailure(e);
      return undefined;
    }
    const scriptOptions = plainOptions(probe.exports.options);
    outcome.options = { ...scriptOptions, ...(opts.overrides ?? {}) };
    outcome.hasHandleSummary = typeof probe.exports.handleSummary === 'function';
    let eo: EngineOptions;
    try {
      eo = deriveOptions(scriptOptions, (n) => typeof probe.exports[n] === 'function', opts.overrides);
      opts.onOptions?.(outcome.options);
    } catch (e) {
      this.log('error', (e as Error).message);
      const invalid =
        e instanceof InvalidOptionsError || (e as { exitCode?: number }).exitCode === EXIT.invalidConfig;
      this.fail(invalid ? EXIT.invalidConfig : EXIT.scriptException, (e as Error).message, e);
      return undefined;
    }
    outcome.engineOptions = eo;
    state.options = outcome.options;
    state.runTags = eo.runTags;
    state.minIterationDurationMs = eo.minIterationDurationMs;
    probe.dispose();
    return eo;
  }

  /** Every planned VU is initialized before setup(), as k6's scheduler Init; undefined: one failed to init. */
  async initVus(eo: EngineOptions): Promise<VuPool | undefined> {
    const state = this.state;
    const plan = executionPlan(eo.scenarios);
    const idle: Vu[] = [];
    let nextId = 1;
    for (let i = 0; i < plan.maxPlannedVUs && !this.aborted; i++) {
      const id = nextId++;
      try {
        idle.push(await this.newVu(id));
      } catch (e) {
        this.initFailure(e, id);
        return undefined;
      }
      state.counters.vusInitialized++;
    }
    return {
      getPlannedVU() {
        const vu = idle.shift();
        if (vu === undefined) throw new Error('no pre-initialized VU is free: the execution plan is wrong');
        return vu;
      },
      returnVU(vu) {
        idle.push(vu);
      },
      getUnplannedVU: async () => {
        const vu = await this.newVu(nextId++);
        state.counters.vusInitialized++;
        return vu;
      },
    };
  }

  /** The test run starts: its clock, the vus/vus_max samples every second, the abortOnFail checks. */
  startTestRun(): void {
    const { opts, state, timers } = this;
    state.testStartTime = Date.now();
    this.outcome.startTime = state.testStartTime;
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
          if (this.phase !== 'setup' && this.phase !== 'running') return;
          if (check().abort) {
            this.log('error', 'thresholds have been crossed: aborting the test run (abortOnFail)');
            this.stopRun(EXIT.thresholdsFailed, 'thresholds on metrics have been crossed');
          }
        }, 1000),
      );
    }
  }

  /** setup() in its own VU 0, its data through JSON as every VU sees it; false when it failed. */
  async setup(eo: EngineOptions): Promise<boolean> {
    this.phase = 'setup';
    let setupFailed = false;
    if (!eo.noSetup) {
      const out = await this.runPart(0, 'setup', undefined, eo.setupTimeoutMs, this.runCtl.signal);
      if (out !== undefined) {
        if (out.status === 'ok') {
          try {
            const json = out.value === undefined ? undefined : JSON.stringify(out.value);
            this.state.setupDataJson = json;
            this.outcome.setupData = json === undefined ? undefined : JSON.parse(json);
          } catch (e) {
            setupFailed = true;
            const msg = `error marshaling setup() data to JSON: ${(e as Error).message}`;
            this.log('error', msg);
            this.setError(EXIT.scriptException, msg, e);
          }
        } else {
          setupFailed = true;
          this.partFailure('setup', out, EXIT.setupTimeout);
        }
      }
    }
    return !setupFailed;
  }

  /** Scenarios, each at its startTime, with the generator's own health watched meanwhile. */
  async runScenarios(eo: EngineOptions, pool: VuPool): Promise<void> {
    const { opts, state, runCtl } = this;
    this.phase = 'running';
    // The generator's own health while the scenarios run (not setup/teardown: their VU's init is no load).
    if (opts.health !== false) {
      this.monitor = startHealthMonitor({
        env: state.env,
        rule: opts.health,
        log: (level, m) => this.log(level, m),
      });
    }
    await Promise.all(
      eo.scenarios.map(async (sc) => {
        const ctx: ExecutorContext = { sc, pool, state, runSignal: runCtl.signal, progress: () => 0 };
        const r = { ctx, started: false };
        this.running.push(r);
        if (sc.startTimeMs > 0 && !(await delay(sc.startTimeMs, runCtl.signal))) return;
        r.started = true;
        await executors[sc.executor](ctx);
      }),
    );
    if (this.monitor) this.outcome.generator = await this.monitor.stop();
  }

  /** teardown(): with the global context, so not cut by signal/abort/thresholds (not called after setup failed). */
  async teardown(eo: EngineOptions): Promise<void> {
    if (eo.noTeardown) return;
    this.phase = 'teardown';
    const data = this.state.setupDataJson === undefined ? undefined : JSON.parse(this.state.setupDataJson);
    const out = await this.runPart(0, 'teardown', data, eo.teardownTimeoutMs);
    if (out !== undefined && out.status !== 'ok') this.partFailure('teardown', out, EXIT.teardownTimeout);
  }

  /** The exit code, the caller's summary data, then the script's handleSummary() in its own VU 0. */
  async finish(): Promise<RunOutcome> {
    const { opts, outcome } = this;
    this.phase = 'summary';
    outcome.endTime = Date.now();
    if (outcome.startTime === 0) outcome.startTime = outcome.endTime;
    outcome.iterationsCompleted = this.state.counters.iterationsCompleted;
    outcome.iterationsInterrupted = this.state.counters.iterationsInterrupted;
    outcome.exitCode = this.exitCode ?? (this.markedFailed ? EXIT.markedAsFailed : EXIT.ok);
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
        rootGroup: structuredClone(runGroupSummary(this.state.shared).root), // as it is at the end of teardown
      });
      if (outcome.hasHandleSummary && opts.handleSummary !== false) {
        const out = await this.runPart(
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
            this.log('error', `failed to handle the end-of-test summary: ${outcome.summaryError}`);
          }
        }
      }
    }
    this.phase = 'done';
    opts.onProgress?.(this.progress());
    return outcome;
  }

  /** Stops the timers, the health monitor and the listeners, and disposes of every VU. */
  cleanUp(): void {
    for (const t of this.timers) clearInterval(t);
    void this.monitor?.stop();
    this.opts.signal?.removeEventListener('abort', this.onSignal);
    this.opts.softStop?.removeEventListener('abort', this.onSoftStop);
    clearTimeout(this.softStopTimer);
    for (const vu of this.vus) vu.dispose();
    this.state.script.saveCodeCache();
  }

  /** Runs setup/teardown/handleSummary in a fresh VU 0 (k6's runPart); undefined when not exported. */
  private async runPart(
    id: number,
    name: 'setup' | 'teardown' | 'handleSummary',
    arg: unknown,
    timeoutMs: number,
    stop?: AbortSignal,
  ): Promise<PhaseOutcome | undefined> {
    let vu: Vu;
    try {
      vu = await this.newVu(id);
    } catch (e) {
      const out: PhaseOutcome = { status: 'failed', error: (e as ScriptError).cause ?? e, durationMs: 0 };
      return out;
    }
    const realmArg = arg === undefined ? undefined : vu.realm.JSON.parse(JSON.stringify(arg));
    const out = await vu.runPart(name, realmArg, timeoutMs, stop);
    return out.exported ? out : undefined;
  }

  private partFailure(name: 'setup' | 'teardown', out: PhaseOutcome, timeoutCode: number): void {
    if (out.status === 'timeout') {
      const ms =
        name === 'setup'
          ? this.outcome.engineOptions!.setupTimeoutMs
          : this.outcome.engineOptions!.teardownTimeoutMs;
      const msg = `${name}() execution timed out after ${ms / 1000} seconds`;
      this.log('error', msg);
      this.setError(timeoutCode, msg);
    } else if (out.status === 'failed') {
      const text = errorText(out.error, out.rejection);
      this.log('error', `${text}  source=stacktrace`);
      this.setError(
        EXIT.scriptException,
        out.error instanceof UnsupportedK6ApiError ? out.error.message : text,
        out.error,
      );
    }
    // 'aborted' and 'interrupted' already carry their exit code.
  }

  private initFailure(e: unknown, id?: number): void {
    const cause = e instanceof ScriptError ? (e.cause ?? e) : e;
    const text = e instanceof ScriptError ? e.message : errorText(e);
    const where = id === undefined ? '' : ` (error while initializing VU #${id})`;
    this.log('error', `${text}${where}`);
    if (this.exitCode === undefined && !this.aborted)
      this.fail(EXIT.scriptException, `${text}${where}`, cause);
    else this.fail(this.exitCode ?? EXIT.externalAbort, this.outcome.scriptError ?? text);
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
