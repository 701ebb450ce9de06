/** The compiled scenarios are ordinary k6 scripts: k6 imports only, k6's API as typed, k6 globals only. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import ts from 'typescript';
import { readFile } from 'node:fs/promises';
import {
  asciiComments,
  buildScenarios,
  listScenarios,
  type BuiltScenario,
} from '../../src/build/scenarios.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** Diagnostics that mean "not a valid k6 script": unknown globals or modules, or k6 APIs used wrongly. */
const K6_FATAL = new Set([2304, 2552, 2591, 2580, 2307, 2305, 2724, 2614, 2345, 2554, 2353]);

function typeCheckAgainstK6(files: string[]): ts.Diagnostic[] {
  const program = ts.createProgram([...files, resolve('src/k6/k6-globals.d.ts')], {
    allowJs: true,
    checkJs: true,
    noEmit: true,
    strict: false,
    target: ts.ScriptTarget.ES2020,
    lib: ['lib.es2020.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: ['k6'],
    typeRoots: [resolve('node_modules/@types')],
    skipLibCheck: true,
  });
  return ts.getPreEmitDiagnostics(program).filter((d) => K6_FATAL.has(d.code));
}

function describeDiagnostic(d: ts.Diagnostic): string {
  const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
  return `${d.file?.fileName ?? ''}:${where ? where.line + 1 : ''} TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
}

describe('compiled scenarios', () => {
  let built: BuiltScenario[];
  let outDir: string;
  before(async () => {
    outDir = await tempDir('starling-bundles-');
    built = await buildScenarios(undefined, outDir);
  });

  test('every scenario in scenarios/ compiles to one ESM file', async () => {
    const names = (await listScenarios()).map((f) => f.replace(/^scenarios\//, '').replace(/\.ts$/, ''));
    assert.deepEqual(
      built.map((b) => b.name),
      names.sort(),
    );
    for (const name of ['chat', 'idle', 'login', 'presence'])
      assert.ok(names.includes(name), `${name}.ts exists`);
  });

  test('bundles are ASCII, so V8 holds their source as one-byte strings (half the memory per copy)', async () => {
    for (const b of built) {
      const text = await readFile(join(outDir, `${b.name}.js`), 'utf8');
      const at = text.search(/[\u0080-\uffff]/);
      assert.equal(at, -1, `${b.name}.js: non-ASCII ${JSON.stringify(text.slice(at - 40, at + 10))}`);
    }
  });

  test('asciiComments rewrites comments only, and leaves a bundle whose non-ASCII is code as it is', () => {
    const commented =
      '/** Parses `<a\u2026>` in \u00b5s (RFC 7395 \u00a73.6) \u2192 x */\nvar a = 1; // \u2212 1\n';
    assert.equal(
      asciiComments(commented),
      '/** Parses `<a...>` in us (RFC 7395 S3.6) -> x */\nvar a = 1; // - 1\n',
    );
    const multi = '  /**\n   * one \u2014 two\n   */\n  f() {}\n';
    assert.equal(asciiComments(multi), '  /**\n   * one -- two\n   */\n  f() {}\n');
    // A raw template and a regular expression keep their characters (escaping them would change String.raw
    // and RegExp.source): the whole bundle stays as it is, its comments included.
    for (const code of ['/** \u2026 */\nvar r = String.raw`\u00b5`;\n', '// \u2192\nvar re = /[\u00b5]/u;\n'])
      assert.equal(asciiComments(code), code);
    assert.equal(asciiComments('var a = 1;\n'), 'var a = 1;\n');
  });

  test('bundles import only k6 and k6/* modules', () => {
    for (const b of built) {
      const others = b.imports.filter((i) => i !== 'k6' && !i.startsWith('k6/'));
      assert.deepEqual(others, [], `${b.name} imports ${others.join(', ')}`);
      assert.ok(b.imports.includes('k6/websockets'), `${b.name} uses k6/websockets`);
    }
  });

  test('bundles type-check against @types/k6 and reference no global outside k6', () => {
    const diagnostics = typeCheckAgainstK6(built.map((b) => resolve(b.file)));
    assert.deepEqual(diagnostics.map(describeDiagnostic), []);
  });

  test('the check catches Node globals and wrong k6 APIs (it can fail)', async () => {
    const bad = join(outDir, 'bad.js');
    await writeFile(
      bad,
      [
        "import { Counter } from 'k6/metrics';",
        "import { Nope } from 'k6/websockets';",
        "new Counter('c').add('x');",
        'Buffer.from("x"); process.exit(1); new TextEncoder(); performance.now(); structuredClone({}); require("fs");',
      ].join('\n'),
    );
    const codes = typeCheckAgainstK6([bad]).map((d) => d.code);
    assert.deepEqual(codes.sort(), [2304, 2304, 2304, 2305, 2345, 2591, 2591, 2591].sort());
  });
});
