/** runScript end to end: setup data, exit codes, abort paths, checks, handleSummary, progress. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RunProgress, type RunScriptOptions } from '../../src/engine/run.ts';
import { runScriptText } from '../helpers/engine-run.ts';
import { k6Modules } from '../../src/engine/modules/index.ts';
import type { ModuleFactory } from '../../src/engine/runtime.ts';

async function run(code: string, extra: Partial<RunScriptOptions> = {}) {
  const r = await runScriptText(code, extra);
  const msgs = r.lines.flatMap((l) => {
    const m = /\[VU (\d+)\] (.*)$/.exec(l);
    return m ? [m[2]!] : [];
  });
  return { ...r, msgs };
}

describe('setup data', () => {
  test('setup() data reaches iterations and teardown through JSON, one copy per VU', async () => {
    const { outcome, msgs } = await run(`
      export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } } };
      export function setup() { return { n: 1, when: new Date(0), fn() {}, list: [1, undefined] }; }
      export default function (data) {
        data.n++;
        console.log('iter ' + __VU + ' ' + JSON.stringify(data));
      }
      export function teardown(data) { console.log('teardown ' + JSON.stringify(data)); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(outcome.setupData, { n: 1, when: '1970-01-01T00:00:00.000Z', list: [1, null] });
    const iters = msgs.filter((m) => m.startsWith('iter ')).sort();
    assert.deepEqual(iters, [
      'iter 1 {"n":2,"when":"1970-01-01T00:00:00.000Z","list":[1,null]}',
      'iter 1 {"n":3,"when":"1970-01-01T00:00:00.000Z","list":[1,null]}',
      'iter 2 {"n":2,"when":"1970-01-01T00:00:00.000Z","list":[1,null]}',
      'iter 2 {"n":3,"when":"1970-01-01T00:00:00.000Z","list":[1,null]}',
    ]);
    assert.equal(msgs.at(-1), 'teardown {"n":1,"when":"1970-01-01T00:00:00.000Z","list":[1,null]}');
  });

  test('an async setup() is awaited and its resolved value is the data', async () => {
    const { outcome, msgs } = await run(`
      export async function setup() { await new Promise((r) => setTimeout(r, 20)); return 'ready'; }
      export default function (data) { console.log(data); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(msgs, ['ready']);
  });
});

describe('timers', () => {
  test('extra arguments reach the callback, intervals repeat until cleared, a cleared timeout never fires', async () => {
    const t0 = Date.now();
    const { outcome, msgs } = await run(`
      export default function () {
        setTimeout((a, b) => console.log('timeout ' + a + ' ' + b), 10, 'x', 2);
        setTimeout(function () { console.log('no args ' + arguments.length); }, 5);
        const never = setTimeout(() => console.log('cleared timeout fired'), 30);
        clearTimeout(never);
        clearTimeout(never); // twice: nothing happens
        let n = 0;
        const every = setInterval((tag) => {
          console.log('tick ' + ++n + ' ' + tag);
          if (n === 3) clearInterval(every);
        }, 15, 't');
        console.log('ids ' + typeof never + ' ' + (every > never));
      }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(msgs, [
      'ids number true',
      'no args 0',
      'timeout x 2',
      'tick 1 t',
      'tick 2 t',
      'tick 3 t',
    ]);
    // The iteration ended when the interval was cleared: nothing left pending (the cleared timeout included).
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  });
});

describe('exit codes', () => {
  test('an exception in init code exits 107 with the error', async () => {
    const { outcome, lines } = await run(`throw new Error('broken init');\nexport default function () {}`);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /^Error: broken init/);
    assert.ok(lines.some((l) => l.startsWith('ERRO[') && l.includes('broken init')));
  });

  // k6's bundle refuses a script without a callable export (js/bundle.go; TestNewBundle/Blank expects the error
  // "no exported functions in script"), as a script error.
  for (const [what, code] of [
    ['an empty script', ''],
    ['a script with no exports', 'const a = 1;'],
    ['a module that exports only options', 'export const options = { vus: 1 };'],
  ]) {
    test(`${what} exits 107: no exported functions in script`, async () => {
      const { outcome } = await run(code!);
      assert.equal(outcome.exitCode, 107);
      assert.equal(outcome.scriptError, 'no exported functions in script');
    });
  }

  test('an exception in the init of one VU exits 107 naming that VU', async () => {
    const { outcome } = await run(`
      if (__VU === 2) throw new Error('vu 2 init');
      export const options = { vus: 3, iterations: 3 };
      export default function () {}
    `);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /vu 2 init[\s\S]*\(error while initializing VU #2\)$/);
    assert.equal(outcome.iterationsCompleted, 0);
  });

  test('an exception in setup() exits 107, runs no iteration and no teardown', async () => {
    const { outcome, msgs, count } = await run(`
      export function setup() { throw new Error('no setup'); }
      export default function () { console.log('iteration'); }
      export function teardown() { console.log('teardown'); }
    `);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /no setup/);
    assert.deepEqual(msgs, []);
    assert.equal(count('iterations'), 0);
  });

  test('an exception in teardown() exits 107 after the iterations ran', async () => {
    const { outcome, count } = await run(`
      export default function () {}
      export function teardown() { throw new Error('bad teardown'); }
    `);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /bad teardown/);
    assert.equal(count('iterations'), 1);
  });

  test('an exception in an iteration fails only that iteration: logged, counted, exit 0', async () => {
    const { outcome, lines, count } = await run(`
      export const options = { iterations: 3 };
      export default function () { if (__ITER === 1) throw new Error('iteration boom'); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.equal(count('iterations'), 3);
    assert.equal(outcome.iterationsCompleted, 3);
    const errs = lines.filter((l) => l.includes('iteration boom'));
    assert.equal(errs.length, 1);
    assert.match(
      errs[0]!,
      /^ERRO\[\d{4}\] \[VU 1\] Error: iteration boom\n[\s\S]*executor=shared-iterations scenario=default source=stacktrace$/,
    );
  });

  test("the engine's own lines mask URL passwords (user:***@); the script's console output is its own", async () => {
    const { lines } = await run(`
      export const options = { iterations: 1 };
      export default function () {
        console.log('asked for http://alice:s3cret@127.0.0.1/x');
        throw new Error('no answer from http://alice:s3cret@127.0.0.1/x');
      }
    `);
    assert.match(lines[0]!, /^INFO\[\d{4}\] \[VU 1\] asked for http:\/\/alice:s3cret@127\.0\.0\.1\/x$/);
    assert.match(
      lines[1]!,
      /^ERRO\[\d{4}\] \[VU 1\] Error: no answer from http:\/\/alice:\*\*\*@127\.0\.0\.1\/x\n/,
    );
    assert.equal(lines.length, 2);
  });

  test('invalid options exit 104 listing every problem as k6 does', async () => {
    const { outcome } = await run(`
      export const options = { scenarios: {
        a: { executor: 'constant-vus', vus: 0 },
        b: { executor: 'per-vu-iterations', exec: 'missing' },
        c: { executor: 'shared-iterations', bogus: 1 },
      } };
      export default function () {}
    `);
    assert.equal(outcome.exitCode, 104);
    assert.equal(
      outcome.scriptError,
      [
        'There were problems with the specified script configuration:',
        '\t- scenario a has configuration errors: the number of VUs must be more than 0, the duration is unspecified',
        "\t- executor b: function 'missing' not found in exports",
        '\t- scenario c has configuration errors: json: unknown field "bogus"',
      ].join('\n'),
    );
  });

  test('exec.test.abort() exits 108: running iterations stop, teardown still runs', async () => {
    const { outcome, msgs, wallMs } = await run(`
      import exec from 'k6/execution';
      export const options = { scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '5s' } } };
      export default async function () {
        if (__VU === 1 && __ITER === 2) { try { exec.test.abort('enough'); } catch (e) { console.log('caught'); } console.log('after abort'); }
        await new Promise((r) => setTimeout(r, 50));
      }
      export function teardown() { console.log('teardown'); }
    `);
    assert.equal(outcome.exitCode, 108);
    assert.equal(outcome.scriptError, 'test aborted: enough');
    assert.equal(outcome.interrupted, true);
    assert.equal(msgs.at(-1), 'teardown');
    assert.ok(wallMs < 1500, `took ${wallMs} ms`);
  });

  test('aborting the signal exits 105: iterations are interrupted at once, teardown and summary still run', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 300);
    const { outcome, msgs, lines, wallMs } = await run(
      `
      export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '10s', gracefulStop: '10s' } } };
      export default async function () { await new Promise((r) => setTimeout(r, 5000)); }
      export function teardown() { console.log('teardown'); }
      export function handleSummary(data) { return { stdout: 'summary ' + data.state.interrupted }; }
    `,
      {
        signal: ctl.signal,
        buildSummaryData: (facts) => ({ state: { interrupted: facts.interrupted } }),
      },
    );
    assert.equal(outcome.exitCode, 105);
    assert.equal(outcome.interrupted, true);
    assert.equal(outcome.iterationsInterrupted, 1);
    assert.equal(outcome.iterationsCompleted, 0);
    assert.deepEqual(
      msgs.filter((m) => m === 'teardown'),
      ['teardown'],
    );
    assert.ok(
      lines.some((l) => l.includes('setTimeout 1 was stopped because the VU iteration was interrupted')),
    );
    assert.deepEqual(outcome.summaryOutput, { stdout: 'summary true' });
    assert.ok(wallMs < 1500, `took ${wallMs} ms`);
  });

  test('thresholdsCheck asking to abort stops the run with 99 (abortOnFail), teardown still runs', async () => {
    let polls = 0;
    const { outcome, msgs, wallMs } = await run(
      `
      export const options = { vus: 1, duration: '10s' };
      export default async function () { await new Promise((r) => setTimeout(r, 50)); }
      export function teardown() { console.log('teardown'); }
    `,
      { thresholdsCheck: () => ({ abort: ++polls >= 2 }) },
    );
    assert.equal(outcome.exitCode, 99);
    assert.equal(outcome.interrupted, true);
    assert.equal(outcome.iterationsInterrupted, 1);
    assert.equal(msgs.at(-1), 'teardown');
    assert.ok(wallMs >= 1900 && wallMs < 3000, `took ${wallMs} ms`);
  });

  test('setup() still pending after setupTimeout exits 100', async () => {
    const { outcome } = await run(`
      export const options = { setupTimeout: '300ms' };
      export async function setup() { await new Promise((r) => setTimeout(r, 5000)); }
      export default function () {}
    `);
    assert.equal(outcome.exitCode, 100);
    assert.equal(outcome.scriptError, 'setup() execution timed out after 0.3 seconds');
  });

  test('exec.test.fail() lets the run finish and exits 110', async () => {
    const { outcome, count } = await run(`
      import exec from 'k6/execution';
      export const options = { iterations: 2 };
      export default function () { if (__ITER === 0) exec.test.fail('bad'); }
    `);
    assert.equal(outcome.exitCode, 110);
    assert.equal(count('iterations'), 2);
  });
});

describe('metrics, summary and progress', () => {
  test('check() feeds the checks rate, tagged with the check name, group and scenario', async () => {
    const { outcome, samples } = await run(`
      import { check, group } from 'k6';
      export const options = { iterations: 2 };
      export default function () {
        check(__ITER, { 'is zero': (i) => i === 0, 'is number': (i) => typeof i === 'number' }, { mine: 'x' });
        group('outer', () => group('inner', () => check(true, { nested: (v) => v })));
      }
    `);
    assert.equal(outcome.exitCode, 0);
    const checks = samples.filter((s) => s.name === 'checks');
    assert.deepEqual(
      checks.map((s) => [s.tags.check, s.value, s.tags.group, s.tags.scenario, s.tags.mine]),
      [
        ['is zero', 1, '', 'default', 'x'],
        ['is number', 1, '', 'default', 'x'],
        ['nested', 1, '::outer::inner', 'default', undefined],
        ['is zero', 0, '', 'default', 'x'],
        ['is number', 1, '', 'default', 'x'],
        ['nested', 1, '::outer::inner', 'default', undefined],
      ],
    );
    assert.deepEqual(
      samples.filter((s) => s.name === 'group_duration').map((s) => s.tags.group),
      ['::outer::inner', '::outer', '::outer::inner', '::outer'],
    );
  });

  test('options.tags are added to every sample the engine emits', async () => {
    const { samples } = await run(`
      import { check } from 'k6';
      export const options = { tags: { team: 'xmpp' } };
      export default function () { check(1, { ok: () => true }); }
    `);
    for (const s of samples) assert.equal(s.tags.team, 'xmpp', s.name);
  });

  test('handleSummary() receives the data built by the caller and its result is returned', async () => {
    let facts: unknown;
    const { outcome } = await run(
      `
      export function setup() { return { token: 't' }; }
      export default function () {}
      export function handleSummary(data) {
        return { stdout: 'metrics=' + Object.keys(data.metrics).join(','), 'out.json': JSON.stringify(data.setup_data) };
      }
    `,
      {
        buildSummaryData: (f) => {
          facts = f;
          return { metrics: { iterations: {} }, setup_data: f.setupData };
        },
      },
    );
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.hasHandleSummary, true);
    assert.deepEqual(outcome.summaryOutput, { stdout: 'metrics=iterations', 'out.json': '{"token":"t"}' });
    assert.deepEqual((facts as { setupData: unknown }).setupData, { token: 't' });
  });

  test('onProgress reports VUs and iterations about every second and once at the end', async () => {
    const seen: RunProgress[] = [];
    const { outcome } = await run(
      `
      export const options = { vus: 2, duration: '1500ms' };
      export default async function () { await new Promise((r) => setTimeout(r, 100)); }
    `,
      { onProgress: (p) => seen.push(p) },
    );
    assert.equal(outcome.exitCode, 0);
    const mid = seen.find((p) => p.phase === 'running')!;
    assert.equal(mid.vus, 2);
    assert.equal(mid.vusMax, 2);
    assert.ok(mid.iterationsCompleted >= 15, `${mid.iterationsCompleted} iterations at ~1 s`);
    assert.deepEqual(
      mid.scenarios.map((s) => [s.name, s.executor, s.started]),
      [['default', 'constant-vus', true]],
    );
    const last = seen.at(-1)!;
    assert.equal(last.phase, 'done');
    assert.equal(last.iterationsCompleted, outcome.iterationsCompleted);
  });
});

describe('the VuRuntime contract modules rely on', () => {
  /** A socket stand-in: an op that stays open for `ms`, closed early (code 1000) by the interrupt handler. */
  function fakeSocketModule(events: string[]): ModuleFactory {
    return (rt) => ({
      open(ms: number, name: string) {
        const end = rt.beginOp('socket');
        const t = setTimeout(() => {
          events.push(`${name} closed by server`);
          end();
        }, ms);
        rt.onInterrupt(() => {
          clearTimeout(t);
          events.push(`${name} closed 1000`);
          end();
        });
      },
    });
  }

  test('an open socket op keeps the iteration running until it closes', async () => {
    const events: string[] = [];
    const { count, samples } = await run(
      `import ws from 'k6/websockets'; export default function () { ws.open(200, 'a'); }`,
      { modules: new Map([...k6Modules, ['k6/websockets', fakeSocketModule(events)]]) },
    );
    assert.deepEqual(events, ['a closed by server']);
    assert.equal(count('iterations'), 1);
    assert.ok(samples.find((s) => s.name === 'iteration_duration')!.value >= 199);
  });

  test('interrupt handlers run when gracefulStop ends, and handlers of finished iterations are dropped', async () => {
    const events: string[] = [];
    const { outcome } = await run(
      `
      import ws from 'k6/websockets';
      export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '200ms' } } };
      export default function () { ws.open(__ITER === 0 ? 10 : 5000, 'iter' + __ITER); }
    `,
      { modules: new Map([...k6Modules, ['k6/websockets', fakeSocketModule(events)]]) },
    );
    assert.equal(outcome.iterationsInterrupted, 1);
    assert.deepEqual(events.filter((e) => e.endsWith('1000')).length, 1);
    assert.match(events.at(-1)!, /^iter\d+ closed 1000$/);
    assert.equal(events[0], 'iter0 closed by server');
  });

  test('a failing iteration runs the interrupt handlers before it ends, as k6 cancels its context', async () => {
    const events: string[] = [];
    const { count } = await run(
      `import ws from 'k6/websockets'; export default function () { ws.open(5000, 'a'); throw new Error('x'); }`,
      { modules: new Map([...k6Modules, ['k6/websockets', fakeSocketModule(events)]]) },
    );
    assert.deepEqual(events, ['a closed 1000']);
    assert.equal(count('iterations'), 1);
  });
});
