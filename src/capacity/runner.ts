/**
 * `starling capacity`'s work: a local server (or the user's), a collector in this process, and per step G
 * generator processes (`starling run <scenario>` on the Node engine) sending their HDR snapshots to it. Each step
 * is judged on its own window of the merged interval histograms; the search (search.ts) picks the next load.
 * Every step's HDR logs and the generators' own results stay in results/<capacity-run>/<step>/.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COLLECTOR_URL_ENV, RUN_ID_ENV } from '../contract/snapshot.ts';
import { startCollector, type Collector } from '../collector/server.ts';
import type { RunState } from '../collector/store.ts';
import type { GeneratorHealth } from '../engine/health.ts';
import { XMPP_TRENDS } from '../contract/metric-names.ts';
import { startLocalServer, type LocalServer, type ServerKind } from '../targets/index.ts';
import { cpuList } from '../targets/cpus.ts';
import { processGroupFiles, processGroupMembers, processGroupUsage } from '../targets/processes.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { capacityChartSvg } from './chart.ts';
import { PLANS, type DimensionSettings } from './plan.ts';
import { classifyLimit, searchCapacity, verifyCapacity, type RunStep } from './search.ts';
import { formatStepHeader, formatStepRow, formatVerdict } from './table.ts';
import type {
  CapacityReport,
  Dimension,
  GeneratorStep,
  SearchResult,
  SloRow,
  Step,
  Verification,
} from './types.ts';
import { DIMENSION_UNITS } from './types.ts';
import { evaluateSlo, loginsOf, messagesOf, percentilesOf, windowedRun } from './window.ts';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The collector's interval width: windows are cut on this grid. */
const INTERVAL_MS = 1000;
/**
 * How often generators send snapshots. A snapshot goes to the interval holding its middle, so with snapshots as
 * long as the intervals one interval could hold two seconds of samples and its neighbour none (a 4 s window
 * then counted 5 s of logins); at a quarter of it an edge is off by at most 125 ms.
 */
const FLUSH_MS = 250;

/** Exit codes of `starling capacity` (README, Capacity). */
export const CAPACITY_EXIT = {
  /** A capacity was found and it is the server's (or the server held --max). */
  ok: 0,
  /** Not even the lowest load met the SLO. */
  noPassingLoad: 99,
  /** Interrupted (SIGINT/SIGTERM): the steps run so far are written. */
  interrupted: 105,
  /** A generator process was saturated at the first failing load: the figure is not the server's. */
  generatorLimited: 120,
  /** A local server and the generators had this machine's cores all busy: the figure is not the server's. */
  machineLimited: 122,
  /** The server died or stopped accepting connections during the search. */
  serverFellOver: 121,
  /** --verify: the search's figure, and every load tried below it, failed the SLO when run again. */
  unverified: 123,
} as const;

export class CapacityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CapacityError';
  }
}

export interface CapacityOptions {
  dimension: Dimension;
  script: string;
  /** A local server to start, unless `target` is given. */
  server: ServerKind;
  /** The local server's endpoint: WebSocket or BOSH (a target's URL scheme decides for itself). */
  transport: 'websocket' | 'bosh';
  target?: { url: string; domain: string };
  start: number;
  max: number;
  factor: number;
  resolution: number;
  /** 0 for a single fixed-load check (`--fixed`): no stepping down when the first step fails. */
  maxStepsDown?: number;
  generators: number;
  repeats: number;
  /** After the repeats, run their median again (and lower, when it fails), then overFactor × what passed. */
  verify?: { tries: number; overFactor: number };
  slo: Record<string, string[]>;
  settings: DimensionSettings;
  accounts: number;
  /**
   * Restart the local server before every step, so no step inherits what an earlier (overloaded) one left
   * behind. Without it, each step waits for the server to settle first (see settle()).
   */
  freshServer?: boolean;
  /** Pin the local server to these CPUs (`taskset -c` list): its cores for the CPU-bound test. */
  serverCpus?: string;
  /** Extra __ENV for every generator (XMPP_MECHANISMS, account patterns, …). */
  env: Record<string, string>;
  dir: string;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** The step table (stdout). */
  out: (line: string) => void;
  /**
   * Renders the page of the whole search (report.html) from its report and results directory: the CLI passes
   * report/html.ts's capacityReportHtml (capacity sits below report and does not import it). Without it no
   * page is written.
   */
  renderPage?: (report: CapacityReport, dir: string) => Promise<string>;
}

