/** Top-level await in the init context (k6 ≥ v0.55.0) and stack traces that point at the script's own lines. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { loadScript } from '../../src/engine/loader.ts';
import { k6Modules } from '../../src/engine/modules/index.ts';
import { runScript } from '../../src/engine/run.ts';
import { UnsupportedK6ApiError, type MetricSink } from '../../src/engine/runtime.ts';
import { scriptFile } from '../helpers/script-file.ts';

async function run(file: string) {
  const lines: string[] = [];
  const samples: string[] = [];
  const metrics: MetricSink = {
    define() {},
    push(name) {
      samples.push(name);
    },
  };
  const outcome = await runScript({ scriptPath: file, metrics, log: (l) => lines.push(l) });
  const logs = lines.flatMap((l) => {
    const m = /\[VU (\d+)\] (.*)$/.exec(l);
    return m ? [{ vu: Number(m[1]), msg: m[2]! }] : [];
  });
  return { outcome, lines, logs, iterations: samples.filter((s) => s === 'iterations').length };
}

const supported = new Set(k6Modules.keys());

describe('top-level await', () => {
  test('the module body awaits a resolved promise and a timer; options and exports come after it', async () => {
    const file = await scriptFile(`import { sleep } from 'k6';
const base = await Promise.resolve(40);
let ticks = 0;
await new Promise((resolve) => setTimeout(() => { ticks++; resolve(); }, 20));
export const options = { iterations: 3, vus: 2 };
export function setup() { return { n: base + ticks }; }
console.log('init', __VU, base, ticks);
export default function (data) { console.log('iter', data.n + 1); }
`);
    const loaded = await loadScript(file, supported);
    assert.equal(loaded.async, true);
    const { outcome, logs, iterations } = await run(file);
    assert.equal(outcome.exitCode, 0, outcome.scriptError);
    assert.equal(outcome.options?.iterations, 3);
    assert.equal(iterations, 3);
    // Each VU's init ran the whole module body, timer included, before anything else used it.
    const inits = logs.filter((l) => l.msg.startsWith('init'));
    assert.ok(inits.length >= 4, 'the options VU, 2 VUs, setup (and teardown) each evaluate the module');
    for (const l of inits) assert.equal(l.msg, `init ${l.vu} 40 1`);
    assert.deepEqual(
      logs.filter((l) => l.msg.startsWith('iter')).map((l) => l.msg),
      ['iter 42', 'iter 42', 'iter 42'],
    );
  });

  test('a script without top-level await stays a synchronous function', async () => {
    const file = await scriptFile(`export default function () {}\n`);
    assert.equal((await loadScript(file, supported)).async, false);
  });

  test('an exception after an await fails init (107), not as an unhandled rejection', async () => {
    const file = await scriptFile(
      `await null;\nthrow new Error('late init failure');\nexport default function () {}\n`,
    );
    const { outcome } = await run(file);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /^Error: late init failure\n\tat .*script\.js:2:7/);
    assert.doesNotMatch(outcome.scriptError!, /Uncaught \(in promise\)/);
  });

  test('a top-level await nothing can settle fails init instead of hanging', async () => {
    const file = await scriptFile(`await new Promise(() => {});\nexport default function () {}\n`);
    const { outcome } = await run(file);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /initializing the main module hasn't finished/);
  });

  test('a script with top-level await importing an unsupported module is refused naming the module', async () => {
    const file = await scriptFile(`import { open } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';
const file = await open('data.csv');
const parser = new csv.Parser(file);
export default async function () { await parser.next(); }
`);
    await assert.rejects(loadScript(file, supported), (e: unknown) => {
      assert.ok(e instanceof UnsupportedK6ApiError);
      assert.match(e.message, /^k6\/experimental\/fs is not supported/);
      return true;
    });
    const { outcome } = await run(file);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /k6\/experimental\/fs is not supported/);
  });
});

describe('stack traces', () => {
  test("an error thrown on line N of the script reports the script's file, line N and column", async () => {
    const file = await scriptFile(
      [
        `import { sleep } from 'k6';`,
        `import { check } from 'k6';`,
        ``,
        `export const options = { iterations: 1 };`,
        ``,
        `function inner(x) {`,
        `  if (x > 0) {`,
        `    throw new Error('boom at line 8');`,
        `  }`,
        `}`,
        ``,
        `export default function () {`,
        `  sleep(0);`,
        `  check(1, { ok: () => true });`,
        `  inner(1);`,
        `}`,
        ``,
      ].join('\n'),
    );
    const url = pathToFileURL(file).href;
    const { lines } = await run(file);
    const err = lines.find((l) => l.includes('boom at line 8'));
    assert.ok(err, lines.join('\n'));
    // The log line's fields follow the last frame, as in k6's ERRO line.
    const frames = err
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/ {2}executor=.*$/, ''));
    // Nothing below the script's outermost frame: the engine that called it is not the script's stack.
    assert.deepEqual(frames, [`\tat inner (${url}:8:11)`, `\tat default (${url}:15:3)`]);
  });

  test('frames in an imported file name that file, and esbuild renames are undone', async () => {
    const file = await scriptFile(
      `import { fail } from './lib.js';\nfunction fail2() { fail(); }\nexport default function () {\n  fail2();\n}\n`,
      { 'lib.js': `function fail2() {\n  throw new TypeError('from lib');\n}\nexport { fail2 as fail };\n` },
    );
    const { lines } = await run(file);
    const err = lines.find((l) => l.includes('from lib'))!;
    const dir = pathToFileURL(join(file, '..')).href;
    const frames = err
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/ {2}executor=.*$/, ''));
    assert.deepEqual(frames, [
      `\tat fail2 (${dir}/lib.js:2:9)`,
      `\tat fail2 (${dir}/script.js:2:20)`,
      `\tat default (${dir}/script.js:4:3)`,
    ]);
  });

  test("a k6 function the script called is one (native) frame, as in k6's stacks, not starling's files", async () => {
    const file = await scriptFile(
      `import { fail } from 'k6';\nexport default function () {\n  fail('stop here');\n}\n`,
    );
    const { lines } = await run(file);
    const err = lines.find((l) => l.includes('stop here'))!;
    const frames = err
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/ {2}executor=.*$/, ''));
    assert.deepEqual(frames, ['\tat fail (native)', `\tat default (${pathToFileURL(file).href}:3:3)`]);
  });

  test('an init exception of a plain (non-TLA) script is mapped too', async () => {
    const file = await scriptFile(`export default function () {}\n\nnull.x;\n`);
    const { outcome } = await run(file);
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, new RegExp(`^TypeError: .*\\n\\tat ${pathToFileURL(file).href}:3:6`));
  });
});
