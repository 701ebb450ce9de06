/** Loading a k6 script: module resolution, the exact k6 global set, and __VU/__ITER/__ENV in each phase. */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { loadScript, ScriptLoadError } from '../../src/engine/loader.ts';
import { k6Modules } from '../../src/engine/modules/index.ts';
import { runScript } from '../../src/engine/run.ts';
import { UnsupportedK6ApiError, type MetricSink } from '../../src/engine/runtime.ts';
import { scriptFile } from '../helpers/script-file.ts';

const execFileP = promisify(execFile);

/**
 * loadScript(file) in a process of its own (within one, V8's in-memory compilation cache answers before any code
 * cache), which runs the script's default function and saves the code cache: whether V8 rejected the cache it was
 * given (null: none given) and what default() returned.
 */
async function loadInChild(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ rejected: boolean | null; value: number }> {
  const loader = pathToFileURL(join(import.meta.dirname, '../../src/engine/loader.ts')).href;
  const code =
    `const { loadScript } = await import(${JSON.stringify(loader)});\n` +
    `const s = await loadScript(${JSON.stringify(file)}, new Set());\n` +
    'const value = s.script.runInNewContext()(() => ({})).default();\n' +
    's.saveCodeCache();\n' +
    'console.log(JSON.stringify({ rejected: s.script.cachedDataRejected ?? null, value }));\n';
  const { stdout } = await execFileP(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', code],
    {
      env,
    },
  );
  return JSON.parse(stdout) as { rejected: boolean | null; value: number };
}

async function run(code: string, env?: Record<string, string>) {
  const lines: string[] = [];
  const metrics: MetricSink = { define() {}, push() {} };
  const outcome = await runScript({
    scriptPath: await scriptFile(code),
    metrics,
    env,
    log: (l) => lines.push(l),
  });
  const logs = lines.flatMap((l) => {
    const m = /\[VU (\d+)\] (.*)$/.exec(l);
    return m ? [{ vu: Number(m[1]), msg: m[2]! }] : [];
  });
  return { outcome, lines, logs };
}

const supported = new Set(k6Modules.keys());

