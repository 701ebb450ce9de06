/**
 * report.html in a real browser (Debian's chromium through playwright-core): a real chat run with --collect against
 * a throwaway Prosody, a real compare-transports run, and a capacity search's page. Each page must load from
 * file:// with no console error and no request besides itself, show the figures of the files it was made from, and
 * draw its charts; a comparison's runs and a search's steps are folded (closed `<details>`) until a click opens
 * them, and printed in full. A screenshot of each is kept in test-output/ (and of the comparison with its first run
 * open).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { CollectorSummary } from '../../src/collector/summary.ts';
import type { HlogIndexEntry } from '../../src/collector/hlog.ts';
import { COMPARISON_ROWS, type ComparisonReport } from '../../src/report/compare-transports.ts';
import { writeReport } from '../../src/report/html.ts';
import { startLocalServer } from '../../src/targets/index.ts';
import {
  drawnCharts,
  foldedSections,
  launchBrowser,
  openFile,
  pageFigures,
  pageHeight,
  screenshot,
  unfold,
  type DrawnChart,
} from '../helpers/browser.ts';
import { runChatCollect, runStarling } from '../helpers/cli.ts';
import { writeCapacityRun, writeJson } from './fixtures.ts';

interface SummaryFile {
  metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
  generator: { eventLoopDelay: Record<string, number> };
}

const TOKEN = 'tok-s3cret-4242';

/**
 * The compare page's height with its runs folded, at most. Measured at 1280 px wide: 2,497 px folded, 19,630 px
 * with every run open (19,588 px before runs were folded), so one run in full is about 4,300 px. The bound leaves
 * 1,000 px for longer notes or wrapped lines, and fails if even one run were left open.
 */
const COMPARE_FOLDED_MAX_PX = 3500;

let browser: Browser;
let root = '';
before(async () => {
  browser = await launchBrowser();
  root = await mkdtemp(join(tmpdir(), 'starling-report-browser-'));
});
after(async () => {
  await browser.close();
  await rm(root, { recursive: true, force: true });
});

/** Every chart drew: it has a size, a line, and one point mark per data point it says it has. */
function assertDrawn(charts: readonly DrawnChart[]): void {
  assert.ok(charts.length > 0, 'no chart');
  for (const c of charts) {
    assert.ok(c.width > 100 && c.height > 100, `${c.name} is ${c.width}×${c.height}`);
    assert.ok(c.lines > 0, `${c.name} has no line`);
    assert.equal(c.pointMarks, c.points, `${c.name}: ${c.pointMarks} point marks for ${c.points} points`);
  }
}

