import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runGate } from '../../src/cli/gate.ts';
import { RunInputError } from '../../src/cli/run-target.ts';
import { evaluateGate, thresholdsFromFlags } from '../../src/collector/gate.ts';
import { CollectorStore } from '../../src/collector/store.ts';
import { mergedRun, type MergedRun } from '../../src/collector/summary.ts';
import { ThresholdConfigError } from '../../src/engine/thresholds.ts';
import { encode, snapshot } from './fixtures.ts';

const T0 = 1_700_000_000_000;

/**
 * xmpp_session_ready over two transports, 1–6 ms and 100 ms; failures, stanzas over 60 s, a login rate of 99 %
 * and an open-sessions gauge, from two generator instances.
 */
function fleetRun(): MergedRun {
  const store = new CollectorStore();
  store.ingest(
    snapshot({
      runId: 'fleet',
      instance: 'pod-a',
      intervalStartMs: T0,
      intervalEndMs: T0 + 30_000,
      histograms: [{ name: 'xmpp_session_ready', hdr: encode([1000, 2000, 3000, 4000, 100_000]) }],
      counters: [
        { name: 'xmpp_session_failures', labels: { reason: 'timeout:bind' }, delta: 2 },
        { name: 'xmpp_stanzas_sent', labels: { kind: 'message' }, delta: 400 },
        { name: 'xmpp_login_success', labels: { outcome: 'true' }, delta: 49 },
        { name: 'xmpp_login_success', labels: { outcome: 'false' }, delta: 1 },
      ],
      gauges: [{ name: 'xmpp_sessions_open', value: 10 }],
    }),
  );
  store.ingest(
    snapshot({
      runId: 'fleet',
      instance: 'pod-b',
      transport: 'bosh',
      intervalStartMs: T0 + 30_000,
      intervalEndMs: T0 + 60_000,
      histograms: [{ name: 'xmpp_session_ready', hdr: encode([5000, 6000]) }],
      counters: [
        { name: 'xmpp_session_failures', labels: { reason: 'auth-failed:not-authorized' }, delta: 1 },
        { name: 'xmpp_stanzas_sent', labels: { kind: 'message' }, delta: 200 },
        { name: 'xmpp_login_success', labels: { outcome: 'true' }, delta: 50 },
      ],
      gauges: [{ name: 'xmpp_sessions_open', value: 5 }],
    }),
  );
  return mergedRun(store.run('fleet')!);
}

const FLAGS = [
  'xmpp_session_ready: p(95)<200',
  'xmpp_session_ready: med<4',
  'xmpp_session_ready{transport:bosh}: max<=6.003',
  'xmpp_session_ready: avg<20',
  'xmpp_session_failures{reason:timeout:bind}: count<2',
  'xmpp_session_failures: count<5',
  'xmpp_stanzas_sent: rate>=10',
  'xmpp_login_success: rate>0.98',
  'xmpp_stream_errors: count==0',
  'xmpp_sessions_open: value==15',
];