describe('module resolution', () => {
  test('a script importing k6/browser fails to load with UnsupportedK6ApiError naming the module', async () => {
    const file = await scriptFile(
      `import { browser } from 'k6/browser';\nexport default function () { browser; }\n`,
    );
    await assert.rejects(loadScript(file, supported), (e: unknown) => {
      assert.ok(e instanceof UnsupportedK6ApiError);
      assert.match(e.message, /^k6\/browser is not supported by starling's Node engine/);
      return true;
    });
  });

  test('runScript reports the unsupported module as a script error with exit code 107', async () => {
    const { outcome } = await run(`import http from 'k6/x/kafka';\nexport default function () { http; }\n`);
    assert.equal(outcome.exitCode, 107);
    assert.ok(outcome.error instanceof UnsupportedK6ApiError);
    assert.match(outcome.scriptError!, /k6 extension module 'k6\/x\/kafka'/);
  });

  test('a bare npm import or a Node built-in is rejected: k6 cannot load them either', async () => {
    for (const spec of ['lodash', 'node:fs']) {
      const file = await scriptFile(`import x from '${spec}';\nexport default function () { x; }\n`);
      await assert.rejects(loadScript(file, supported), (e: unknown) => {
        assert.ok(e instanceof ScriptLoadError);
        assert.match(e.message, new RegExp(`'${spec}' .* is neither a k6 module nor a relative path`));
        return true;
      });
    }
  });

  test('an unknown k6/ module is reported as k6 does: unknown module', async () => {
    const file = await scriptFile(`import x from 'k6/nope';\nexport default function () { x; }\n`);
    await assert.rejects(loadScript(file, supported), /unknown module: k6\/nope/);
  });

  test('a script loaded again runs the same from the cache, and a changed import is bundled anew', async () => {
    const file = await scriptFile(
      `import { v } from './lib.js';\nexport default function () { return v; }\n`,
      {
        'lib.js': 'export const v = 1;\n',
      },
    );
    const first = await loadScript(file, supported);
    const second = await loadScript(file, supported);
    const evalDefault = async (s: typeof first): Promise<unknown> => {
      const factory = s.script.runInNewContext() as (imp: (spec: string) => unknown) => {
        default: () => unknown;
      };
      return factory(() => ({})).default();
    };
    assert.equal(await evalDefault(first), 1);
    assert.equal(await evalDefault(second), 1);
    await writeFile(join(dirname(file), 'lib.js'), 'export const v = 2;\n');
    const third = await loadScript(file, supported);
    assert.equal(await evalDefault(third), 2, 'the changed import was not served from the cache');
  });

  test("V8's code cache is written once after a run and used by the next load; a corrupt one is replaced", async () => {
    const file = await scriptFile(
      `let n = 0;\nexport default function () { return ++n; }\nexport function other() { return 'x'; }\n`,
    );
    const codeCaches = async (): Promise<string[]> => {
      const dir = join(tmpdir(), `starling-loader-cache-${process.getuid?.() ?? 'user'}`);
      return (await readdir(dir)).filter((f) => f.endsWith('.v8')).map((f) => join(dir, f));
    };
    const load = () => loadInChild(file);
    const before = new Set(await codeCaches());

    assert.deepEqual(
      await load(),
      { rejected: null, value: 1 },
      'a freshly bundled script has no code cache',
    );
    const written = (await codeCaches()).filter((f) => !before.has(f));
    assert.equal(written.length, 1, 'one code cache written after the first load');
    const [cacheFile] = written as [string];
    const stamp = (await stat(cacheFile)).mtimeMs;

    assert.deepEqual(await load(), { rejected: false, value: 1 }, 'the second load uses it');
    assert.equal((await stat(cacheFile)).mtimeMs, stamp, 'loaded from it: nothing written again');

    await writeFile(cacheFile, 'not a code cache');
    assert.deepEqual(await load(), { rejected: true, value: 1 }, 'a rejected cache still runs the script');
    assert.deepEqual(await load(), { rejected: false, value: 1 }, 'the corrupt cache was replaced');
  });

  test('a cache directory another user could write in is neither read nor written', async () => {
    const file = await scriptFile('export default function () { return 7; }\n');
    const tmp = await mkdtemp(join(tmpdir(), 'starling-loader-tmp-'));
    const dir = join(tmp, `starling-loader-cache-${process.getuid?.() ?? 'user'}`);
    const env = { ...process.env, TMPDIR: tmp };
    const files = async () =>
      Promise.all((await readdir(dir)).sort().map(async (f) => `${f} ${(await stat(join(dir, f))).mtimeMs}`));
    try {
      assert.deepEqual(await loadInChild(file, env), { rejected: null, value: 7 });
      assert.deepEqual(await loadInChild(file, env), { rejected: false, value: 7 }, 'its own: used');
      const kept = await files();
      await chmod(dir, 0o777);
      assert.deepEqual(
        await loadInChild(file, env),
        { rejected: null, value: 7 },
        'writable by others: not read',
      );
      assert.deepEqual(await files(), kept, 'nor written');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  test('relative imports are bundled, as k6 loads local files', async () => {
    const file = await scriptFile(
      `import { twice } from './lib.js';\nexport default function () { console.log(twice(21)); }\n`,
      { 'lib.js': 'export const twice = (x) => x * 2;\n' },
    );
    const lines: string[] = [];
    const out = await runScript({
      scriptPath: file,
      metrics: { define() {}, push() {} },
      log: (l) => lines.push(l),
    });
    assert.equal(out.exitCode, 0);
    assert.ok(lines.some((l) => l.endsWith('[VU 1] 42')));
  });

  test('ESM scripts run in strict mode, as k6 evaluates modules', async () => {
    const { logs } = await run(`export default function () {
      try { undeclared = 1; console.log('sloppy'); } catch (e) { console.log(e.constructor.name); }
    }`);
    assert.deepEqual(
      logs.map((l) => l.msg),
      ['ReferenceError'],
    );
  });

  test('a named import the module does not export throws UnsupportedK6ApiError where it is used', async () => {
    const { outcome, lines } = await run(
      `import { nope } from 'k6';\nexport default function () { nope(); }\n`,
    );
    assert.equal(outcome.exitCode, 107);
    assert.ok(outcome.error instanceof UnsupportedK6ApiError);
    assert.match(outcome.scriptError!, /'nope' from 'k6' is not supported/);
    assert.ok(lines.some((l) => l.includes("'nope' from 'k6'")));
  });
});

describe('globals', () => {
  const ES_BUILTINS = [
    'AggregateError',
    'Array',
    'ArrayBuffer',
    'BigInt',
    'BigInt64Array',
    'BigUint64Array',
    'Boolean',
    'DataView',
    'Date',
    'Error',
    'EvalError',
    'Float32Array',
    'Float64Array',
    'Function',
    'Infinity',
    'Int16Array',
    'Int32Array',
    'Int8Array',
    'JSON',
    'Map',
    'Math',
    'NaN',
    'Number',
    'Object',
    'Promise',
    'Proxy',
    'RangeError',
    'ReferenceError',
    'Reflect',
    'RegExp',
    'Set',
    'String',
    'Symbol',
    'SyntaxError',
    'TypeError',
    'URIError',
    'Uint16Array',
    'Uint32Array',
    'Uint8Array',
    'Uint8ClampedArray',
    'WeakMap',
    'WeakSet',
    'decodeURI',
    'decodeURIComponent',
    'encodeURI',
    'encodeURIComponent',
    'escape',
    'eval',
    'globalThis',
    'isFinite',
    'isNaN',
    'parseFloat',
    'parseInt',
    'undefined',
    'unescape',
  ];
  const K6 = [
    '__ENV',
    '__VU',
    'clearInterval',
    'clearTimeout',
    'console',
    'crypto',
    'open',
    'setInterval',
    'setTimeout',
  ];

  test('a VU context has exactly the ECMAScript built-ins plus k6 globals (and __ITER once iterating)', async () => {
    const { outcome, logs } = await run(`
      console.log('init ' + JSON.stringify(Object.getOwnPropertyNames(globalThis).sort()));
      export default function () { console.log('iter ' + JSON.stringify(Object.getOwnPropertyNames(globalThis).sort())); }
    `);
    assert.equal(outcome.exitCode, 0);
    const init = JSON.parse(logs.find((l) => l.msg.startsWith('init '))!.msg.slice(5)) as string[];
    const iter = JSON.parse(logs.find((l) => l.msg.startsWith('iter '))!.msg.slice(5)) as string[];
    assert.deepEqual(init, [...ES_BUILTINS, ...K6].sort());
    assert.deepEqual(iter, [...ES_BUILTINS, ...K6, '__ITER'].sort());
  });

  test('Node and browser globals k6 lacks are undefined', async () => {
    const names = [
      'Buffer',
      'process',
      'require',
      'module',
      'exports',
      'global',
      'TextEncoder',
      'TextDecoder',
      'performance',
      'structuredClone',
      'queueMicrotask',
      'fetch',
      'setImmediate',
      'URL',
      'Intl',
      'WebAssembly',
      'SharedArrayBuffer',
      'Atomics',
      'WeakRef',
      'FinalizationRegistry',
      'atob',
      'btoa',
    ];
    const { logs } = await run(`
      const names = ${JSON.stringify(names)};
      export default function () { console.log(names.map((n) => n + ':' + typeof globalThis[n]).join(' ')); }
    `);
    assert.equal(logs[0]!.msg, names.map((n) => `${n}:undefined`).join(' '));
  });

  test('console has only log, info, warn, error and debug', async () => {
    const { logs } = await run(
      `export default function () { console.log(Object.keys(console).sort().join(',')); }`,
    );
    assert.equal(logs[0]!.msg, 'debug,error,info,log,warn');
  });
});

describe('__VU, __ITER and __ENV', () => {
  test('init sees __VU 0 for the options VU then 1..n, setup and teardown 0, iterations their VU and __ITER', async () => {
    const { outcome, logs } = await run(`
      console.log('init vu=' + __VU + ' iter=' + typeof __ITER);
      export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } } };
      export function setup() { console.log('setup vu=' + __VU + ' iter=' + typeof __ITER); }
      export default function () { console.log('iteration vu=' + __VU + ' iter=' + __ITER); }
      export function teardown() { console.log('teardown vu=' + __VU + ' iter=' + typeof __ITER); }
    `);
    assert.equal(outcome.exitCode, 0);
    const msgs = logs.map((l) => l.msg);
    assert.deepEqual(msgs.slice(0, 5), [
      'init vu=0 iter=undefined',
      'init vu=1 iter=undefined',
      'init vu=2 iter=undefined',
      'init vu=0 iter=undefined',
      'setup vu=0 iter=undefined',
    ]);
    assert.deepEqual(msgs.filter((m) => m.startsWith('iteration')).sort(), [
      'iteration vu=1 iter=0',
      'iteration vu=1 iter=1',
      'iteration vu=2 iter=0',
      'iteration vu=2 iter=1',
    ]);
    assert.deepEqual(msgs.slice(-2), ['init vu=0 iter=undefined', 'teardown vu=0 iter=undefined']);
  });

  test('__ENV is a per-VU copy: the scenario env is merged over it and writes do not leak to other VUs', async () => {
    const { logs } = await run(
      `
      export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2, env: { B: 'scenario' } } } };
      export default function () {
        console.log(__VU + ':' + __ENV.A + ':' + __ENV.B + ':' + __ENV.MINE);
        __ENV.MINE = 'vu' + __VU;
      }
    `,
      { A: 'a', B: 'b' },
    );
    assert.deepEqual(logs.map((l) => l.msg).sort(), [
      '1:a:scenario:undefined',
      '1:a:scenario:vu1',
      '2:a:scenario:undefined',
      '2:a:scenario:vu2',
    ]);
  });

  test('open() reads files relative to the script in the init stage only', async () => {
    const file = await scriptFile(
      `
      const text = open('data.txt');
      const bin = open('data.txt', 'b');
      console.log(text.trim() + ' ' + (bin instanceof ArrayBuffer) + ' ' + bin.byteLength);
      export default function () { try { open('data.txt'); } catch (e) { console.log(e.message); } }
    `,
      { 'data.txt': 'hello\n' },
    );
    const lines: string[] = [];
    await runScript({ scriptPath: file, metrics: { define() {}, push() {} }, log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => l.endsWith('[VU 1] hello true 6')));
    assert.ok(
      lines.some((l) => l.includes('[VU 1] the "open" function is only available in the init stage')),
    );
  });
});
