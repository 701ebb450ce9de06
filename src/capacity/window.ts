/**
 * A step's own window: the collector's interval histograms that lie wholly inside [fromMs, toMs), merged into
 * one run the gate can evaluate, so a step's percentiles are neither diluted by its warm-up nor by earlier steps.
 * Counters have no intervals in the collector: rates and counts are the whole step's (stricter: a login that
 * failed during the warm-up still fails the step).
 */
import { evaluateGate } from '../collector/gate.ts';
import { addSparse, encodeHistogram, newHistogram } from '../collector/histogram.ts';
import type * as hdr from 'hdr-histogram-js';
import { RATE_OUTCOME_LABEL, type HistogramSeries, type RunState } from '../collector/store.ts';
import { mergedRun, type MergedRun } from '../collector/summary.ts';
import { XMPP_COUNTERS, XMPP_RATES } from '../contract/metric-names.ts';
import type { Percentiles, SloRow } from './types.ts';

/** Adds the series' interval histograms that lie wholly inside [fromMs, toMs) to `target`. */
function addWindow(
  target: hdr.JsHistogram,
  run: RunState,
  s: HistogramSeries,
  fromMs: number,
  toMs: number,
): void {
  for (const interval of run.intervals(s)) {
    if (interval.startMs >= fromMs && interval.endMs <= toMs) addSparse(target, interval.counts);
  }
}

/**
 * `run` with every histogram cut to the intervals inside [fromMs, toMs), except the metrics in `wholeStep`, kept
 * whole (the login ramp's readiness in a sessions step: its samples all come before the hold being measured).
 */
export function windowedRun(
  run: RunState,
  fromMs: number,
  toMs: number,
  wholeStep: readonly string[] = [],
): MergedRun {
  const merged = mergedRun(run);
  // mergedRun lists the histograms in key order: the same order as the sorted series here.
  const series = [...run.histograms.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  merged.histograms = merged.histograms.map((h, i) => {
    if (wholeStep.includes(h.name)) return h;
    const window = newHistogram();
    addWindow(window, run, series[i]!, fromMs, toMs);
    return { ...h, count: window.totalCount, hdr: encodeHistogram(window) };
  });
  merged.startMs = fromMs;
  merged.endMs = toMs;
  return merged;
}

/** The SLO evaluated on a windowed run, as rows (the gate's own evaluation: k6's threshold grammar). */
export function evaluateSlo(merged: MergedRun, slo: Record<string, string[]>): SloRow[] {
  return evaluateGate(merged, slo).rows;
}

/** Percentiles in ms of `metric` over every series of it in the window (µs histograms). */
export function percentilesOf(run: RunState, metric: string, fromMs: number, toMs: number): Percentiles {
  const h = newHistogram();
  for (const s of run.histograms.values()) if (s.name === metric) addWindow(h, run, s, fromMs, toMs);
  const ms = (q: number): number => (h.totalCount === 0 ? 0 : h.getValueAtPercentile(q) / 1000);
  return {
    count: h.totalCount,
    p50: ms(50),
    p95: ms(95),
    p99: ms(99),
    max: h.totalCount === 0 ? 0 : h.maxValue / 1000,
  };
}

function counterSum(run: RunState, name: string, match: (labels: Record<string, string>) => boolean): number {
  let sum = 0;
  for (const c of run.counters.values()) if (c.name === name && match(c.labels)) sum += c.value;
  return sum;
}

/** Login attempts, failures, and session failures by reason, over the whole step. */
export function loginsOf(run: RunState): {
  attempts: number;
  failures: number;
  byReason: Record<string, number>;
} {
  const ok = counterSum(run, XMPP_RATES.loginSuccess, (l) => l[RATE_OUTCOME_LABEL] === 'true');
  const failed = counterSum(run, XMPP_RATES.loginSuccess, (l) => l[RATE_OUTCOME_LABEL] === 'false');
  const byReason: Record<string, number> = {};
  for (const c of run.counters.values()) {
    if (c.name !== XMPP_COUNTERS.sessionFailures) continue;
    const reason = c.labels['reason'] ?? 'unknown';
    byReason[reason] = (byReason[reason] ?? 0) + c.value;
  }
  return { attempts: ok + failed, failures: failed, byReason };
}

/** Messages whose loss was settled, and those lost, over the whole step. */
export function messagesOf(run: RunState): { expected: number; lost: number } {
  const lost = counterSum(run, XMPP_RATES.messageLoss, (l) => l[RATE_OUTCOME_LABEL] === 'true');
  const kept = counterSum(run, XMPP_RATES.messageLoss, (l) => l[RATE_OUTCOME_LABEL] === 'false');
  return { expected: lost + kept, lost };
}
