/**
 * The generator's own health: is this Node engine process keeping up, or are the latencies it records its own
 * queueing? The engine runs every VU's JavaScript on one thread, so one busy core is the ceiling.
 *
 * Sampled while the scenarios run (setup() and teardown() are left out: the VU each one gets is initialized
 * synchronously, which is no load):
 * - event-loop delay: a timer due every `resolutionMs` (10 ms) records how late it fired, in µs, into an HDR
 *   histogram (HDR_CONFIG), corrected for coordinated omission (HdrHistogram's recordValueWithExpectedInterval):
 *   a loop blocked for 300 ms counts as the 30 timers that would have been due meanwhile, late by 300, 290, …
 *   10 ms, so a percentile is what a timer (a socket read, a stanza's timestamp) due at a random moment waited;
 * - CPU: process.cpuUsage() (user + system, every thread of the process), per sample (1 s), as a share of one
 *   core;
 * - event loop busy: performance.eventLoopUtilization(), the share of the sample the loop was not waiting for
 *   I/O: the main thread's own saturation, which the process CPU (GC and libuv threads included) only
 *   approximates.
 *
 * The rule ({@link SaturationRule}, judged by {@link SaturationJudge}, a pure function of the samples): the
 * generator was saturated when, over any span of consecutive samples at least `sustainMs` (10 s) long, the
 * CPU averaged ≥ 90 % of a core, or the event loop was busy ≥ 90 % of the time, or the event-loop delay p90
 * was ≥ 100 ms (a tenth of the span spent more than 100 ms behind: one stall of a few hundred ms, which a
 * healthy run shows when its VUs start, does not trip it; a loop blocked for a second does). Memory is
 * bounded: one run-long histogram, one per collector interval, and the samples of one span.
 *
 * With a collector in the run's env (STARLING_COLLECTOR_URL and STARLING_RUN_ID), the same figures go to it as
 * a producer of their own (instance STARLING_INSTANCE, else `node-<host>-<pid>`; VU 0, the contract's number
 * for non-VU producers), every STARLING_FLUSH_INTERVAL and once more, final, at the end: see
 * {@link GENERATOR_METRICS}.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { JsHistogram } from 'hdr-histogram-js/dist/JsHistogram.js';
import {
  COLLECTOR_TOKEN_ENV,
  COLLECTOR_URL_ENV,
  GENERATOR_METRICS,
  HDR_CONFIG,
  RUN_ID_ENV,
  SNAPSHOT_PATH,
  SNAPSHOT_VERSION,
  type Snapshot,
} from '../contract/snapshot.ts';
import { parseDuration } from './options.ts';
// The VUs' own histogram factory: hdr-histogram-js's plain-JS files only (its package entry costs ~15 MB).
import { newHistogram } from '../contract/histogram.ts';

/**
 * starling's exit code for a run whose thresholds passed but whose generator was saturated (k6 uses 97–110):
 * its latencies describe the generator, so the run is not a pass. `starling run --allow-saturation` keeps 0.
 */
export const EXIT_GENERATOR_SATURATED = 120;

export interface SaturationRule {
  /** Length of one sample, ms. */
  sampleMs: number;
  /** The shortest span that counts as sustained, ms. */
  sustainMs: number;
  /** CPU averaged over a span, as a share of one core, at or above which the span is saturated. */
  cpuShare: number;
  /** Event-loop utilization averaged over a span at or above which it is saturated. */
  busyShare: number;
  /** The event-loop delay percentile judged over a span (90: p90)… */
  delayPercentile: number;
  /** …and the delay, ms, at or above which it makes the span saturated. */
  delayMs: number;
  /** The delay timer's period, ms. */
  resolutionMs: number;
}

export const DEFAULT_SATURATION_RULE: Readonly<SaturationRule> = {
  sampleMs: 1000,
  sustainMs: 10_000,
  cpuShare: 0.9,
  busyShare: 0.9,
  delayPercentile: 90,
  delayMs: 100,
  resolutionMs: 10,
};

/** One sample: what the process did during `durationMs` (normally `sampleMs`, longer when the loop was blocked). */
export interface HealthSample {
  /** ms since monitoring started. */
  startMs: number;
  durationMs: number;
  /** CPU time (user + system), ms. */
  cpuMs: number;
  /** Time the event loop was busy (not waiting for I/O), ms. */
  busyMs: number;
  /** Event-loop delay values recorded (coordinated-omission corrected). */
  delayCount: number;
  /** …of which at or above the rule's `delayMs`. */
  delayOver: number;
}

