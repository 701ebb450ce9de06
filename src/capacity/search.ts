/**
 * The search for the highest load that meets the SLO: a coarse ramp (× factor per step) up to the first failing
 * step, then bisection between the last passing and the first failing load until they are within `resolution`
 * of each other. A step that finds the server fallen over ends the search at once. Pure: the caller runs steps.
 */
import type { Limit, SearchResult, Step, Verification } from './types.ts';

export interface SearchOptions {
  start: number;
  max: number;
  /** Coarse ramp multiplier, > 1. */
  factor: number;
  /** Stop refining when (firstFail − highestPass) ÷ highestPass ≤ this (e.g. 0.1). */
  resolution: number;
  /** Smallest load step worth running: loads are rounded to multiples of it (1 for sessions and most rates). */
  granularity: number;
  /** When the first step fails, the ramp goes down (÷ factor) at most this many times before giving up. */
  maxStepsDown?: number;
}

export type RunStep = (offered: number, phase: Step['phase']) => Promise<Step>;

function roundTo(x: number, g: number): number {
  return Math.max(g, Math.round(x / g) * g);
}

/** Runs the steps `options` call for; the result's limit fields are filled by {@link classifyLimit}. */
export async function searchCapacity(o: SearchOptions, runStep: RunStep): Promise<SearchResult> {
  if (!(o.factor > 1)) throw new RangeError(`factor ${o.factor} must be > 1`);
  const steps: Step[] = [];
  let highestPass: number | undefined;
  let firstFail: number | undefined;
  const run = async (load: number, phase: Step['phase']): Promise<Step> => {
    const step = await runStep(load, phase);
    steps.push(step);
    if (step.pass) highestPass = Math.max(highestPass ?? -Infinity, load);
    else firstFail = Math.min(firstFail ?? Infinity, load);
    return step;
  };
  const done = (): SearchResult => classifyLimit({ highestPass, firstFail, steps });

  // Coarse: up by `factor` until a step fails or --max passed.
  let load = roundTo(o.start, o.granularity);
  for (;;) {
    const step = await run(load, 'coarse');
    if (step.fellOver) return done();
    if (!step.pass || load >= o.max) break;
    load = Math.min(o.max, roundTo(load * o.factor, o.granularity));
  }
  // The very first step failed: down by `factor` until one passes.
  for (let down = 0; highestPass === undefined && down < (o.maxStepsDown ?? 4); down++) {
    const lower = roundTo(load / o.factor, o.granularity);
    if (lower >= load) break;
    load = lower;
    const step = await run(load, 'coarse');
    if (step.fellOver) return done();
  }
  // Refine between the last pass and the first failure.
  while (highestPass !== undefined && firstFail !== undefined) {
    if ((firstFail - highestPass) / highestPass <= o.resolution) break;
    const mid = roundTo((highestPass + firstFail) / 2, o.granularity);
    if (mid <= highestPass || mid >= firstFail) break;
    const step = await run(mid, 'refine');
    if (step.fellOver) break;
  }
  return done();
}

export interface VerifyOptions {
  resolution: number;
  granularity: number;
  /** Loads tried at most, the candidate first, each next one ÷ (1 + resolution). */
  tries: number;
  /** The step above the verified capacity, e.g. 1.3. */
  overFactor: number;
  unit: string;
}

/**
 * A search's figure is one step that passed, at the edge where passing and failing are closest: noise decides
 * such steps both ways. So the figure is run again on its own; a load that fails then was on the knee, and the
 * next one down is tried. The first that passes is the verified capacity, and a step at overFactor × it checks
 * that the knee is really there. Pure, like the search: the caller runs the steps.
 */
export async function verifyCapacity(
  candidate: number,
  o: VerifyOptions,
  runStep: RunStep,
): Promise<Verification> {
  const steps: Step[] = [];
  const failed: number[] = [];
  let capacity: number | undefined;
  let load = candidate;
  for (let t = 0; t < o.tries; t++) {
    const step = await runStep(load, 'verify');
    steps.push(step);
    if (step.fellOver) break;
    if (step.pass) {
      capacity = load;
      break;
    }
    failed.push(load);
    const lower = roundTo(load / (1 + o.resolution), o.granularity);
    if (lower >= load) break;
    load = lower;
  }
  let over: Verification['over'];
  if (capacity !== undefined) {
    const offered = roundTo(capacity * o.overFactor, o.granularity);
    const step = await runStep(offered, 'verify');
    steps.push(step);
    over = { offered, pass: step.pass };
  }
  const u = (x: number): string => `${x} ${o.unit}`;
  const fell = steps.find((s) => s.fellOver)?.fellOver;
  let text: string;
  if (fell) {
    text = `not verified: ${fell}`;
  } else if (capacity === undefined) {
    text =
      `not verified: ${failed.map(u).join(', ')} failed the SLO when run again, so the search's figure was ` +
      `noise at the edge: repeat the search (--repeat), lengthen --step, or give the server a quieter machine`;
  } else {
    text =
      capacity === candidate
        ? `verified: ${u(capacity)} met the SLO again`
        : `verified lower: ${failed.map(u).join(', ')} failed the SLO when run again (on the knee); ` +
          `${u(capacity)} met it: plan with ${u(capacity)}`;
    text += over!.pass
      ? `; ${u(over!.offered)} (${o.overFactor}×) met it too, so the knee is softer than that here: ` +
        `${u(capacity)} is a lower bound`
      : `, and ${u(over!.offered)} (${o.overFactor}×) did not`;
  }
  return { candidate, capacity, overFactor: o.overFactor, over, text, steps };
}

