/** The capacity search (coarse ramp, bisection, stop on a fallen server) and who-was-the-limit, on made-up steps. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { achievedTerm, CAPACITY_EXIT, exitCodeOf } from '../../src/capacity/runner.ts';
import {
  classifyLimit,
  FILES_FULL,
  searchCapacity,
  verifyCapacity,
  type SearchOptions,
} from '../../src/capacity/search.ts';
import type { CapacityReport, GeneratorStep, Step } from '../../src/capacity/types.ts';

const healthy: GeneratorStep = {
  exitCode: 0,
  saturated: false,
  cpuMean: 0.3,
  cpuPeakSpan: 0.4,
  loopDelayP90: 1.2,
};

function step(offered: number, pass: boolean, extra: Partial<Step> = {}): Step {
  return {
    index: 0,
    phase: 'coarse',
    offered,
    achieved: offered,
    runId: `s-${offered}`,
    startedAt: '2026-12-03T00:00:00.000Z',
    windowStartMs: 0,
    windowEndMs: 1000,
    pass,
    rows: [
      {
        metric: 'xmpp_session_ready',
        threshold: 'p(99)<1000',
        value: pass ? 200 : 1800,
        display: pass ? '200ms' : '1.8s',
        ok: pass,
      },
    ],
    latency: {},
    logins: { attempts: 10, failures: 0, byReason: {} },
    generators: [healthy],
    ...extra,
  };
}

/** A server that holds loads up to `knee`: the loads the search ran, in order, and its result. */
async function searchKnee(knee: number, o: Partial<SearchOptions> = {}, fellOverAt?: number) {
  const ran: number[] = [];
  const result = await searchCapacity(
    { start: 20, max: 2000, factor: 2, resolution: 0.1, granularity: 1, ...o },
    async (load, phase) => {
      ran.push(load);
      return step(load, load <= knee, {
        index: ran.length,
        phase,
        ...(fellOverAt !== undefined && load >= fellOverAt ? { fellOver: 'the local prosody exited' } : {}),
      });
    },
  );
  return { ran, result };
}

describe('searchCapacity', () => {
  test('ramps ×factor to the first failure, then bisects to the resolution', async () => {
    const { ran, result } = await searchKnee(100);
    assert.deepEqual(ran, [20, 40, 80, 160, 120, 100, 110]);
    assert.equal(result.highestPass, 100);
    assert.equal(result.firstFail, 110);
    assert.deepEqual(
      result.steps.map((s) => s.phase),
      ['coarse', 'coarse', 'coarse', 'coarse', 'refine', 'refine', 'refine'],
    );
    assert.equal(result.limit, 'server');
    assert.equal(result.isServerCapacity, true);
    assert.deepEqual(result.failedTerms, ['xmpp_session_ready p(99)<1000 (1.8s)']);
  });

  test('a finer resolution runs more refining steps, to within it', async () => {
    const { result } = await searchKnee(137, { resolution: 0.02 });
    assert.ok(result.highestPass! <= 137 && result.firstFail! > 137);
    assert.ok((result.firstFail! - result.highestPass!) / result.highestPass! <= 0.02);
  });

  test('loads are rounded to the granularity', async () => {
    const { ran } = await searchKnee(2600, { start: 500, max: 50_000, granularity: 10, factor: 2.5 });
    assert.ok(
      ran.every((l) => l % 10 === 0),
      ran.join(),
    );
    assert.deepEqual(ran.slice(0, 4), [500, 1250, 3130, 2190]);
  });

  test('no failing step up to --max: at least max, not a capacity', async () => {
    const { ran, result } = await searchKnee(10_000, { max: 300 });
    assert.deepEqual(ran, [20, 40, 80, 160, 300]);
    assert.equal(result.highestPass, 300);
    assert.equal(result.firstFail, undefined);
    assert.equal(result.limit, 'none');
    assert.equal(result.isServerCapacity, false);
    assert.match(result.limitText, /no step failed up to 300/);
  });

  test('when the first step fails it steps down until one passes, then bisects', async () => {
    const { ran, result } = await searchKnee(7, { start: 20 });
    assert.deepEqual(ran.slice(0, 3), [20, 10, 5]);
    assert.equal(result.highestPass, 7);
    assert.equal(result.firstFail, 8);
  });

  test('nothing passes: no capacity', async () => {
    const { result } = await searchKnee(0, { start: 20, maxStepsDown: 2 });
    assert.equal(result.highestPass, undefined);
    assert.equal(result.firstFail, 5);
    assert.equal(result.isServerCapacity, false);
  });

  test('a step that finds the server fallen over ends the search at once', async () => {
    const { ran, result } = await searchKnee(100, {}, 160);
    assert.deepEqual(ran, [20, 40, 80, 160]);
    assert.equal(result.highestPass, 80);
    assert.equal(result.firstFail, 160);
    assert.match(result.limitText, /stopped at once: the local prosody exited/);
  });
});

