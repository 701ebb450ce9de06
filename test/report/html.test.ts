/**
 * report.html as a page builder: the figures it shows are the files' figures, credentials never appear, a section
 * without data says why, and the comparison and capacity pages show every run, each folded under a line with its
 * verdict (one run's page folds nothing). The browser test (report-browser.test.ts) opens real runs' pages in
 * chromium.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CollectorSummary } from '../../src/collector/summary.ts';
import {
  distributionChart,
  percentileX,
  renderChart,
  scopeSvgIds,
  timeChart,
  xyChart,
} from '../../src/report/charts.ts';
import {
  COMPARISON_ROWS,
  compareTransport,
  type ComparisonReport,
  type RunSummary,
} from '../../src/report/compare-transports.ts';
import {
  capacityReportHtml,
  comparisonReportHtml,
  reportHtml,
  runReportHtml,
} from '../../src/report/html.ts';
import { fmtMs } from '../../src/report/html-page.ts';
import { parseSummary, readRunFiles, ReportInputError } from '../../src/report/run-data.ts';
import { distributionPercentiles, roomSizeOf, runFigures } from '../../src/report/run-figures.ts';
import { producerHistogram } from '../collector/fixtures.ts';
import {
  chatSummary,
  ROOM_JOINS,
  roomsSummary,
  T0,
  writeCapacityRun,
  writeCollectorRun,
  writeJson,
} from './fixtures.ts';

/** Every `data-figure` of a page with its `data-value`. */
function figures(html: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of html.matchAll(/data-figure="([^"]*)" data-value="([^"]*)"/g)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** The part of a page inside `<section … data-run="key">`. */
function runSection(html: string, key: string): string {
  const start = html.indexOf(`data-run="${key}"`);
  assert.ok(start >= 0, `no run section ${key}`);
  const end = html.indexOf('<section class="run"', start);
  return html.slice(start, end < 0 ? undefined : end);
}

/** An HTML fragment's text, as a browser's textContent reads it. */
function text(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/**
 * The runs a page folds away, in order: each `<section class="run">`'s key, whether its `<details>` opens by itself,
 * and its summary line's text. Also checks that every `<details>` of the page is one of them.
 */
function foldedRuns(html: string): { key: string; open: boolean; summary: string }[] {
  const runs = [
    ...html.matchAll(
      /<section class="run" id="([^"]*)" data-run="\1"><details( open)?><summary>(.*?)<\/summary><div class="run-body">/g,
    ),
  ].map((m) => ({ key: m[1]!, open: m[2] !== undefined, summary: text(m[3]!) }));
  assert.equal([...html.matchAll(/<details[ >]/g)].length, runs.length, 'a <details> that is no run');
  assert.equal([...html.matchAll(/<summary>/g)].length, runs.length, 'a <summary> that is no run');
  return runs;
}

/** k6's percentile of raw samples (TrendSink.P): linear interpolation at q·(n−1). */
function k6Percentile(values: readonly number[], q: number): number {
  const v = [...values].sort((a, b) => a - b);
  const i = q * (v.length - 1);
  const lo = v[Math.floor(i)]!;
  return lo + (v[Math.ceil(i)]! - lo) * (i - Math.floor(i));
}

/** HdrHistogram's percentile of raw µs values, in ms. */
function hdrPercentile(valuesUs: readonly number[], p: number): number {
  return producerHistogram(valuesUs).getValueAtPercentile(p) / 1000;
}

const SECRETS = ['hunter2', 's3cret', 'tok-9f8e7d', 'pa55word'];

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'starling-report-'));
});
after(() => rm(root, { recursive: true, force: true }));

