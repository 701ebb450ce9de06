/**
 * What `starling capacity` measures and writes (capacity.json): the search's steps, each with its offered and
 * achieved load, the SLO rows evaluated on the step's own window, and who (server or generator) was busy.
 */
import type { GateRow } from '../collector/gate.ts';

/** The three loads a planner asks about. */
export type Dimension = 'login-rate' | 'sessions' | 'messages';

/** How each dimension's load is counted, as printed. */
export const DIMENSION_UNITS: Record<Dimension, string> = {
  'login-rate': 'logins/s',
  sessions: 'sessions',
  messages: 'messages/s',
};

/** One SLO term of a step: a k6 threshold evaluated on the step's window (the gate's row). */
export type SloRow = GateRow;

/** Latency percentiles of one metric over a step's window, ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One generator process of a step. */
export interface GeneratorStep {
  /** Its exit code: 0, 99 (its scenario's own thresholds) and 120 (saturated) are results; others are errors. */
  exitCode: number;
  saturated: boolean;
  /** Mean and busiest CPU (over its busiest 10 s, or its busiest sample in a shorter step), shares of one core. */
  cpuMean: number;
  cpuPeakSpan: number;
  /** Event-loop delay p90 over the step, ms. */
  loopDelayP90: number;
  /** The generator's own verdict when saturated. */
  verdict?: string;
}

export interface Step {
  /** 1-based, in the order run. */
  index: number;
  /**
   * `coarse`: the ramp up to the first failing step; `refine`: between the last pass and the first failure;
   * `verify`: after the search, its figure run again (and lower, when that fails) and 1.3 × the figure it confirms.
   */
  phase: 'coarse' | 'refine' | 'verify';
  offered: number;
  /** What the server did at that offer (same unit): logins/s completed, sessions held, messages/s delivered. */
  achieved: number;
  /** The collector's run id of this step (its HDR logs are in results/<capacity-run>/<step>/). */
  runId: string;
  startedAt: string;
  /** The window the SLO was evaluated on, epoch ms (interval-aligned, after the warm-up). */
  windowStartMs: number;
  windowEndMs: number;
  pass: boolean;
  rows: SloRow[];
  /** Per latency metric of interest, over the window. */
  latency: Record<string, Percentiles>;
  /** Login attempts and failures over the whole step; failures by reason (`timeout:connect`, `auth`, …). */
  logins: { attempts: number; failures: number; byReason: Record<string, number> };
  /** Messages expected and lost over the whole step (messages dimension). */
  messages?: { expected: number; lost: number };
  generators: GeneratorStep[];
  /** A local server's CPU over the step, shares of one core; undefined for a --target. */
  serverCpu?: number;
  /** Cores the local server can use (Prosody 1; ejabberd the machine's). */
  serverCores?: number;
  /** Cores of this machine, which a local server shares with the generators. */
  machineCores?: number;
  /** With a local server: how busy this machine's cores were over the window, all processes (0–1). */
  machineBusy?: number;
  /**
   * With a local server: the most files (sockets included) one of its processes had open at once during the step,
   * and that process's open-files limit (ulimit -n): a server at its limit refuses new connections.
   */
  serverFiles?: { peak: number; limit: number };
  /** Why the step stopped the search at once (the server died or stopped answering). */
  fellOver?: string;
}

/**
 * Who stopped the ramp at the first failing step: the server, a saturated generator, or (a local server sharing
 * this machine with the generators) the machine's cores, all busy between them.
 */
export type Limit = 'server' | 'generator' | 'machine' | 'none';

export interface SearchResult {
  /** Highest offered load whose step passed; undefined when even the first step failed. */
  highestPass: number | undefined;
  /** Lowest offered load whose step failed; undefined when no step failed up to --max. */
  firstFail: number | undefined;
  /** The SLO terms that failed at firstFail, e.g. `xmpp_session_ready p(99)<1000 (1840 ms)`. */
  failedTerms: string[];
  limit: Limit;
  /** In plain words: who was the limit and how it shows (server CPU, latency rising, generator saturated). */
  limitText: string;
  /** What limited the server when it is a resource rather than its latency or CPU: its open-files limit. */
  limitResource?: 'open-files';
  /** True when the figure is the server's capacity (false: generator-limited, or no failing step). */
  isServerCapacity: boolean;
  steps: Step[];
}

/**
 * `--verify`: the search's figure (the median over repeats) run once more on its own; when it fails it was on the
 * knee, and the next load down (÷ (1 + resolution)) is tried, a few times at most. The first that passes is the
 * verified capacity; then a step at `overFactor` × it, which should fail.
 */
export interface Verification {
  /** The search's figure that was checked. */
  candidate: number;
  /** The highest load that met the SLO again on its own; undefined when every load tried failed. */
  capacity: number | undefined;
  overFactor: number;
  /** The step at overFactor × capacity: pass is the surprise (the SLO's edge is noisier than that factor). */
  over: { offered: number; pass: boolean } | undefined;
  /** Not run, and why (the search found no server capacity, or was interrupted). */
  skipped?: string;
  /** In plain words, as printed. */
  text: string;
  steps: Step[];
}

export interface CapacityReport {
  version: 1;
  generatedAt: string;
  dimension: Dimension;
  unit: string;
  /** `local prosody`, `local ejabberd`, or the target URL (password masked). */
  server: string;
  transport: 'websocket' | 'bosh';
  slo: Record<string, string[]>;
  settings: {
    start: number;
    max: number;
    factor: number;
    resolution: number;
    stepSeconds: number;
    warmupSeconds: number;
    generators: number;
    repeats: number;
    /** Dimension-specific: population, login rate for sessions and messages, ping interval. */
    [k: string]: number | string;
  };
  repeats: SearchResult[];
  /** Over the repeats: the highest passing load's min, median and max. */
  spread: { min: number; median: number; max: number } | undefined;
  /** With --verify: the figure run again, and at overFactor × it. */
  verification?: Verification;
}
