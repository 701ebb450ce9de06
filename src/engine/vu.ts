/**
 * One VU: its own JS context, the module instances imported by the script, and k6's per-VU event loop.
 *
 * A phase (init, setup, an iteration, teardown, handleSummary) ends when the function returned and nothing it
 * started is pending — timers, sockets, requests registered with `beginOp` — checked after the microtask queue
 * drained, as k6's event loop does (internal/js/eventloop). An exception, a rejected returned promise, an
 * unhandled rejection or an error reported from a callback fails the phase: pending timers are dropped, the
 * interrupt handlers run (modules close sockets), and the phase ends once the remaining ops settle. A hard stop
 * (graceful stop expired, test aborted) ends it at once.
 */
import { performance } from 'node:perf_hooks';
import type vm from 'node:vm';
import { mapStackTrace, type LoadedScript } from './loader.ts';
import { createVuContext, installGlobals, setEnv, type LogLevel, type Timers } from './globals.ts';
import type { EngineLimits } from './limits.ts';
import type { ScenarioConfig } from './options.ts';
import {
  UnsupportedK6ApiError,
  type ExecutionState,
  type MetricSink,
  type ModuleFactory,
  type Tags,
  type VuPhase,
  type VuRealm,
  type VuRuntime,
} from './runtime.ts';

/** Run-wide state every VU of one run shares. */
export interface EngineState {
  readonly metrics: MetricSink;
  readonly modules: ReadonlyMap<string, ModuleFactory>;
  readonly shared: Map<string, unknown>;
  /** Replaced (never mutated) when a soft stop adds STARLING_STOPPING. */
  env: Readonly<Record<string, string>>;
  readonly script: LoadedScript;
  /** The script's options, consolidated (exec.test.options). */
  options: Record<string, unknown>;
  runTags: Tags;
  minIterationDurationMs: number;
  /** setup()'s result as JSON; undefined when setup returned undefined or does not exist. */
  setupDataJson: string | undefined;
  /** Epoch ms when the test run started (0 before). */
  testStartTime: number;
  readonly counters: {
    vusActive: number;
    vusInitialized: number;
    iterationsCompleted: number;
    iterationsInterrupted: number;
  };
  /** The run's safety limits. */
  readonly limits: Readonly<EngineLimits>;
  /** The engine's own lines: URL passwords masked. */
  log(level: LogLevel, message: string, vu?: number): void;
  /** As `log`, but only the first line under `key` in the run. */
  logOnce(key: string, level: LogLevel, message: string, vu?: number): void;
  /** The script's console output, printed as it is (k6 does not touch it). */
  consoleLog(level: LogLevel, message: string, vu?: number): void;
  /** exec.test.abort(): stops the run with exit code 108. */
  abortTest(reason: string): void;
  /** exec.test.fail(): the run ends with exit code 110. */
  markFailed(reason: string): void;
  /** An error that must stop the whole run (UnsupportedK6ApiError from an iteration): exit 107. */
  fatal(err: unknown): void;
  readFile(absPath: string): Buffer;
}

/** Execution facts of the scenario a VU currently runs, set by its executor. */
export interface Activation {
  scenario: ScenarioConfig;
  /** Epoch ms. */
  startTime: number;
  progress: () => number;
  /** The scenario-wide iteration number (0-based) for the iteration about to start. */
  nextIteration: () => number;
}

export type PhaseStatus = 'ok' | 'failed' | 'interrupted' | 'aborted' | 'timeout';

export interface PhaseOutcome {
  status: PhaseStatus;
  value?: unknown;
  error?: unknown;
  /** The failure came as a promise rejection ("Uncaught (in promise)"). */
  rejection?: boolean;
  durationMs: number;
}

/** Thrown into the script by exec.test.abort(); k6 interrupts the VU, which no catch block can stop. */
export class TestAbortError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TestAbortError';
  }
}

/** An init-phase failure (exit 107 in k6). */
export class ScriptError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'ScriptError';
  }
}