describe('report.html in chromium', () => {
  test('a chat run with --collect: the page shows the figures of its files and draws every chart', async (t) => {
    const server = await startLocalServer({ kind: 'prosody', users: 10 });
    t.after(() => server.stop());
    const results = join(root, 'chat');
    const { dir, result: r } = await runChatCollect(results, {
      XMPP_URL: server.websocketUrl,
      XMPP_DOMAIN: server.domain,
      VUS: '2',
      SESSIONS_PER_VU: '5',
      LOGIN_RATE: '50',
      DURATION: '8s',
      MESSAGE_RATE: '2',
      // Snapshots every second (5 s by default), so that 8 s of messages span more than one 5 s interval.
      STARLING_FLUSH_INTERVAL: '1s',
      STARLING_COLLECTOR_TOKEN: TOKEN,
    });
    const file = join(dir, 'report.html');
    assert.ok(r.stderr.includes(`starling: report: ${file}\n`), r.stderr);
    const read = async <T>(name: string): Promise<T> =>
      JSON.parse(await readFile(join(dir, name), 'utf8')) as T;
    const summary = await read<SummaryFile>('summary.json');
    const collected = await read<CollectorSummary>('collector-summary.json');
    const index = await read<HlogIndexEntry[]>('hdr/index.json');
    const runJson = await read<{ exitCode: number }>('run.json');

    const opened = await openFile(browser, file);
    t.after(() => opened.close());
    const shot = await screenshot(opened.page, 'report-chat.png');
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(opened.errors, []);
    assert.deepEqual(opened.requests, []);

    const f = await pageFigures(opened.page);
    // Latency: the merged histograms, as the collector summarised them (one series per metric in this run).
    const measured = collected.histograms.filter((h) => h.name.startsWith('xmpp_'));
    const counts = JSON.stringify(measured.map((h) => [h.name, h.count]));
    assert.ok(
      measured.some((h) => h.name === 'xmpp_session_ready' && h.count === 10),
      counts,
    );
    assert.ok(
      measured.some((h) => h.name === 'xmpp_message_delivery' && h.count > 0),
      counts,
    );
    for (const h of measured) {
      assert.equal(f.get(`latency.${h.name}.count`), h.count, h.name);
      for (const p of ['p50', 'p90', 'p99', 'p99.9', 'max'] as const)
        assert.equal(f.get(`latency.${h.name}.${p}`), h[p], `${h.name} ${p}`);
    }
    // Counts, thresholds, exit code and the generator: summary.json's and run.json's.
    const values = (m: string): Record<string, number> => summary.metrics[m]!.values;
    assert.equal(f.get('sessions.loggedIn'), values('xmpp_login_success').passes);
    assert.equal(f.get('sessions.attempted'), 10);
    const loss = values('xmpp_message_loss');
    assert.equal(f.get('messages.sent'), loss.passes! + loss.fails!);
    assert.equal(f.get('messages.delivered'), loss.fails);
    assert.equal(f.get('messages.lost'), loss.passes);
    assert.equal(f.get('exit-code'), runJson.exitCode);
    assert.equal(f.get('generator.delay.p99'), summary.generator.eventLoopDelay.p99);
    let thresholds = 0;
    for (const [metric, m] of Object.entries(summary.metrics))
      for (const [expr, { ok }] of Object.entries(m.thresholds ?? {})) {
        const row = opened.page.locator(`tr[data-threshold="${metric}"][data-expr="${expr}"]`);
        assert.equal(await row.getAttribute('data-ok'), String(ok), `${metric} ${expr}`);
        thresholds++;
      }
    assert.equal(await opened.page.locator('tr[data-threshold]').count(), thresholds);
    assert.equal(await opened.page.locator('[data-verdict]').first().getAttribute('data-verdict'), 'passed');
    // One run's page folds nothing away.
    assert.equal(await opened.page.locator('details').count(), 0);

    const charts = await drawnCharts(opened.page);
    assertDrawn(charts);
    const points = new Map(charts.map((c) => [c.name, c.points]));
    const drawn = JSON.stringify([...points.keys()]);
    for (const h of measured) assert.ok(points.has(`run.distribution.${h.name}`), `${h.name}: ${drawn}`);
    // Over time: p50, p99 and max per interval of each metric that has two intervals or more.
    const oneInterval = (await opened.page.locator('[data-missing="one-interval"]').allTextContents()).join(
      '',
    );
    for (const e of index.filter((x) => x.name.startsWith('xmpp_'))) {
      if (e.intervals > 1) assert.equal(points.get(`run.over-time.${e.name}`), 3 * e.intervals, e.name);
      else assert.ok(!points.has(`run.over-time.${e.name}`) && oneInterval.includes(e.name), e.name);
    }
    for (const name of ['over-time.xmpp_message_delivery', 'rates', 'over-time.generator_event_loop_delay'])
      assert.ok(points.has(`run.${name}`), `run.${name} is not among ${drawn}`);

    const html = await opened.page.content();
    assert.ok(!html.includes(TOKEN), 'the page shows the collector token');
    assert.equal(
      await opened.page.locator('[data-env="STARLING_COLLECTOR_TOKEN"]').textContent(),
      '[redacted]',
    );
    assert.match((await opened.page.locator('[data-missing="tap"]').textContent()) ?? '', /^no tap ran/);

    // `starling report` writes it again, from the files alone.
    const again = await runStarling(['report', dir]);
    assert.equal(again.code, 0, again.output);
    assert.equal(again.stdout, `${file}\n`);
    assert.match(await readFile(file, 'utf8'), /data-chart="run.rates"/);
  });

  test('compare-transports: one page with the comparison and both transports’ runs', async (t) => {
    const cwd = await mkdtemp(join(root, 'compare-'));
    const r = await runStarling(
      [
        'compare-transports',
        '--sessions',
        '4',
        '--sessions-per-vu',
        '2',
        '--messages',
        '2',
        '--message-rate',
        '4',
        '-e',
        'MESSAGE_START_DELAY=300ms',
      ],
      { cwd },
    );
    assert.equal(r.code, 0, r.output);
    const [id] = await readdir(join(cwd, 'results'));
    const resultsRoot = join(cwd, 'results', id!);
    const report = JSON.parse(await readFile(join(resultsRoot, 'compare.json'), 'utf8')) as ComparisonReport;

    const opened = await openFile(browser, join(resultsRoot, 'report.html'));
    t.after(() => opened.close());
    const shot = await screenshot(opened.page, 'report-compare.png');
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(opened.errors, []);
    assert.deepEqual(opened.requests, []);

    // The comparison first; then each run folded under one line (verdict, exit, sessions), closed.
    const runs = report.transports.flatMap((tc) =>
      (['full', 'baseline'] as const).map((phase) => ({
        key: `${tc.transport}-${phase}`,
        label: `${tc.transport === 'bosh' ? 'BOSH' : 'WebSocket'}, ${phase} run`,
        exit: tc.exitCodes[phase],
      })),
    );
    const folded = await foldedSections(opened.page);
    assert.equal(folded.length, runs.length, JSON.stringify(folded));
    for (const [i, run] of runs.entries()) {
      const summary = JSON.parse(
        await readFile(join(resultsRoot, run.key, 'summary.json'), 'utf8'),
      ) as SummaryFile;
      const loggedIn = summary.metrics.xmpp_login_success!.values.passes;
      const verdict = run.exit === 0 ? 'PASSED' : 'FAILED';
      assert.equal(folded[i]!.open, false, run.key);
      assert.ok(
        folded[i]!.summary.startsWith(`${verdict} ${run.label} exit ${run.exit}: `) &&
          folded[i]!.summary.includes(` · ${loggedIn} of `),
        `${run.key}: ${folded[i]!.summary}`,
      );
      assert.equal(
        await opened.page.locator(`section[data-run="${run.key}"] > details > summary`).textContent(),
        folded[i]!.summary,
      );
    }
    assert.equal(await opened.page.locator('#comparison').isVisible(), true);
    assert.equal(await opened.page.locator('section[data-run="bosh-full"] .run-body').isVisible(), false);
    const foldedHeight = await pageHeight(opened.page);
    t.diagnostic(`page height, runs folded: ${foldedHeight} px`);
    // Before, every run in full one after the other: 19,588 px. Folded: the comparison table (38 rows), the
    // runs table, three distribution charts and four lines.
    assert.ok(foldedHeight < COMPARE_FOLDED_MAX_PX, `${foldedHeight} px`);
    // Printed, every run shows in full (the closed <details>' content too).
    await opened.page.emulateMedia({ media: 'print' });
    assert.equal(await opened.page.locator('section[data-run="bosh-full"] .run-body').isVisible(), true);
    t.diagnostic(`page height, as printed: ${await pageHeight(opened.page)} px`);
    await opened.page.emulateMedia({ media: 'screen' });
    // A reader opens the first run.
    await opened.page.locator(`section[data-run="${runs[0]!.key}"] > details > summary`).click();
    assert.equal(
      await opened.page.locator(`section[data-run="${runs[0]!.key}"] .run-body`).isVisible(),
      true,
    );
    assert.equal(await opened.page.locator('section[data-run="bosh-full"] .run-body').isVisible(), false);
    const shotOpen = await screenshot(opened.page, 'report-compare-open.png');
    t.diagnostic(`screenshot: ${shotOpen}`);
    // Then every other one: all charts draw, and the page is as long as it was before.
    assert.equal(await unfold(opened.page), runs.length - 1);
    const openHeight = await pageHeight(opened.page);
    t.diagnostic(`page height, every run open: ${openHeight} px`);
    assert.ok(foldedHeight * 4 < openHeight, `${foldedHeight} px folded, ${openHeight} px open`);
    const f = await pageFigures(opened.page, '#comparison');
    let group = '';
    for (const row of COMPARISON_ROWS) {
      if (typeof row === 'string') {
        group = row;
        continue;
      }
      const [label, pick] = row;
      for (const tc of report.transports)
        assert.equal(
          f.get(`compare.${tc.transport}.${group}.${label.trim()}`),
          pick(tc),
          `${tc.transport} ${group} ${label}`,
        );
    }
    for (const key of ['websocket-full', 'websocket-baseline', 'bosh-full', 'bosh-baseline'])
      assert.equal(await opened.page.locator(`section[data-run="${key}"]`).count(), 1, key);
    const full = await pageFigures(opened.page, 'section[data-run="bosh-full"]');
    const boshSummary = JSON.parse(
      await readFile(join(resultsRoot, 'bosh-full', 'summary.json'), 'utf8'),
    ) as {
      xmpp: { latency: Record<string, { p99: number }> };
    };
    assert.equal(
      full.get('latency.xmpp_message_delivery.p99'),
      boshSummary.xmpp.latency.xmpp_message_delivery!.p99,
    );
    const charts = await drawnCharts(opened.page);
    assertDrawn(charts);
    assert.ok(
      charts.some((c) => c.name === 'compare.distribution.xmpp_message_delivery'),
      JSON.stringify(charts.map((c) => c.name)),
    );
  });

  test('a capacity search’s page: the capacity chart and every step’s charts draw', async (t) => {
    const dir = join(root, 'capacity');
    const report = await writeCapacityRun(dir);
    await writeJson(dir, 'capacity.json', report);
    const file = await writeReport(dir);
    const opened = await openFile(browser, file);
    t.after(() => opened.close());
    const shot = await screenshot(opened.page, 'report-capacity.png');
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(opened.errors, []);
    assert.deepEqual(opened.requests, []);
    // Each step folded under its line (verdict, step, load), closed; opened, its charts draw.
    const steps = report.repeats[0]!.steps;
    const folded = await foldedSections(opened.page);
    assert.deepEqual(
      folded.map((x) => [x.open, x.summary.slice(0, x.summary.indexOf(' achieved '))]),
      steps.map((s) => [
        false,
        `${s.pass ? 'PASSED' : 'FAILED'} repeat 1, step ${s.index} (${s.phase}): ${s.offered} messages/s`,
      ]),
    );
    const foldedHeight = await pageHeight(opened.page);
    assert.equal(await unfold(opened.page), steps.length);
    const openHeight = await pageHeight(opened.page);
    t.diagnostic(`page height: ${foldedHeight} px with the steps folded, ${openHeight} px open`);
    assert.ok(foldedHeight * 2 < openHeight, `${foldedHeight} px folded, ${openHeight} px open`);
    const charts = await drawnCharts(opened.page);
    const capacity = charts.find((c) => c.name === 'capacity');
    assert.ok(capacity && capacity.width > 400 && capacity.pointMarks > 0, JSON.stringify(capacity));
    assertDrawn(charts.filter((c) => c.name !== 'capacity'));
    assert.equal(await opened.page.locator('section[data-run]').count(), steps.length);
  });
});
