/**
 * k6 fidelity of the end-of-test summary (issue 17). Groups and checks: check() and group() feed one run-wide tree,
 * as k6's GroupSummary output does (lib/test_state.go), handed to handleSummary as `data.root_group` and printed by
 * the classic summary. And the `http_req_duration{expected_response:true}` sub-metric k6 always registers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MetricStore } from '../../src/engine/metrics.ts';
import {
  addDefaultSubmetrics,
  buildSummaryData,
  textSummary,
  type SummaryData,
} from '../../src/engine/summary.ts';
import { k6Module } from '../../src/engine/modules/k6.ts';
import { runScriptText } from '../helpers/engine-run.ts';

/** Only `k6`: these scripts need nothing else. */
const modules = new Map([['k6', k6Module]]);

/** Two VUs, two iterations each, checks at the root, in nested groups, in setup and in teardown. */
const SCRIPT = `
  import { check, group } from 'k6';
  export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } } };
  export function setup() { check(1, { 'setup ok': (v) => v === 1 }); }
  export default function () {
    check(__VU, { 'vu is 1': (v) => v === 1 });
    group('outer', () => {
      check(1, { always: () => true });
      group('inner', () => {
        check(__ITER, { 'first iteration': (i) => i === 0, never: () => false });
      });
    });
    group('empty', () => {});
  }
  export function teardown() { check(null, { 'teardown ok': () => true }); }
  export function handleSummary(data) { return { 'root.json': JSON.stringify(data.root_group) }; }
`;

const check = (path: string, id: string, passes: number, fails: number) => ({
  name: path.slice(path.lastIndexOf('::') + 2),
  path,
  id,
  passes,
  fails,
});

/** k6's ids are the md5 of the path; the root's is md5('') (lib/models.go NewGroup). */
const EXPECTED_ROOT = {
  name: '',
  path: '',
  id: 'd41d8cd98f00b204e9800998ecf8427e',
  groups: [
    {
      name: 'setup',
      path: '::setup',
      id: '5c0f8025f7e0b6654089e5b00e950f1a',
      groups: [],
      checks: [check('::setup::setup ok', '77124ba589ff022294235b26618aa71a', 1, 0)],
    },
    {
      name: 'outer',
      path: '::outer',
      id: 'c34b428ee7255085dfe7fef53d3394d5',
      groups: [
        {
          name: 'inner',
          path: '::outer::inner',
          id: 'b6c425bc7b9e3d21a2d56ce7a6de3614',
          groups: [],
          checks: [
            check('::outer::inner::first iteration', 'be02788e4b7d5c900103ae9aeaa0ba67', 2, 2),
            check('::outer::inner::never', 'ad768432c4a1bacebb70aa9d1649c444', 0, 4),
          ],
        },
      ],
      checks: [check('::outer::always', '8282dc5ac85eebe7f0c379f9b5c6be93', 4, 0)],
    },
    { name: 'empty', path: '::empty', id: '2201ce103253c15843aa486b6b2f3ef8', groups: [], checks: [] },
    {
      name: 'teardown',
      path: '::teardown',
      id: 'a8a9942382e8ffe2e56ef29e664b8229',
      groups: [],
      checks: [check('::teardown::teardown ok', '3adf4db828c74a5873bd279041fa99c9', 1, 0)],
    },
  ],
  checks: [check('::vu is 1', '7e0407e3a337766e5bf85768945a850a', 2, 2)],
};