describe('a run without --collect: figures from summary.json', () => {
  let dir = '';
  let html = '';
  let fixture: ReturnType<typeof chatSummary>;
  before(async () => {
    dir = join(root, 'chat');
    fixture = chatSummary();
    await writeJson(dir, 'summary.json', fixture.summary);
    await writeJson(dir, 'run.json', {
      runId: '20250101T000000Z-chat',
      script: '/srv/starling/dist/scenarios/chat.js',
      env: {
        XMPP_URL: 'wss://alice:hunter2@xmpp.example.org/xmpp-websocket',
        XMPP_PASSWORD_PATTERN: 's3cret{n}',
        STARLING_COLLECTOR_TOKEN: 'tok-9f8e7d',
        XMPP_DOMAIN: 'example.org',
      },
      exitCode: 99,
      error: 'Get "https://bob:pa55word@example.org/x": connection refused',
    });
    html = await runReportHtml(dir);
  });

  test('latency percentiles are every sample’s, as k6 computes them', () => {
    const f = figures(html);
    const { ready, delivery } = fixture.run;
    for (const [metric, samples] of [
      ['xmpp_session_ready', ready],
      ['xmpp_message_delivery', delivery],
    ] as const) {
      assert.equal(f.get(`latency.${metric}.count`), samples.length, metric);
      for (const [col, q] of [
        ['p50', 0.5],
        ['p90', 0.9],
        ['p95', 0.95],
        ['p99', 0.99],
        ['p99.9', 0.999],
      ] as const)
        assert.equal(f.get(`latency.${metric}.${col}`), k6Percentile(samples, q), `${metric} ${col}`);
      assert.equal(f.get(`latency.${metric}.max`), Math.max(...samples), metric);
    }
  });

  test('each threshold with its verdict and the value it tested; the run’s exit code', () => {
    const rows = [
      ...html.matchAll(/data-threshold="([^"]*)" data-expr="([^"]*)" data-ok="(true|false)"/g),
    ].map((m) => `${m[1]} ${m[2]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>')} ${m[3]}`);
    // Crossed ones first.
    assert.deepEqual(rows, [
      'xmpp_message_delivery p(99)<1 false',
      'xmpp_message_loss rate==0 false',
      'xmpp_message_delivery p(95)<1000 true',
      'xmpp_session_ready p(95)<3000 true',
      'xmpp_sessions_opened count>0 true',
    ]);
    // p(99) is not among the summary's trend stats: the observed value comes from starling's own section.
    assert.match(
      html,
      new RegExp(
        `data-expr="p\\(99\\)&lt;1" data-ok="false">.*?data-value="${k6Percentile(fixture.run.delivery, 0.99)}"`,
      ),
    );
    assert.equal(figures(html).get('exit-code'), 99);
    assert.match(html, /data-verdict="failed">FAILED<\/span> <span[^>]*>exit 99: failed: thresholds crossed/);
  });

  test('sessions, losses, failures by reason and stream errors by condition', () => {
    const f = figures(html);
    const { ready, delivery, lost, failures } = fixture.run;
    const failed = Object.values(failures).reduce((a, b) => a + b, 0);
    assert.equal(f.get('sessions.attempted'), ready.length + failed);
    assert.equal(f.get('sessions.loggedIn'), ready.length);
    assert.equal(f.get('sessions.failedLogins'), failed);
    assert.equal(f.get('messages.sent'), delivery.length + lost);
    assert.equal(f.get('messages.delivered'), delivery.length);
    assert.equal(f.get('messages.lost'), lost);
    assert.equal(f.get('failures.total'), failed);
    for (const [reason, n] of Object.entries(failures)) assert.equal(f.get(`failures.${reason}`), n, reason);
    assert.equal(f.get('stream-errors.conflict'), 1);
    assert.equal(f.get('stanzas-sent.message'), delivery.length + lost);
  });

  test('what it cannot show, it says: nothing over time without --collect, no tap', () => {
    assert.match(
      html,
      /data-missing="over-time">run without --collect: no interval histograms \(hdr\/\*\.hlog\), so nothing over time/,
    );
    assert.match(html, /data-missing="tap">no tap ran/);
    assert.match(html, /data-missing="file">no merged.json: run without --collect/);
  });

  test('no credential appears: passwords, patterns and tokens are masked', () => {
    for (const secret of SECRETS) assert.ok(!html.includes(secret), `the page shows ${secret}`);
    assert.match(html, /data-env="XMPP_URL">wss:\/\/alice:\*\*\*@xmpp\.example\.org\/xmpp-websocket</);
    assert.match(html, /data-env="XMPP_PASSWORD_PATTERN">\[redacted\]</);
    assert.match(html, /data-env="STARLING_COLLECTOR_TOKEN">\[redacted\]</);
    assert.match(
      html,
      /data-figure="error">Get &quot;https:\/\/bob:\*\*\*@example\.org\/x&quot;: connection refused</,
    );
  });

  test('a distribution chart per latency metric, drawn as inline SVG; the page loads nothing', () => {
    const charts = [...html.matchAll(/<figure data-chart="([^"]*)" data-points="(\d+)"><svg/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    // min, p50, p90, p95, p99, p99.9 and max of each metric.
    assert.deepEqual(charts, [
      ['run.distribution.xmpp_session_ready', 7],
      ['run.distribution.xmpp_message_delivery', 7],
    ]);
    assert.doesNotMatch(html, /<script|<link rel="stylesheet"|<img |src="http|@import|url\(http/);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  });

  test('one run’s page folds nothing away: no <details>, every section in the open', () => {
    assert.deepEqual(foldedRuns(html), []);
    assert.doesNotMatch(html, /<details|<summary/);
    assert.match(html, /<section id="run-latency"><h2>Latency<\/h2>/);
  });
});

describe('a run with --collect: figures from merged.json, intervals from hdr/', () => {
  let dir = '';
  let html = '';
  let fixture: Awaited<ReturnType<typeof writeCollectorRun>>;
  let summary: CollectorSummary;
  before(async () => {
    dir = join(root, 'collected');
    fixture = await writeCollectorRun(dir, 'collected');
    summary = JSON.parse(await readFile(join(dir, 'collector-summary.json'), 'utf8')) as CollectorSummary;
    html = await runReportHtml(dir);
  });

  test('percentiles are the merged histograms’: as the collector’s summary and HdrHistogram have them', () => {
    const f = figures(html);
    for (const [metric, values] of [
      ['xmpp_session_ready', fixture.ready],
      ['xmpp_message_delivery', fixture.delivery.flat()],
    ] as const) {
      const s = summary.histograms.find((h) => h.name === metric)!;
      assert.equal(f.get(`latency.${metric}.count`), s.count);
      assert.equal(f.get(`latency.${metric}.p50`), s.p50);
      assert.equal(f.get(`latency.${metric}.p90`), s.p90);
      assert.equal(f.get(`latency.${metric}.p99`), s.p99);
      assert.equal(f.get(`latency.${metric}.p99.9`), s['p99.9']);
      assert.equal(f.get(`latency.${metric}.max`), s.max);
      assert.equal(f.get(`latency.${metric}.p95`), hdrPercentile(values, 95));
    }
  });

  test('over time: each interval’s count and percentiles, and rates per second', async () => {
    const figs = runFigures(await readRunFiles(dir));
    assert.ok(figs.overTime.available);
    const delivery = figs.overTime.latency.find((l) => l.metric === 'xmpp_message_delivery')!;
    assert.deepEqual(
      delivery.points.map((p) => [p.t, p.seconds, p.count, p.p50, p.p99, p.max]),
      fixture.delivery.map((values, i) => [
        i,
        1,
        values.length,
        hdrPercentile(values, 50),
        hdrPercentile(values, 99),
        hdrPercentile(values, 100),
      ]),
    );
    const charts = Object.fromEntries(
      [...html.matchAll(/<figure data-chart="([^"]*)" data-points="(\d+)"><svg/g)].map((m) => [
        m[1],
        Number(m[2]),
      ]),
    );
    // p50, p99 and max per interval; the rates: one interval of logins, three of deliveries.
    assert.equal(charts['run.over-time.xmpp_message_delivery'], 9);
    assert.equal(charts['run.rates'], 4);
    // All logins fell in the first interval: no line to draw, and the page says so.
    assert.equal(charts['run.over-time.xmpp_session_ready'], undefined);
    assert.match(
      html,
      /data-missing="one-interval">xmpp_session_ready: every sample fell in one 1 s interval/,
    );
  });

  test('counts from merged.json: failures by reason, losses; files it lacks are named', () => {
    const f = figures(html);
    assert.equal(f.get('failures.total'), 4);
    assert.equal(f.get('failures.timeout:bind'), 4);
    assert.equal(f.get('messages.lost'), 2);
    assert.equal(f.get('messages.delivered'), fixture.delivery.flat().length);
    assert.equal(f.get('sessions.loggedIn'), fixture.ready.length);
    assert.match(html, /data-missing="file">no run.json/);
    assert.match(html, /data-missing="file">no summary.json: each generator writes its own/);
    assert.match(html, /data-missing="thresholds">no summary.json: no thresholds were evaluated/);
  });
});

/**
 * The text of `<section id="…">` (sections do not nest) without its charts' SVG, as a browser reads it; undefined
 * when there is none.
 */
function sectionText(html: string, id: string): string | undefined {
  const m = new RegExp(`<section id="${id}">(.*?)</section>`).exec(html);
  return m ? text(m[1]!.replace(/<svg .*?<\/svg>/g, '')) : undefined;
}

describe('a multi-user chat run: rooms, and join latency against room size', () => {
  test('per kind and per size: the Rooms block and the room-size section, table and chart', async () => {
    const dir = join(root, 'conference');
    const trendStats = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];
    await writeJson(dir, 'summary.json', roomsSummary({ bySize: true, perKind: true, trendStats }));
    await writeJson(dir, 'run.json', { runId: 'conf', script: '/x/conference.js', env: {}, exitCode: 99 });
    const html = await runReportHtml(dir);
    assert.equal(
      sectionText(html, 'run-rooms'),
      'Rooms' +
        'room joins: 20 of 21 joined (95.2 %)' +
        'room fan-outexpectedreceivedreceived ÷ expected' +
        'groupchat messages403997.50 %' +
        'room presences200200100.00 %' +
        'expected: each other occupant a broadcast’s sender saw in the room; received: each broadcast an ' +
        'occupant got, in any VU or generator (xmpp_muc_fanout_expected, xmpp_muc_fanout_received); by kind, ' +
        'from summary.json (the sub-metrics xmpp_muc_fanout_expected{kind:…} and xmpp_muc_fanout_received{kind:…})' +
        'room lossrecipientslostlost %' +
        'groupchat messages3013.333 %' +
        'room presences15000.000 %' +
        'recipients in the sender’s own VU only, each lost when not received within XMPP_LOSS_WINDOW ' +
        '(xmpp_muc_message_loss, xmpp_muc_presence_loss); recipients in other VUs count in the fan-out alone',
    );
    const sizes = sectionText(html, 'run-room-sizes');
    assert.ok(sizes !== undefined, 'no room-size section');
    assert.equal(
      sizes.slice(0, sizes.indexOf('xmpp_muc_join (')),
      'Room join latency against room size' +
        'room sizejoinsp50p95p99max' +
        // Sorted by size as numbers; k6's percentiles (linear interpolation) of each size's joins.
        '3350.0 ms59.0 ms59.8 ms60.0 ms' +
        '6685.0 ms138 ms148 ms150 ms' +
        '1211150 ms195 ms199 ms200 ms',
    );
    assert.match(
      sizes,
      /xmpp_muc_join \(join presence sent → the room’s self-presence\) of the occupants tagged room_size, from summary\.json’s sub-metrics xmpp_muc_join\{room_size:N\}/,
    );
    const f = figures(html);
    for (const [size, joins] of Object.entries(ROOM_JOINS)) {
      assert.equal(f.get(`room-size.${size}.joins`), joins.length, size);
      assert.equal(f.get(`room-size.${size}.p95`), k6Percentile(joins, 0.95), size);
      assert.equal(f.get(`room-size.${size}.p99`), k6Percentile(joins, 0.99), size);
    }
    assert.equal(f.get('rooms.fanout.message.share'), 39 / 40);
    // p50, p95 and p99 of three sizes, drawn.
    assert.match(html, /<figure data-chart="run\.room-sizes" data-points="9"><svg/);
    // In the page's contents, each after the section it follows.
    assert.match(
      html,
      /<li><a href="#run-sessions">Sessions and losses<\/a><\/li><li><a href="#run-rooms">Rooms<\/a><\/li><li><a href="#run-latency">Latency<\/a><\/li><li><a href="#run-room-sizes">Room join latency against room size<\/a><\/li>/,
    );
    assert.ok(html.indexOf('id="run-rooms"') < html.indexOf('id="run-latency"'));
    assert.ok(html.indexOf('id="run-latency"') < html.indexOf('id="run-room-sizes"'));
  });

  test('without the sub-metrics: fan-out totals (and why), no room-size section; trend stats left out are named', async () => {
    const totals = join(root, 'muc-totals');
    await writeJson(totals, 'summary.json', roomsSummary({ bySize: false, perKind: false }));
    const html = await runReportHtml(totals);
    const rooms = sectionText(html, 'run-rooms');
    assert.ok(rooms !== undefined, 'no Rooms section');
    assert.ok(
      rooms.includes(
        'room fan-outexpectedreceivedreceived ÷ expectedmessages and presences24023999.58 %' +
          'expected: each other occupant a broadcast’s sender saw in the room; received: each broadcast an ' +
          'occupant got, in any VU or generator (xmpp_muc_fanout_expected, xmpp_muc_fanout_received); messages ' +
          'and presences together: summary.json has no xmpp_muc_fanout_expected{kind:message} sub-metric (a ' +
          'threshold on it puts it there, as the muc and conference scenarios do)',
      ),
      rooms,
    );
    assert.equal(sectionText(html, 'run-room-sizes'), undefined);
    assert.doesNotMatch(html, /run-room-sizes|data-chart="run\.room-sizes"/);

    // k6's default summaryTrendStats: no count, no p(99).
    const defaults = join(root, 'muc-default-stats');
    await writeJson(defaults, 'summary.json', roomsSummary({ bySize: true, perKind: false }));
    const page = await runReportHtml(defaults);
    assert.equal(
      sectionText(page, 'run-room-sizes')!.replace(/xmpp_muc_join \(.*?N\}/, ''),
      'Room join latency against room size' +
        'room sizejoinsp50p95p99max' +
        '3–50.0 ms59.0 ms–60.0 ms' +
        '6–85.0 ms138 ms–150 ms' +
        '12–150 ms195 ms–200 ms' +
        'count, p99 not in summary.json: its summaryTrendStats leave them out',
    );
    // p50 and p95 of three sizes.
    assert.match(page, /<figure data-chart="run\.room-sizes" data-points="6"><svg/);
  });

  test('a run with no room metric has neither; only xmpp_muc_join{room_size:N} is a room size', async () => {
    const dir = join(root, 'chat-no-rooms');
    await writeJson(dir, 'summary.json', chatSummary().summary);
    const f = runFigures(await readRunFiles(dir));
    assert.equal(f.rooms, undefined);
    assert.equal(roomSizeOf('xmpp_muc_join{room_size:20}'), 20);
    assert.equal(roomSizeOf('xmpp_muc_join{ room_size: "7" }'), 7);
    for (const other of [
      'xmpp_muc_join',
      'xmpp_muc_join{room_size:big}',
      'xmpp_muc_join{room_size:5,kind:x}',
      'xmpp_muc_join_success{room_size:5}',
      'xmpp_muc_message_delivery{room_size:5}',
    ])
      assert.equal(roomSizeOf(other), undefined, other);
  });
});

