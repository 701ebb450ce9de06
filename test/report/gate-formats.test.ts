import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  defaultRegressionRules,
  evaluateRegressions,
  parseRegressionRule,
  runMetricTypes,
  type GateOutcome,
} from '../../src/collector/baseline.ts';
import { evaluateGate } from '../../src/collector/gate.ts';
import { gateJUnit, xmlChars } from '../../src/report/junit.ts';
import { gateMarkdown, markdownCell } from '../../src/report/markdown.ts';
import { parseFrame } from '../../src/xmpp/xml/parser.ts';
import { chatRun, medianAndTail } from '../collector/fixtures.ts';
import { validateJUnit } from '../helpers/junit.ts';

const base = chatRun('base', { ready: medianAndTail(12_000, 40_000), login: [100, 0] });
const slow = chatRun('slow', { ready: medianAndTail(36_000, 60_000), login: [100, 0] });

/** A failing gate: one threshold of two and one comparison of two failed. */
function failingOutcome(): GateOutcome {
  const types = runMetricTypes([slow, base]);
  const thresholds = evaluateGate(slow, {
    xmpp_session_ready: ['p(50)<20'],
    xmpp_login_success: ['rate>0.99'],
  });
  const regressions = evaluateRegressions(
    slow,
    [base],
    [
      parseRegressionRule('xmpp_session_ready:p(50)=+20%,+2ms', types),
      parseRegressionRule('xmpp_login_success:rate=-1pt', types),
    ],
  );
  return {
    runId: slow.runId,
    startMs: slow.startMs,
    endMs: slow.endMs,
    thresholds,
    regressions,
    ok: false,
  };
}

