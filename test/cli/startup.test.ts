/**
 * bin/starling.js runs the built JavaScript in dist/cli/ when it is up to date with src/, and the current source
 * when it is not: rebuilt in place, or through tsx (with a notice) when it cannot be rebuilt. Checked on a copy
 * of the package whose node_modules lacks tsx and/or esbuild, so the path taken is the only one that can work.
 * Also: the compiled scenarios are reused while their sources are unchanged (esbuild not loaded).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildScenarios, upToDateScenario } from '../../src/build/scenarios.ts';
import { runStarling } from '../helpers/cli.ts';

const ROOT = resolve('.');
let dir = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'starling-startup-'));
  await mkdir(join(dir, 'tmp'));
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

/**
 * node <copy>/bin/starling.js …, from the copy's own directory, with a temp directory of the test's (where the
 * copy's code caches go, not beside the real package's).
 */
function starling(pkg: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [join(pkg, 'bin', 'starling.js'), ...args], {
    cwd: pkg,
    env: { ...process.env, STARLING_FROM_SOURCE: '', TMPDIR: join(dir, 'tmp'), ...env },
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

  test('keeps V8’s code cache of the bundle per command and build, and starts from it', async () => {
    const cacheDir = join(dir, 'tmp', `starling-cli-cache-${process.getuid?.() ?? 'user'}`);
    const caches = async () =>
      new Map(
        await Promise.all(
          (await readdir(cacheDir))
            .sort()
            .map(
              async (f) =>
                [
                  f,
                  { data: await readFile(join(cacheDir, f)), ino: (await stat(join(cacheDir, f))).ino },
                ] as const,
            ),
        ),
      );
    /** name: <package's bundle>.<its build>.<command>.v8 */
    const commandsOf = (m: Map<string, unknown>) => [...m.keys()].map((f) => f.split('.').slice(2).join('.'));
    // The previous tests rebuilt with an edit: back to a build with the original description, from scratch.
    await editDescription('Edited twice servers', 'Throwaway local Prosody/ejabberd servers');
    await link('esbuild');
    try {
      const first = starling(pkg, ['--help']);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stderr, '');
      assert.match(first.stdout, /starling server +Throwaway local Prosody\/ejabberd servers/);
      const written = await caches();
      assert.deepEqual(commandsOf(written), ['none.v8']);

      const again = starling(pkg, ['--help']);
      assert.equal(again.stdout, first.stdout);
      assert.equal(again.stderr, '');
      assert.deepEqual(await caches(), written, 'started from the cache: V8 accepted it, nothing written');

      // The bundle's import() goes through the launcher's (src/build/import-external.ts): `build` imports
      // esbuild so, from a bundle compiled from its cache the second time.
      await mkdir(join(pkg, 'scenarios'), { recursive: true });
      await writeFile(join(pkg, 'scenarios', 'tiny.ts'), 'export default function () {}\n');
      const out = join(dir, 'built');
      for (const round of ['writes the cache', 'starts from it']) {
        const built = starling(pkg, ['build', '--out', out]);
        assert.equal(built.code, 0, `${round}: ${built.stderr}`);
        assert.equal(built.stderr, '', round);
        assert.match(built.stdout, /tiny\.js {2}[\d.]+ KiB {2}imports \n/, round);
      }
      const two = await caches();
      assert.deepEqual(commandsOf(two), ['build.v8', 'none.v8']);

      // A cache V8 rejects (here not one at all) changes nothing the CLI does, and is written anew.
      const [name, { data }] = [...two].find(([f]) => f.endsWith('.none.v8'))!;
      const garbage = Buffer.alloc(data.length, 7);
      await writeFile(join(cacheDir, name), garbage);
      const rejected = starling(pkg, ['--help']);
      assert.equal(rejected.stdout, first.stdout);
      assert.equal(rejected.stderr, '');
      assert.notDeepEqual((await caches()).get(name)?.data, garbage);

      // In a directory others can write in, a cache could be anyone's code: it is neither read nor written.
      await writeFile(join(cacheDir, name), garbage);
      await chmod(cacheDir, 0o777);
      try {
        const shared = starling(pkg, ['--help']);
        assert.equal(shared.stdout, first.stdout);
        assert.deepEqual((await caches()).get(name)?.data, garbage, 'left as it was');
      } finally {
        await chmod(cacheDir, 0o700);
      }

      // Another build of the bundle never meets this build's caches: they are replaced by its own.
      await editDescription('Throwaway local Prosody/ejabberd servers', 'Rebuilt servers');
      const rebuilt = starling(pkg, ['--help']);
      assert.equal(rebuilt.code, 0, rebuilt.stderr);
      assert.match(rebuilt.stdout, /starling server +Rebuilt servers/);
      const after = await caches();
      assert.deepEqual(commandsOf(after), ['none.v8']);
      assert.ok(![...two.keys()].some((f) => after.has(f)), 'the older build’s caches are gone');
    } finally {
      await rm(modules('esbuild'));
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