interface PhaseRun {
  done: boolean;
  settled: boolean;
  value: unknown;
  /** The phase's result is the returned promise's value; its rejection is the phase's exception. */
  awaitsResult: boolean;
  failing?: { error: unknown; rejection: boolean };
  finish(o: Omit<PhaseOutcome, 'durationMs'>): void;
  fail(error: unknown, rejection: boolean): void;
  interrupt(status: 'interrupted' | 'aborted' | 'timeout'): void;
}

/** Text k6 logs for a failed phase: the exception with its stack, or the thrown value. */
export function errorText(err: unknown, rejection = false): string {
  let text: string;
  if (err instanceof TestAbortError) text = err.reason;
  else if (typeof err === 'object' && err !== null && typeof (err as Error).stack === 'string') {
    text = mapStackTrace((err as Error).stack!);
  } else {
    try {
      text = String(err);
    } catch {
      text = Object.prototype.toString.call(err);
    }
  }
  return rejection ? `Uncaught (in promise) ${text}` : text;
}

// ---- unhandled rejections: routed to the VU whose realm made the promise --------------------------------

const vusByPromiseProto = new Map<object, Vu>();
function onUnhandledRejection(reason: unknown, promise: Promise<unknown>): void {
  const vu = vusByPromiseProto.get(Object.getPrototypeOf(promise) as object);
  if (vu !== undefined) {
    vu.unhandledRejection(reason);
    return;
  }
  if (process.listenerCount('unhandledRejection') === 1) {
    process.stderr.write(`starling: unhandled promise rejection outside any VU: ${errorText(reason)}\n`);
  }
}
function trackRealm(vu: Vu, realm: VuRealm): void {
  if (vusByPromiseProto.size === 0) process.on('unhandledRejection', onUnhandledRejection);
  vusByPromiseProto.set(realm.Promise.prototype, vu);
}
function untrackRealm(realm: VuRealm): void {
  vusByPromiseProto.delete(realm.Promise.prototype);
  if (vusByPromiseProto.size === 0) process.off('unhandledRejection', onUnhandledRejection);
}

// ---- module objects -----------------------------------------------------------------------------------

const PASS_THROUGH = new Set(['then', 'toJSON', 'constructor', 'toString', 'valueOf', 'hasOwnProperty']);

/**
 * What a `k6/...` import evaluates to: named exports as own properties, `default` (the factory's, or an object
 * of the named ones, as k6's gomodule.go), and a prototype that throws for names the module does not export —
 * k6 rejects such imports at link time, while the bundle's CommonJS interop would yield undefined.
 */
function moduleObject(spec: string, exports: Record<string, unknown>): Record<string, unknown> {
  const proto = new Proxy(Object.prototype, {
    get(target, key, receiver) {
      if (typeof key === 'symbol' || PASS_THROUGH.has(key))
        return Reflect.get(target, key, receiver) as unknown;
      throw new UnsupportedK6ApiError(
        `'${key}' from '${spec}'`,
        `the Node engine's ${spec} does not export it`,
      );
    },
  });
  const mod = Object.create(proto) as Record<string, unknown>;
  const names = Object.keys(exports).filter((k) => k !== 'default');
  const def = exports.default;
  if (names.length === 0 && typeof def === 'object' && def !== null) {
    for (const k of Object.getOwnPropertyNames(def)) {
      Object.defineProperty(mod, k, { enumerable: true, get: () => (def as Record<string, unknown>)[k] });
    }
  } else {
    for (const k of names) mod[k] = exports[k];
  }
  let defaultExport = def;
  if (defaultExport === undefined) {
    defaultExport = {};
    for (const k of names) (defaultExport as Record<string, unknown>)[k] = exports[k];
  }
  Object.defineProperty(mod, 'default', { value: defaultExport, enumerable: true });
  Object.defineProperty(mod, '__esModule', { value: true });
  return mod;
}

// ---- the VU -------------------------------------------------------------------------------------------

export class Vu implements VuRuntime {
  phase: VuPhase = 'init';
  readonly metrics: MetricSink;
  readonly execution: ExecutionState;
  readonly realm: VuRealm;
  readonly shared: Map<string, unknown>;
  readonly limits: Readonly<EngineLimits>;
  env: Record<string, string>;
  exports: Record<string, unknown> = {};

