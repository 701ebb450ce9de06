/** The core must run where only ECMAScript exists (k6's VU runtime): no Node built-ins, no host globals. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import vm from 'node:vm';
import { build } from 'esbuild';

async function bundle(format: 'esm' | 'iife'): Promise<string> {
  const out = await build({
    entryPoints: ['src/xmpp/index.ts'],
    bundle: true,
    platform: 'neutral',
    format,
    globalName: format === 'iife' ? 'core' : undefined,
    target: 'es2020',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

describe('src/xmpp is host-neutral', () => {
  test('bundles with esbuild platform neutral, importing nothing', async () => {
    const code = await bundle('esm');
    assert.doesNotMatch(code, /^\s*import\b/m, 'no import statements remain');
    assert.doesNotMatch(code, /\brequire\(/);
  });

  test('evaluates and parses a frame in an empty JS context (no Buffer, process, TextEncoder, timers, console)', async () => {
    const code = await bundle('iife');
    const context = vm.createContext({});
    vm.runInContext('delete globalThis.console', context); // V8 puts a console in every context; k6 code must not need it here
    vm.runInContext(`${code};globalThis.core = core;`, context);
    const result = vm.runInContext(
      `const el = core.parseFrame("<message xmlns='jabber:client' to='b@localhost'><body>hi &amp; bye</body></message>");
       [el.ns, el.getChildText('body'), core.serialize(el), core.base64Encode(core.utf8Encode('héllo'))]`,
      context,
    ) as unknown[];
    assert.deepEqual(
      [...result],
      [
        'jabber:client',
        'hi & bye',
        "<message xmlns='jabber:client' to='b@localhost'><body>hi &amp; bye</body></message>",
        'aMOpbGxv',
      ],
    );
    for (const name of [
      'Buffer',
      'process',
      'require',
      'TextEncoder',
      'setTimeout',
      'console',
      'performance',
    ]) {
      assert.equal(
        vm.runInContext(`typeof ${name}`, context),
        'undefined',
        `${name} is absent in the context`,
      );
    }
  });
});
