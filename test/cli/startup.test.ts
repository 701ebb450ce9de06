/**
 * bin/starling.js runs the built JavaScript in dist/cli/ when it is up to date with src/, and the current source
 * when it is not: rebuilt in place, or through tsx (with a notice) when it cannot be rebuilt. Checked on a copy
 * of the package whose node_modules lacks tsx and/or esbuild, so the path taken is the only one that can work.
 * Also: the compiled scenarios are reused while their sources are unchanged (esbuild not loaded).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildScenarios, upToDateScenario } from '../../src/build/scenarios.ts';
import { runStarling } from '../helpers/cli.ts';

const ROOT = resolve('.');
let dir = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'starling-startup-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file under `root`, stamped an hour ago: older than any build the test starts. */
async function backdate(root: string): Promise<void> {
  const past = new Date(Date.now() - 3600_000);
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), past, past);
  }
}

/** node <copy>/bin/starling.js …, from the copy's own directory. */
function starling(pkg: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [join(pkg, 'bin', 'starling.js'), ...args], {
    cwd: pkg,
    env: { ...process.env, STARLING_FROM_SOURCE: '', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bin/starling.js on a copy of the package', () => {
  let pkg = '';
  const modules = (name: string) => join(pkg, 'node_modules', name);
  const link = (name: string) => symlink(join(ROOT, 'node_modules', name), modules(name));
  const editDescription = async (from: string, to: string) => {
    const file = join(pkg, 'src', 'cli', 'commands.ts');
    const text = await readFile(file, 'utf8');
    assert.ok(text.includes(from), `commands.ts describes ${from}`);
    await writeFile(file, text.replace(from, to));
  };

  before(async () => {
    pkg = join(dir, 'pkg');
    for (const path of ['bin', 'src', 'package.json', 'tsconfig.json']) {
      await cp(join(ROOT, path), join(pkg, path), { recursive: true, filter: (s) => !s.endsWith('.tmp') });
    }
    await backdate(pkg);
    await mkdir(join(pkg, 'node_modules'));
    for (const name of await readdir(join(ROOT, 'node_modules'))) if (!name.startsWith('.')) await link(name);
    const built = spawnSync(process.execPath, [join(pkg, 'src', 'build', 'cli.js')], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    // Neither tsx nor esbuild from here on, unless a test puts one back.
    await rm(modules('tsx'));
    await rm(modules('esbuild'));
  });

  test('a fresh bundle runs as it is: no tsx, no esbuild, no notice', () => {
    const r = starling(pkg, ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /starling server +Throwaway local Prosody\/ejabberd servers/);
  });

  test('after a source edit it rebuilds and runs the edit', async () => {
    const before = JSON.parse(await readFile(join(pkg, 'dist', 'cli', 'build.json'), 'utf8')) as {
      builtAt: number;
    };
    await editDescription('Throwaway local Prosody/ejabberd servers', 'Edited servers');
    await link('esbuild');
    try {
      const r = starling(pkg, ['--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'a rebuild is silent');
      assert.match(r.stdout, /starling server +Edited servers/);
      const record = JSON.parse(await readFile(join(pkg, 'dist', 'cli', 'build.json'), 'utf8')) as {
        builtAt: number;
      };
      assert.ok(record.builtAt > before.builtAt, 'dist/cli was rebuilt');
    } finally {
      await rm(modules('esbuild'));
    }
    // Fresh again: runs without esbuild.
    const again = starling(pkg, ['--help']);
    assert.equal(again.stderr, '');
    assert.match(again.stdout, /starling server +Edited servers/);
  });

  test('when it cannot rebuild, it runs the source through tsx and says so in one line', async () => {
    await editDescription('Edited servers', 'Edited twice servers');
    await link('tsx');
    try {
      const r = starling(pkg, ['--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /starling server +Edited twice servers/);
      assert.match(
        r.stderr,
        /^starling: dist\/cli is stale \(src\/cli\/commands\.ts changed\) and could not be rebuilt \(.+\); running src\/ with tsx\n$/,
      );
    } finally {
      await rm(modules('tsx'));
    }
  });
});

test('every command’s help reads the same from the bundle as from the source', async () => {
  const commands = [[], ['run'], ['server', 'up'], ['probe'], ['collect'], ['gate'], ['compare'], ['build']];
  const fromSource = { ...process.env, STARLING_FROM_SOURCE: '1' };
  const helps = await Promise.all(
    commands.map(async (args) => ({
      args,
      built: await runStarling([...args, '--help']),
      source: await runStarling([...args, '--help'], { env: fromSource }),
    })),
  );
  for (const { args, built, source } of helps) {
    assert.equal(built.code, 0, built.stderr);
    assert.equal(built.stdout, source.stdout, `starling ${args.join(' ')} --help`);
  }
});

describe('compiled scenarios', () => {
  test('are reused while none of their sources changed, and compiled again when one did', async () => {
    const src = join(dir, 'scenario');
    const out = join(dir, 'scenario-out');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'helper.ts'), 'export const greeting = "hello";\n');
    await writeFile(
      join(src, 's.ts'),
      'import { sleep } from "k6";\nimport { greeting } from "./helper.ts";\n' +
        'export default function () { console.log(greeting); sleep(0); }\n',
    );
    await backdate(src);
    assert.equal(upToDateScenario(join(src, 's.ts'), out), undefined, 'never built');
    const [built] = await buildScenarios([join(src, 's.ts')], out);
    assert.equal(upToDateScenario(join(src, 's.ts'), out), resolve(built!.file));

    await writeFile(join(src, 'helper.ts'), 'export const greeting = "hi";\n');
    assert.equal(upToDateScenario(join(src, 's.ts'), out), undefined, 'an import changed');
    await backdate(src); // a file modified in the last 100 ms before a build counts as modified after it
    await buildScenarios([join(src, 's.ts')], out);
    assert.equal(upToDateScenario(join(src, 's.ts'), out), resolve(built!.file));

    await writeFile(built!.file, `${await readFile(built!.file, 'utf8')}\n// edited by hand\n`);
    assert.equal(upToDateScenario(join(src, 's.ts'), out), undefined, 'the bundle is not what was built');
  });
});
