/**
 * Contracts between the parts of the Node engine: the metric store, the per-VU runtime that k6 module
 * implementations (src/engine/modules/*) run against, and the executors that drive iterations.
 */

import type { EngineLimits } from './limits.ts';

export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';

export type Tags = Record<string, string>;

/** What k6 module implementations and the engine emit samples into (k6's metrics registry + sample channel). */
export interface MetricSink {
  /** Registers a metric; same name with another type or `contains` throws (as in k6). Idempotent otherwise. */
  define(name: string, type: MetricType, isTime?: boolean): void;
  /** Adds one sample. Rate: value !== 0 counts as a pass. Tags merged over the caller's system tags. */
  push(name: string, value: number, tags?: Tags, time?: number): void;
}

/** Execution facts `k6/execution` exposes, kept current by the executor. */
export interface ExecutionState {
  vu: { idInTest: number; idInInstance: number; iterationInInstance: number; iterationInScenario: number };
  scenario: {
    name: string;
    executor: string;
    startTime: number;
    progress: number;
    iterationInInstance: number;
    iterationInTest: number;
  };
  instance: {
    vusActive: number;
    vusInitialized: number;
    iterationsCompleted: number;
    iterationsInterrupted: number;
    /** ms since the test run started (optional for test doubles). */
    currentTestRunDuration?: number;
  };
  test: {
    abort(reason?: string): never;
    options: Record<string, unknown>;
    /** exec.test.fail(): the run goes on but ends with exit code 110 (optional for test doubles). */
    fail?(reason?: string): void;
  };
}

export type VuPhase = 'init' | 'setup' | 'iteration' | 'teardown' | 'summary';

/**
 * Intrinsics of the VU's own JS context. Each VU is a separate V8 context, so `instanceof ArrayBuffer` (or
 * Error, Array, …) in script code is false for objects made by module code in Node's realm: build values handed
 * to scripts with these (e.g. `new rt.realm.Uint8Array(n).buffer` for an ArrayBuffer).
 */
export interface VuRealm {
  /** The context's globalThis. */
  global: Record<string, unknown>;
  Object: ObjectConstructor;
  Array: ArrayConstructor;
  Error: ErrorConstructor;
  TypeError: TypeErrorConstructor;
  Promise: PromiseConstructor;
  ArrayBuffer: ArrayBufferConstructor;
  Uint8Array: Uint8ArrayConstructor;
  JSON: JSON;
}

/**
 * One VU's view of the engine, handed to every k6 module implementation when the VU's context is built.
 * Async work (timers, sockets, HTTP requests) registers with `beginOp` so the iteration waits for it,
 * exactly as k6's event loop does.
 */
export interface VuRuntime {
  /** `__VU`: 0 in setup/teardown and in the init of the probe VU, else 1-based. */
  readonly id: number;
  phase: VuPhase;
  readonly env: Record<string, string>;
  readonly metrics: MetricSink;
  /** System tags for samples from this VU right now (scenario, group, …). */
  tags(): Tags;
  readonly execution: ExecutionState;
  /** Registers pending async work; call the returned function exactly once when it settles. */
  beginOp(kind: 'timer' | 'socket' | 'http' | 'other'): () => void;
  /** An exception thrown from a callback (socket listener, timer): fails the running iteration. */
  reportError(err: unknown): void;
  /**
   * Called when the running iteration (or setup/teardown) is cut short — graceful stop expired, test aborted, or
   * the iteration failed — so the module can close sockets (k6 closes them with 1000). Handlers registered while
   * an iteration runs are dropped when it ends; handlers registered in the init phase stay for the VU's life.
   */
  onInterrupt(fn: () => void): void;
  /** The VU context's intrinsics (set by the engine; absent in simple test doubles). */
  readonly realm?: VuRealm;
  /** Storage shared by every VU of one run (k6/data SharedArray); absent in simple test doubles. */
  readonly shared?: Map<string, unknown>;
  /** The run's safety limits (DEFAULT_ENGINE_LIMITS when absent, as in simple test doubles). */
  readonly limits?: EngineLimits;
  /**
   * Logs one of the engine's own lines (not the script's console) for this VU, URL passwords masked; with `once`,
   * only the first line under that key in the whole run. Absent in simple test doubles (modules then use stderr).
   */
  engineLog?(level: 'warn' | 'error', message: string, once?: string): void;
}

/** A k6 module implementation: builds the module's exports for one VU. */
export type ModuleFactory = (rt: VuRuntime) => Record<string, unknown>;

/** Thrown for k6 APIs the Node engine does not implement: fail loudly rather than diverge silently. */
export class UnsupportedK6ApiError extends Error {
  constructor(
    api: string,
    hint = 'the Node engine implements the subset starling scenarios use; run this script with real k6',
  ) {
    super(`${api} is not supported by starling's Node engine: ${hint}`);
    this.name = 'UnsupportedK6ApiError';
  }
}
