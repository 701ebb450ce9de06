/**
 * `starling capacity` end to end, against a server whose login capacity is known by construction
 * (test/helpers/capacity-server.ts: a token bucket of R logins per second, the rest queued): the reported
 * capacity must be R within ±10 %. Also: bad input, and a server that falls over mid-search.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CapacityReport } from '../../src/capacity/types.ts';
import { startCapacityServer, type CapacityServer } from '../helpers/capacity-server.ts';
import { runStarling } from '../helpers/cli.ts';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'starling-capacity-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** `starling capacity login-rate` against `url` with PLAIN logins, then `flags`, results under `results`. */
function loginRateArgs(url: string, results: string, flags: readonly string[]): string[] {
  return [
    'capacity',
    'login-rate',
    '--target',
    url,
    ...flags,
    '-e',
    'XMPP_MECHANISMS=PLAIN',
    '--results-root',
    results,
  ];
}

/** 4 s steps with a 1 s warm-up, users staying 100 ms: a search over a few steps in seconds. */
const SHORT_STEPS = ['--step', '4s', '--warmup', '1s', '--think', '100ms'];

async function onlyRun(dir: string): Promise<string> {
  const runs = (await readdir(dir)).filter((d) => d.includes('-capacity-'));
  assert.equal(runs.length, 1, runs.join());
  return join(dir, runs[0]!);
}

describe('starling capacity login-rate against a server that grants R logins/s', () => {
  const R = 120;
  let server: CapacityServer;
  let report: CapacityReport;
  let runDir = '';
  let code: number | null = null;
  let stdout = '';

  before(async () => {
    server = await startCapacityServer({ loginsPerSecond: R });
    const results = join(root, 'known');
    const r = await runStarling(
      loginRateArgs(server.url, results, [
        '--domain',
        server.domain,
        '--start',
        '25',
        '--max',
        '400',
        '--resolution',
        '0.05',
        '--step',
        '8s',
        '--warmup',
        '2s',
        '--think',
        '200ms',
        '--slo',
        'xmpp_session_ready: p(99)<400',
        '--slo',
        'xmpp_login_success: rate>0.999',
        '--verify',
      ]),
    );
    code = r.code;
    stdout = r.stdout;
    assert.equal(r.code, 0, r.output);
    runDir = await onlyRun(results);
    report = JSON.parse(await readFile(join(runDir, 'capacity.json'), 'utf8')) as CapacityReport;
  });
  after(async () => {
    await server?.close();
  });

  test(`reports R = ${R} logins/s within ±10 %, limited by the server`, () => {
    assert.equal(code, 0);
    const [result] = report.repeats;
    assert.ok(result);
    const found = result.highestPass!;
    assert.ok(Math.abs(found - R) / R <= 0.1, `capacity ${found} logins/s, expected ${R} ± 10 %\n${stdout}`);
    assert.ok(result.firstFail! > found && (result.firstFail! - found) / found <= 0.05 + 1e-9);
    assert.equal(result.limit, 'server');
    assert.equal(result.isServerCapacity, true);
    assert.ok(
      result.failedTerms.some((t) => t.startsWith('xmpp_session_ready p(99)<400')),
      result.failedTerms.join(),
    );
    assert.deepEqual(report.spread, { min: found, median: found, max: found });
  });

  test('the server never granted more than its bucket allows, and every step is in capacity.json', () => {
    assert.ok(server.maxGrantedInAnyWindow(1000) <= server.burst + R + 1);
    const steps = report.repeats[0]!.steps;
    assert.deepEqual(
      steps.slice(0, 4).map((s) => [s.offered, s.phase]),
      [
        [25, 'coarse'],
        [50, 'coarse'],
        [100, 'coarse'],
        [200, 'coarse'],
      ],
    );
    assert.equal(steps[3]!.pass, false);
    // 200 offered, R served: the achieved-load term fails too; every passing step's holds. (The ramp avoids
    // offering exactly R, where a queue with no slack passes or fails by chance.)
    const achievedRow = (i: number) => steps[i]!.rows.find((row) => row.metric === 'achieved load');
    assert.equal(achievedRow(3)?.ok, false);
    assert.match(achievedRow(3)!.display, /^1[12]\d(\.\d)? of 200 logins\/s$/);
    for (const [i, s] of steps.entries()) if (s.pass) assert.equal(achievedRow(i)?.ok, true);
    for (const s of steps) {
      assert.equal(s.generators.length, 1);
      assert.equal(s.serverCpu, undefined, 'a --target has no local CPU figure');
      assert.ok(s.windowEndMs > s.windowStartMs);
      // Achieved never exceeds R by more than the burst spread over the window, and follows the offer below R.
      const window = (s.windowEndMs - s.windowStartMs) / 1000;
      assert.ok(s.achieved <= R + server.burst / window + 1, `step ${s.index}: achieved ${s.achieved}`);
      if (s.offered <= R / 2) assert.ok(Math.abs(s.achieved - s.offered) / s.offered < 0.35, `${s.achieved}`);
      assert.equal(s.logins.failures, 0);
    }
    // Overloaded steps queue: their latency is far above a light step's.
    const light = steps[0]!.latency['xmpp_session_ready']!;
    const heavy = steps[3]!.latency['xmpp_session_ready']!;
    assert.ok(heavy.p99 > 400 && heavy.p99 > 5 * light.p99, `${light.p99} → ${heavy.p99}`);
  });

  test('prints a row per step and the verdict; writes the chart and each step’s HDR logs', async () => {
    const rows = stdout.split('\n').filter((l) => /^\d+ +(coarse|refine) /.test(l));
    assert.equal(rows.length, report.repeats[0]!.steps.length);
    assert.match(stdout, new RegExp(`capacity: ${report.repeats[0]!.highestPass} logins/s met the SLO`));
    assert.match(stdout, /limit: the server \(or the network to it\): xmpp_session_ready p\(99\)<400/);
    const svg = await readFile(join(runDir, 'capacity.svg'), 'utf8');
    assert.match(svg, /^<svg/);
    // One page for the whole search, none per generator.
    const page = await readFile(join(runDir, 'report.html'), 'utf8');
    assert.match(page, /^<!DOCTYPE html>/i);
    for (const s of report.repeats[0]!.steps) assert.ok(page.includes(s.runId), s.runId);
    const generatorDir = join(runDir, report.repeats[0]!.steps[0]!.runId, 'generators', 'g1');
    const [genRun] = await readdir(generatorDir);
    assert.deepEqual((await readdir(join(generatorDir, genRun!))).includes('report.html'), false);
    for (const s of [...report.repeats[0]!.steps, ...report.verification!.steps]) {
      assert.ok((await stat(join(runDir, s.runId, 'merged.json'))).isFile());
    }
  });

  test(`--verify: the figure met the SLO again (or one just below it did), within ±10 % of R; 1.3 × it did not`, () => {
    const v = report.verification!;
    const found = report.repeats[0]!.highestPass!;
    assert.equal(v.candidate, found);
    assert.ok(v.capacity !== undefined && v.capacity <= found, v.text);
    assert.ok(Math.abs(v.capacity - R) / R <= 0.1, `verified ${v.capacity} logins/s, expected ${R} ± 10 %`);
    assert.deepEqual(v.over, { offered: Math.round(v.capacity * 1.3), pass: false });
    assert.ok(v.steps.every((s) => s.phase === 'verify'));
    assert.deepEqual(
      v.steps.map((s) => s.offered),
      [...v.steps.slice(0, -1).map((s) => s.offered), v.over.offered],
    );
    assert.equal(v.steps.at(-2)!.offered, v.capacity);
    assert.ok(v.steps.at(-2)!.pass);
    assert.match(stdout, new RegExp(`\\nverification: ${found} logins/s again, on its own\\n`));
    assert.match(stdout, /\nverification: verified( lower)?: .* \(1\.3×\) did not\.\n/);
    assert.equal(stdout.split('\n').filter((l) => /^\d+ +verify /.test(l)).length, v.steps.length);
  });
});