describe('classifyLimit', () => {
  test('a saturated generator at the first failure: the generator, never the server’s capacity', () => {
    const saturated: GeneratorStep = { ...healthy, saturated: true, cpuPeakSpan: 0.97, loopDelayP90: 140 };
    const r = classifyLimit({
      highestPass: 80,
      firstFail: 160,
      steps: [
        step(80, true),
        step(160, false, { generators: [saturated, healthy], serverCpu: 0.5, serverCores: 1 }),
      ],
    });
    assert.equal(r.limit, 'generator');
    assert.equal(r.isServerCapacity, false);
    assert.match(
      r.limitText,
      /1 of 2 generator process\(es\) saturated at 160 \(CPU 97 % .* p90 140\.0 ms\)/,
    );
    assert.match(r.limitText, /add generators \(--generators 3 or more\)/);
  });

  test('a local server at its open-files limit: the server, even when the generator saturated on the failures', () => {
    const saturated: GeneratorStep = { ...healthy, saturated: true, cpuPeakSpan: 0.5, loopDelayP90: 870 };
    const atLimit = { peak: 19_818, limit: 20_000 };
    const r = classifyLimit({
      highestPass: 18_000,
      firstFail: 27_000,
      steps: [
        step(18_000, true, { serverFiles: { peak: 18_120, limit: 20_000 } }),
        step(27_000, false, {
          generators: [saturated],
          serverCpu: 0.97,
          serverCores: 1,
          serverFiles: atLimit,
        }),
      ],
    });
    assert.equal(r.limit, 'server');
    assert.equal(r.isServerCapacity, true);
    assert.equal(r.limitResource, 'open-files');
    assert.equal(
      r.limitText,
      'the server: one of its processes had 19818 files open of its limit of 20000 at 27000 (ulimit -n), so it ' +
        'accepted no more connections (the generator saturated on the failures that followed): raise the ' +
        "server's open-files limit to measure beyond it",
    );
    // Below FILES_FULL of the limit the usual rules apply: here, the saturated generator.
    const below = classifyLimit({
      highestPass: 18_000,
      firstFail: 27_000,
      steps: [step(27_000, false, { generators: [saturated], serverFiles: { peak: 19_500, limit: 20_000 } })],
    });
    assert.equal(below.limit, 'generator');
    assert.equal(below.limitResource, undefined);
    assert.equal(FILES_FULL, 0.98);
  });

  test('a local server at its cores: the server, by its CPU', () => {
    const r = classifyLimit({
      highestPass: 80,
      firstFail: 160,
      steps: [step(80, true), step(160, false, { serverCpu: 0.96, serverCores: 1 })],
    });
    assert.equal(r.limit, 'server');
    assert.equal(r.isServerCapacity, true);
    assert.match(
      r.limitText,
      /^the server: its CPU was 96 % of one core \(it can use 1\) at 160, while the generator was healthy \(busiest 10 s at 40 %/,
    );
  });

  test('a local server below its cores: latency rose, not CPU-bound', () => {
    const r = classifyLimit({
      highestPass: 80,
      firstFail: 160,
      steps: [step(80, true), step(160, false, { serverCpu: 0.3, serverCores: 2 })],
    });
    assert.match(
      r.limitText,
      /failed at 160 with its CPU at 30 % of one core, below the 90 % of its 2 core\(s\) that counts as CPU-bound/,
    );
  });

  test('a local server below its cores, with the machine full between it and the generators: the machine', () => {
    const busy: GeneratorStep = { ...healthy, cpuPeakSpan: 0.85 };
    const r = classifyLimit({
      highestPass: 80,
      firstFail: 160,
      steps: [
        step(80, true),
        step(160, false, { serverCpu: 1.08, serverCores: 2, machineCores: 2, generators: [busy] }),
      ],
    });
    assert.equal(r.limit, 'machine');
    assert.equal(r.isServerCapacity, false);
    assert.match(
      r.limitText,
      /^this machine: its 2 cores were 97 % busy at 160 \(the server 108 % of a core, the generator 85 %\), so this is not/,
    );
    // What /proc/stat saw, when measured, decides over the sum.
    const measured = classifyLimit({
      highestPass: 80,
      firstFail: 160,
      steps: [
        step(80, true),
        step(160, false, {
          serverCpu: 1.0,
          serverCores: 2,
          machineCores: 2,
          machineBusy: 0.93,
          generators: [{ ...busy, cpuPeakSpan: 0.79 }],
        }),
      ],
    });
    assert.equal(measured.limit, 'machine');
    assert.match(measured.limitText, /cores were 93 % busy/);
  });

  test('a remote server: by its latency and errors while the generator was healthy', () => {
    const r = classifyLimit({ highestPass: 80, firstFail: 160, steps: [step(80, true), step(160, false)] });
    assert.equal(r.limit, 'server');
    assert.match(
      r.limitText,
      /^the server \(or the network to it\): xmpp_session_ready p\(99\)<1000 \(1\.8s\) failed at 160, while/,
    );
  });

  test('judged at the lowest failing load, not the first failing step run', () => {
    const sat: GeneratorStep = { ...healthy, saturated: true };
    const r = classifyLimit({
      highestPass: 100,
      firstFail: 110,
      steps: [step(100, true), step(160, false, { generators: [sat] }), step(110, false, { index: 3 })],
    });
    assert.equal(r.limit, 'server');
  });
});

describe('achievedTerm', () => {
  test('a rate step fails when it achieved less than chance allows: 10 %, or 3 sd of a Poisson count', () => {
    assert.equal(achievedTerm('messages', 12_800, 10_831, 11)!.ok, false);
    assert.equal(achievedTerm('messages', 12_800, 11_600, 11)!.ok, true);
    assert.equal(achievedTerm('messages', 12_800, 10_831, 11)!.display, '10831 of 12800 messages/s');
    // 25/s over 11 s is 275 arrivals: 3 sd is 18 %, so 21/s still passes and 20/s does not.
    assert.equal(achievedTerm('login-rate', 25, 21, 11)!.threshold, '>=82% of offered');
    assert.equal(achievedTerm('login-rate', 25, 21, 11)!.ok, true);
    assert.equal(achievedTerm('login-rate', 25, 20, 11)!.ok, false);
    assert.equal(achievedTerm('sessions', 1000, 10, 11), undefined);
  });
});

describe('verifyCapacity', () => {
  const O = { resolution: 0.1, granularity: 1, tries: 3, overFactor: 1.3, unit: 'logins/s' };
  /** Runs the verification against `passes(load, nth time that load ran)`; returns the loads run and the result. */
  async function verify(candidate: number, passes: (load: number) => boolean, fellOverAt?: number) {
    const ran: [number, string][] = [];
    const v = await verifyCapacity(candidate, O, async (load, phase) => {
      ran.push([load, phase]);
      return step(load, passes(load), {
        index: ran.length,
        phase,
        ...(load === fellOverAt ? { fellOver: 'the local prosody exited' } : {}),
      });
    });
    return { ran, v };
  }

  test('the figure passes again and 1.3× fails: verified as found', async () => {
    const { ran, v } = await verify(100, (load) => load <= 110);
    assert.deepEqual(ran, [
      [100, 'verify'],
      [130, 'verify'],
    ]);
    assert.equal(v.capacity, 100);
    assert.deepEqual(v.over, { offered: 130, pass: false });
    assert.equal(v.text, 'verified: 100 logins/s met the SLO again, and 130 logins/s (1.3×) did not');
    assert.equal(v.steps.length, 2);
  });

  test('a figure on the knee fails again: the next load down (÷ 1 + resolution) is verified instead', async () => {
    const { ran, v } = await verify(100, (load) => load <= 95);
    assert.deepEqual(
      ran.map(([load]) => load),
      [100, 91, 118],
    );
    assert.equal(v.capacity, 91);
    assert.equal(v.candidate, 100);
    assert.match(
      v.text,
      /^verified lower: 100 logins\/s failed the SLO when run again \(on the knee\); 91 logins\/s met it: plan with 91 logins\/s, and 118 logins\/s \(1\.3×\) did not$/,
    );
  });

  test('1.3× passing too is said plainly: the figure is a lower bound', async () => {
    const { v } = await verify(100, () => true);
    assert.deepEqual(v.over, { offered: 130, pass: true });
    assert.match(
      v.text,
      /130 logins\/s \(1\.3×\) met it too, so the knee is softer than that here: 100 logins\/s is a lower bound$/,
    );
  });

  test('nothing passes again within `tries` loads: not verified, and no 1.3× step', async () => {
    const { ran, v } = await verify(100, () => false);
    assert.deepEqual(
      ran.map(([load]) => load),
      [100, 91, 83],
    );
    assert.equal(v.capacity, undefined);
    assert.equal(v.over, undefined);
    assert.match(
      v.text,
      /^not verified: 100 logins\/s, 91 logins\/s, 83 logins\/s failed the SLO when run again/,
    );
  });

  test('a server that falls over ends the verification at once', async () => {
    const { ran, v } = await verify(100, () => false, 100);
    assert.deepEqual(ran.length, 1);
    assert.equal(v.text, 'not verified: the local prosody exited');
  });

  test('exit codes: unverified 123, verified 0, a fallen server 121', () => {
    const report = (verification: CapacityReport['verification']): CapacityReport =>
      ({
        repeats: [
          classifyLimit({ highestPass: 100, firstFail: 110, steps: [step(100, true), step(110, false)] }),
        ],
        ...(verification ? { verification } : {}),
      }) as CapacityReport;
    const base = { candidate: 100, overFactor: 1.3, text: '', over: undefined };
    assert.equal(exitCodeOf(report(undefined), false), CAPACITY_EXIT.ok);
    assert.equal(exitCodeOf(report({ ...base, capacity: 91, steps: [] }), false), CAPACITY_EXIT.ok);
    assert.equal(exitCodeOf(report({ ...base, capacity: undefined, steps: [step(100, false)] }), false), 123);
    assert.equal(
      exitCodeOf(
        report({ ...base, capacity: undefined, steps: [step(100, false, { fellOver: 'x' })] }),
        false,
      ),
      CAPACITY_EXIT.serverFellOver,
    );
    assert.equal(
      exitCodeOf(report({ ...base, capacity: undefined, skipped: 'interrupted', steps: [] }), false),
      CAPACITY_EXIT.ok,
    );
  });
});