describe('evaluateGate on merged data', () => {
  test('each aggregation is computed on the fleet-wide histogram or sum', () => {
    const result = evaluateGate(fleetRun(), thresholdsFromFlags(FLAGS));
    assert.deepEqual(
      result.rows.map((r) => [r.metric, r.threshold, r.display, r.ok]),
      [
        // 7 values; p(95) is the 7th, 100 ms, reported as its HDR bucket's highest value 100.031 ms.
        ['xmpp_session_ready', 'p(95)<200', '100.031ms', true],
        // the 4th of 7 is 4 ms, whose bucket [4000, 4002) µs reports 4.001 ms
        ['xmpp_session_ready', 'med<4', '4.001ms', false],
        // HDR mean: (1000 + 2000 + 3001 + 4001 + 5002 + 6002 + 100000) / 7 µs
        ['xmpp_session_ready', 'avg<20', '17.287ms', true],
        // (grouped by key, as options.thresholds is)
        ['xmpp_session_ready{transport:bosh}', 'max<=6.003', '6.003ms', true],
        ['xmpp_session_failures{reason:timeout:bind}', 'count<2', '2', false],
        ['xmpp_session_failures', 'count<5', '3', true],
        // 600 messages over the run's 60 s
        ['xmpp_stanzas_sent', 'rate>=10', '10/s', true],
        ['xmpp_login_success', 'rate>0.98', '99% (99/100)', true],
        // never reported, but an XMPP counter: empty, count 0
        ['xmpp_stream_errors', 'count==0', '0', true],
        ['xmpp_sessions_open', 'value==15', '15', true],
      ],
    );
    assert.equal(result.ok, false);
    assert.equal(result.rows[2]!.value, 121_006 / 7 / 1000);
  });

  test('a threshold on a metric without samples fails, naming it (unlike k6, where it passes)', () => {
    const result = evaluateGate(fleetRun(), {
      xmpp_clean_close: ['rate>0.99'],
      xmpp_message_delivery: ['p(95)<1000', 'max<5000'],
      'xmpp_sessions_open{transport:nope}': ['value<1'],
      'xmpp_session_ready{scenario:login}': ['avg<1'],
    });
    const none = (metric: string, threshold: string, note: string) => ({
      metric,
      threshold,
      value: undefined,
      display: 'no samples',
      ok: false,
      note,
    });
    assert.deepEqual(result.rows, [
      none(
        'xmpp_clean_close',
        'rate>0.99',
        'xmpp_clean_close has no samples: no true or false was recorded for it in run fleet, so its thresholds fail',
      ),
      none(
        'xmpp_message_delivery',
        'p(95)<1000',
        'xmpp_message_delivery has no samples: no value was recorded for it in run fleet, so its thresholds fail',
      ),
      none(
        'xmpp_message_delivery',
        'max<5000',
        'xmpp_message_delivery has no samples: no value was recorded for it in run fleet, so its thresholds fail',
      ),
      none(
        'xmpp_sessions_open{transport:nope}',
        'value<1',
        'xmpp_sessions_open{transport:nope} has no samples: no reading of it was recorded in run fleet, so its ' +
          'thresholds fail',
      ),
      none(
        'xmpp_session_ready{scenario:login}',
        'avg<1',
        'xmpp_session_ready{scenario:login} has no samples: no value was recorded for it in run fleet, so its ' +
          'thresholds fail',
      ),
    ]);
    assert.equal(result.ok, false);
  });

  test('every threshold of a run that recorded nothing fails, even a count that would be 0', () => {
    const store = new CollectorStore();
    // VUs that never opened a session still report their open-sessions gauge: that is not a sample of anything.
    store.ingest(snapshot({ runId: 'idle', gauges: [{ name: 'xmpp_sessions_open', value: 0 }] }));
    const result = evaluateGate(mergedRun(store.run('idle')!), {
      xmpp_session_failures: ['count==0'],
      xmpp_session_ready: ['p(99)<500'],
    });
    const note =
      'run idle recorded nothing (no latency sample, no counter): no session was attempted, or no generator ' +
      'reached the collector, so no threshold can pass';
    assert.deepEqual(
      result.rows.map((r) => [r.metric, r.display, r.ok, r.note]),
      [
        ['xmpp_session_failures', 'no samples', false, note],
        ['xmpp_session_ready', 'no samples', false, note],
      ],
    );
  });

  test('a null or non-numeric value in merged.json fails its thresholds by name, never reads as 0', () => {
    const merged = fleetRun();
    const sent = merged.counters.findIndex((c) => c.name === 'xmpp_stanzas_sent');
    // What a collector without range checks wrote after two `delta: 1e308`: Infinity, serialized as null.
    merged.counters[sent] = { ...merged.counters[sent]!, value: null as unknown as number };
    const login = merged.counters.findIndex((c) => c.name === 'xmpp_login_success');
    merged.counters[login] = { ...merged.counters[login]!, value: 'NaN' as unknown as number };
    merged.gauges[0] = { ...merged.gauges[0]!, value: null as unknown as number };
    merged.histograms[0] = { ...merged.histograms[0]!, hdr: 'AAAA' };
    const result = evaluateGate(merged, {
      xmpp_stanzas_sent: ['count<1e300', 'rate>0'],
      xmpp_login_success: ['rate>0.5'],
      xmpp_sessions_open: ['value>=0'],
      xmpp_session_ready: ['p(99)<1e9'],
    });
    assert.deepEqual(
      result.rows.map((r) => [r.threshold, r.display, r.ok, r.note]),
      [
        [
          'count<1e300',
          'not a number',
          false,
          `xmpp_stanzas_sent: merged.json's counters[${sent}].value (xmpp_stanzas_sent{kind="message"}) is null, ` +
            'not a finite number (an overflow in the collector that wrote it?), so its thresholds fail',
        ],
        [
          'rate>0',
          'not a number',
          false,
          `xmpp_stanzas_sent: merged.json's counters[${sent}].value (xmpp_stanzas_sent{kind="message"}) is null, ` +
            'not a finite number (an overflow in the collector that wrote it?), so its thresholds fail',
        ],
        [
          'rate>0.5',
          'not a number',
          false,
          `xmpp_login_success: merged.json's counters[${login}].value (xmpp_login_success{outcome="true"}) is ` +
            '"NaN", not a finite number (an overflow in the collector that wrote it?), so its thresholds fail',
        ],
        [
          'value>=0',
          'not a number',
          false,
          "xmpp_sessions_open: merged.json's gauges[0].value (xmpp_sessions_open) is null, not a finite number " +
            '(an overflow in the collector that wrote it?), so its thresholds fail',
        ],
        [
          'p(99)<1e9',
          'unreadable',
          false,
          "xmpp_session_ready: merged.json's histograms[0].hdr cannot be read (not an HdrHistogram V2 compressed " +
            'histogram (bad cookie)), so its thresholds fail',
        ],
      ],
    );
  });

  test('a per-second rate over a run that spans no time fails', () => {
    const merged = { ...fleetRun(), endMs: T0 };
    assert.deepEqual(evaluateGate(merged, { xmpp_stanzas_sent: ['rate>=0'] }).rows, [
      {
        metric: 'xmpp_stanzas_sent',
        threshold: 'rate>=0',
        value: undefined,
        display: 'no duration',
        ok: false,
        note: 'xmpp_stanzas_sent: run fleet spans no time, so a rate per second is undefined and its thresholds fail',
      },
    ]);
  });

  const invalid: [string, unknown, string][] = [
    [
      'a malformed expression',
      { xmpp_session_ready: ['p(95)'] },
      'failed parsing threshold expression "p(95)"; reason: malformed threshold expression',
    ],
    [
      'an unknown metric',
      { nope_metric: ['count<1'] },
      'invalid threshold defined on nope_metric; reason: no metric name "nope_metric" found',
    ],
    [
      'a method the type lacks',
      { xmpp_sessions_open: ['p(95)<1'] },
      'invalid threshold "p(95)<1" applied on metric xmpp_sessions_open; reason: unsupported aggregation method p on metric of type gauge. supported aggregation methods for this metric are: value',
    ],
    [
      'a malformed selector',
      { 'xmpp_session_ready{transport}': ['p(95)<1'] },
      'unable to validate threshold expressions; reason: parsing metric name failed, metric "transport" tag expression is malformed',
    ],
  ];
  for (const [what, config, message] of invalid) {
    test(`rejects ${what} with k6's message (exit 104)`, () => {
      assert.throws(
        () => evaluateGate(fleetRun(), config),
        (err: unknown) =>
          err instanceof ThresholdConfigError && err.message === message && err.exitCode === 104,
      );
    });
  }

  test("--threshold flags split after the selector's closing brace", () => {
    assert.deepEqual(thresholdsFromFlags(['a{reason:timeout:bind}: count<1', 'a: count<2', 'b:p(99)<3 ']), {
      'a{reason:timeout:bind}': ['count<1'],
      a: ['count<2'],
      b: ['p(99)<3'],
    });
    assert.throws(() => thresholdsFromFlags(['p(95)<500']), /expected 'metric: expression'/);
  });
});