  /** __ITER: iterations this VU started, across scenarios (-1 before the first). */
  iteration = -1;
  activation: Activation | undefined;
  /** The `group` tag: '' at the root, '::a::b' inside nested groups. */
  groupPath = '';
  /** exec.vu.tags: custom tags set by the script for this activation. */
  readonly customTags: Tags = {};
  /** Bumped whenever customTags changes (exec.vu.tags, a new activation), so tags() can keep its last answer. */
  customTagsVersion = 0;
  /**
   * The last tags() answer and what it was made from: every metric sample asks for it (hundreds per session), and
   * it changes only with the scenario, the phase, the group or the custom tags.
   */
  private tagsMemo:
    | {
        runTags: Tags;
        activation: Activation | undefined;
        iteration: boolean;
        group: string;
        custom: number;
        tags: Tags;
      }
    | undefined;

  private readonly context: vm.Context;
  private readonly timers: Timers;
  private readonly moduleCache = new Map<string, Record<string, unknown>>();
  private readonly scenarioIters = new Map<string, number>();
  private scenarioIteration = -1;
  private setupDataParsed = false;
  private setupData: unknown;
  private ops = 0;
  private epoch = 0;
  private idleCheck = false;
  private run: PhaseRun | undefined;
  private handlers: { fn: () => void; persistent: boolean }[] = [];
  private abortReason: string | undefined;

  constructor(
    readonly id: number,
    readonly state: EngineState,
  ) {
    this.metrics = state.metrics;
    this.shared = state.shared;
    this.limits = state.limits;
    this.env = { ...state.env };
    const { context, realm } = createVuContext();
    this.context = context;
    this.realm = realm;
    trackRealm(this, realm);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.timers = installGlobals(
      {
        id,
        get phase() {
          return self.phase;
        },
        realm,
        beginOp: (k) => this.beginOp(k),
        opStarted: () => this.opStarted(),
        opEnded: (epoch) => this.opEnded(epoch),
        invoke: (fn, thisArg, args) => this.invoke(fn, thisArg, args),
        log: (level, msg) => state.consoleLog(level, msg, id),
        readFile: (p) => state.readFile(p),
        scriptDir: state.script.dir,
      },
      this.env,
    );
    this.execution = this.makeExecutionState();
  }

  // ---- VuRuntime --------------------------------------------------------------------------------------

  /** The VU's current tags: one frozen object, the same until what it is made from changes (copy to extend it). */
  tags(): Tags {
    const a = this.activation;
    const iteration = a !== undefined && this.phase === 'iteration';
    const runTags = this.state.runTags;
    const m = this.tagsMemo;
    if (
      m !== undefined &&
      m.activation === a &&
      m.iteration === iteration &&
      m.group === this.groupPath &&
      m.custom === this.customTagsVersion &&
      m.runTags === runTags
    ) {
      return m.tags;
    }
    const tags: Tags = { ...runTags };
    if (iteration) Object.assign(tags, a.scenario.tags, this.customTags);
    tags.group = this.groupPath;
    if (iteration) tags.scenario = a.scenario.name;
    Object.freeze(tags);
    this.tagsMemo = {
      runTags,
      activation: a,
      iteration,
      group: this.groupPath,
      custom: this.customTagsVersion,
      tags,
    };
    return tags;
  }