describe('starling capacity --fixed across generator processes', () => {
  test('two generators share one load; the collector merges them into one step', async () => {
    const server = await startCapacityServer({ loginsPerSecond: 1000 });
    try {
      const results = join(root, 'fixed-two');
      const r = await runStarling(
        loginRateArgs(server.url, results, [
          '--fixed',
          '40',
          '--generators',
          '2',
          '--step',
          '6s',
          '--warmup',
          '1s',
          '--think',
          '100ms',
        ]),
      );
      assert.equal(r.code, 0, r.output);
      const dir = await onlyRun(results);
      const report = JSON.parse(await readFile(join(dir, 'capacity.json'), 'utf8')) as CapacityReport;
      const [only] = report.repeats[0]!.steps;
      assert.equal(report.repeats[0]!.steps.length, 1);
      assert.equal(only!.offered, 40);
      assert.equal(only!.generators.length, 2);
      assert.ok(only!.generators.every((g) => g.exitCode === 0 && !g.saturated));
      // 240 users in all (2 × 20/s × 6 s), each on its own account range: all logged in, every one counted once.
      assert.equal(only!.logins.attempts, 240);
      assert.equal(server.stats().loginsGranted, 240);
      assert.ok(Math.abs(only!.achieved - 40) / 40 < 0.3, `achieved ${only!.achieved}`);
      for (const g of ['g1', 'g2']) {
        const [run] = await readdir(join(dir, only!.runId, 'generators', g));
        assert.ok((await stat(join(dir, only!.runId, 'generators', g, run!, 'summary.json'))).isFile());
      }
      assert.match(r.stdout, /fixed load 40 logins\/s: the SLO was met in 1 step\(s\)/);
    } finally {
      await server.close();
    }
  });
});

