/** The per-VU event loop (iteration end, failures) and the k6 modules this part implements. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunScriptOptions } from '../../src/engine/run.ts';
import { runScriptText } from '../helpers/engine-run.ts';
import { UnsupportedK6ApiError } from '../../src/engine/runtime.ts';

async function run(code: string, extra: Partial<RunScriptOptions> = {}) {
  const r = await runScriptText(code, extra);
  const msgs = r.lines.flatMap((l) => {
    const m = /^INFO\[\d+\] \[VU (\d+)\] (.*)$/s.exec(l);
    return m ? [m[2]!] : [];
  });
  return { ...r, msgs };
}

describe('iteration end waits for the event loop', () => {
  test('an iteration that sets a 200 ms timer and returns is complete only after the timer fired', async () => {
    const { msgs, values } = await run(`
      export default function () { setTimeout(() => console.log('fired'), 200); console.log('returned'); }
    `);
    assert.deepEqual(msgs, ['returned', 'fired']);
    const [d] = values('iteration_duration');
    assert.ok(d! >= 199 && d! < 400, `iteration_duration ${d}`);
    assert.deepEqual(values('iterations'), [1]);
  });

  test('nested timers keep the iteration going until the innermost fired', async () => {
    const { msgs, values } = await run(`
      export default function () {
        setTimeout(() => { console.log('a'); setTimeout(() => { console.log('b'); setTimeout(() => console.log('c'), 50); }, 50); }, 50);
      }
    `);
    assert.deepEqual(msgs, ['a', 'b', 'c']);
    assert.ok(values('iteration_duration')[0]! >= 148);
  });

  test('setInterval cleared after 3 ticks ends the iteration at the third tick', async () => {
    const { msgs, values } = await run(`
      export default function () {
        let n = 0;
        const id = setInterval(() => { console.log('tick ' + ++n); if (n === 3) clearInterval(id); }, 40);
      }
    `);
    assert.deepEqual(msgs, ['tick 1', 'tick 2', 'tick 3']);
    const d = values('iteration_duration')[0]!;
    assert.ok(d >= 118 && d < 250, `iteration_duration ${d}`);
  });

  test('an async default function awaiting a timer-resolved promise ends when it resolves', async () => {
    const { msgs, values } = await run(`
      export default async function () {
        const v = await new Promise((r) => setTimeout(() => r('value'), 100));
        console.log('got ' + v);
      }
    `);
    assert.deepEqual(msgs, ['got value']);
    assert.ok(values('iteration_duration')[0]! >= 99);
  });

  test('a promise that never settles with nothing pending ends the iteration, as k6 event loop empties', async () => {
    const { outcome, values } = await run(
      `export default async function () { await new Promise(() => {}); }`,
    );
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(values('iterations'), [1]);
  });

  test('setTimeout passes extra arguments and ids count from 1 per VU; clearTimeout cancels', async () => {
    const { msgs } = await run(`
      export default function () {
        const a = setTimeout((x, y) => console.log('a ' + x + y), 10, 1, 2);
        const b = setTimeout(() => console.log('b'), 10);
        clearTimeout(b);
        console.log('ids ' + a + ' ' + b);
      }
    `);
    assert.deepEqual(msgs, ['ids 1 2', 'a 12']);
  });
});

describe('failing iterations', () => {
  test('a rejected async default function fails the iteration with Uncaught (in promise), still counted', async () => {
    const { outcome, lines, values } = await run(`
      export default async function () { await null; throw new Error('async boom'); }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(values('iterations'), [1]);
    assert.ok(lines.some((l) => /^ERRO\[\d+\] \[VU 1\] Uncaught \(in promise\) Error: async boom/.test(l)));
  });

  test('an unhandled rejection inside the iteration fails it and drops its pending timers', async () => {
    // node:test reports every unhandled rejection as a test failure; the engine's own routing is under test here.
    const theirs = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    const { lines, msgs } = await run(`
      export default function () {
        setTimeout(() => console.log('should not run'), 300);
        Promise.reject(new Error('lost'));
      }
    `).finally(() => {
      for (const l of theirs) process.on('unhandledRejection', l);
    });
    assert.ok(lines.some((l) => /\[VU 1\] Uncaught \(in promise\) Error: lost/.test(l)));
    assert.ok(
      lines.some((l) => l.includes('setTimeout 1 was stopped because the VU iteration was interrupted')),
    );
    assert.deepEqual(msgs, []);
  });

  test('an exception in a timer callback fails the iteration', async () => {
    const { lines, values } = await run(`
      export default function () {
        setTimeout(() => { throw new Error('in callback'); }, 10);
        setTimeout(() => console.log('later'), 200);
      }
    `);
    assert.ok(lines.some((l) => /\[VU 1\] Error: in callback/.test(l)));
    assert.ok(!lines.some((l) => l.endsWith('later')));
    assert.ok(values('iteration_duration')[0]! < 150);
  });

  test('setTimeout with a non-function throws as k6 does', async () => {
    const { msgs } = await run(`
      export default function () { try { setTimeout('code', 1); } catch (e) { console.log(e instanceof TypeError, e.message); } }
    `);
    assert.deepEqual(msgs, ["true setTimeout's callback isn't a callable function"]);
  });
});

describe('k6', () => {
  test('check() returns whether all passed, a throwing check counts as failed and rethrows', async () => {
    const { msgs, samples } = await run(`
      import { check } from 'k6';
      export default function () {
        console.log(String(check(1, { a: 1, b: (v) => v === 2 })));
        try { check(1, { c: () => { throw new Error('bad check'); } }); } catch (e) { console.log(e.message); }
      }
    `);
    assert.deepEqual(msgs, ['false', 'bad check']);
    assert.deepEqual(
      samples.filter((s) => s.name === 'checks').map((s) => [s.tags.check, s.value]),
      [
        ['a', 1],
        ['b', 0],
        ['c', 0],
      ],
    );
  });

  test('check() and group() refuse async functions and the init context, as k6 does', async () => {
    const { msgs } = await run(`
      import { check, group } from 'k6';
      if (__VU === 1) try { check(1, { a: true }); } catch (e) { console.log(e.message); }
      export default function () {
        try { check(1, { a: async () => true }); } catch (e) { console.log(e.message.slice(0, 60)); }
        try { group('g', async () => 1); } catch (e) { console.log(e.message.slice(0, 60)); }
        console.log(group('g', () => 42));
      }
    `);
    assert.deepEqual(msgs, [
      'Using check() in the init context is not supported',
      'the built-in check() does not support async functions as arg',
      'group() does not support async functions as arguments, pleas',
      '42',
    ]);
  });

  test('sleep() blocks when the run has one VU', async () => {
    const { values } = await run(`import { sleep } from 'k6'; export default function () { sleep(0.1); }`);
    assert.ok(values('iteration_duration')[0]! >= 99);
  });

  test('sleep() with more than one VU stops the run with a clear UnsupportedK6ApiError', async () => {
    const { outcome } = await run(`
      import { sleep } from 'k6';
      export const options = { vus: 2, iterations: 2 };
      export default function () { sleep(1); }
    `);
    assert.equal(outcome.exitCode, 107);
    assert.ok(outcome.error instanceof UnsupportedK6ApiError);
    assert.match(outcome.scriptError!, /^sleep\(\) in a test with more than one VU is not supported/);
  });

  test('fail() throws an Error with the message; randomSeed() makes Math.random repeatable', async () => {
    const { msgs } = await run(`
      import { fail, randomSeed } from 'k6';
      export default function () {
        try { fail('nope'); } catch (e) { console.log(e instanceof Error, e.message); }
        randomSeed(7); const a = Math.random(); randomSeed(7); console.log(a === Math.random());
      }
    `);
    assert.deepEqual(msgs, ['true nope', 'true']);
  });
});

describe('k6/execution', () => {
  test('vu, scenario and instance facts; init access throws as in k6', async () => {
    const { msgs } = await run(`
      import exec from 'k6/execution';
      import { vu } from 'k6/execution';
      if (__VU === 1) try { exec.vu; } catch (e) { console.log(e.message); }
      export const options = { scenarios: { main: { executor: 'per-vu-iterations', vus: 1, iterations: 2 } } };
      export function setup() { try { exec.scenario; } catch (e) { console.log(e.message); } }
      export default function () {
        console.log([exec.vu.idInTest, vu.iterationInInstance, exec.scenario.name, exec.scenario.executor,
          exec.scenario.iterationInTest, exec.instance.vusInitialized, exec.instance.vusActive].join(' '));
      }
    `);
    assert.deepEqual(msgs, [
      'getting VU information in the init context is not supported',
      'getting scenario information outside of the VU context is not supported',
      '1 0 main per-vu-iterations 0 1 1',
      '1 1 main per-vu-iterations 1 1 1',
    ]);
  });

  test('exec.vu.tags set by the script tag the samples that follow', async () => {
    const { samples, msgs } = await run(`
      import exec from 'k6/execution';
      import { check } from 'k6';
      export default function () {
        exec.vu.tags.room = 'lobby';
        exec.vu.metrics.tags.n = 3;
        console.log(exec.vu.tags.scenario + ' ' + exec.vu.tags.room);
        check(1, { ok: () => true });
      }
    `);
    assert.deepEqual(msgs, ['default lobby']);
    const c = samples.find((s) => s.name === 'checks')!;
    assert.equal(c.tags.room, 'lobby');
    assert.equal(c.tags.n, '3');
  });
});

describe('k6/timers', () => {
  test('exports the same functions as the globals', async () => {
    const { msgs } = await run(`
      import { setTimeout as st, clearInterval as ci } from 'k6/timers';
      export default function () { console.log(st === globalThis.setTimeout && ci === globalThis.clearInterval); }
    `);
    assert.deepEqual(msgs, ['true']);
  });
});

describe('k6/data', () => {
  test('SharedArray is built once per run, read-only, and iterable in every VU', async () => {
    const { msgs } = await run(`
      import { SharedArray } from 'k6/data';
      const users = new SharedArray('users', () => { console.log('built'); return [{ name: 'a' }, { name: 'b' }]; });
      export const options = { vus: 2, iterations: 2 };
      export default function () {
        const u = users[0];
        let err = '';
        try { u.name = 'x'; } catch (e) { err = e.constructor.name; }
        try { users[0] = 1; } catch (e) { err += ' ' + e.message; }
        console.log([users.length, Array.isArray(users), users.map((x) => x.name).join(''), u.name, err].join(' '));
      }
    `);
    assert.deepEqual(
      msgs.filter((m) => m === 'built'),
      ['built'],
    );
    assert.deepEqual(
      msgs.filter((m) => m !== 'built'),
      ['2 true ab a TypeError SharedArray is immutable', '2 true ab a TypeError SharedArray is immutable'],
    );
  });
});

describe('k6/crypto and k6/encoding', () => {
  test('hashes and HMAC in every output encoding; binary is an ArrayBuffer of the VU realm', async () => {
    const { msgs } = await run(`
      import crypto from 'k6/crypto';
      import { sha256, createHash } from 'k6/crypto';
      export default function () {
        console.log(crypto.hmac('sha256', 'mysecret', 'hello world!', 'hex'));
        console.log(sha256('hello', 'base64'));
        console.log(crypto.sha1(new Uint8Array([97, 98, 99]).buffer, 'hex'));
        console.log(crypto.md5('', 'base64url') + ' ' + crypto.md5('', 'base64rawurl'));
        const bin = crypto.sha256('', 'binary');
        console.log(String(bin instanceof ArrayBuffer) + ' ' + bin.byteLength);
        const h = createHash('sha256'); h.update('hel'); const partial = h.digest('hex'); h.update('lo');
        console.log(String(partial === sha256('hel', 'hex')) + ' ' + (h.digest('hex') === sha256('hello', 'hex')));
        try { crypto.sha256([1, 2], 'hex'); } catch (e) { console.log(e.message); }
      }
    `);
    assert.deepEqual(msgs, [
      '893a72d8cab129e5ba85aea4599fd53f59bfe652cff4098a3780313228d8c20f',
      'LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=',
      'a9993e364706816aba3e25717850c26c9cd0d89d',
      '1B2M2Y8AsgTpgAmY7PhCfg== 1B2M2Y8AsgTpgAmY7PhCfg',
      'true 32',
      'true true',
      'invalid type []interface {}, expected string, []byte or ArrayBuffer',
    ]);
  });

  test('b64encode/b64decode with std, rawstd, url and rawurl; decoding is strict like Go', async () => {
    const { msgs } = await run(`
      import encoding from 'k6/encoding';
      export default function () {
        const s = 'hi?>';
        console.log(['std', 'rawstd', 'url', 'rawurl'].map((e) => encoding.b64encode(s, e)).join(' '));
        console.log(encoding.b64decode('aGk/Pg==', 'std', 's') + ' ' + encoding.b64decode('aGk_Pg', 'rawurl', 's'));
        const ab = encoding.b64decode('aGk/Pg==');
        console.log(String(ab instanceof ArrayBuffer) + ' ' + ab.byteLength);
        try { encoding.b64decode('aGk/Pg', 'std'); } catch (e) { console.log(e.message); }
        try { encoding.b64decode('a*==', 'std'); } catch (e) { console.log(e.message); }
      }
    `);
    assert.deepEqual(msgs, [
      'aGk/Pg== aGk/Pg aGk_Pg== aGk_Pg',
      'hi?> hi?>',
      'true 4',
      'illegal base64 data at input byte 4',
      'illegal base64 data at input byte 1',
    ]);
  });
});

describe('global crypto', () => {
  test('subtle digest, HMAC sign/verify and PBKDF2 deriveBits resolve to ArrayBuffers of the VU realm', async () => {
    const { msgs, outcome } = await run(`
      const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
      const bytes = (s) => new Uint8Array(s.split('').map((c) => c.charCodeAt(0)));
      export default async function () {
        const d = await crypto.subtle.digest('SHA-1', bytes('abc'));
        console.log(String(d instanceof ArrayBuffer) + ' ' + hex(d));
        const d2 = await crypto.subtle.digest({ name: 'SHA-256' }, bytes('abc'));
        console.log(hex(d2));
        const k = await crypto.subtle.importKey('raw', bytes('key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
        const sig = await crypto.subtle.sign('HMAC', k, bytes('The quick brown fox jumps over the lazy dog'));
        console.log(hex(sig) + ' ' + k.algorithm.hash.name + ' ' + k.type);
        console.log(String(await crypto.subtle.verify('HMAC', k, sig, bytes('The quick brown fox jumps over the lazy dog'))));
        const pk = await crypto.subtle.importKey('raw', bytes('password'), 'PBKDF2', false, ['deriveBits']);
        const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-1', salt: bytes('salt'), iterations: 4096 }, pk, 160);
        console.log(hex(bits));
        const r = crypto.getRandomValues(new Uint8Array(8));
        console.log(r.length + ' ' + /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()));
        try { await crypto.subtle.digest('MD5', bytes('x')); } catch (e) { console.log(e.name); }
      }
    `);
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(msgs, [
      'true a9993e364706816aba3e25717850c26c9cd0d89d',
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8 SHA-256 secret',
      'true',
      '4b007901b765489abead49d926f721d065a429c1',
      '8 true',
      'NotSupportedError',
    ]);
  });

  test('crypto.subtle algorithms outside the supported set fail loudly', async () => {
    const { outcome } = await run(
      `export default async function () { await crypto.subtle.encrypt({ name: 'AES-GCM' }, null, null); }`,
    );
    assert.equal(outcome.exitCode, 107);
    assert.match(outcome.scriptError!, /^crypto\.subtle\.encrypt is not supported/);
  });
});
