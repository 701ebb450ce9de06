/**
 * bench/lib/args.ts (the flags every bench parses from one table) and bench/run.ts (the one launcher).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  atLeast,
  BenchArgError,
  flag,
  helpText,
  listOf,
  oneOf,
  parseFlags,
  positive,
  whole,
  type BenchSpec,
} from '../../bench/lib/args.ts';
import { BENCHES, BENCH_NAMES } from '../../bench/lib/benches.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

const flags = {
  users: flag.whole({ help: 'users in the flow', min: 2, default: '2000' }),
  think: flag.positive({ help: 'think time, seconds', default: '0.2' }),
  'bosh-rate': flag.positive({ help: 'arrivals per second over BOSH' }),
  only: flag.list({ help: 'generators to run', of: ['starling', 'tsung', 'raw'] }),
  server: flag.oneOf({ help: 'the server', of: ['prosody', 'ejabberd'], default: 'prosody' }),
  json: flag.string({ help: 'also write to this file', value: 'FILE' }),
};
const spec: BenchSpec<typeof flags> = {
  name: 'standard-flow',
  flags,
  check: (v) => {
    if (v.only?.includes('raw') && v['bosh-rate'] !== undefined)
      throw new BenchArgError('--only', 'may not include raw with --bosh-rate', v.only.join(','));
  },
};

/** The BenchArgError `fn` throws, its fields and message. */
function refusal(fn: () => unknown): { flag: string; fix: string; got: string | undefined; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BenchArgError, `not a BenchArgError: ${String(e)}`);
    return { flag: e.flag, fix: e.fix, got: e.got, message: e.message };
  }
  assert.fail('no error');
}

describe('bench flags', () => {
  test('give the defaults, parsed, when no flag is given', () => {
    const { values, rest, help } = parseFlags(spec, []);
    assert.deepEqual(values, {
      users: 2000,
      think: 0.2,
      'bosh-rate': undefined,
      only: undefined,
      server: 'prosody',
      json: undefined,
    });
    assert.deepEqual(rest, []);
    assert.equal(help, false);
  });

  test('take `--name value` and `--name=value`, the last of a repeated flag winning', () => {
    const { values } = parseFlags(spec, [
      '--users=10',
      '--only',
      'starling,tsung',
      '--json',
      'out.json',
      '--think',
      '1',
      '--think=0.5',
      '--server',
      'ejabberd',
    ]);
    assert.deepEqual(values, {
      users: 10,
      think: 0.5,
      'bosh-rate': undefined,
      only: ['starling', 'tsung'],
      server: 'ejabberd',
      json: 'out.json',
    });
  });

  test('refuse a bad value with a BenchArgError naming the flag, what it takes and the value', () => {
    assert.deepEqual(
      refusal(() => parseFlags(spec, ['--users', '1'])),
      {
        flag: '--users',
        fix: 'must be a whole number ≥ 2',
        got: '1',
        message: "--users must be a whole number ≥ 2, got '1'",
      },
    );
    assert.equal(
      refusal(() => parseFlags(spec, ['--users', '2.5'])).message,
      "--users must be a whole number ≥ 2, got '2.5'",
    );
    assert.equal(
      refusal(() => parseFlags(spec, ['--users='])).message,
      "--users must be a whole number ≥ 2, got ''",
    );
    assert.deepEqual(
      refusal(() => parseFlags(spec, ['--think', '0'])),
      {
        flag: '--think',
        fix: 'must be a positive number',
        got: '0',
        message: "--think must be a positive number, got '0'",
      },
    );
    assert.equal(refusal(() => parseFlags(spec, ['--think', 'Infinity'])).got, 'Infinity');
    assert.deepEqual(
      refusal(() => parseFlags(spec, ['--only', 'starling,k6'])),
      {
        flag: '--only',
        fix: 'must be a comma-separated list of starling, tsung, raw',
        got: 'k6',
        message: "--only must be a comma-separated list of starling, tsung, raw, got 'k6'",
      },
    );
    assert.equal(
      refusal(() => parseFlags(spec, ['--server', 'openfire'])).message,
      "--server must be one of prosody, ejabberd, got 'openfire'",
    );
  });

  test('refuse a bad default as a bad value', () => {
    const bad = { name: 'startup', flags: { runs: flag.whole({ help: 'runs', default: 'five' }) } } as const;
    assert.equal(refusal(() => parseFlags(bad, [])).message, "--runs must be a whole number ≥ 1, got 'five'");
  });

  test('refuse an unknown flag, a flag without its value and a stray word, pointing at --help', () => {
    assert.deepEqual(
      refusal(() => parseFlags(spec, ['--usres', '5'])),
      {
        flag: '--usres',
        fix: 'is not a flag of standard-flow (npm run bench -- standard-flow --help lists them)',
        got: undefined,
        message: '--usres is not a flag of standard-flow (npm run bench -- standard-flow --help lists them)',
      },
    );
    assert.equal(
      refusal(() => parseFlags(spec, ['5000'])).message,
      '5000 is not a flag of standard-flow (npm run bench -- standard-flow --help lists them)',
    );
    assert.equal(refusal(() => parseFlags(spec, ['--users'])).message, '--users needs a value: --users N');
    assert.equal(
      refusal(() => parseFlags(spec, ['--only', '--users', '5'])).message,
      '--only needs a value: --only starling,tsung,raw',
    );
  });

  test('run the checks across flags', () => {
    assert.equal(
      refusal(() => parseFlags(spec, ['--only', 'raw', '--bosh-rate', '50'])).message,
      "--only may not include raw with --bosh-rate, got 'raw'",
    );
  });

  test('hand on what follows -- only to a bench that passes it on', () => {
    assert.equal(
      refusal(() => parseFlags(spec, ['--users', '5', '--', '--max-memory', '1GiB'])).message,
      '-- is not taken by standard-flow: it passes nothing on (npm run bench -- standard-flow --help lists them)',
    );
    const passing = { ...spec, name: 'collector-memory', passThrough: 'flags of starling collect' } as const;
    const { values, rest } = parseFlags(passing, ['--users', '5', '--', '--max-memory', '1GiB', '--users']);
    assert.equal(values.users, 5);
    assert.deepEqual(rest, ['--max-memory', '1GiB', '--users']);
  });

  test('see --help (or -h) without checking values', () => {
    assert.equal(parseFlags(spec, ['--users', 'x', '--help']).help, true);
    assert.equal(parseFlags(spec, ['-h']).help, true);
  });

  test('--help lists every flag with its value, help and default', () => {
    assert.equal(
      helpText({ ...spec, notes: ['KEEP=1 keeps the work directory.'] }),
      [
        `standard-flow: ${BENCHES['standard-flow']}`,
        '',
        '  npm run bench -- standard-flow [flags]',
        '',
        '  --users N                  users in the flow (default 2000)',
        '  --think X                  think time, seconds (default 0.2)',
        '  --bosh-rate X              arrivals per second over BOSH',
        '  --only starling,tsung,raw  generators to run',
        '  --server prosody|ejabberd  the server (default prosody)',
        '  --json FILE                also write to this file',
        '  --help                     this text',
        '',
        '  KEEP=1 keeps the work directory.',
        '',
      ].join('\n'),
    );
  });

  test('--help puts a flag too long for the column above its help, and says what follows --', () => {
    const long = {
      name: 'faults',
      flags: {
        vus: flag.whole({ help: 'VUs', default: '4' }),
        only: flag.list({
          help: 'faults to run',
          of: ['sigkill', 'stall', 'sigstop', 'restart', 'black-hole'],
        }),
      },
      passThrough: 'flags of starling collect',
    } as const;
    assert.equal(
      helpText(long),
      [
        `faults: ${BENCHES.faults}`,
        '',
        '  npm run bench -- faults [flags] [-- …]',
        '',
        '  --vus N  VUs (default 4)',
        '  --only sigkill,stall,sigstop,restart,black-hole',
        '           faults to run',
        '  --help   this text',
        '',
        '  after --: flags of starling collect',
        '',
      ].join('\n'),
    );
  });

  test('keep the checks standard-flow had (whole, positive, listOf), with oneOf and atLeast', () => {
    assert.equal(whole('runs', '3', 1), 3);
    assert.equal(positive('rate', '0.5'), 0.5);
    assert.deepEqual(listOf('phases', 'cpu, memory', ['cpu', 'memory']), ['cpu', 'memory']);
    assert.equal(oneOf('transport', 'bosh', ['websocket', 'bosh', 'both']), 'bosh');
    assert.equal(refusal(() => whole('runs', '0', 1)).message, "--runs must be a whole number ≥ 1, got '0'");
    assert.equal(refusal(() => positive('rate', '-1')).message, "--rate must be a positive number, got '-1'");
    assert.equal(atLeast('fault-after', '0', 0), 0);
    assert.equal(
      refusal(() => atLeast('fault-after', '-0.5', 0)).message,
      "--fault-after must be a number ≥ 0, got '-0.5'",
    );
    assert.equal(
      refusal(() => listOf('phases', 'cpu,', ['cpu', 'memory'])).message,
      "--phases must be a comma-separated list of cpu, memory, got ''",
    );
  });
});