export type SaturationReason = 'cpu' | 'event-loop-busy' | 'event-loop-delay';

/** A span's averages. */
export interface SpanFigures {
  startMs: number;
  durationMs: number;
  /** CPU ÷ wall time (1 = one core). */
  cpuShare: number;
  busyShare: number;
  /**
   * Share of the span's event-loop delay values at or above the rule's `delayMs`: the rule's percentile is at or
   * above it when this is ≥ 1 − percentile / 100 (0.1 for p90).
   */
  delayOverShare: number;
}

export interface SaturationVerdict {
  saturated: boolean;
  /** Why, in the order of SaturationReason, from every saturated span. */
  reasons: SaturationReason[];
  /** Start of the first saturated span, ms since monitoring started. */
  fromMs?: number;
  /** Time covered by saturated spans, ms. */
  saturatedMs: number;
  /** The highest of each average over the saturated spans. */
  saturatedPeak?: { cpuShare: number; busyShare: number; delayOverShare: number };
  /** The span whose event loop was busiest (among the saturated ones when any was). */
  worst?: SpanFigures;
  /** Highest CPU share of one sample. */
  peakSampleCpuShare: number;
  /** Highest CPU and busy share averaged over a full span. */
  peakSpanCpuShare: number;
  peakSpanBusyShare: number;
  /** Sampled time, and CPU and busy time in it, ms. */
  sampledMs: number;
  cpuMs: number;
  busyMs: number;
}

/**
 * Applies the rule to samples one at a time (the samples of one span are all it keeps). A span ends at every
 * sample: the latest samples that together last at least `sustainMs`, as few as reach it.
 */
export class SaturationJudge {
  private readonly span: HealthSample[] = [];
  private spanMs = 0;
  private spanCpu = 0;
  private spanBusy = 0;
  private spanCount = 0;
  private spanOver = 0;
  private coveredUntil = Number.NEGATIVE_INFINITY;
  private readonly reasons = new Set<SaturationReason>();
  private readonly v: SaturationVerdict = {
    saturated: false,
    reasons: [],
    saturatedMs: 0,
    peakSampleCpuShare: 0,
    peakSpanCpuShare: 0,
    peakSpanBusyShare: 0,
    sampledMs: 0,
    cpuMs: 0,
    busyMs: 0,
  };

  /** Share of delay values at or above `delayMs` that puts the percentile there (a hair under, for rounding). */
  private readonly overShare: number;

  constructor(readonly rule: Readonly<SaturationRule> = DEFAULT_SATURATION_RULE) {
    this.overShare = 1 - rule.delayPercentile / 100 - 1e-9;
  }

  add(s: HealthSample): void {
    const v = this.v;
    v.sampledMs += s.durationMs;
    v.cpuMs += s.cpuMs;
    v.busyMs += s.busyMs;
    if (s.durationMs > 0) v.peakSampleCpuShare = Math.max(v.peakSampleCpuShare, s.cpuMs / s.durationMs);
    this.span.push(s);
    this.spanMs += s.durationMs;
    this.spanCpu += s.cpuMs;
    this.spanBusy += s.busyMs;
    this.spanCount += s.delayCount;
    this.spanOver += s.delayOver;
    // Drop the oldest samples the span does not need to stay sustained.
    for (;;) {
      const first = this.span[0]!;
      if (this.span.length === 1 || this.spanMs - first.durationMs < this.rule.sustainMs) break;
      this.span.shift();
      this.spanMs -= first.durationMs;
      this.spanCpu -= first.cpuMs;
      this.spanBusy -= first.busyMs;
      this.spanCount -= first.delayCount;
      this.spanOver -= first.delayOver;
    }
    if (this.spanMs < this.rule.sustainMs || this.spanMs <= 0) return;
    const startMs = this.span[0]!.startMs;
    const figures: SpanFigures = {
      startMs,
      durationMs: this.spanMs,
      cpuShare: this.spanCpu / this.spanMs,
      busyShare: this.spanBusy / this.spanMs,
      delayOverShare: this.spanCount > 0 ? this.spanOver / this.spanCount : 0,
    };
    v.peakSpanCpuShare = Math.max(v.peakSpanCpuShare, figures.cpuShare);
    v.peakSpanBusyShare = Math.max(v.peakSpanBusyShare, figures.busyShare);
    const why: SaturationReason[] = [];
    if (figures.cpuShare >= this.rule.cpuShare) why.push('cpu');
    if (figures.busyShare >= this.rule.busyShare) why.push('event-loop-busy');
    if (figures.delayOverShare >= this.overShare) why.push('event-loop-delay');
    if (why.length === 0) {
      if (!v.saturated && (v.worst === undefined || figures.busyShare > v.worst.busyShare)) v.worst = figures;
      return;
    }
    if (!v.saturated || v.worst === undefined || figures.busyShare > v.worst.busyShare) v.worst = figures;
    const peak = (v.saturatedPeak ??= { cpuShare: 0, busyShare: 0, delayOverShare: 0 });
    peak.cpuShare = Math.max(peak.cpuShare, figures.cpuShare);
    peak.busyShare = Math.max(peak.busyShare, figures.busyShare);
    peak.delayOverShare = Math.max(peak.delayOverShare, figures.delayOverShare);
    v.saturated = true;
    v.fromMs ??= startMs;
    for (const r of why) this.reasons.add(r);
    const endMs = startMs + this.spanMs;
    v.saturatedMs += endMs - Math.max(startMs, this.coveredUntil);
    this.coveredUntil = endMs;
  }

