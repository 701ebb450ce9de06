/** Executors against k6's semantics: iteration counts, VU use, arrival-rate timing, graceful stop. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunScriptOptions } from '../../src/engine/run.ts';
import { runScriptText } from '../helpers/engine-run.ts';
import { constantArrivals, rampingArrivals } from '../../src/engine/executors/arrival-rate.ts';
import { rampingGracefulSteps, rampingRawSteps } from '../../src/engine/executors/ramping-vus-config.ts';

async function run(code: string, extra: Partial<RunScriptOptions> = {}) {
  const r = await runScriptText(code, extra);
  const logs = r.lines.flatMap((l) => {
    const m = /\[VU (\d+)\] (.*)$/.exec(l);
    return m ? [{ vu: Number(m[1]), msg: m[2]! }] : [];
  });
  return { ...r, logs };
}

const wait = (ms: number) => `await new Promise((r) => setTimeout(r, ${ms}));`;

describe('iteration-count executors', () => {
  test('per-vu-iterations: 3 VUs × 4 iterations = 12, each VU sees __ITER 0..3', async () => {
    const { outcome, logs, count } = await run(`
      import exec from 'k6/execution';
      export const options = { scenarios: { p: { executor: 'per-vu-iterations', vus: 3, iterations: 4 } } };
      export default function () { console.log(__ITER + ' ' + exec.vu.iterationInScenario + ' ' + exec.scenario.iterationInTest); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.equal(count('iterations'), 12);
    assert.equal(outcome.iterationsCompleted, 12);
    const byVu = new Map<number, number[]>();
    for (const l of logs) {
      const [iter, inScenario] = l.msg.split(' ').map(Number);
      assert.equal(iter, inScenario);
      byVu.set(l.vu, [...(byVu.get(l.vu) ?? []), iter!]);
    }
    assert.deepEqual([...byVu.keys()].sort(), [1, 2, 3]);
    for (const iters of byVu.values()) assert.deepEqual(iters, [0, 1, 2, 3]);
    const global = logs.map((l) => Number(l.msg.split(' ')[2])).sort((a, b) => a - b);
    assert.deepEqual(
      global,
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  test('shared-iterations: 10 iterations over 3 VUs run 10 in total, shared by the VUs', async () => {
    const { outcome, logs, count, samples } = await run(`
      export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 10 } } };
      export default async function () { ${wait(10)} console.log('done'); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.equal(count('iterations'), 10);
    assert.equal(logs.length, 10);
    assert.deepEqual([...new Set(logs.map((l) => l.vu))].sort(), [1, 2, 3]);
    assert.ok(samples.filter((s) => s.name === 'iterations').every((s) => s.tags.scenario === 's'));
    assert.equal(count('dropped_iterations'), 0);
  });

  test('shortcut options: iterations alone is shared-iterations, nothing at all is 1 VU × 1 iteration', async () => {
    const a = await run(`export const options = { vus: 2, iterations: 5 }; export default function () {}`);
    assert.equal(a.outcome.engineOptions!.scenarios[0]!.executor, 'shared-iterations');
    assert.equal(a.count('iterations'), 5);
    const b = await run(`export default function () {}`);
    assert.equal(b.outcome.engineOptions!.scenarios[0]!.executor, 'per-vu-iterations');
    assert.equal(b.count('iterations'), 1);
  });
});

describe('duration executors', () => {
  test('constant-vus: 2 VUs loop 100 ms iterations for 1 s', async () => {
    const { outcome, logs, count, wallMs } = await run(`
      export const options = { vus: 2, duration: '1s' };
      export default async function () { ${wait(100)} console.log('i'); }
    `);
    assert.equal(outcome.engineOptions!.scenarios[0]!.executor, 'constant-vus');
    assert.equal(outcome.exitCode, 0);
    for (const vu of [1, 2]) {
      const n = logs.filter((l) => l.vu === vu).length;
      assert.ok(n >= 9 && n <= 11, `VU ${vu} ran ${n} iterations`);
    }
    assert.equal(count('iterations'), logs.length);
    assert.ok(wallMs < 1600, `took ${wallMs} ms`);
  });

  test('ramping-vus: the stage targets are the numbers of VUs running', async () => {
    const { outcome, logs, samples } = await run(`
      export const options = {
        scenarios: { r: { executor: 'ramping-vus', startVUs: 0, stages: [
          { duration: '1s', target: 4 }, { duration: '1s', target: 4 }, { duration: '1s', target: 0 },
        ] } },
      };
      export default async function () { console.log(String(Date.now())); ${wait(100)} }
    `);
    assert.equal(outcome.exitCode, 0);
    const t0 = outcome.startTime;
    const vusIn = (from: number, to: number) =>
      new Set(logs.filter((l) => +l.msg - t0 >= from && +l.msg - t0 < to).map((l) => l.vu)).size;
    assert.equal(vusIn(0, 200), 0, 'the first VU starts at 250 ms');
    assert.equal(vusIn(300, 450), 1);
    assert.equal(vusIn(1200, 1900), 4);
    assert.equal(vusIn(2560, 2700), 2, 'ramping down: 2 VUs left from 2.5 s to 2.75 s');
    assert.equal(vusIn(3200, 10_000), 0);
    const vus = samples.filter((s) => s.name === 'vus').map((s) => s.value);
    assert.ok(vus.includes(4) && Math.max(...vus) === 4, `vus samples ${vus.join(',')}`);
    assert.deepEqual(
      samples.filter((s) => s.name === 'vus_max').map((s) => s.value),
      vus.map(() => 4),
    );
  });

  test('ramping-vus steps follow k6: one VU per 1/n of the stage, VUs kept for gracefulRampDown', () => {
    assert.deepEqual(
      rampingRawSteps(
        0,
        [
          { durationMs: 1000, target: 4 },
          { durationMs: 1000, target: 0 },
        ],
        true,
      ),
      [
        { offsetMs: 0, vus: 0 },
        { offsetMs: 250, vus: 1 },
        { offsetMs: 500, vus: 2 },
        { offsetMs: 750, vus: 3 },
        { offsetMs: 1000, vus: 4 },
        { offsetMs: 1250, vus: 3 },
        { offsetMs: 1500, vus: 2 },
        { offsetMs: 1750, vus: 1 },
        { offsetMs: 2000, vus: 0 },
      ],
    );
    const sc = {
      name: 'r',
      executor: 'ramping-vus' as const,
      startTimeMs: 0,
      gracefulStopMs: 30_000,
      exec: 'default',
      env: {},
      tags: {},
      startVUs: 0,
      gracefulRampDownMs: 500,
      stages: [
        { durationMs: 1000, target: 4 },
        { durationMs: 1000, target: 0 },
      ],
    };
    assert.deepEqual(rampingGracefulSteps(sc), [
      { offsetMs: 0, vus: 0 },
      { offsetMs: 250, vus: 1 },
      { offsetMs: 500, vus: 2 },
      { offsetMs: 750, vus: 3 },
      { offsetMs: 1000, vus: 4 },
      { offsetMs: 1750, vus: 3 },
      { offsetMs: 2000, vus: 2 },
      { offsetMs: 2250, vus: 1 },
      { offsetMs: 2500, vus: 0 },
    ]);
  });
});

describe('arrival-rate executors', () => {
  test('constant-arrival-rate: 50/s for 2 s starts 100 iterations evenly spaced while each takes 300 ms', async () => {
    const { outcome, logs, count } = await run(`
      export const options = { scenarios: { c: {
        executor: 'constant-arrival-rate', rate: 50, timeUnit: '1s', duration: '2s', preAllocatedVUs: 20,
      } } };
      export default async function () { console.log(String(Date.now())); ${wait(300)} }
    `);
    assert.equal(outcome.exitCode, 0);
    const starts = logs.map((l) => +l.msg).sort((a, b) => a - b);
    assert.ok(Math.abs(starts.length - 100) <= 3, `${starts.length} iterations started`);
    assert.equal(count('iterations'), starts.length);
    assert.equal(count('dropped_iterations'), 0);
    const errors = starts
      .slice(1)
      .map((t, i) => Math.abs(t - starts[i]! - 20))
      .sort((a, b) => a - b);
    const p90 = errors[Math.floor(errors.length * 0.9)]!;
    assert.ok(p90 < 5, `p90 spacing error ${p90} ms`);
    const used = new Set(logs.map((l) => l.vu)).size;
    assert.ok(used >= 15 && used <= 20, `${used} VUs used`);
  });

  test('constant-arrival-rate: starts with no free VU count as dropped_iterations, VUs added lazily up to maxVUs', async () => {
    const { outcome, logs, count, samples } = await run(`
      import exec from 'k6/execution';
      export const options = { scenarios: { c: {
        executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '1s', preAllocatedVUs: 1, maxVUs: 3,
      } } };
      export default async function () { console.log(String(exec.instance.vusInitialized)); ${wait(300)} }
    `);
    assert.equal(outcome.exitCode, 0);
    const started = logs.length;
    const dropped = count('dropped_iterations');
    assert.equal(started + dropped, 20);
    assert.ok(dropped >= 8, `${dropped} dropped`);
    assert.equal(logs[0]!.msg, '1', 'only the pre-allocated VU exists at first');
    assert.equal(logs[logs.length - 1]!.msg, '3');
    assert.ok(samples.filter((s) => s.name === 'dropped_iterations').every((s) => s.tags.scenario === 'c'));
  });

  test('ramping-arrival-rate: the number of starts is the integral of the rate', async () => {
    const { outcome, logs, count } = await run(`
      export const options = { scenarios: { r: {
        executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '1s', preAllocatedVUs: 5,
        stages: [{ duration: '1s', target: 20 }, { duration: '1025ms', target: 20 }],
      } } };
      export default function () { console.log(String(Date.now())); }
    `);
    assert.equal(outcome.exitCode, 0);
    // 10 + 20.5: the 30th start at 2 s, clear of the end (a start exactly at the end races it, in k6 too).
    assert.equal(count('iterations'), 30);
    const starts = logs.map((l) => +l.msg - outcome.startTime).sort((a, b) => a - b);
    // Area 10 is reached at 1 s (ramp 0→20/s), start n of the ramp at sqrt(n/10) s.
    assert.ok(Math.abs(starts[9]! - 1000) < 40, `10th start at ${starts[9]} ms`);
    assert.ok(Math.abs(starts[0]! - Math.sqrt(0.1) * 1000) < 40, `1st start at ${starts[0]} ms`);
  });

  test('arrival schedules: constant every timeUnit/rate from 0; ramping by the area under the rate', () => {
    assert.deepEqual([...constantArrivals(4, 1000, 1000)], [0, 250, 500, 750]);
    const r = [...rampingArrivals(0, 1000, [{ durationMs: 2000, target: 2 }])];
    assert.equal(r.length, 2);
    assert.ok(Math.abs(r[0]! - 1414.2135) < 0.01 && Math.abs(r[1]! - 2000) < 0.01, r.join(','));
  });
});

describe('graceful stop', () => {
  test('an iteration running past the duration may finish within gracefulStop and counts as complete', async () => {
    const { outcome, count, wallMs } = await run(`
      export const options = { scenarios: { g: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '1s' } } };
      export default async function () { ${wait(1500)} }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.iterationsCompleted, 1);
    assert.equal(outcome.iterationsInterrupted, 0);
    assert.equal(count('iterations'), 1);
    assert.ok(wallMs >= 1450 && wallMs < 1900, `took ${wallMs} ms`);
  });

  test('an iteration still running when gracefulStop ends is interrupted: no iteration metrics, timers dropped', async () => {
    const { outcome, count, lines, wallMs } = await run(`
      export const options = { scenarios: { g: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '1s' } } };
      export default async function () { ${wait(3000)} console.log('never'); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.iterationsCompleted, 0);
    assert.equal(outcome.iterationsInterrupted, 1);
    assert.equal(count('iterations'), 0);
    assert.equal(count('iteration_duration'), 0);
    assert.ok(
      lines.some((l) =>
        l.includes('[VU 1] setTimeout 1 was stopped because the VU iteration was interrupted'),
      ),
    );
    assert.ok(!lines.some((l) => l.includes('never')));
    assert.ok(wallMs >= 1950 && wallMs < 2500, `took ${wallMs} ms`);
  });

  test('iteration executors stop at maxDuration and count what they could not start as dropped', async () => {
    const { outcome, count } = await run(`
      export const options = { scenarios: { p: { executor: 'per-vu-iterations', vus: 1, iterations: 100, maxDuration: '1s', gracefulStop: '0s' } } };
      export default async function () { ${wait(300)} }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.equal(count('iterations'), 3);
    assert.equal(outcome.iterationsInterrupted, 1);
    assert.equal(count('dropped_iterations'), 96);
  });
});
