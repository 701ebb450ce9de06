/**
 * `starling run` when the generator itself is the bottleneck: the summary, summary.json, stderr and the exit
 * code say so (README: Generator saturation). The window is shortened to 2 s so a 3 s busy loop trips it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXIT_GENERATOR_SATURATED, type GeneratorHealth } from '../../src/engine/health.ts';
import { runStarling, type CliResult } from '../helpers/cli.ts';

let dir = '';
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'starling-saturation-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run extends CliResult {
  runJson: { exitCode: number; error?: string };
  summary: { generator?: GeneratorHealth; metrics: Record<string, unknown> };
}

async function starlingRun(code: string, args: string[] = []): Promise<Run> {
  const script = join(dir, `s${++n}.js`);
  await writeFile(script, code);
  const root = join(dir, `results-${n}`);
  const r = await runStarling([
    'run',
    script,
    '--engine',
    'node',
    '--results-root',
    root,
    '--saturation-window',
    '2s',
    ...args,
  ]);
  const [runDir] = await readdir(root);
  return {
    ...r,
    runJson: JSON.parse(await readFile(join(root, runDir!, 'run.json'), 'utf8')) as Run['runJson'],
    summary: JSON.parse(await readFile(join(root, runDir!, 'summary.json'), 'utf8')) as Run['summary'],
  };
}

/** One iteration that holds the event loop for 3 s, as a generator drowning in work does. */
const BUSY = (thresholds = '{}') => `
  export const options = { iterations: 1, thresholds: ${thresholds} };
  export default function () { const end = Date.now() + 3000; while (Date.now() < end) {} }`;

describe('starling run: generator saturation', () => {
  test(`a saturated generator whose thresholds passed: exit ${EXIT_GENERATOR_SATURATED}, said plainly everywhere`, async () => {
    const r = await starlingRun(BUSY());
    assert.equal(r.code, EXIT_GENERATOR_SATURATED, r.output);
    assert.match(r.stdout, /^ generator \(this Node engine process, 3 s sampled every 1 s\)$/m);
    assert.match(
      r.stdout,
      /^ {3}GENERATOR SATURATED: .*for [23] s \(from 0 s\).*Latencies above describe starling/m,
    );
    assert.match(r.stderr, /^starling: GENERATOR SATURATED: /m);
    assert.match(
      r.stderr,
      /^starling: the generator was saturated: its latencies are not the server's \(exit 120; --allow-saturation accepts the run\)$/m,
    );
    assert.equal(r.runJson.exitCode, EXIT_GENERATOR_SATURATED);
    assert.match(r.runJson.error!, /generator was saturated/);
    const g = r.summary.generator!;
    assert.equal(g.saturated, true);
    assert.ok(g.reasons.includes('event-loop-busy'), g.reasons.join());
    assert.ok(g.eventLoopDelay.max >= 2500, `max ${g.eventLoopDelay.max} ms`);
    assert.equal(g.rule.sustainMs, 2000);
    assert.ok('iterations' in r.summary.metrics, "k6's fields are still there");
  });

  test('--allow-saturation: exit 0, the verdict still printed', async () => {
    const r = await starlingRun(BUSY(), ['--allow-saturation']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stderr, /^starling: GENERATOR SATURATED: /m);
    assert.equal(r.summary.generator!.saturated, true);
    assert.equal(r.runJson.exitCode, 0);
  });

  test('crossed thresholds keep their 99; the saturation is reported beside them', async () => {
    const r = await starlingRun(BUSY(`{ iterations: ['count>5'] }`));
    assert.equal(r.code, 99, r.output);
    assert.match(r.stderr, /^starling: GENERATOR SATURATED: /m);
    assert.match(r.stderr, /^starling: thresholds on metrics 'iterations' have been crossed$/m);
  });

  test('a light run: exit 0, "not saturated" with the rule', async () => {
    const r = await starlingRun(`
      export const options = { vus: 2, duration: '3s' };
      export default async function () { await new Promise((r) => setTimeout(r, 50)); }`);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /^ {3}not saturated \(saturated when, over any 2 s, CPU ≥ 90 % of a core/m);
    assert.doesNotMatch(r.output, /SATURATED/);
    assert.equal(r.summary.generator!.saturated, false);
  });

  test('--saturation-window takes a duration of at least 1s', async () => {
    const r = await runStarling([
      'run',
      join(dir, 's1.js'),
      '--engine',
      'node',
      '--saturation-window',
      '10ms',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--saturation-window 10ms: a duration of at least 1s, e\.g\. 10s/);
  });
});