  verdict(): SaturationVerdict {
    const order: SaturationReason[] = ['cpu', 'event-loop-busy', 'event-loop-delay'];
    return {
      ...this.v,
      reasons: order.filter((r) => this.reasons.has(r)),
      ...(this.v.saturatedPeak ? { saturatedPeak: { ...this.v.saturatedPeak } } : {}),
      ...(this.v.worst ? { worst: { ...this.v.worst } } : {}),
    };
  }
}

/** The rule over a whole list of samples. */
export function judgeSaturation(
  samples: readonly HealthSample[],
  rule: Readonly<SaturationRule> = DEFAULT_SATURATION_RULE,
): SaturationVerdict {
  const j = new SaturationJudge(rule);
  for (const s of samples) j.add(s);
  return j.verdict();
}

/**
 * How many values recordValueWithExpectedInterval(valueUs, resolutionUs) records, and how many of them are at
 * or above `boundUs`: the value itself, then value − k·resolution for every k while that stays ≥ resolution.
 */
export function correctedCounts(
  valueUs: number,
  resolutionUs: number,
  boundUs: number,
): { count: number; over: number } {
  const k = valueUs > resolutionUs ? Math.floor((valueUs - resolutionUs) / resolutionUs) : 0;
  const over = valueUs >= boundUs ? Math.min(k, Math.floor((valueUs - boundUs) / resolutionUs)) + 1 : 0;
  return { count: k + 1, over };
}

// ---------------------------------------------------------------------------------------------------------------
// What a run reports

export interface GeneratorHealth {
  /** The process measured: this Node engine (k6 runs report nothing). */
  pid: number;
  /** Time sampled, ms. */
  sampledMs: number;
  rule: SaturationRule;
  /** ms, coordinated-omission corrected, over the whole run. */
  eventLoopDelay: {
    count: number;
    p50: number;
    p90: number;
    p99: number;
    p999: number;
    max: number;
    /** The histogram (µs, HDR_CONFIG) as HdrHistogram V2 compressed base64. */
    hdr: string;
  };
  /** Shares of one core (1 = 100 %). */
  cpu: { mean: number; peakSample: number; peakSpan: number };
  /** Event-loop utilization. */
  eventLoopBusy: { mean: number; peakSpan: number };
  saturated: boolean;
  reasons: SaturationReason[];
  /** ms since the test started. */
  saturatedFromMs?: number;
  saturatedMs: number;
  /** The highest of each average over the saturated spans. */
  saturatedPeak?: { cpuShare: number; busyShare: number; delayOverShare: number };
  /** The span whose event loop was busiest (among the saturated ones when any was). */
  worstSpan?: SpanFigures;
  /** The plain-words verdict when saturated. */
  verdict?: string;
}