describe('summary.json as k6 --summary-export writes it', () => {
  test('values beside thresholds, whose true means FAILED; a Rate’s value is its rate', () => {
    const s = parseSummary(
      {
        metrics: {
          xmpp_session_ready: {
            avg: 5,
            min: 1,
            med: 4,
            max: 9,
            'p(90)': 8,
            'p(95)': 8.5,
            thresholds: { 'p(95)<3000': false },
          },
          xmpp_login_success: { value: 0.5, passes: 1, fails: 1, thresholds: { 'rate>0.99': true } },
        },
      },
      'summary.json',
    );
    assert.equal(s.format, 'k6-export');
    assert.deepEqual(s.metrics.xmpp_session_ready, {
      values: { avg: 5, min: 1, med: 4, max: 9, 'p(90)': 8, 'p(95)': 8.5 },
      thresholds: { 'p(95)<3000': true },
    });
    assert.deepEqual(s.metrics.xmpp_login_success, {
      values: { value: 0.5, passes: 1, fails: 1, rate: 0.5 },
      thresholds: { 'rate>0.99': false },
    });
  });
});

describe('a run with no XMPP metric (any k6 script)', () => {
  test('thresholds, generator and every metric; the XMPP sections are said to be left out', async () => {
    const dir = join(root, 'plain');
    await writeJson(dir, 'summary.json', {
      metrics: {
        http_reqs: { type: 'counter', contains: 'default', values: { count: 3, rate: 1.5 } },
        http_req_duration: {
          type: 'trend',
          contains: 'time',
          values: { avg: 2, min: 1, med: 2, max: 3, 'p(90)': 3, 'p(95)': 3 },
          thresholds: { 'p(95)<500': { ok: true } },
        },
      },
      state: { testRunDurationMs: 2000 },
    });
    await writeJson(dir, 'run.json', { runId: 'plain', script: '/x/s1.js', env: {}, exitCode: 0 });
    const html = await runReportHtml(dir);
    assert.match(html, /data-missing="xmpp">no XMPP metric in this run/);
    assert.match(html, /<code>http_reqs<\/code><\/td><td>counter<\/td><td><code>count=3 {2}rate=1.5<\/code>/);
    assert.match(html, /data-threshold="http_req_duration" data-expr="p\(95\)&lt;500" data-ok="true"/);
    assert.match(html, /data-verdict="passed">PASSED/);
    assert.doesNotMatch(html, /data-chart=/);
  });
});