interface Child {
  code: number;
  stderr: string;
}

function runChild(argv: string[], children: Set<ReturnType<typeof spawn>>): Promise<Child> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      resolvePromise({ code: code ?? (signal === 'SIGINT' ? 130 : 1), stderr });
    });
  });
}

/** Whether something accepts TCP connections at the URL's host and port (1 s). */
function accepting(url: string): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'wss:' || u.protocol === 'https:' ? 443 : 80));
  return new Promise((res) => {
    const socket = connect({ host: u.hostname, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      res(true);
    });
    socket.once('error', () => res(false));
    socket.once('timeout', () => {
      socket.destroy();
      res(false);
    });
  });
}

async function generatorHealth(dir: string): Promise<GeneratorHealth | undefined> {
  try {
    const [runDir] = await readdir(dir);
    const summary = JSON.parse(await readFile(join(dir, runDir!, 'summary.json'), 'utf8')) as {
      generator?: GeneratorHealth;
    };
    return summary.generator;
  } catch {
    return undefined;
  }
}

/** Waits until every producer of `runId` sent its final snapshot (they do before exiting), at most `ms`. */
async function settled(collector: Collector, runId: string, ms: number): Promise<RunState | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const run = collector.store.run(runId);
    if ((run && run.allFinal()) || Date.now() >= until) return run;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** This machine's busy and total CPU time so far, in clock ticks (/proc/stat's first line). */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  // idle and iowait are the 4th and 5th: everything else is work (guest time is inside user already).
  return { busy: total - fields[3]! - (fields[4] ?? 0), total };
}

/**
 * Samples a process group's CPU and the whole machine's twice a second until `stop(fromMs, toMs)`, which gives
 * the group's share of one core and the machine's busy share of all its cores between the samples nearest the
 * window's ends (undefined when fewer than two fall in it). `files` is the most open files any of the group's
 * processes had at a sample over the whole step, against its limit.
 */
function serverSampler(pid: number): {
  stop(fromMs: number, toMs: number): { server: number; machine: number } | undefined;
  files(): { peak: number; limit: number } | undefined;
} {
  type Sample = { at: number; cpu: number; ticks: { busy: number; total: number } };
  const samples: Sample[] = [];
  let files: { peak: number; limit: number } | undefined;
  const sample = (): void => {
    samples.push({ at: Date.now(), cpu: processGroupUsage(pid).cpuSeconds, ticks: machineTicks() });
    const f = processGroupFiles(pid);
    if (f && (files === undefined || f.open / f.limit > files.peak / files.limit))
      files = { peak: f.open, limit: f.limit };
  };
  sample();
  const timer = setInterval(sample, 500);
  return {
    files: () => files,
    stop(fromMs, toMs) {
      clearInterval(timer);
      sample();
      const inside = samples.filter((x) => x.at >= fromMs - 250 && x.at <= toMs + 250);
      const first = inside[0];
      const last = inside[inside.length - 1];
      if (!first || !last || !(last.at > first.at) || !(last.ticks.total > first.ticks.total))
        return undefined;
      return {
        server: (last.cpu - first.cpu) / ((last.at - first.at) / 1000),
        machine: (last.ticks.busy - first.ticks.busy) / (last.ticks.total - first.ticks.total),
      };
    },
  };
}

/**
 * For a rate (login-rate, messages): the step fails when the window's achieved rate falls short of the offered
 * one by more than chance explains. A server that falls behind (a queue growing) and a generator that could not
 * send what was asked both show here, even while the latency of what did get through meets the SLO. Arrivals
 * are Poisson, so the shortfall allowed is the larger of 10 % and three standard deviations of the count.
 */
export function achievedTerm(
  dimension: Dimension,
  offered: number,
  achieved: number,
  windowSeconds: number,
): SloRow | undefined {
  if (dimension === 'sessions') return undefined;
  const share = 1 - Math.max(0.1, 3 / Math.sqrt(Math.max(1, offered * windowSeconds)));
  const ok = achieved >= offered * share;
  const fmt = (v: number): string => String(Number(v.toFixed(1)));
  return {
    metric: 'achieved load',
    threshold: `>=${Math.round(share * 100)}% of offered`,
    value: achieved,
    display: `${fmt(achieved)} of ${fmt(offered)} ${DIMENSION_UNITS[dimension]}`,
    ok,
  };
}

/** A local server counts as settled below this share of one core over a second… */
const SETTLED_CPU = 0.05;
/** …and the next step waits at most this long for it. */
const SETTLE_MAX_MS = 30_000;

