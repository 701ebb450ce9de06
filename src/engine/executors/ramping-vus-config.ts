/**
 * ramping-vus's config (lib/executor/ramping_vus.go) and its ramp maths: the raw steps (VUs started and
 * gracefully stopped) and the graceful steps (VUs kept for gracefulRampDown), which size the VU pool.
 */
import { DEFAULT_GRACEFUL_STOP, type BaseScenario, type FieldReader, type Stage } from './base-config.ts';

export interface RampingVusConfig extends BaseScenario {
  executor: 'ramping-vus';
  startVUs: number;
  stages: Stage[];
  gracefulRampDownMs: number;
}

/** RampingVUsConfig's own fields, with k6's defaults, and its Validate(): problems go to `errors`. */
export function readRampingVus(f: FieldReader, errors: string[]): Omit<RampingVusConfig, keyof BaseScenario> {
  const startVUs = f.int('startVUs', 1);
  const stages = f.stages('stages') ?? [];
  const gracefulRampDownMs = f.duration('gracefulRampDown', DEFAULT_GRACEFUL_STOP);
  if (startVUs < 0) errors.push("the number of start VUs can't be negative");
  if (Math.max(startVUs, ...stages.map((s) => s.target)) <= 0) {
    errors.push("either startVUs or one of the stages' target values must be greater than 0");
  }
  if (stages.length === 0) errors.push('at least one stage has to be specified');
  return { executor: 'ramping-vus', startVUs, stages, gracefulRampDownMs };
}

/** ramping-vus getRawExecutionSteps (single instance: scaled == unscaled). */
export function rampingRawSteps(
  startVUs: number,
  stages: Stage[],
  zeroEnd: boolean,
): { offsetMs: number; vus: number }[] {
  const steps = [{ offsetMs: 0, vus: startVUs }];
  const add = (offsetMs: number, vus: number) => {
    if (steps[steps.length - 1]!.vus !== vus) steps.push({ offsetMs, vus });
  };
  let from = startVUs;
  // Mirrors k6's SegmentedIndex position: after a ramp-up it rests one past the target.
  let unscaled = startVUs;
  let timeTillEnd = 0;
  for (const stage of stages) {
    const end = stage.target;
    const dur = stage.durationMs;
    timeTillEnd += dur;
    const diff = end - from;
    if (diff === 0) continue;
    if (dur === 0) {
      unscaled = end;
      add(timeTillEnd, end);
      from = end;
      continue;
    }
    if (unscaled > end) {
      for (; unscaled > end; unscaled--) add(timeTillEnd - (dur * (end - unscaled + 1)) / diff, unscaled - 1);
    } else {
      for (; unscaled <= end; unscaled++) add(timeTillEnd - (dur * (end - unscaled)) / diff, unscaled);
    }
    from = end;
  }
  if (zeroEnd && steps[steps.length - 1]!.vus !== 0) steps.push({ offsetMs: timeTillEnd, vus: 0 });
  return steps;
}

/** ramping-vus GetExecutionRequirements: raw steps with VUs kept for gracefulRampDown, ending at 0 VUs. */
export function rampingGracefulSteps(sc: RampingVusConfig): { offsetMs: number; vus: number }[] {
  let steps = rampingRawSteps(sc.startVUs, sc.stages, false);
  const endOffset = sc.stages.reduce((a, s) => a + s.durationMs, 0) + sc.gracefulStopMs;
  if (sc.gracefulRampDownMs > 0) steps = reserveForGracefulRampDowns(steps, sc.gracefulRampDownMs, endOffset);
  if (steps[steps.length - 1]!.vus !== 0) steps.push({ offsetMs: endOffset, vus: 0 });
  return steps;
}

function reserveForGracefulRampDowns(
  raw: { offsetMs: number; vus: number }[],
  rampDown: number,
  endOffset: number,
): { offsetMs: number; vus: number }[] {
  const out: { offsetMs: number; vus: number }[] = [];
  let last = 0;
  let lastDownwardSlope = 0;
  for (let i = 0; i < raw.length; i++) {
    const step = raw[i]!;
    if (i === 0 || step.vus > last) {
      out.push(step);
      last = step.vus;
      continue;
    }
    if (step.vus === last) continue;
    let skipped = false;
    const withTimeout = step.offsetMs + rampDown;
    let wasRampingDown = true;
    for (let j = Math.max(lastDownwardSlope, i + 1); j < raw.length; j++) {
      const adv = raw[j]!;
      if (adv.offsetMs > withTimeout) break;
      if (adv.vus >= last) {
        i = j - 1;
        skipped = true;
        break;
      }
      if (wasRampingDown) {
        if (raw[j - 1]!.vus > adv.vus) lastDownwardSlope = j;
        else wasRampingDown = false;
      }
    }
    if (skipped) continue;
    if (withTimeout >= endOffset) break;
    out.push({ offsetMs: withTimeout, vus: step.vus });
    last = step.vus;
  }
  return out;
}