const pct = (share: number): string => `${Math.round(share * 100)} %`;

/** A server process with this share of its open-files limit in use is at the limit (a few are files, not sockets). */
export const FILES_FULL = 0.98;

/**
 * Who stopped the ramp, judged at the lowest failing step: a local server at its open-files limit (FILES_FULL)
 * first, whatever else followed from the connections it refused; then the generator when any generator process
 * was saturated there (the figure is then not the server's); else the server, by its CPU when it is local and busy,
 * or by its latency and errors rising while the generator stayed healthy.
 */
export function classifyLimit(r: Pick<SearchResult, 'highestPass' | 'firstFail' | 'steps'>): SearchResult {
  const base = { ...r, failedTerms: [] as string[] };
  const fell = r.steps.find((s) => s.fellOver);
  const failing = r.steps
    .filter((s) => !s.pass && s.offered === r.firstFail)
    .sort((a, b) => b.index - a.index)[0];
  if (failing === undefined) {
    const top = Math.max(...r.steps.map((s) => s.offered));
    return {
      ...base,
      limit: 'none',
      isServerCapacity: false,
      limitText: `no step failed up to ${top}: the server holds at least that; raise --max to find its limit`,
    };
  }
  const failedTerms = failing.rows
    .filter((row) => !row.ok)
    .map((row) => `${row.metric} ${row.threshold} (${row.display})`);
  const saturated = failing.generators.filter((g) => g.saturated);
  const files = failing.serverFiles;
  let limit: Limit;
  let limitText: string;
  const atFileLimit = files !== undefined && files.peak >= FILES_FULL * files.limit;
  if (atFileLimit) {
    // Measured at the server, and the cause of what follows: connections it cannot accept time out at the
    // generator, whose event loop may then saturate on the failures. The figure is this server's, as configured.
    limit = 'server';
    limitText =
      `the server: one of its processes had ${files.peak} files open of its limit of ${files.limit} at ` +
      `${failing.offered} (ulimit -n), so it accepted no more connections` +
      (saturated.length > 0 ? ' (the generator saturated on the failures that followed)' : '') +
      `: raise the server's open-files limit to measure beyond it`;
  } else if (saturated.length > 0) {
    limit = 'generator';
    const g = saturated[0]!;
    limitText =
      `the generator: ${saturated.length} of ${failing.generators.length} generator process(es) saturated at ${failing.offered} ` +
      `(CPU ${pct(g.cpuPeakSpan)} of a core over its busiest 10 s, event-loop delay p90 ${g.loopDelayP90.toFixed(1)} ms), ` +
      `so this is not the server's capacity: add generators (--generators ${failing.generators.length + 1} or more)`;
  } else if (failing.serverCpu !== undefined && failing.serverCores !== undefined) {
    const busy = failing.serverCpu >= 0.9 * failing.serverCores;
    const generatorCpu = failing.generators.reduce((sum, g) => sum + g.cpuPeakSpan, 0);
    const machine = failing.machineCores ?? Infinity;
    const gen = healthyText(failing);
    if (busy) {
      limit = 'server';
      limitText = `the server: its CPU was ${pct(failing.serverCpu)} of one core (it can use ${failing.serverCores}) at ${failing.offered}, ${gen}`;
    } else if ((failing.machineBusy ?? (failing.serverCpu + generatorCpu) / machine) >= 0.9) {
      // Busy as /proc/stat counts it (every process), else the server's and the generators' CPU summed.
      const busyShare = failing.machineBusy ?? (failing.serverCpu + generatorCpu) / machine;
      limit = 'machine';
      limitText =
        `this machine: its ${machine} cores were ${pct(busyShare)} busy at ${failing.offered} (the server ` +
        `${pct(failing.serverCpu)} of a core, the generator ${pct(generatorCpu)}), so this is not the ` +
        `server's capacity: run the generators on other machines (--target), or give the server more cores`;
    } else {
      limit = 'server';
      limitText = `the server: ${failedTerms.join('; ') || 'the SLO'} failed at ${failing.offered} with its CPU at ${pct(failing.serverCpu)} of one core, below the 90 % of its ${failing.serverCores} core(s) that counts as CPU-bound (queues, locks, I/O or limits), ${gen}`;
    }
  } else {
    limit = 'server';
    limitText = `the server (or the network to it): ${failedTerms.join('; ') || 'the SLO'} failed at ${failing.offered}, ${healthyText(failing)}`;
  }
  if (fell?.fellOver) limitText += `; the search stopped at once: ${fell.fellOver}`;
  return {
    ...base,
    failedTerms,
    limit,
    limitText,
    ...(atFileLimit ? { limitResource: 'open-files' as const } : {}),
    isServerCapacity: limit === 'server' && r.highestPass !== undefined,
  };
}

function healthyText(step: Step): string {
  const cpu = Math.max(0, ...step.generators.map((g) => g.cpuPeakSpan));
  const delay = Math.max(0, ...step.generators.map((g) => g.loopDelayP90));
  return `while the generator was healthy (busiest 10 s at ${pct(cpu)} of a core, event-loop delay p90 ${delay.toFixed(1)} ms)`;
}
