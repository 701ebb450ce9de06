/** `starling gate --baseline`, `starling compare` and their CI outputs, on merged runs written to disk. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCompare } from '../../src/cli/compare.ts';
import { runGate, type GateOptions } from '../../src/cli/gate.ts';
import { RunInputError } from '../../src/cli/run-target.ts';
import { BaselineMismatchError } from '../../src/collector/baseline.ts';
import { chatRun, medianAndTail, type ChatRunSpec } from '../collector/fixtures.ts';
import { runStarling } from '../helpers/cli.ts';
import { validateJUnit } from '../helpers/junit.ts';

const BASE: ChatRunSpec = {
  ready: medianAndTail(12_000, 40_000),
  delivery: medianAndTail(3_000, 5_000),
  login: [100, 0],
  loss: [0, 200],
};

let root: string;
const dirOf = (name: string): string => join(root, name);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'starling-baseline-'));
  const runs: Record<string, ChatRunSpec> = {
    base1: BASE,
    base2: { ...BASE, ready: medianAndTail(13_000, 40_000) },
    same: BASE,
    slow: { ...BASE, ready: medianAndTail(36_000, 60_000) },
    login: { ...BASE, scenario: 'login' },
  };
  for (const [name, spec] of Object.entries(runs)) {
    await mkdir(dirOf(name));
    await writeFile(join(dirOf(name), 'merged.json'), JSON.stringify(chatRun(name, spec)));
  }
});
after(() => rm(root, { recursive: true, force: true }));

async function gate(run: string, opts: Partial<GateOptions>) {
  let out = '';
  let err = '';
  const code = await runGate(
    dirOf(run),
    { thresholds: [], ...opts },
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

describe('starling gate --baseline', () => {
  test('the same load passes the default rules, with no thresholds needed', async () => {
    const { code, out } = await gate('same', { baselines: [dirOf('base1'), dirOf('base2')] });
    assert.equal(code, 0, out);
    assert.equal(
      out.split('\n').at(-2),
      'all 7 comparisons of run same with baseline runs base1, base2 passed',
    );
  });

  test('a slower run exits 99; thresholds and comparisons are printed one after the other', async () => {
    const { code, out } = await gate('slow', {
      baselines: [dirOf('base1')],
      thresholds: ['xmpp_login_success: rate>0.99'],
    });
    assert.equal(code, 99);
    assert.equal(
      out,
      [
        'metric              threshold  value           ok',
        '------------------  ---------  --------------  --',
        'xmpp_login_success  rate>0.99  100% (100/100)  ✓',
        '',
        'all 1 thresholds passed on the merged data of run slow',
        '',
        'metric                 stat   allowed        baseline  this run  change             bound       ok',
        '---------------------  -----  -------------  --------  --------  -----------------  ----------  --',
        'xmpp_session_ready     p(50)  +20% or +10ms  12.007ms  36.031ms  3.00× (+24.024ms)  ≤ 22.007ms  ✗',
        'xmpp_session_ready     p(99)  +50% or +25ms  40.031ms  60.031ms  1.50× (+20ms)      ≤ 65.031ms  ✓',
        'xmpp_message_delivery  p(50)  +20% or +10ms  3.001ms   3.001ms   1.00× (+0ms)       ≤ 13.001ms  ✓',
        'xmpp_message_delivery  p(99)  +50% or +25ms  5.003ms   5.003ms   1.00× (+0ms)       ≤ 30.003ms  ✓',
        'xmpp_login_success     rate   -1pt           100%      100%      +0pt               ≥ 99%       ✓',
        'xmpp_message_loss      count  +0             0         0         +0                 ≤ 0         ✓',
        'xmpp_session_failures  count  +0             0         0         +0                 ≤ 0         ✓',
        '',
        'xmpp_session_ready p(50) rose to 36.031ms from 12.007ms (3.00×, +24.024ms), above its bound 22.007ms ' +
          '(+20% or +10ms over the baseline, 12.007ms)',
        '1 of 7 comparisons of run slow with baseline run base1 failed',
        '',
      ].join('\n'),
    );
  });

  test('--max-regression replaces the default rules', async () => {
    const { code, out } = await gate('slow', {
      baselines: [dirOf('base1')],
      maxRegressions: ['xmpp_session_ready:p(50)=+250%'],
    });
    assert.equal(code, 0, out);
    assert.match(out, /\nall 1 comparisons of run slow with baseline run base1 passed\n$/);
  });

  test('writes JUnit (anew) and Markdown (appended), also when the gate fails', async () => {
    const junit = join(root, 'gate.xml');
    const markdown = join(root, 'summary.md');
    await writeFile(markdown, '# earlier step\n');
    const { code } = await gate('slow', { baselines: [dirOf('base1')], junit, markdown });
    assert.equal(code, 99);
    const verdict = validateJUnit(junit);
    assert.ok(verdict.ok, verdict.output);
    const xml = await readFile(junit, 'utf8');
    assert.equal((xml.match(/<testcase /g) ?? []).length, 7);
    assert.equal((xml.match(/<failure /g) ?? []).length, 1);
    const md = await readFile(markdown, 'utf8');
    assert.ok(md.startsWith('# earlier step\n### ❌ starling gate: run `slow` failed\n'), md);
  });

  test('bad input is said before anything is judged or written', async () => {
    const junit = join(root, 'never.xml');
    await assert.rejects(
      gate('slow', { maxRegressions: ['xmpp_session_ready:p(50)=+10%'], junit }),
      (e: unknown) =>
        e instanceof RunInputError &&
        e.message ===
          '--max-regression compares with earlier runs: give them with --baseline <run-dir> (repeat it for repeats of the baseline load)',
    );
    await assert.rejects(
      gate('slow', { baselines: [dirOf('login')], junit }),
      (e: unknown) =>
        e instanceof BaselineMismatchError &&
        /ran scenario chat but baseline run login ran login/.test(e.message),
    );
    await assert.rejects(
      gate('slow', { baselines: [join(root, 'nowhere')], junit }),
      (e: unknown) => e instanceof RunInputError && /nowhere\/merged\.json/.test(e.message),
    );
    const invalid = await gate('slow', {
      baselines: [dirOf('base1')],
      maxRegressions: ['nope:p(99)=+1%'],
      junit,
    });
    assert.deepEqual(invalid, {
      code: 104,
      out: '',
      err: 'starling: --max-regression "nope:p(99)=+1%": no metric named "nope" in these runs, and it is not an XMPP metric\n',
    });
    await assert.rejects(stat(junit), { code: 'ENOENT' });
  });
});

describe('starling compare', () => {
  const compare = async (a: string, b: string, rules: string[] = []) => {
    let out = '';
    const code = await runCompare(dirOf(a), dirOf(b), { maxRegressions: rules }, (s) => (out += s));
    return { code, out };
  };

  test('prints both runs side by side and exits 0: it judges nothing without rules', async () => {
    const { code, out } = await compare('base1', 'slow');
    assert.equal(code, 0);
    assert.ok(
      out.includes('\nxmpp_session_ready     p(50)    12.007ms        36.031ms        3.00× (+24.024ms)\n'),
      out,
    );
    assert.match(out, /\nchange: slow against base1 \(a ratio, and the difference\)\n$/);
  });

  test('with --max-regression it exits 99 when b regressed, and prints the rules’ verdicts', async () => {
    const { code, out } = await compare('base1', 'slow', ['xmpp_session_ready:p(50)=+20%']);
    assert.equal(code, 99);
    assert.match(out, /\n1 of 1 comparisons of run slow with baseline run base1 failed\n$/);
    assert.equal((await compare('base1', 'same', ['xmpp_session_ready:p(50)=+20%'])).code, 0);
  });

  test('--junit without rules is refused: there would be no verdict to record', async () => {
    await assert.rejects(
      runCompare(dirOf('base1'), dirOf('slow'), { junit: join(root, 'c.xml') }, () => {}),
      (e: unknown) => e instanceof RunInputError && /--junit records verdicts/.test(e.message),
    );
  });
});

test('the CLI: gate --baseline exits 0 and 99 and writes a JUnit file that validates; compare exits 0, 99, 1', async () => {
  const junit = join(root, 'cli.xml');
  const pass = await runStarling(['gate', dirOf('same'), '--baseline', dirOf('base1'), '-b', dirOf('base2')]);
  assert.equal(pass.code, 0, pass.output);
  const fail = await runStarling([
    'gate',
    dirOf('slow'),
    '--baseline',
    dirOf('base1'),
    '--max-regression',
    'xmpp_session_ready:p(50)=+10%,+5ms',
    '--junit',
    junit,
  ]);
  assert.equal(fail.code, 99, fail.output);
  assert.match(fail.stdout, /xmpp_session_ready p\(50\) rose to 36\.031ms from 12\.007ms \(3\.00×/);
  const verdict = validateJUnit(junit);
  assert.ok(verdict.ok, verdict.output);
  assert.equal((await runStarling(['compare', dirOf('base1'), dirOf('slow')])).code, 0);
  const regressed = await runStarling([
    'compare',
    dirOf('base1'),
    dirOf('slow'),
    '--max-regression',
    'xmpp_session_ready:p(50)=+10%',
  ]);
  assert.equal(regressed.code, 99, regressed.output);
  const mismatch = await runStarling(['compare', dirOf('base1'), dirOf('login')]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /^starling: run login ran scenario login but baseline run base1 ran chat/);
});
