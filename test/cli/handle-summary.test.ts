/**
 * `starling run` and handleSummary(): files go where k6 writes them (relative to the working directory, k6
 * internal/cmd/run.go handleSummaryResult), starling's own summary.json stays in the run directory, and the default
 * summary lists checks by group.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { writeSummaryOutputs } from '../../src/cli/run.ts';
import { runStarling } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** Runs `code` with `starling run --engine node` from the directory `cwd`; returns the output and the run dir. */
async function runIn(cwd: string, code: string, args: readonly string[] = [], env?: NodeJS.ProcessEnv) {
  await writeFile(join(cwd, 'script.js'), code);
  const root = join(cwd, 'results');
  const r = await runStarling(['run', 'script.js', '--engine', 'node', '--results-root', root, ...args], {
    cwd,
    env,
  });
  const [runDir] = existsSync(root) ? await readdir(root) : [];
  return { ...r, runDir: runDir === undefined ? '' : join(root, runDir) };
}

describe('handleSummary() output files', () => {
  test("relative paths are written in the working directory; the run dir's summary.json stays starling's", async () => {
    const cwd = await tempDir('starling-hs-');
    await mkdir(join(cwd, 'reports'));
    const r = await runIn(
      cwd,
      `
      import { check } from 'k6';
      export const options = { iterations: 1 };
      export default function () { check(1, { one: (v) => v === 1 }); }
      export function handleSummary(data) {
        return {
          'summary.json': JSON.stringify({ mine: data.root_group.checks[0].passes }),
          'reports/out.txt': 'text',
          'missing/dir.txt': 'lost',
          stdout: 'to stdout\\n',
        };
      }
    `,
    );
    assert.equal(r.code, 0, r.output);
    assert.equal(await readFile(join(cwd, 'summary.json'), 'utf8'), '{"mine":1}');
    assert.equal(await readFile(join(cwd, 'reports/out.txt'), 'utf8'), 'text');
    // k6 makes no directories: that file is an error in the log, the run still passes.
    assert.equal(existsSync(join(cwd, 'missing')), false);
    assert.match(
      r.stderr,
      /failed to handle the end-of-test summary: could not open 'missing\/dir\.txt': ENOENT/,
    );
    assert.equal(existsSync(join(r.runDir, 'reports')), false);
    const own = JSON.parse(await readFile(join(r.runDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
    assert.ok('metrics' in own && 'root_group' in own, 'the run dir keeps the engine summary');
    assert.equal(r.stdout.includes('to stdout\n'), true);
    // Where each file went.
    assert.ok(r.stderr.includes(`handleSummary() wrote ${join(cwd, 'summary.json')}\n`), r.stderr);
    assert.ok(r.stderr.includes(`handleSummary() wrote ${join(cwd, 'reports/out.txt')}\n`), r.stderr);
    assert.ok(r.stderr.includes(`own summary of the run is ${join(r.runDir, 'summary.json')}\n`), r.stderr);
  });

  test("a script path that is the run dir's own summary.json is refused, the rest written", async () => {
    const dir = await tempDir('starling-hs-dir-');
    const other = join(dir, 'other.txt');
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
    try {
      await writeSummaryOutputs({ [join(dir, 'summary.json')]: 'mine', [other]: 'ok' }, dir);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(existsSync(join(dir, 'summary.json')), false);
    assert.equal(await readFile(other, 'utf8'), 'ok');
    assert.match(
      errors.join(''),
      /could not open '.*summary\.json': that is starling's own summary of this run/,
    );
  });
});

describe('the default summary', () => {
  test('legacy: lists checks by group, setup included, and http_req_duration{expected_response:true}', async () => {
    const server = createServer((req, res) => res.writeHead(req.url === '/ok' ? 200 : 500).end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cwd = await tempDir('starling-hs-text-');
    const r = await runIn(
      cwd,
      `
      import { check, group } from 'k6';
      import http from 'k6/http';
      export const options = { iterations: 3 };
      export function setup() { check(0, { 'setup ran': () => true }); }
      export default function () {
        group('login', () => { check(__ITER, { 'first try': (i) => i === 0 }); });
        http.get('${base}/' + (__ITER === 0 ? 'ok' : 'fail'));
      }
    `,
      ['--summary-mode', 'legacy'],
    ).finally(() => server.close());
    assert.equal(r.code, 0, r.output);
    // k6 registers the sub-metric whenever the expected_response system tag is on: 1 of the 3 requests is in it.
    assert.match(r.stdout, /\n {5}http_req_duration\.+: .*\n {7}\{ expected_response:true \}\.+: avg=/);
    const own = JSON.parse(await readFile(join(r.runDir, 'summary.json'), 'utf8')) as {
      metrics: Record<string, { values: Record<string, number> }>;
    };
    assert.deepEqual(Object.keys(own.metrics['http_req_duration{expected_response:true}']!.values), [
      'avg',
      'min',
      'med',
      'max',
      'p(90)',
      'p(95)',
    ]);
    assert.equal(own.metrics['http_req_failed']!.values['passes'], 2);
    assert.ok(
      r.stdout.includes(
        [
          '     █ setup',
          '',
          '       ✓ setup ran',
          '',
          '     █ login',
          '',
          '       ✗ first try',
          '        ↳  33% — ✓ 1 / ✗ 2',
          '',
          '     checks.',
        ].join('\n'),
      ),
      r.stdout,
    );
  });

  const GROUPED = `
    import { check, group } from 'k6';
    export const options = { iterations: 2, thresholds: { checks: ['rate>0.1'] } };
    export function setup() { check(0, { 'setup ran': () => true }); }
    export default function () {
      group('login', () => { check(__ITER, { 'first try': (i) => i === 0 }); });
    }
  `;

  test("compact by default (k6 1.x): thresholds, then the run's checks by name", async () => {
    const r = await runIn(await tempDir('starling-hs-compact-'), GROUPED);
    assert.equal(r.code, 0, r.output);
    assert.ok(
      r.stdout.startsWith(
        [
          '',
          '',
          '  █ THRESHOLDS ',
          '',
          '    checks',
          "    ✓ 'rate>0.1' rate=66.66%",
          '',
          '',
          '  █ TOTAL RESULTS ',
          '',
          '    checks_total.......: 3      ',
        ].join('\n'),
      ),
      r.stdout,
    );
    assert.ok(
      r.stdout.includes(
        [
          '    checks_succeeded...: 66.66% 2 out of 3',
          '    checks_failed......: 33.33% 1 out of 3',
          '',
          '    ✓ setup ran',
          '    ✗ first try',
          '      ↳  50% — ✓ 1 / ✗ 1',
          '',
          '    EXECUTION',
        ].join('\n'),
      ),
      r.stdout,
    );
    assert.doesNotMatch(r.stdout, /GROUP: login/);
  });

  test('K6_SUMMARY_MODE=full adds the group; --summary-mode wins over it', async () => {
    const cwd = await tempDir('starling-hs-full-');
    const full = await runIn(cwd, GROUPED, [], { ...process.env, K6_SUMMARY_MODE: 'full' });
    assert.equal(full.code, 0, full.output);
    assert.ok(
      full.stdout.includes(['  █ GROUP: login ', '', '    checks_total.......: 2      '].join('\n')),
      full.stdout,
    );
    const cwd2 = await tempDir('starling-hs-full2-');
    const compact = await runIn(cwd2, GROUPED, ['--summary-mode', 'compact'], {
      ...process.env,
      K6_SUMMARY_MODE: 'full',
    });
    assert.equal(compact.code, 0, compact.output);
    assert.doesNotMatch(compact.stdout, /GROUP: login/);
  });

  test('disabled: no summary, and handleSummary() is not called', async () => {
    const cwd = await tempDir('starling-hs-off-');
    const r = await runIn(cwd, `${GROUPED}\nexport function handleSummary() { return { 'hs.txt': 'x' }; }`, [
      '--summary-mode',
      'disabled',
    ]);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.stdout, /TOTAL RESULTS|checks/);
    assert.equal(existsSync(join(cwd, 'hs.txt')), false);
    assert.ok(existsSync(join(r.runDir, 'summary.json')), 'starling still writes its own summary.json');
  });

  test("an invalid mode is refused before the run, with k6's message", async () => {
    const cwd = await tempDir('starling-hs-bad-');
    const r = await runIn(cwd, GROUPED, [], { ...process.env, K6_SUMMARY_MODE: 'brief' });
    assert.equal(r.code, 1, r.output);
    assert.match(
      r.stderr,
      /invalid summary mode: K6_SUMMARY_MODE "brief" \(compact, full, legacy or disabled\)/,
    );
    assert.equal(r.runDir, '', 'no run directory');
  });
});