describe('what is not a run directory', () => {
  test('a missing directory, an empty one, a summary.json cut short: each says what and how to fix it', async () => {
    await assert.rejects(readRunFiles(join(root, 'nowhere')), {
      name: 'ReportInputError',
      message: `${join(root, 'nowhere')} is not a directory: give a run's results directory`,
    });
    const empty = join(root, 'empty');
    await mkdir(empty);
    await assert.rejects(reportHtml(empty), {
      name: 'ReportInputError',
      message:
        `${empty} holds no run.json, summary.json or merged.json: not a run's results directory ` +
        '(starling run writes them to results/<run-id>/)',
    });
    const cut = join(root, 'cut');
    await mkdir(cut);
    await writeFile(join(cut, 'summary.json'), '{"metrics": {');
    await assert.rejects(readRunFiles(cut), (err: Error) => {
      assert.ok(err instanceof ReportInputError);
      assert.match(err.message, /summary\.json is not JSON \(.*\): was it cut short\?$/);
      return true;
    });
  });
});

describe('charts', () => {
  test('a distribution puts percentiles at 1/(1−q) and the maximum where the last sample is', () => {
    assert.deepEqual(
      distributionPercentiles(100),
      [0, 36.9043, 60.1893, 74.8811, 84.1511, 90, 93.6904, 96.0189, 97.4881, 98.4151, 99, 100],
    );
    assert.equal(percentileX(0, 1, 50), 1);
    assert.equal(percentileX(90, 1, 50), 10.000000000000002);
    assert.equal(percentileX(100, 100, 5000), 5000);
    assert.equal(percentileX(100, 100, 7), 100 * 10 ** 0.2);
  });

  test('they draw without a warning from vega or vega-lite', async () => {
    const d = distributionChart('d', 'dist', [
      {
        label: 'a',
        count: 3,
        points: [
          { percentile: 0, ms: 1 },
          { percentile: 50, ms: 2 },
          { percentile: 100, ms: 9 },
        ],
      },
      {
        label: 'b',
        count: 3,
        points: [
          { percentile: 0, ms: 2 },
          { percentile: 50, ms: 3 },
          { percentile: 100, ms: 4 },
        ],
      },
    ]);
    const t = timeChart(
      't',
      'time',
      'ms',
      [
        { t: 0, series: 'p50', value: 1 },
        { t: 1, series: 'p50', value: 2 },
        { t: 0, series: 'p99', value: 5 },
      ],
      { percentiles: true },
    );
    const xy = xyChart(
      'xy',
      'against size',
      'room size',
      'ms',
      [
        { x: 3, series: 'p50', value: 1 },
        { x: 6, series: 'p50', value: 2 },
        { x: 3, series: 'p95', value: 4 },
        { x: 6, series: 'p95', value: 5 },
        { x: 3, series: 'p99', value: 7 },
      ],
      { percentiles: true },
    );
    for (const chart of [d, t, xy]) {
      const r = await renderChart(chart);
      assert.deepEqual(r.warnings, [], chart.name);
      assert.match(r.svg, /^<svg [^>]*class="marks"/);
      assert.equal(
        [...r.svg.matchAll(/<g class="mark-symbol role-mark[^"]*"[^>]*>(.*?)<\/g>/g)].flatMap((m) => [
          ...m[1]!.matchAll(/<path /g),
        ]).length,
        chart.points,
      );
    }
  });

  test('element ids are scoped to their chart, so two inline SVGs never share one', () => {
    assert.equal(
      scopeSvgIds(
        '<svg><clipPath id="clip1"/><g clip-path="url(#clip1)"><use href="#clip1"/><a href="#top">x</a></g></svg>',
        'c',
      ),
      '<svg><clipPath id="c-clip1"/><g clip-path="url(#c-clip1)"><use href="#c-clip1"/><a href="#top">x</a></g></svg>',
    );
  });
});