describe('starling capacity: input and failure', () => {
  test('a bad SLO is refused before anything starts, naming the cause', async () => {
    const r = await runStarling([
      'capacity',
      'login-rate',
      '--slo',
      'xmpp_session_ready: p(99)>>1',
      '--target',
      'ws://127.0.0.1:9/x',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /starling: .*p\(99\)>>1/);
    const unknown = await runStarling([
      'capacity',
      'login-rate',
      '--slo',
      'no_such_metric: p(99)<1',
      '--target',
      'ws://127.0.0.1:9/x',
    ]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no_such_metric/);
  });

  test('--warmup must leave time to measure, --fixed excludes --start and --verify, --verify-over > 1', async () => {
    const r = await runStarling(['capacity', 'messages', '--step', '5s', '--warmup', '4s']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--warmup 4s leaves less than 2 s of --step 5s to measure/);
    const f = await runStarling(['capacity', 'login-rate', '--fixed', '50', '--start', '10']);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /--fixed runs one step at that load: drop --start and --max/);
    const v = await runStarling(['capacity', 'login-rate', '--fixed', '50', '--verify']);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /--verify checks what a search found: drop it with --fixed/);
    const o = await runStarling(['capacity', 'login-rate', '--verify', '--verify-over', '1']);
    assert.equal(o.code, 1);
    assert.match(o.stderr, /--verify-over 1: give a number above 1/);
  });

  test('--server-cpus must name CPUs starling may use, and pins a local server only', async () => {
    const r = await runStarling(['capacity', 'sessions', '--server-cpus', '4096']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--server-cpus: cpus '4096': CPU 4096 is not one this machine lets starling use/);
    const t = await runStarling([
      'capacity',
      'sessions',
      '--server-cpus',
      '0',
      '--target',
      'ws://127.0.0.1:1/x',
    ]);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /--server-cpus pins the local server: drop it with --target/);
  });

  test('Ctrl-C stops the step under way, writes the steps so far and exits 105', async () => {
    const server = await startCapacityServer({ loginsPerSecond: 1000 });
    const results = join(root, 'interrupted');
    try {
      const r = await runStarling(loginRateArgs(server.url, results, ['--start', '20', ...SHORT_STEPS]), {
        onSpawn: (child) => {
          // Once the first step is written and the second one has logged users in, interrupt.
          const poll = setInterval(() => {
            if (server.stats().loginsGranted >= 100) {
              clearInterval(poll);
              child.kill('SIGINT');
            }
          }, 20);
        },
      });
      assert.equal(r.code, 105, r.output);
      assert.match(r.stderr, /SIGINT: stopping the step under way; the steps so far will be written/);
      const dir = await onlyRun(results);
      const report = JSON.parse(await readFile(join(dir, 'capacity.json'), 'utf8')) as CapacityReport;
      const steps = report.repeats.flatMap((x) => x.steps);
      assert.deepEqual(
        steps.map((s) => [s.offered, s.pass]),
        [[20, true]],
      );
      assert.ok((await stat(join(dir, 'capacity.svg'))).isFile());
    } finally {
      await server.close();
    }
  });

  test('a server that stops accepting connections ends the search at once (exit 121), results written', async () => {
    const server = await startCapacityServer({ loginsPerSecond: 1000 });
    const results = join(root, 'fell-over');
    let closed = false;
    const r = await runStarling(
      loginRateArgs(server.url, results, ['--start', '20', '--max', '160', ...SHORT_STEPS]),
      {
        onSpawn: () => {
          // Once the first step's 80 users (20/s for 4 s) have come and gone, the server goes away for good.
          const poll = setInterval(() => {
            const s = server.stats();
            if (!closed && s.loginsGranted >= 80 && s.openConnections === 0) {
              closed = true;
              clearInterval(poll);
              void server.close();
            }
          }, 10);
        },
      },
    );
    assert.equal(r.code, 121, r.output);
    const report = JSON.parse(
      await readFile(join(await onlyRun(results), 'capacity.json'), 'utf8'),
    ) as CapacityReport;
    const steps = report.repeats[0]!.steps;
    assert.equal(steps[0]!.pass, true);
    assert.equal(steps.length, 2, 'no step after the one that found the server gone');
    assert.match(steps[1]!.fellOver!, /the server stopped accepting connections at 40 logins\/s/);
    assert.match(r.stdout, /the search stopped at once: the server stopped accepting connections/);
  });
});