describe('the bench launcher', () => {
  const launcher = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), ...args], { cwd: ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );
  const files = readdirSync(join(ROOT, 'bench'))
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
    .map((f) => f.slice(0, -3))
    .sort();
  const width = Math.max(...files.map((n) => n.length)) + 2;
  const listing = files.map((n) => `  ${n.padEnd(width)}${BENCHES[n as keyof typeof BENCHES]}\n`).join('');

  test('knows every bench file, and only those', () => {
    assert.deepEqual([...BENCH_NAMES].sort(), files);
  });

  test('--list prints every bench file, one line each with its summary', async () => {
    assert.deepEqual(await launcher('--list'), { code: 0, stdout: listing, stderr: '' });
  });

  test('refuses an unknown bench with the list (exit 2)', async () => {
    assert.deepEqual(await launcher('standard'), {
      code: 2,
      stdout: '',
      stderr: `unknown bench 'standard'; the benches:\n${listing}`,
    });
  });

  test('runs a bench with the flags after its name: --help, a bad value', async () => {
    const help = await launcher('startup', '--help');
    assert.equal(help.code, 0);
    assert.equal(help.stderr, '');
    assert.match(help.stdout, /^startup: CPU and RSS of the starling command/);
    for (const f of ['--runs N ', '--vus N ', '--scenarios a,b,… ', '--target ws://… ', '--help '])
      assert.ok(help.stdout.includes(`\n  ${f}`), `${f} in\n${help.stdout}`);
    assert.deepEqual(await launcher('startup', '--runs', '0'), {
      code: 2,
      stdout: '',
      stderr: "startup: --runs must be a whole number ≥ 1, got '0'\n",
    });
  });

  test('every bench answers --help with its line and usage', async () => {
    const answers = await Promise.all(files.map((name) => launcher(name, '--help')));
    for (const [i, name] of files.entries()) {
      const { code, stdout } = answers[i]!;
      assert.equal(code, 0, name);
      assert.ok(
        stdout.startsWith(
          `${name}: ${BENCHES[name as keyof typeof BENCHES]}\n\n  npm run bench -- ${name} [flags]`,
        ),
        stdout,
      );
    }
  });
});