describe('a capacity search’s page', () => {
  test('its chart, every step in a table, and each step’s own figures from its directory', async () => {
    const dir = join(root, 'capacity');
    const report = await writeCapacityRun(dir);
    const steps = report.repeats[0]!.steps;
    const html = await capacityReportHtml(report, dir);
    assert.ok(!html.includes('pw-xyz'), 'the page shows the target URL’s password');
    assert.match(html, /<figure data-chart="capacity"><svg/);
    const f = figures(html);
    for (const s of steps) {
      assert.equal(f.get(`step.${s.runId}.offered`), s.offered);
      assert.equal(f.get(`step.${s.runId}.p99`), s.latency.xmpp_message_delivery!.p99);
    }
    assert.equal(f.get('repeat.1.highestPass'), 150);
    // Steps with a directory show their own merged figures; the one without says why.
    const s1 = runSection(html, 'step-r1-s01-100');
    const collected = JSON.parse(
      await readFile(join(dir, 'r1-s01-100', 'collector-summary.json'), 'utf8'),
    ) as CollectorSummary;
    assert.equal(
      figures(s1).get('latency.xmpp_message_delivery.p99'),
      collected.histograms.find((h) => h.name === 'xmpp_message_delivery')!.p99,
    );
    assert.match(s1, /<figure data-chart="step-r1-s01-100.over-time.xmpp_message_delivery" data-points="9">/);
    assert.match(
      runSection(html, 'step-r1-s03-150'),
      new RegExp(`data-missing="step">${join(dir, 'r1-s03-150')} is not a directory`),
    );
    // Each step folded under a line with its verdict, load and SLO figures, closed; in the order run.
    assert.deepEqual(foldedRuns(html), [
      {
        key: 'step-r1-s01-100',
        open: false,
        summary:
          'PASSED repeat 1, step 1 (coarse): 100 messages/s achieved 100 messages/s · ' +
          'xmpp_message_delivery p(99)<200: 12 ms · server CPU 40 %',
      },
      {
        key: 'step-r1-s02-200',
        open: false,
        summary:
          'FAILED repeat 1, step 2 (refine): 200 messages/s achieved 160 messages/s · ' +
          'xmpp_message_delivery p(99)<200: 480 ms (failed) · server CPU 97 %',
      },
      {
        key: 'step-r1-s03-150',
        open: false,
        summary:
          'PASSED repeat 1, step 3 (refine): 150 messages/s achieved 150 messages/s · ' +
          'xmpp_message_delivery p(99)<200: 12 ms · server CPU 40 %',
      },
    ]);
    assert.equal(foldedRuns(html).length, steps.length);
    // The search's own sections stay open, before the steps.
    assert.ok(html.indexOf('<section id="steps">') < html.indexOf('<section id="each-step">'));
    assert.match(html, /<li><a href="#each-step">Each step<\/a><\/li>/);
    // `starling report <dir>` finds the search by its capacity.json.
    await writeJson(dir, 'capacity.json', report);
    assert.match(await reportHtml(dir), /<figure data-chart="capacity"><svg/);
  });
});