  beginOp(_kind: 'timer' | 'socket' | 'http' | 'other'): () => void {
    const epoch = this.opStarted();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.opEnded(epoch);
    };
  }

  /** beginOp without its closure, for timers (one or two per think): returns the epoch to give opEnded, once. */
  opStarted(): number {
    this.ops++;
    return this.epoch;
  }

  opEnded(epoch: number): void {
    if (epoch !== this.epoch) return; // from a phase that was cut short
    this.ops--;
    if (this.ops === 0) this.scheduleIdleCheck();
  }

  reportError(err: unknown): void {
    const run = this.run;
    if (run !== undefined && !run.done) run.fail(err, false);
    else this.state.log('error', errorText(err), this.id);
  }

  onInterrupt(fn: () => void): void {
    this.handlers.push({ fn, persistent: this.phase === 'init' });
  }

  engineLog(level: 'warn' | 'error', message: string, once?: string): void {
    if (once === undefined) this.state.log(level, message, this.id);
    else this.state.logOnce(once, level, message, this.id);
  }

  // ---- lifecycle --------------------------------------------------------------------------------------

  /**
   * Evaluates the script in this VU's context (k6's init code). Throws ScriptError on failure. A module body with
   * top-level await is awaited as k6 awaits module evaluation: its rejection is the init's exception.
   */
  async init(): Promise<void> {
    const { script } = this.state;
    const wrapper = script.script.runInContext(this.context) as (imp: unknown) => unknown;
    const importK6 = (spec: string) => this.importModule(spec);
    const out = await this.runPhase('init', () => wrapper(importK6), { result: script.async });
    if (out.status !== 'ok') {
      throw new ScriptError(errorText(out.error ?? out.status, out.rejection), out.error);
    }
    // A script (not a module) leaves the bundle's exports undefined: nothing exported either.
    const exp = (out.value ?? {}) as Record<string, unknown>;
    this.exports = {};
    for (const k of Object.keys(exp)) this.exports[k] = exp[k];
    // k6 js/bundle.go: a bundle with no callable export is refused before any VU runs.
    if (!Object.keys(exp).some((k) => k !== 'options' && typeof exp[k] === 'function')) {
      throw new ScriptError('no exported functions in script');
    }
  }

  private importModule(spec: string): Record<string, unknown> {
    let mod = this.moduleCache.get(spec);
    if (mod === undefined) {
      const factory = this.state.modules.get(spec);
      if (factory === undefined) throw new UnsupportedK6ApiError(spec);
      mod = moduleObject(spec, factory(this));
      this.moduleCache.set(spec, mod);
    }
    return mod;
  }

  /** Starts a scenario on this VU: its env over the run's, its tags (k6's VU.Activate). */
  activate(a: Activation): void {
    this.activation = a;
    this.env = { ...this.state.env, ...a.scenario.env };
    setEnv(this.realm, this.env);
    for (const k of Object.keys(this.customTags)) delete this.customTags[k];
    this.customTagsVersion++;
  }

  deactivate(): void {
    this.activation = undefined;
  }

  /** Runs setup/teardown/handleSummary's function in this (temporary, id 0) VU. */
  runPart(
    name: 'setup' | 'teardown' | 'handleSummary',
    arg: unknown,
    timeoutMs: number,
    stop?: AbortSignal,
  ): Promise<PhaseOutcome & { exported: boolean }> {
    const fn = this.exports[name];
    if (typeof fn !== 'function') return Promise.resolve({ status: 'ok', durationMs: 0, exported: false });
    // k6's runPart tags setup/teardown samples with the group '::setup' / '::teardown'.
    this.groupPath = name === 'handleSummary' ? '' : `::${name}`;
    const phase: VuPhase = name === 'handleSummary' ? 'summary' : name;
    return this.runPhase(phase, () => (fn as (a: unknown) => unknown)(arg), { timeoutMs, stop }).then(
      (o) => ({
        ...o,
        exported: true,
      }),
    );
  }

  /** One iteration of the active scenario (k6's ActiveVU.RunOnce). Returns whether it was a full iteration. */
  async runIteration(stop: AbortSignal): Promise<boolean> {
    const a = this.activation;
    if (a === undefined) throw new Error('runIteration on an inactive VU');
    if (!this.setupDataParsed) {
      const json = this.state.setupDataJson;
      this.setupData = json === undefined ? undefined : this.realm.JSON.parse(json);
      this.setupDataParsed = true;
    }
    const fn = this.exports[a.scenario.exec] as (data: unknown) => unknown;
    this.iteration++;
    this.scenarioIters.set(a.scenario.name, (this.scenarioIters.get(a.scenario.name) ?? -1) + 1);
    this.scenarioIteration = a.nextIteration();
    this.realm.global.__ITER = this.iteration;
    this.groupPath = '';
    const out = await this.runPhase('iteration', () => fn(this.setupData), { stop });
    const full = !stop.aborted && (out.status === 'ok' || out.status === 'failed');
    if (out.status === 'failed') {
      if (out.error instanceof UnsupportedK6ApiError) this.state.fatal(out.error);
      else {
        this.state.log(
          'error',
          `${errorText(out.error, out.rejection)}  executor=${a.scenario.executor} scenario=${a.scenario.name} source=stacktrace`,
          this.id,
        );
      }
    }
    const c = this.state.counters;
    if (full) {
      c.iterationsCompleted++;
      const tags = this.tags();
      const now = Date.now();
      this.metrics.push('iteration_duration', out.durationMs, tags, now);
      this.metrics.push('iterations', 1, tags, now);
      const rest = this.state.minIterationDurationMs - out.durationMs;
      if (rest > 0) await abortableDelay(rest, stop);
    } else {
      c.iterationsInterrupted++;
    }
    // k6 sends the VU's network I/O after every iteration whatever its value (runner.go: Dialer.IOSamples), so
    // its summary always has data_sent and data_received; ours are counted per request and socket, so 0 here.
    const ioTags = this.tags();
    const ioTime = Date.now();
    this.metrics.push('data_sent', 0, ioTags, ioTime);
    this.metrics.push('data_received', 0, ioTags, ioTime);
    this.phase = 'iteration';
    return full;
  }

  /** Releases the context's timers and the rejection routing; the VU cannot run again. */
  dispose(): void {
    this.run?.interrupt('interrupted');
    this.timers.clearAll(false);
    this.handlers = [];
    untrackRealm(this.realm);
  }

  // ---- the event loop ---------------------------------------------------------------------------------

  private invoke(fn: (...a: unknown[]) => unknown, thisArg: unknown, args: unknown[]): void {
    const run = this.run;
    if (run === undefined || run.done) return;
    try {
      fn.apply(thisArg, args);
    } catch (e) {
      this.reportError(e);
    }
  }

  /** Called for a rejection nobody handled, in a promise made by this VU's realm. */
  unhandledRejection(reason: unknown): void {
    const run = this.run;
    if (run !== undefined && !run.done) run.fail(reason, true);
    else this.state.log('error', errorText(reason, true), this.id);
  }

  private scheduleIdleCheck(): void {
    if (this.idleCheck) return;
    this.idleCheck = true;
    // After the microtask queue drained: an `await` chain still resolving is not idle.
    setImmediate(() => {
      this.idleCheck = false;
      const run = this.run;
      if (run === undefined || run.done || this.ops !== 0) return;
      if (run.failing !== undefined) {
        run.finish({ status: 'failed', error: run.failing.error, rejection: run.failing.rejection });
      } else if (!run.settled && run.awaitsResult) {
        // k6 (js/bundle.go): the event loop emptied while the module's evaluation is still pending.
        run.finish({
          status: 'failed',
          error:
            "initializing the main module hasn't finished: its top-level await waits on a promise nothing settles",
        });
      } else {
        run.finish({ status: 'ok', value: run.settled ? run.value : undefined });
      }
    });
  }

  /** k6 cancels the iteration's context: timers are dropped and modules close their sockets. */
  private cancelPending(): void {
    this.timers.clearAll(true);
    for (const h of [...this.handlers]) {
      try {
        h.fn();
      } catch (e) {
        this.state.log('warn', `interrupt handler failed: ${errorText(e)}`, this.id);
      }
    }
  }

  private runPhase(
    phase: VuPhase,
    call: () => unknown,
    opts: { stop?: AbortSignal; timeoutMs?: number; result?: boolean },
  ): Promise<PhaseOutcome> {
    this.phase = phase;
    this.epoch++;
    this.ops = 0;
    const t0 = performance.now();
    return new Promise<PhaseOutcome>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const onStop = () => run.interrupt('interrupted');
      const run: PhaseRun = {
        done: false,
        settled: false,
        value: undefined,
        awaitsResult: opts.result === true,
        finish: (o) => {
          if (run.done) return;
          run.done = true;
          if (timer !== undefined) clearTimeout(timer);
          opts.stop?.removeEventListener('abort', onStop);
          if (this.run === run) this.run = undefined;
          this.handlers = this.handlers.filter((h) => h.persistent);
          const status = this.abortReason !== undefined && o.status !== 'ok' ? 'aborted' : o.status;
          resolve({ ...o, status, durationMs: performance.now() - t0 });
        },
        fail: (error, rejection) => {
          if (run.done || run.failing !== undefined) return;
          if (error instanceof TestAbortError || this.abortReason !== undefined) {
            run.interrupt('aborted');
            return;
          }
          run.failing = { error, rejection };
          this.cancelPending();
          if (this.ops === 0) this.scheduleIdleCheck();
        },
        interrupt: (status) => {
          if (run.done) return;
          this.cancelPending();
          this.epoch++;
          this.ops = 0;
          run.finish({ status });
        },
      };
      this.run = run;
      if (opts.stop?.aborted) {
        run.finish({ status: 'interrupted' });
        return;
      }
      opts.stop?.addEventListener('abort', onStop, { once: true });
      if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
        timer = setTimeout(() => run.interrupt('timeout'), opts.timeoutMs);
      }
      let ret: unknown;
      try {
        ret = call();
      } catch (e) {
        run.fail(e, false);
        return;
      }
      if (typeof ret === 'object' && ret !== null && typeof (ret as { then?: unknown }).then === 'function') {
        (ret as PromiseLike<unknown>).then(
          (v) => {
            run.value = v;
            run.settled = true;
          },
          (e: unknown) => run.fail(e, !run.awaitsResult),
        );
      } else {
        run.value = ret;
        run.settled = true;
      }
      if (this.ops === 0) this.scheduleIdleCheck();
    });
  }

  /** exec.test.abort(): the run stops with 108; this VU's phase ends now whatever the script catches. */
  requestAbort(reason: string): never {
    this.abortReason = reason;
    this.state.abortTest(reason);
    this.run?.interrupt('aborted');
    throw new TestAbortError(reason);
  }

  // ---- k6/execution -----------------------------------------------------------------------------------

  private makeExecutionState(): ExecutionState {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const vu = this;
    const scenario = () => {
      const a = vu.activation;
      if (a === undefined || vu.phase !== 'iteration') {
        throw new vu.realm.Error('getting scenario information outside of the VU context is not supported');
      }
      return a;
    };
    return {
      vu: {
        get idInTest() {
          return vu.id;
        },
        get idInInstance() {
          return vu.id;
        },
        get iterationInInstance() {
          return vu.iteration;
        },
        get iterationInScenario() {
          const a = vu.activation;
          return a === undefined ? 0 : (vu.scenarioIters.get(a.scenario.name) ?? 0);
        },
      },
      scenario: {
        get name() {
          return scenario().scenario.name;
        },
        get executor() {
          return scenario().scenario.executor;
        },
        get startTime() {
          return scenario().startTime;
        },
        get progress() {
          return scenario().progress();
        },
        get iterationInInstance() {
          scenario();
          return vu.scenarioIteration;
        },
        get iterationInTest() {
          scenario();
          return vu.scenarioIteration;
        },
      },
      instance: {
        get vusActive() {
          return vu.state.counters.vusActive;
        },
        get vusInitialized() {
          return vu.state.counters.vusInitialized;
        },
        get iterationsCompleted() {
          return vu.state.counters.iterationsCompleted;
        },
        get iterationsInterrupted() {
          return vu.state.counters.iterationsInterrupted;
        },
        get currentTestRunDuration() {
          return vu.state.testStartTime === 0 ? 0 : Date.now() - vu.state.testStartTime;
        },
      },
      test: {
        abort: (reason?: string): never =>
          vu.requestAbort(
            reason === undefined || reason === null ? 'test aborted' : `test aborted: ${reason}`,
          ),
        fail: (reason?: string) =>
          vu.state.markFailed(
            reason === undefined || reason === null
              ? 'test marked as failed'
              : `test marked as failed: ${reason}`,
          ),
        get options() {
          return vu.state.options;
        },
      },
    };
  }
}

function abortableDelay(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      stop.removeEventListener('abort', done);
      resolve();
    }
    stop.addEventListener('abort', done, { once: true });
  });
}