describe('starling gate', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-gate-'));
    await writeFile(join(dir, 'merged.json'), JSON.stringify(fleetRun()));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const capture = async (flags: string[]) => {
    let out = '';
    let err = '';
    const code = await runGate(
      dir,
      { thresholds: flags },
      (s) => (out += s),
      (s) => (err += s),
    );
    return { code, out, err };
  };

  test('prints the table and exits 99 when a threshold fails', async () => {
    const { code, out } = await capture(FLAGS.slice(0, 5));
    assert.equal(code, 99);
    assert.equal(
      out,
      [
        'metric                                      threshold   value      ok',
        '------------------------------------------  ----------  ---------  --',
        'xmpp_session_ready                          p(95)<200   100.031ms  ✓',
        'xmpp_session_ready                          med<4       4.001ms    ✗',
        'xmpp_session_ready                          avg<20      17.287ms   ✓',
        'xmpp_session_ready{transport:bosh}          max<=6.003  6.003ms    ✓',
        'xmpp_session_failures{reason:timeout:bind}  count<2     2          ✗',
        '',
        '2 of 5 thresholds failed on the merged data of run fleet',
        '',
      ].join('\n'),
    );
  });

  test('exits 99 for a metric without samples, saying so under the table', async () => {
    const { code, out } = await capture(['xmpp_clean_close: rate>0.99', 'xmpp_session_ready: p(99)<150']);
    assert.equal(code, 99);
    assert.equal(
      out,
      [
        'metric              threshold  value       ok',
        '------------------  ---------  ----------  --',
        'xmpp_clean_close    rate>0.99  no samples  ✗',
        'xmpp_session_ready  p(99)<150  100.031ms   ✓',
        '',
        'xmpp_clean_close has no samples: no true or false was recorded for it in run fleet, so its thresholds fail',
        '1 of 2 thresholds failed on the merged data of run fleet',
        '',
      ].join('\n'),
    );
  });

  test('exits 0 when every threshold holds', async () => {
    const { code, out } = await capture(['xmpp_session_ready: p(99)<150', 'xmpp_login_success: rate>=0.99']);
    assert.equal(code, 0);
    assert.match(out, /\nall 2 thresholds passed on the merged data of run fleet\n$/);
  });

  test("exits 104 with k6's message for an invalid threshold, printing no table", async () => {
    const { code, out, err } = await capture(['xmpp_session_ready: p(95)']);
    assert.equal(code, 104);
    assert.equal(out, '');
    assert.equal(
      err,
      'starling: failed parsing threshold expression "p(95)"; reason: malformed threshold expression\n',
    );
  });

  test('reads <runDir>/thresholds.json (k6 options.thresholds) when no flag is given', async () => {
    await writeFile(
      join(dir, 'thresholds.json'),
      JSON.stringify({ xmpp_session_ready: ['p(50)<5', { threshold: 'max<100', abortOnFail: true }] }),
    );
    const { code, out } = await capture([]);
    assert.equal(code, 99);
    assert.ok(out.includes('xmpp_session_ready  max<100    100.031ms  ✗\n'), out);
    await rm(join(dir, 'thresholds.json'));
    await assert.rejects(
      capture([]),
      (e: unknown) => e instanceof RunInputError && /no thresholds/.test(e.message),
    );
  });

  test('a directory without merged.json is a typed input error', async () => {
    await assert.rejects(
      runGate(join(dir, 'missing'), { thresholds: FLAGS }),
      (e: unknown) => e instanceof RunInputError && /merged\.json/.test(e.message),
    );
  });

  test('the CLI exits 0, 99 and 104', () => {
    const gate = (...args: string[]) =>
      spawnSync(process.execPath, ['bin/starling.js', 'gate', dir, ...args], { encoding: 'utf8' });
    assert.equal(gate('-t', 'xmpp_session_ready: p(99)<150').status, 0);
    const failed = gate(
      '--threshold',
      'xmpp_session_ready: med<4',
      '--threshold',
      'xmpp_sessions_open: value==15',
    );
    assert.equal(failed.status, 99);
    assert.ok(failed.stdout.includes('\nxmpp_session_ready  med<4      4.001ms  ✗\n'), failed.stdout);
    const invalid = gate('-t', 'nope_metric: count<1');
    assert.equal(invalid.status, 104);
    assert.match(invalid.stderr, /no metric name "nope_metric" found/);
    const empty = gate('-t', 'xmpp_message_delivery: p(95)<1000');
    assert.equal(empty.status, 99);
    assert.ok(
      empty.stdout.includes(
        '\nxmpp_message_delivery has no samples: no value was recorded for it in run fleet',
      ),
      empty.stdout,
    );
  });
});