const pct = (share: number): string => `${Math.round(share * 100)} %`;
const secs = (ms: number): string => `${Math.round(ms / 1000)} s`;
const msText = (ms: number): string =>
  ms >= 100 ? `${Math.round(ms)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;

/** "GENERATOR SATURATED: …" in plain words. */
export function saturationText(h: Omit<GeneratorHealth, 'verdict'>): string {
  const p = h.saturatedPeak;
  const what: string[] = [];
  if (h.reasons.includes('cpu') && p) what.push(`CPU ${pct(p.cpuShare)} of a core`);
  if (h.reasons.includes('event-loop-busy') && p)
    what.push(`event loop busy ${pct(p.busyShare)} of the time`);
  if (h.reasons.includes('event-loop-delay'))
    what.push(`event-loop delay p${h.rule.delayPercentile} ≥ ${h.rule.delayMs} ms`);
  const w = h.worstSpan;
  // Busy but not on the CPU: the thread was ready to run and waited for a core (or sat in blocking calls).
  const starved = w !== undefined && w.cpuShare < h.rule.cpuShare && w.cpuShare < 0.75 * w.busyShare;
  return (
    `GENERATOR SATURATED: ${what.join(', ')} for ${secs(h.saturatedMs)} (from ${secs(h.saturatedFromMs ?? 0)}); ` +
    `event-loop delay p99 ${msText(h.eventLoopDelay.p99)}, max ${msText(h.eventLoopDelay.max)} over the run. ` +
    (starved
      ? `The process used only ${pct(w.cpuShare)} of a core while its event loop was busy ${pct(w.busyShare)} ` +
        'of the time: it waited for a core that other processes on this machine (the server?) held, or in ' +
        'blocking calls. '
      : '') +
    'Latencies above describe starling, not the server: lower the load' +
    (starved
      ? ', add generator processes or give the generator a core of its own.'
      : ' or add generator processes.')
  );
}

/** The rule in words, as the summary prints it. */
export function ruleText(r: SaturationRule): string {
  return (
    `saturated when, over any ${secs(r.sustainMs)}, CPU ≥ ${pct(r.cpuShare)} of a core, the event loop busy ≥ ` +
    `${pct(r.busyShare)} or event-loop delay p${r.delayPercentile} ≥ ${r.delayMs} ms`
  );
}

/** The summary's generator section (no trailing newline). */
export function generatorText(h: GeneratorHealth, indent = ' '): string {
  const d = h.eventLoopDelay;
  const lines = [
    `${indent}generator (this Node engine process, ${secs(h.sampledMs)} sampled every ${secs(h.rule.sampleMs)})`,
    `${indent}  event-loop delay  p50 ${msText(d.p50)}  p90 ${msText(d.p90)}  p99 ${msText(d.p99)}  max ${msText(d.max)}`,
    `${indent}  CPU               mean ${pct(h.cpu.mean)} of a core, busiest sample ${pct(h.cpu.peakSample)}, ` +
      `busiest ${secs(h.rule.sustainMs)} ${pct(h.cpu.peakSpan)}`,
    `${indent}  event loop busy   mean ${pct(h.eventLoopBusy.mean)}, busiest ${secs(h.rule.sustainMs)} ${pct(h.eventLoopBusy.peakSpan)}`,
  ];
  if (h.verdict !== undefined) lines.push(`${indent}  ${h.verdict}`);
  else if (h.sampledMs < h.rule.sustainMs)
    lines.push(
      `${indent}  not judged: the run was shorter than ${secs(h.rule.sustainMs)} (${ruleText(h.rule)})`,
    );
  else lines.push(`${indent}  not saturated (${ruleText(h.rule)})`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The monitor

export interface HealthMonitorOptions {
  /** The run's __ENV: the collector's address, run id, instance, token and flush interval are read here. */
  env?: Readonly<Record<string, string>>;
  rule?: Partial<SaturationRule>;
  log?: (level: 'warn', message: string) => void;
}

export interface HealthMonitor {
  /** Stops sampling, sends the collector its final snapshot (awaited), and reports. Safe to call twice. */
  stop(): Promise<GeneratorHealth>;
}

/**
 * hdr-histogram-js's V2 encoding, which adds encodeIntoCompressedBase64 to its histograms and loads pako with it
 * (~20 files): loaded when there is something to encode, not at start-up, which it would cost ~15 ms and 2 MiB.
 */
let encoding: Promise<unknown> | undefined;
const loadEncoding = (): Promise<unknown> =>
  (encoding ??= import('hdr-histogram-js/dist/JsHistogram.encoding.js'));

const DEFAULT_FLUSH_MS = 5000;
const POST_TIMEOUT_MS = 10_000;

/** Starts sampling now. */
export function startHealthMonitor(opts: HealthMonitorOptions = {}): HealthMonitor {
  const rule: SaturationRule = { ...DEFAULT_SATURATION_RULE, ...opts.rule };
  const judge = new SaturationJudge(rule);
  const resolutionUs = Math.round(rule.resolutionMs * 1000);
  const boundUs = Math.round(rule.delayMs * 1000);
  const maxUs = HDR_CONFIG.highestTrackableValue;
  const run = newHistogram();
  const reporter = collectorReporter(opts.env ?? {}, opts.log);
  const t0 = performance.now();
  let due = t0 + rule.resolutionMs;
  let sampleStart = t0;
  let cpu = process.cpuUsage();
  let elu = performance.eventLoopUtilization();
  let count = 0;
  let over = 0;
  let timer: NodeJS.Timeout | undefined;

  const closeSample = (now: number): void => {
    const cpuNow = process.cpuUsage();
    const eluNow: EventLoopUtilization = performance.eventLoopUtilization();
    const sample: HealthSample = {
      startMs: sampleStart - t0,
      durationMs: now - sampleStart,
      cpuMs: (cpuNow.user - cpu.user + cpuNow.system - cpu.system) / 1000,
      busyMs: performance.eventLoopUtilization(eluNow, elu).active,
      delayCount: count,
      delayOver: over,
    };
    cpu = cpuNow;
    elu = eluNow;
    sampleStart = now;
    count = 0;
    over = 0;
    judge.add(sample);
    reporter?.sample(sample, judge.verdict().saturated);
  };

  const tick = (): void => {
    const now = performance.now();
    const lateUs = Math.min(maxUs, Math.max(0, Math.round((now - due) * 1000)));
    run.recordValueWithExpectedInterval(lateUs, resolutionUs);
    reporter?.delay(lateUs, resolutionUs);
    const c = correctedCounts(lateUs, resolutionUs, boundUs);
    count += c.count;
    over += c.over;
    if (now - sampleStart >= rule.sampleMs) closeSample(now);
    reporter?.maybeFlush(now);
    due = now + rule.resolutionMs;
    timer = setTimeout(tick, rule.resolutionMs);
    timer.unref();
  };
  timer = setTimeout(tick, rule.resolutionMs);
  timer.unref();

  let report: Promise<GeneratorHealth> | undefined;
  return {
    stop() {
      report ??= (async () => {
        clearTimeout(timer);
        const now = performance.now();
        // The last partial sample counts when it is a real part of the run (at least a fifth of a sample).
        if (now - sampleStart >= rule.sampleMs / 5) closeSample(now);
        const v = judge.verdict();
        await loadEncoding();
        await reporter?.final(v.saturated);
        return healthReport(run, v, rule);
      })();
      return report;
    },
  };
}

function healthReport(run: JsHistogram, v: SaturationVerdict, rule: SaturationRule): GeneratorHealth {
  const at = (p: number): number => (run.totalCount === 0 ? 0 : run.getValueAtPercentile(p) / 1000);
  const share = (x: number): number => (v.sampledMs > 0 ? x / v.sampledMs : 0);
  const h: GeneratorHealth = {
    pid: process.pid,
    sampledMs: Math.round(v.sampledMs),
    rule,
    eventLoopDelay: {
      count: run.totalCount,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: at(100),
      hdr: run.encodeIntoCompressedBase64(),
    },
    cpu: { mean: share(v.cpuMs), peakSample: v.peakSampleCpuShare, peakSpan: v.peakSpanCpuShare },
    eventLoopBusy: { mean: share(v.busyMs), peakSpan: v.peakSpanBusyShare },
    saturated: v.saturated,
    reasons: v.reasons,
    ...(v.fromMs !== undefined ? { saturatedFromMs: Math.round(v.fromMs) } : {}),
    saturatedMs: Math.round(v.saturatedMs),
    ...(v.saturatedPeak ? { saturatedPeak: v.saturatedPeak } : {}),
    ...(v.worst ? { worstSpan: v.worst } : {}),
  };
  if (h.saturated) h.verdict = saturationText(h);
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
// To the collector

/** One POST: the status and the body (status 0 and the error's message when it failed). Never rejects. */
function postOnce(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; error: string }> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    let req: ClientRequest;
    try {
      req = send(url, { method: 'POST', headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } });
    } catch (e) {
      resolve({ status: 0, error: (e as Error).message });
      return;
    }
    req.setTimeout(POST_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${POST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (text.length < 1000) text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: text.trim() }));
      res.on('error', (e) => resolve({ status: 0, error: e.message }));
    });
    req.end(body);
  });
}

interface Reporter {
  delay(lateUs: number, resolutionUs: number): void;
  sample(s: HealthSample, saturated: boolean): void;
  maybeFlush(now: number): void;
  final(saturated: boolean): Promise<void>;
}

/** Snapshots of the generator's health for the run's collector, or undefined when the run has none. */
function collectorReporter(
  env: Readonly<Record<string, string>>,
  log: HealthMonitorOptions['log'],
): Reporter | undefined {
  const base = env[COLLECTOR_URL_ENV] ?? '';
  if (base === '') return undefined;
  const runId = env[RUN_ID_ENV] ?? '';
  if (runId === '') {
    log?.(
      'warn',
      `the generator's own health is not sent to the collector: ${RUN_ID_ENV} is not set, so the VUs draw a run id of their own`,
    );
    return undefined;
  }
  let flushMs = DEFAULT_FLUSH_MS;
  try {
    const raw = env['STARLING_FLUSH_INTERVAL'];
    if (raw !== undefined && raw !== '' && parseDuration(raw) > 0) flushMs = parseDuration(raw);
  } catch {
    // the VUs refuse a bad interval themselves
  }
  const instance = env['STARLING_INSTANCE'] || `node-${hostname()}-${process.pid}`;
  const labels = { generator: instance };
  const endpoint = `${base.replace(/\/+$/, '')}${SNAPSHOT_PATH}`;
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const token = env[COLLECTOR_TOKEN_ENV];
  if (token) headers.Authorization = `Bearer ${token}`;
  const interval = newHistogram();
  let cpuMs = 0;
  let busyMs = 0;
  let saturated = false;
  let seq = 0;
  let intervalStart = Date.now();
  let lastFlush = performance.now();
  let warned = false;
  const inflight = new Set<Promise<void>>();
  // Until the encoding has loaded, flushes wait: the interval's counts carry over to the next one.
  let encodable = false;
  void loadEncoding().then(() => {
    encodable = true;
  });

  // node:http, which the engine has loaded already: the first fetch() would load undici (~170 ms) mid-run.
  const post = async (snapshot: Snapshot): Promise<void> => {
    const body = JSON.stringify(snapshot);
    let failure = '';
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await postOnce(endpoint, headers, body);
      if (r.status >= 200 && r.status < 300) return;
      failure = r.status === 0 ? r.error : `HTTP ${r.status}${r.error ? `: ${r.error.slice(0, 300)}` : ''}`;
      if (r.status >= 400 && r.status < 500 && r.status !== 429) break;
    }
    if (!warned) {
      warned = true;
      log?.('warn', `generator health snapshot not delivered to ${endpoint}: ${failure}`);
    }
  };
  const send = (final: boolean): void => {
    const end = Date.now();
    const snapshot: Snapshot = {
      version: SNAPSHOT_VERSION,
      runId,
      instance,
      scenario: '',
      transport: '',
      vu: 0,
      seq: seq++,
      final,
      intervalStartMs: intervalStart,
      intervalEndMs: end,
      histograms:
        interval.totalCount > 0
          ? [{ name: GENERATOR_METRICS.eventLoopDelay, labels, hdr: interval.encodeIntoCompressedBase64() }]
          : [],
      counters: [
        { name: GENERATOR_METRICS.cpuSeconds, labels, delta: cpuMs / 1000 },
        { name: GENERATOR_METRICS.eventLoopBusySeconds, labels, delta: busyMs / 1000 },
      ],
      gauges: [{ name: GENERATOR_METRICS.saturated, labels, value: saturated ? 1 : 0 }],
    };
    interval.reset();
    cpuMs = 0;
    busyMs = 0;
    intervalStart = end;
    const p = post(snapshot);
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  return {
    delay(lateUs, resolutionUs) {
      interval.recordValueWithExpectedInterval(lateUs, resolutionUs);
    },
    sample(s, sat) {
      cpuMs += s.cpuMs;
      busyMs += s.busyMs;
      saturated = sat;
    },
    maybeFlush(now) {
      if (now - lastFlush < flushMs || !encodable) return;
      lastFlush = now;
      send(false);
    },
    async final(sat) {
      saturated = sat;
      send(true);
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
  };
}