describe('groups and checks in the summary', () => {
  test('root_group: passes and fails per check per group path, merged across VUs, setup and teardown included', async () => {
    const store = new MetricStore();
    let data: SummaryData | undefined;
    const { outcome } = await runScriptText(SCRIPT, {
      modules,
      metrics: store,
      buildSummaryData: (f) => {
        data = buildSummaryData(store, [], {
          testRunDurationMs: f.testRunDurationMs,
          rootGroup: f.rootGroup,
        });
        return data as unknown as Record<string, unknown>;
      },
    });
    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(JSON.parse(outcome.summaryOutput!['root.json'] as string), EXPECTED_ROOT);
    assert.deepEqual(data!.root_group, EXPECTED_ROOT);

    // summary-legacy.js summarizeGroup/summarizeCheck: '█ group' headers, ✓ for a check that never failed, ✗ with
    // '↳  <pass %>% — ✓ <passes> / ✗ <fails>' otherwise, a blank line after each group's checks; then the metrics.
    const text = textSummary(data!);
    const head = text.slice(0, text.indexOf('\n     checks.'));
    assert.equal(
      head,
      [
        '     ✗ vu is 1',
        '      ↳  50% — ✓ 2 / ✗ 2',
        '',
        '     █ setup',
        '',
        '       ✓ setup ok',
        '',
        '     █ outer',
        '',
        '       ✓ always',
        '',
        '       █ inner',
        '',
        '         ✗ first iteration',
        '          ↳  50% — ✓ 2 / ✗ 2',
        '         ✗ never',
        '          ↳  0% — ✓ 0 / ✗ 4',
        '',
        '     █ empty',
        '',
        '     █ teardown',
        '',
        '       ✓ teardown ok',
        '',
      ].join('\n'),
    );
    assert.match(text, /\n {5}checks\.+: 55\.55% 10 out of 18\n/);
  });

  test("a check's `group` tag decides its group, as in k6 (the tree is built from the samples' tags)", async () => {
    let root: unknown;
    await runScriptText(
      `
      import { check, group } from 'k6';
      export const options = { iterations: 1 };
      export default function () {
        group('g', () => { check(1, { tagged: () => true }, { group: '::elsewhere' }); });
      }
    `,
      { modules, buildSummaryData: (f) => ((root = f.rootGroup), {}) },
    );
    const r = root as { groups: { name: string; checks: { name: string; passes: number }[] }[] };
    assert.deepEqual(
      r.groups.map((g) => [g.name, g.checks.map((c) => `${c.name}:${c.passes}`)]),
      [
        ['elsewhere', ['tagged:1']],
        ['g', []],
      ],
    );
  });
});

describe('http_req_duration{expected_response:true}', () => {
  const store = (systemTags?: string[]) => {
    const s = new MetricStore();
    addDefaultSubmetrics(s, systemTags === undefined ? {} : { systemTags });
    return s;
  };
  const push = (s: MetricStore) => {
    s.push('http_req_duration', 10, { expected_response: 'true', status: '200' });
    s.push('http_req_duration', 30, { expected_response: 'true', status: '200' });
    s.push('http_req_duration', 500, { expected_response: 'false', status: '500' });
  };

  test('k6 registers it by default: it holds the expected responses only and prints under its parent', () => {
    const s = store();
    push(s);
    const data = buildSummaryData(s, [], { testRunDurationMs: 1000 });
    assert.deepEqual(data.metrics['http_req_duration{expected_response:true}'], {
      type: 'trend',
      contains: 'time',
      values: { avg: 20, min: 10, med: 20, max: 30, 'p(90)': 28, 'p(95)': 29 },
    });
    assert.equal(
      textSummary(data),
      '     http_req_duration..............: avg=180ms min=10ms med=30ms max=500ms p(90)=406ms p(95)=452.99ms\n' +
        '       { expected_response:true }...: avg=20ms  min=10ms med=20ms max=30ms  p(90)=28ms  p(95)=29ms    ',
    );
  });

  test('not in the summary while no request got an expected response (k6 does not mark it observed)', () => {
    const s = store();
    s.push('http_req_duration', 500, { expected_response: 'false' });
    const data = buildSummaryData(s, [], { testRunDurationMs: 1000 });
    assert.deepEqual(Object.keys(data.metrics), ['http_req_duration']);
  });

  test('not registered when systemTags leave expected_response out', () => {
    const s = store(['status', 'method']);
    push(s);
    assert.equal(s.get('http_req_duration{expected_response:true}'), undefined);
  });

  test('a threshold on the same sub-metric keeps its one entry', () => {
    const s = new MetricStore();
    const sub = s.addSubmetric('http_req_duration', 'expected_response:true');
    addDefaultSubmetrics(s, {});
    assert.equal(s.get('http_req_duration{expected_response:true}'), sub);
    assert.equal(s.all().filter((m) => m.name.startsWith('http_req_duration{')).length, 1);
  });
});

// k6 internal/js/runner.go sends the dialer's I/O samples after every iteration (Dialer.IOSamples), whatever
// their value: every k6 summary has data_sent and data_received, `0 B` when nothing was sent.
test('data_sent and data_received get a sample after every iteration, 0 when the iteration used no network', async () => {
  const { outcome, values } = await runScriptText(`
    export const options = { vus: 1, iterations: 3 };
    export default function () {}
  `);
  assert.equal(outcome.exitCode, 0);
  assert.deepEqual(values('data_sent'), [0, 0, 0]);
  assert.deepEqual(values('data_received'), [0, 0, 0]);
});