/**
 * Waits until the server's CPU over the last second is below SETTLED_CPU (at most SETTLE_MAX_MS): a step right
 * after an overloaded one would otherwise start while the server still works off the previous backlog.
 * Returns the last second's share.
 */
async function settle(pid: number): Promise<number> {
  const until = Date.now() + SETTLE_MAX_MS;
  let before = processGroupUsage(pid).cpuSeconds;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = processGroupUsage(pid).cpuSeconds;
    const share = now - before;
    before = now;
    if (share < SETTLED_CPU || Date.now() >= until) return share;
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;

export async function runCapacity(o: CapacityOptions): Promise<{ report: CapacityReport; exitCode: number }> {
  const plan = PLANS[o.dimension];
  const unit = DIMENSION_UNITS[o.dimension];
  await mkdir(o.dir, { recursive: true });
  let local: LocalServer | undefined;
  let collector: Collector | undefined;
  const children = new Set<ReturnType<typeof spawn>>();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    o.log(`starling: ${signal}: stopping the step under way; the steps so far will be written`);
    for (const c of children) c.kill('SIGINT');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const repeats: SearchResult[] = [];
  const stepsSoFar: Step[] = [];
  const report: CapacityReport = {
    version: 1,
    generatedAt: new Date().toISOString(),
    dimension: o.dimension,
    unit,
    server: o.target ? maskUrlPasswords(o.target.url) : `local ${o.server}`,
    transport: 'websocket',
    slo: o.slo,
    settings: {
      start: o.start,
      max: o.max,
      factor: o.factor,
      resolution: o.resolution,
      stepSeconds: o.settings.stepSeconds,
      warmupSeconds: o.settings.warmupSeconds,
      generators: o.generators,
      repeats: o.repeats,
      ...(o.verify ? { verifyTries: o.verify.tries, verifyOver: o.verify.overFactor } : {}),
      accounts: o.accounts,
      ...(o.target
        ? {}
        : {
            freshServer: o.freshServer ? 'every step' : 'no (each step waits for it to settle)',
            ...(o.serverCpus !== undefined ? { serverCpus: o.serverCpus } : {}),
          }),
      ...(o.dimension === 'login-rate' ? { thinkSeconds: o.settings.thinkSeconds } : {}),
      ...(o.dimension === 'sessions'
        ? { loginRate: o.settings.loginRate, pingSeconds: o.settings.pingSeconds }
        : {}),
      ...(o.dimension === 'messages'
        ? { loginRate: o.settings.loginRate, population: o.settings.population }
        : {}),
    },
    repeats,
    spread: undefined,
  };
  const serverOptions = {
    kind: o.server,
    users: o.accounts,
    ...(o.serverCpus !== undefined ? { cpus: o.serverCpus } : {}),
  };
  try {
    if (!o.target) {
      o.log(
        `starling: starting a local ${o.server} with ${o.accounts} accounts` +
          (o.serverCpus !== undefined ? ` on CPU ${o.serverCpus}…` : '…'),
      );
      local = await startLocalServer(serverOptions);
    }
    const endpoint = (): { url: string; domain: string } =>
      o.target ?? {
        url: o.transport === 'bosh' ? local!.boshUrl : local!.websocketUrl,
        domain: local!.domain,
      };
    report.transport = /^https?:/i.test(endpoint().url) ? 'bosh' : 'websocket';
    // Prosody runs on one core whatever it may use; a pinned server on its CPUs.
    const pinnedCores =
      o.serverCpus === undefined ? availableParallelism() : cpuList(o.serverCpus).cpus.length;
    const cores = local ? (local.kind === 'prosody' ? 1 : pinnedCores) : undefined;
    collector = await startCollector({
      resultsRoot: o.dir,
      intervalMs: INTERVAL_MS,
      autoFinishMs: 0,
      runIdleTimeoutMs: 0,
      log: () => {},
    });
    const sloText = Object.entries(o.slo)
      .map(([m, t]) => `${m} ${t.join(', ')}`)
      .join('; ');
    o.log(
      `starling: ${o.dimension} capacity of ${report.server} (${report.transport}), SLO ${sloText}; ` +
        `steps of ${o.settings.stepSeconds} s (warm-up ${o.settings.warmupSeconds} s), ${o.generators} generator process(es)`,
    );

    let stepsStarted = 0;
    /** Runs the steps of one search (label `r1`, `r2`, …) or of the verification (`v`), numbered from 1. */
    const stepRunner = (label: string): RunStep => {
      let index = 0;
      return async (offered, phase) => {
        if (interrupted) throw new Interrupted();
        index++;
        const runId = `${label}-s${String(index).padStart(2, '0')}-${offered}`;
        const stepDir = join(o.dir, runId);
        if (local && o.freshServer && stepsStarted++ > 0) {
          await local.stop();
          local = await startLocalServer(serverOptions);
        } else if (local) {
          const idle = await settle(local.pid);
          if (idle > SETTLED_CPU) {
            o.log(
              `starling: the ${local.kind} was still at ${Math.round(idle * 100)} % of a core after ${SETTLE_MAX_MS / 1000} s; starting the step anyway`,
            );
          }
        }
        const { url, domain } = endpoint();
        const t0 = Date.now();
        const w = plan.window(offered, o.settings);
        // A local server's CPU over the same window as the SLO: the step's spawn, ramp and close would dilute it.
        const serverCpu = local ? serverSampler(local.pid) : undefined;
        const expected = Math.max(w.to, o.settings.stepSeconds) * 1000;
        o.log(
          `starling: step ${index} (${phase}): ${offered} ${unit}, about ${seconds(expected)} plus log-in and close…`,
        );
        const results = await Promise.all(
          Array.from({ length: o.generators }, (_, g) => {
            const env: Record<string, string> = {
              XMPP_URL: url,
              XMPP_DOMAIN: domain,
              XMPP_ACCOUNT_POOL: String(o.accounts),
              ...plan.env(offered, g, o.generators, o.settings),
              ...o.env,
              [COLLECTOR_URL_ENV]: collector!.url,
              [RUN_ID_ENV]: runId,
              STARLING_FLUSH_INTERVAL: `${FLUSH_MS}ms`,
            };
            const argv = [
              join(PACKAGE_ROOT, 'bin', 'starling.js'),
              'run',
              o.script,
              '--engine',
              'node',
              '-q',
              '--allow-saturation',
              // The capacity run writes one page for every step (report.html); a page per generator would cost
              // each of them about a second of CPU after its load.
              '--no-report',
              '--results-root',
              join(stepDir, 'generators', `g${g + 1}`),
              ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
            ];
            return runChild(argv, children);
          }),
        );
        if (interrupted) {
          serverCpu?.stop(0, 0);
          throw new Interrupted();
        }
        const run = await settled(collector!, runId, 3000);
        // The window starts from when the generators' load began (their VUs' first snapshot), not from their
        // spawn, nor from their health reports, which start with the process (6-70 ms earlier in cold steps
        // measured here): node start-up takes longer on a busy machine, and arrivals that start late would fall
        // out of the window's end.
        const began = run && Number.isFinite(run.loadStartMs) ? Math.max(t0, run.loadStartMs) : t0;
        const from = Math.ceil((began + w.from * 1000) / INTERVAL_MS) * INTERVAL_MS;
        const to = Math.max(
          from + INTERVAL_MS,
          Math.floor((began + w.to * 1000) / INTERVAL_MS) * INTERVAL_MS,
        );
        const cpu = serverCpu?.stop(from, to);
        const serverFiles = serverCpu?.files();
        const generators: GeneratorStep[] = [];
        for (let g = 0; g < o.generators; g++) {
          const h = await generatorHealth(join(stepDir, 'generators', `g${g + 1}`));
          generators.push({
            exitCode: results[g]!.code,
            saturated: h?.saturated ?? false,
            cpuMean: h?.cpu.mean ?? 0,
            // A step shorter than the saturation window has no 10 s span: its busiest sample then.
            cpuPeakSpan: (h?.cpu.peakSpan || h?.cpu.peakSample) ?? 0,
            loopDelayP90: h?.eventLoopDelay.p90 ?? 0,
            ...(h?.verdict ? { verdict: h.verdict } : {}),
          });
        }
        let fellOver: string | undefined;
        if (local && processGroupMembers(local.pid).length === 0) {
          fellOver = `the local ${local.kind} exited during the step at ${offered} ${unit}`;
        }
        const logins = run ? loginsOf(run) : { attempts: 0, failures: 0, byReason: {} };
        if (
          !fellOver &&
          logins.attempts > 0 &&
          logins.failures === logins.attempts &&
          !(await accepting(url))
        ) {
          fellOver = `the server stopped accepting connections at ${offered} ${unit}`;
        }
        const failed = results.findIndex((c) => ![0, 99, 120].includes(c.code));
        if (failed >= 0 && !fellOver) {
          throw new CapacityError(
            `generator ${failed + 1} of step ${index} (${offered} ${unit}) exited ${results[failed]!.code}: ` +
              `${maskUrlPasswords(results[failed]!.stderr.trim().split('\n').slice(-6).join('\n'))}`,
          );
        }
        if (!run) {
          throw new CapacityError(
            `step ${index} (${offered} ${unit}): no snapshot reached the collector from any generator`,
          );
        }
        const merged = windowedRun(run, from, to, plan.wholeStep);
        const rows = evaluateSlo(merged, o.slo);
        const latency = Object.fromEntries(
          plan.latencyMetrics.map((m) => {
            const whole = plan.wholeStep.includes(m);
            return [m, percentilesOf(run, m, whole ? -Infinity : from, whole ? Infinity : to)] as const;
          }),
        );
        const readyAll = percentilesOf(run, XMPP_TRENDS.sessionReady, -Infinity, Infinity).count;
        const readyInWindow = percentilesOf(run, XMPP_TRENDS.sessionReady, from, to).count;
        const deliveredInWindow = percentilesOf(run, XMPP_TRENDS.messageDelivery, from, to).count;
        const achieved = plan.achieved(
          { ready: readyAll, readyInWindow, deliveredInWindow },
          (to - from) / 1000,
        );
        const achievedRow = achievedTerm(o.dimension, offered, achieved, (to - from) / 1000);
        if (achievedRow) rows.push(achievedRow);
        const step: Step = {
          index,
          phase,
          offered,
          achieved,
          runId,
          startedAt: new Date(t0).toISOString(),
          windowStartMs: from,
          windowEndMs: to,
          pass: rows.every((row) => row.ok) && !fellOver,
          rows,
          latency,
          logins,
          ...(o.dimension === 'messages' ? { messages: messagesOf(run) } : {}),
          generators,
          ...(cpu !== undefined
            ? {
                serverCpu: cpu.server,
                serverCores: cores,
                machineCores: availableParallelism(),
                machineBusy: cpu.machine,
              }
            : {}),
          ...(serverFiles ? { serverFiles } : {}),
          ...(fellOver ? { fellOver } : {}),
        };
        await collector!.finish(runId);
        stepsSoFar.push(step);
        o.out(formatStepRow(step, plan.latencyMetrics));
        return step;
      };
    };

    for (let r = 1; r <= o.repeats && !interrupted; r++) {
      if (o.repeats > 1) o.out(`repeat ${r} of ${o.repeats}`);
      o.out(formatStepHeader(unit, plan.latencyMetrics));
      const runStep = stepRunner(`r${r}`);
      try {
        const result = await searchCapacity(
          {
            start: o.start,
            max: o.max,
            factor: o.factor,
            resolution: o.resolution,
            granularity: plan.defaults.granularity,
            ...(o.maxStepsDown !== undefined ? { maxStepsDown: o.maxStepsDown } : {}),
          },
          runStep,
        );
        repeats.push(result);
        o.out(formatVerdict(result, unit));
        if (result.steps.some((s) => s.fellOver)) break;
      } catch (e) {
        if (!(e instanceof Interrupted)) throw e;
      }
      await writeReport(o.dir, report);
    }
    report.spread = spreadOf(repeats);
    if (report.spread && o.repeats > 1) {
      const { min, median, max } = report.spread;
      o.out(
        `\nover ${repeats.length} repeats: highest passing load min ${min}, median ${median}, max ${max} ${unit}`,
      );
    }
    if (o.verify && !interrupted) {
      const skip = verifySkipReason(repeats, unit);
      if (skip !== undefined) {
        report.verification = skipped(report.spread?.median ?? 0, o.verify.overFactor, skip, []);
      } else {
        const candidate = report.spread!.median;
        o.out(`\nverification: ${candidate} ${unit} again, on its own`);
        o.out(formatStepHeader(unit, plan.latencyMetrics));
        const run = stepRunner('v');
        const steps: Step[] = [];
        try {
          report.verification = await verifyCapacity(
            candidate,
            {
              resolution: o.resolution,
              granularity: plan.defaults.granularity,
              tries: o.verify.tries,
              overFactor: o.verify.overFactor,
              unit,
            },
            async (offered, phase) => {
              const step = await run(offered, phase);
              steps.push(step);
              return step;
            },
          );
        } catch (e) {
          if (!(e instanceof Interrupted)) throw e;
          report.verification = skipped(candidate, o.verify.overFactor, 'interrupted', steps);
        }
      }
      o.out(`verification: ${report.verification.text}.`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of children) c.kill('SIGKILL');
    await collector?.close();
    await local?.stop();
  }
  report.spread = spreadOf(repeats);
  const done = new Set([...repeats.flatMap((r) => r.steps), ...(report.verification?.steps ?? [])]);
  if (interrupted && stepsSoFar.some((s) => !done.has(s))) {
    // The interrupted repeat's steps, judged as far as they went.
    const partial = stepsSoFar.filter((s) => !done.has(s));
    const pass = partial.filter((s) => s.pass).map((s) => s.offered);
    const fail = partial.filter((s) => !s.pass).map((s) => s.offered);
    repeats.push(
      classifyLimit({
        highestPass: pass.length ? Math.max(...pass) : undefined,
        firstFail: fail.length ? Math.min(...fail) : undefined,
        steps: partial,
      }),
    );
  }
  await writeReport(o.dir, report);
  if (o.renderPage) await writeReportPage(o.dir, report, o.renderPage, o.log);
  return { report, exitCode: exitCodeOf(report, interrupted) };
}

class Interrupted extends Error {}

function spreadOf(repeats: SearchResult[]): CapacityReport['spread'] {
  const passes = repeats.map((r) => r.highestPass).filter((x): x is number => x !== undefined);
  if (passes.length === 0) return undefined;
  const sorted = [...passes].sort((a, b) => a - b);
  return {
    min: sorted[0]!,
    median: sorted[Math.floor((sorted.length - 1) / 2)]!,
    max: sorted[sorted.length - 1]!,
  };
}

/** Why there is nothing to verify: a figure that is not the server's capacity is not checked against it. */
function verifySkipReason(repeats: SearchResult[], unit: string): string | undefined {
  if (repeats.length === 0) return 'no search finished';
  if (repeats.some((r) => r.steps.some((s) => s.fellOver))) return 'the server fell over during the search';
  if (repeats.some((r) => r.highestPass === undefined)) return 'a search found no passing load';
  const none = repeats.find((r) => r.limit === 'none');
  if (none) return `no step failed up to ${Math.max(...none.steps.map((s) => s.offered))} ${unit}`;
  if (repeats.some((r) => !r.isServerCapacity)) return 'a search found no server capacity (see its limit)';
  return undefined;
}

function skipped(candidate: number, overFactor: number, why: string, steps: Step[]): Verification {
  return {
    candidate,
    capacity: undefined,
    overFactor,
    over: undefined,
    skipped: why,
    text: `not run to the end: ${why}`,
    steps,
  };
}

async function writeReport(dir: string, report: CapacityReport): Promise<void> {
  await writeFile(join(dir, 'capacity.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (report.repeats.some((r) => r.steps.length > 0)) {
    await writeFile(join(dir, 'capacity.svg'), await capacityChartSvg(report));
  }
}

/** The page of the whole search (report.html): written once at the end, since it reads every step's files. */
async function writeReportPage(
  dir: string,
  report: CapacityReport,
  render: (report: CapacityReport, dir: string) => Promise<string>,
  log: (line: string) => void,
): Promise<void> {
  if (!report.repeats.some((r) => r.steps.length > 0)) return;
  try {
    await writeFile(join(dir, 'report.html'), await render(report, dir));
  } catch (e) {
    log(`starling: report.html not written: ${(e as Error).message}`);
  }
}

export function exitCodeOf(report: CapacityReport, interrupted: boolean): number {
  if (interrupted) return CAPACITY_EXIT.interrupted;
  if (report.repeats.some((r) => r.steps.some((s) => s.fellOver))) return CAPACITY_EXIT.serverFellOver;
  if (report.repeats.some((r) => r.limit === 'generator')) return CAPACITY_EXIT.generatorLimited;
  if (report.repeats.some((r) => r.limit === 'machine')) return CAPACITY_EXIT.machineLimited;
  if (report.repeats.some((r) => r.highestPass === undefined)) return CAPACITY_EXIT.noPassingLoad;
  const v = report.verification;
  if (v && v.skipped === undefined && v.capacity === undefined) {
    return v.steps.some((s) => s.fellOver) ? CAPACITY_EXIT.serverFellOver : CAPACITY_EXIT.unverified;
  }
  return CAPACITY_EXIT.ok;
}