describe('JUnit XML', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-junit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('one testcase per threshold and per comparison; a failure carries value, bound and ratio', () => {
    const doc = parseFrame(gateJUnit(failingOutcome(), { hostname: 'ci-runner' }));
    assert.equal(doc.name, 'testsuites');
    assert.deepEqual(doc.attrs, {});
    const [thresholds, baseline] = doc.getChildren('testsuite');
    assert.deepEqual(thresholds!.attrs, {
      name: 'thresholds',
      package: 'starling',
      id: '0',
      // the run's start, in UTC without a zone; time: the run's 10 s
      timestamp: '2023-11-14T22:13:20',
      hostname: 'ci-runner',
      tests: '2',
      failures: '1',
      errors: '0',
      skipped: '0',
      time: '10',
    });
    // Every suite names the run and its baselines.
    for (const suite of [thresholds, baseline]) {
      assert.deepEqual(
        suite!
          .getChild('properties')!
          .getChildren('property')
          .map((p) => p.attrs),
        [
          { name: 'run', value: 'slow' },
          { name: 'baseline', value: 'base' },
        ],
      );
    }
    assert.deepEqual(
      thresholds!.getChildren('testcase').map((c) => [c.attrs, c.getChild('failure')?.attrs]),
      [
        [
          { name: 'xmpp_session_ready: p(50)<20', classname: 'starling.thresholds', time: '0' },
          {
            type: 'threshold',
            message: 'xmpp_session_ready: p(50)<20 failed: the value is 36.031ms, the threshold p(50)<20',
          },
        ],
        [{ name: 'xmpp_login_success: rate>0.99', classname: 'starling.thresholds', time: '0' }, undefined],
      ],
    );
    assert.match(thresholds!.getChildText('system-out')!, /^metric {14}threshold/);

    assert.deepEqual(
      [baseline!.attrs.name, baseline!.attrs.id, baseline!.attrs.tests, baseline!.attrs.failures],
      ['baseline', '1', '2', '1'],
    );
    const [regressed, held] = baseline!.getChildren('testcase');
    assert.equal(regressed!.attrs.name, 'xmpp_session_ready p(50) +20% or +2ms');
    assert.equal(regressed!.attrs.classname, 'starling.baseline');
    const failure = regressed!.getChild('failure')!;
    assert.equal(failure.attrs.type, 'regression');
    assert.equal(
      failure.attrs.message,
      'xmpp_session_ready p(50) rose to 36.031ms from 12.007ms (3.00×, +24.024ms), above its bound 14.408ms ' +
        '(+20% or +2ms over the baseline, 12.007ms)',
    );
    assert.equal(
      failure.text(),
      [
        'this run (slow): 36.031ms',
        'baseline: 12.007ms; base: 12.007ms',
        'change: 3.00× (+24.024ms)',
        'bound: ≤ 14.408ms (+20% or +2ms over the worst baseline)',
      ].join('\n'),
    );
    assert.equal(held!.getChild('failure'), undefined);
  });

  test('a failing gate’s file validates against the Ant JUnit schema (xmllint)', async () => {
    const file = join(dir, 'failing.xml');
    await writeFile(file, gateJUnit(failingOutcome()));
    const verdict = validateJUnit(file);
    assert.ok(verdict.ok, verdict.output);
    assert.match(verdict.output, /validates/);
  });

  test('so does one with only comparisons, and one whose run has no span', async () => {
    const o = failingOutcome();
    const file = join(dir, 'baseline-only.xml');
    await writeFile(
      file,
      gateJUnit({ ...o, thresholds: undefined, startMs: null, endMs: null }, { now: new Date(0) }),
    );
    const verdict = validateJUnit(file);
    assert.ok(verdict.ok, verdict.output);
  });

  test('a default rule left out is a skipped testcase, and the file still validates', async () => {
    const few = chatRun('few', { ready: medianAndTail(12_000, 40_000).slice(70), login: [30, 0] });
    const { rules, skipped } = defaultRegressionRules([few]);
    const regressions = evaluateRegressions(few, [few], rules, skipped);
    const xml = gateJUnit({ ...failingOutcome(), thresholds: undefined, regressions, ok: true });
    const suite = parseFrame(xml).getChild('testsuite')!;
    assert.deepEqual([suite.attrs.tests, suite.attrs.failures, suite.attrs.skipped], ['4', '0', '1']);
    const cases = suite.getChildren('testcase');
    assert.deepEqual(cases.at(-1)!.attrs, {
      name: 'xmpp_session_ready p(99) +50% or +25ms',
      classname: 'starling.baseline',
      time: '0',
    });
    assert.match(
      cases.at(-1)!.getChild('skipped')!.attrs.message!,
      /^xmpp_session_ready p\(99\) not compared: /,
    );
    const file = join(dir, 'skipped.xml');
    await writeFile(file, xml);
    const verdict = validateJUnit(file);
    assert.ok(verdict.ok, verdict.output);
  });

  test('the schema check can fail: a suite without its hostname is refused, by name', async () => {
    const file = join(dir, 'broken.xml');
    await writeFile(file, gateJUnit(failingOutcome()).replace(/ hostname='[^']*'/g, ''));
    const verdict = validateJUnit(file);
    assert.equal(verdict.ok, false);
    assert.match(verdict.output, /The attribute 'hostname' is required but missing/);
  });

  test('characters XML cannot hold are replaced, the rest escaped', async () => {
    assert.equal(xmlChars('a\u0000b\u001bc\td'), 'a\uFFFDb\uFFFDc\td');
    const o = failingOutcome();
    const file = join(dir, 'odd-run-id.xml');
    await writeFile(file, gateJUnit({ ...o, runId: 'run <"&\u0007>' }));
    assert.ok(validateJUnit(file).ok);
    const doc = parseFrame(gateJUnit({ ...o, runId: 'run <"&\u0007>' }));
    assert.equal(
      doc.getChild('testsuite')!.getChild('properties')!.getChild('property')!.attrs.value,
      'run <"&\uFFFD>',
    );
  });
});

describe('Markdown', () => {
  test('a headline verdict, a table per kind of check and the failures in words', () => {
    assert.equal(
      gateMarkdown(failingOutcome()),
      [
        '### ❌ starling gate: run `slow` failed',
        '',
        '2 of 4 checks failed.',
        '',
        '**Thresholds** (on the merged data of every generator)',
        '',
        '| metric | threshold | value |  |',
        '| --- | --- | --- | --- |',
        '| `xmpp_session_ready` | `p(50)<20` | 36.031ms | ❌ |',
        '| `xmpp_login_success` | `rate>0.99` | 100% (100/100) | ✅ |',
        '',
        '**Against baseline run** `base` (bound: the worst baseline plus the tolerance; change: against the median baseline)',
        '',
        '| metric | stat | allowed | baseline | this run | change | bound |  |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
        '| `xmpp_session_ready` | `p(50)` | +20% or +2ms | 12.007ms | 36.031ms | 3.00× (+24.024ms) | ≤ 14.408ms | ❌ |',
        '| `xmpp_login_success` | `rate` | -1pt | 100% | 100% | +0pt | ≥ 99% | ✅ |',
        '',
        '- xmpp_session_ready p(50) rose to 36.031ms from 12.007ms (3.00×, +24.024ms), above its bound 14.408ms ' +
          '(+20% or +2ms over the baseline, 12.007ms)',
        '',
      ].join('\n'),
    );
  });

  test('a pipe in a cell is escaped, so the table keeps its columns', () => {
    assert.equal(markdownCell('a|b\nc'), 'a\\|b c');
  });
});