describe('a transport comparison’s page', () => {
  test('the side-by-side table is compare.json’s, the distributions overlay both transports, every run follows', async () => {
    const dir = join(root, 'compare');
    const runs = {
      'websocket-baseline': chatSummary(11),
      'websocket-full': chatSummary(12),
      'bosh-full': chatSummary(13),
    };
    for (const [key, r] of Object.entries(runs)) {
      await writeJson(join(dir, key), 'summary.json', r.summary);
      await writeJson(join(dir, key), 'run.json', {
        runId: key,
        script: '/x/transport-compare.js',
        env: {},
        exitCode: 0,
      });
    }
    const measured = (key: keyof typeof runs) => ({
      summary: runs[key].summary as unknown as RunSummary,
      exitCode: 0,
      generatorCpuSeconds: 1.5,
      wallSeconds: 10,
    });
    const report: ComparisonReport = {
      generatedAt: new Date(T0).toISOString(),
      server: 'local prosody',
      flow: { sessions: 40, messagesPerSession: 3, messageRatePerSession: 5, loginRate: 200 },
      notes: ['wire bytes are TCP payload'],
      transports: [
        compareTransport(
          {
            transport: 'websocket',
            url: 'ws://127.0.0.1:1/xmpp-websocket',
            sessions: 40,
            messageRatePerSession: 5,
          },
          measured('websocket-baseline'),
          measured('websocket-full'),
        ),
        compareTransport(
          {
            transport: 'bosh',
            url: 'http://dave:b0shpw@127.0.0.1:1/http-bind',
            sessions: 40,
            messageRatePerSession: 5,
          },
          measured('websocket-baseline'),
          measured('bosh-full'),
        ),
      ],
    };
    const html = await comparisonReportHtml(report, dir);
    assert.ok(!html.includes('b0shpw'), 'the page shows the BOSH URL’s password');
    const f = figures(html);
    let group = '';
    let rows = 0;
    for (const row of COMPARISON_ROWS) {
      if (typeof row === 'string') {
        group = row;
        continue;
      }
      const [label, pick] = row;
      const [ws, bosh] = report.transports.map(pick);
      assert.equal(f.get(`compare.websocket.${group}.${label.trim()}`), ws, `${group} ${label}`);
      assert.equal(f.get(`compare.bosh.${group}.${label.trim()}`), bosh, `${group} ${label}`);
      if (ws !== undefined && bosh !== undefined && ws > 0)
        assert.equal(f.get(`compare.ratio.${group}.${label.trim()}`), bosh / ws, `${group} ${label}`);
      rows++;
    }
    assert.ok(rows > 20);
    // min, p50, p90, p95, p99, p99.9, max of each transport's full run.
    assert.match(html, /<figure data-chart="compare.distribution.xmpp_session_ready" data-points="14"><svg/);
    assert.match(
      html,
      /<figure data-chart="compare.distribution.xmpp_message_delivery" data-points="14"><svg/,
    );
    for (const key of ['websocket-full', 'websocket-baseline', 'bosh-full']) {
      const s = runSection(html, key);
      const summary = runs[key as keyof typeof runs].summary as {
        xmpp: { latency: Record<string, { p99: number }> };
      };
      assert.equal(
        figures(s).get('latency.xmpp_session_ready.p99'),
        summary.xmpp.latency.xmpp_session_ready!.p99,
        key,
      );
      assert.match(s, new RegExp(`<figure data-chart="${key}.distribution.xmpp_session_ready"`));
    }
    assert.match(runSection(html, 'bosh-baseline'), /data-missing="run">.*bosh-baseline is not a directory/);
    // Each run folded under its verdict and headline, closed: four runs, four <details>, after the comparison.
    const headline = (key: keyof typeof runs): string => {
      const { ready, delivery, lost, failures } = runs[key].run;
      const attempted = ready.length + Object.values(failures).reduce((a, b) => a + b, 0);
      return (
        `exit 0: passed: every threshold held · ${ready.length} of ${attempted} sessions logged in · ` +
        `${delivery.length} messages delivered, ${lost} lost · ` +
        `message delivery p99 ${fmtMs(k6Percentile(delivery, 0.99))}`
      );
    };
    assert.deepEqual(foldedRuns(html), [
      {
        key: 'websocket-full',
        open: false,
        summary: `PASSED WebSocket, full run ${headline('websocket-full')}`,
      },
      {
        key: 'websocket-baseline',
        open: false,
        summary: `PASSED WebSocket, baseline run ${headline('websocket-baseline')}`,
      },
      { key: 'bosh-full', open: false, summary: `PASSED BOSH, full run ${headline('bosh-full')}` },
      {
        key: 'bosh-baseline',
        open: false,
        summary: 'NO RESULTS BOSH, baseline run nothing was written (open for why)',
      },
    ]);
    assert.match(
      headline('bosh-full'),
      /^exit 0: passed: every threshold held · 40 of 44 sessions logged in · 300 messages delivered, 2 lost · message delivery p99 \d/,
    );
    assert.ok(html.indexOf('<section id="distributions">') < html.indexOf('<section id="each-run">'));
  });
});
