/**
 * report.html: one self-contained page per results directory, written by every `starling run` and by
 * `starling report <dir>`. A run's page shows its configuration (credentials masked), thresholds, sessions and
 * losses, multi-user chat rooms (joins, fan-out, room losses, join latency against room size), latency percentiles
 * and distributions, latency and rates over time, failures, the generator's health and a tap's framing violations;
 * a transport comparison shows both transports' runs side by side and then each run; a capacity search shows its
 * chart, every step, and each step's own figures. A comparison's runs and a search's steps are folded
 * (`<details>`, closed) under a line with their verdict and headline figures. Charts are inline SVG drawn by vega
 * at report time: the page has no script and loads nothing.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CapacityReport, SearchResult, Step } from '../capacity/types.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { distributionChart, scopeSvgIds, type Chart } from './charts.ts';
import { COMPARISON_ROWS, type ComparisonReport, type TransportComparison } from './compare-transports.ts';
import {
  chartFigures,
  esc,
  figureCell,
  fmtCount,
  fmtMs,
  fmtShare,
  note,
  page,
  runDetails,
  section,
  table,
  textCell,
} from './html-page.ts';
import { readJson, readRunFiles, REPORT_FILE, ReportInputError, type RunFiles } from './run-data.ts';
import { runFigures, type RunFigures } from './run-figures.ts';
import { runBody, runContents, runHeader, runHeadline, verdictBadge } from './run-html.ts';

export { REPORT_FILE, ReportInputError } from './run-data.ts';

export const CAPACITY_FILE = 'capacity.json';
export const COMPARE_FILE = 'compare.json';

// ---------------------------------------------------------------------------------------------------------------
// One run

/** The page of one run directory (results/<run-id>/). */
export async function runReportHtml(dir: string): Promise<string> {
  const f = runFigures(await readRunFiles(dir));
  return page(
    `${f.title}${f.runId ? ` ${f.runId}` : ''} — starling report`,
    runHeader(f, 1),
    runContents('run', f),
    await runBody(f, { key: 'run' }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// BOSH against WebSocket

/** A sub-run's figures, or why there are none (a run interrupted before it wrote anything). */
async function subRun(dir: string): Promise<RunFigures | string> {
  try {
    return runFigures(await readRunFiles(dir));
  } catch (err) {
    if (err instanceof ReportInputError) return err.message;
    throw err;
  }
}

const DISTRIBUTED = ['xmpp_session_ready', 'xmpp_message_delivery', 'xmpp_presence_delivery'] as const;

function comparisonTable(r: ComparisonReport): string {
  const cols = (['websocket', 'bosh'] as const).map((t) => r.transports.find((x) => x.transport === t));
  const rows: string[] = [];
  let group = '';
  for (const row of COMPARISON_ROWS) {
    if (typeof row === 'string') {
      group = row;
      rows.push(`<tr class="group"><th colspan="4">${esc(row)}</th></tr>`);
      continue;
    }
    const [label, pick, digits] = row;
    const name = `${group}.${label.trim()}`;
    const values = cols.map((t) => (t ? pick(t) : undefined));
    const [a, b] = values;
    const cells = values.map((v, i) =>
      figureCell(`compare.${i === 0 ? 'websocket' : 'bosh'}.${name}`, v, (x) => x.toFixed(digits)),
    );
    const ratio = a !== undefined && b !== undefined && a > 0 ? b / a : undefined;
    rows.push(
      `<tr>${textCell(label.trim())}${cells.join('')}${figureCell(`compare.ratio.${name}`, ratio, (x) => `${x.toFixed(2)}×`)}</tr>`,
    );
  }
  return (
    '<table><thead><tr><th></th><th>WebSocket</th><th>BOSH</th><th>BOSH ÷ WebSocket</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

function exitCodes(r: ComparisonReport): string {
  return table(
    ['transport', 'baseline run exit', 'full run exit', 'URL'],
    r.transports.map((t: TransportComparison) => [
      textCell(t.transport),
      figureCell(`exit.${t.transport}.baseline`, t.exitCodes.baseline, String),
      figureCell(`exit.${t.transport}.full`, t.exitCodes.full, String),
      `<td><code>${esc(maskUrlPasswords(t.url))}</code></td>`,
    ]),
  );
}

const FOLDED = 'each in full, folded away: open its line for all its figures';

/** One run of a comparison, folded under its verdict and headline. */
async function foldedRun(r: { key: string; label: string; figures: RunFigures | string }): Promise<string> {
  if (typeof r.figures === 'string')
    return runDetails(
      r.key,
      `${verdictBadge('unknown', undefined, 'NO RESULTS')} ${esc(r.label)}`,
      'nothing was written (open for why)',
      note(r.figures, 'run'),
    );
  return runDetails(
    r.key,
    `${verdictBadge(r.figures.outcome.verdict)} ${esc(r.label)}`,
    esc(runHeadline(r.figures)),
    runHeader(r.figures, 3) + (await runBody(r.figures, { key: r.key })),
  );
}

/**
 * The page of `starling compare-transports`: the comparison, then each of its four runs folded under one line
 * (results in `dir`).
 */
export async function comparisonReportHtml(report: ComparisonReport, dir: string): Promise<string> {
  const runs: { key: string; label: string; figures: RunFigures | string }[] = [];
  for (const t of report.transports)
    for (const phase of ['full', 'baseline'] as const)
      runs.push({
        key: `${t.transport}-${phase}`,
        label: `${t.transport === 'bosh' ? 'BOSH' : 'WebSocket'}, ${phase} run`,
        figures: await subRun(join(dir, `${t.transport}-${phase}`)),
      });
  const full = runs.filter((r) => r.key.endsWith('-full') && typeof r.figures !== 'string');
  const charts: Chart[] = DISTRIBUTED.flatMap((metric) => {
    const series = full.flatMap((r) => {
      const d = (r.figures as RunFigures).distributions.find((x) => x.metric === metric);
      return d ? [{ label: r.key.replace(/-full$/, ''), count: d.count, points: d.points }] : [];
    });
    return series.length > 0
      ? [distributionChart(`compare.distribution.${metric}`, `${metric}: WebSocket and BOSH`, series)]
      : [];
  });
  const f = report.flow;
  const anyFailed = report.transports.some((t) => t.exitCodes.baseline !== 0 || t.exitCodes.full !== 0);
  const header =
    `<h1>BOSH against WebSocket on ${esc(report.server)}</h1>` +
    `<p class="outcome">${verdictBadge(anyFailed ? 'failed' : 'passed', 'verdict')} ` +
    `${esc(`${f.sessions} sessions per transport, ${f.messagesPerSession} messages each at ${f.messageRatePerSession}/s, logins at ${f.loginRate}/s; generated ${report.generatedAt}`)}</p>`;
  const main =
    section(
      'comparison',
      'Side by side',
      comparisonTable(report) + report.notes.map((n) => note(n)).join(''),
    ) +
    section('exit-codes', 'Runs', exitCodes(report)) +
    section('distributions', 'Latency distributions (full runs)', await chartFigures(charts)) +
    section('each-run', 'Each run', note(FOLDED) + (await Promise.all(runs.map(foldedRun))).join(''));
  return page(
    `BOSH vs WebSocket on ${report.server} — starling report`,
    header,
    [
      ['comparison', 'Side by side'],
      ['exit-codes', 'Runs'],
      ['distributions', 'Distributions'],
      ...runs.map((r): [string, string] => [r.key, r.label]),
    ],
    main,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Capacity

function stepLabel(s: Step, run: string, unit: string): string {
  return `${run}, step ${s.index} (${s.phase}): ${fmtCount(s.offered)} ${unit}`;
}

/** A step in one line: what the server did at that offer, each SLO term's value, its CPU, and whether it fell over. */
function stepHeadline(s: Step, unit: string): string {
  return [
    `achieved ${fmtCount(Number(s.achieved.toFixed(1)))} ${unit}`,
    ...s.rows.map((row) => `${row.metric} ${row.threshold}: ${row.display}${row.ok ? '' : ' (failed)'}`),
    ...(s.logins.failures > 0 ? [`${fmtCount(s.logins.failures)} login failures`] : []),
    ...(s.serverCpu !== undefined ? [`server CPU ${fmtShare(s.serverCpu, 0)}`] : []),
    ...(s.fellOver ? ['the server fell over'] : []),
  ].join(' · ');
}

function repeatsTable(r: CapacityReport): string {
  const row = (x: SearchResult, i: number): string[] => [
    textCell(`repeat ${i + 1}`),
    figureCell(`repeat.${i + 1}.highestPass`, x.highestPass, fmtCount),
    figureCell(`repeat.${i + 1}.firstFail`, x.firstFail, fmtCount),
    textCell(x.limit),
    textCell(x.isServerCapacity ? 'yes' : 'no'),
    textCell(x.limitText),
    textCell(x.failedTerms.join('; ')),
  ];
  return table(
    [
      'search',
      `highest pass (${r.unit})`,
      `first failure (${r.unit})`,
      'limit',
      'server’s capacity',
      'who was the limit',
      'failing SLO terms',
    ],
    r.repeats.map(row),
  );
}

function stepsTable(
  r: CapacityReport,
  steps: { run: string; step: Step }[],
  metric: string | undefined,
): string {
  return table(
    [
      'search',
      'step',
      'phase',
      `offered (${r.unit})`,
      `achieved (${r.unit})`,
      `${metric ?? 'latency'} p50`,
      'p95',
      'p99',
      'login failures',
      'generator CPU (busiest)',
      'server CPU',
      'SLO',
    ],
    steps.map(({ run, step: s }) => {
      const p = metric === undefined ? undefined : s.latency[metric];
      const key = `step.${s.runId}`;
      return [
        textCell(run),
        figureCell(`${key}.index`, s.index, String),
        textCell(s.phase),
        figureCell(`${key}.offered`, s.offered, fmtCount),
        figureCell(`${key}.achieved`, s.achieved, (v) => fmtCount(Number(v.toFixed(1)))),
        figureCell(`${key}.p50`, p?.p50, fmtMs),
        figureCell(`${key}.p95`, p?.p95, fmtMs),
        figureCell(`${key}.p99`, p?.p99, fmtMs),
        figureCell(`${key}.loginFailures`, s.logins.failures, fmtCount),
        figureCell(`${key}.generatorCpu`, Math.max(0, ...s.generators.map((g) => g.cpuPeakSpan)), (v) =>
          fmtShare(v, 0),
        ),
        figureCell(`${key}.serverCpu`, s.serverCpu, (v) => fmtShare(v, 0)),
        textCell(s.pass ? 'pass' : 'FAIL', s.pass ? 'ok' : 'fail'),
      ];
    }),
  );
}

function sloRows(s: Step): string {
  return table(
    ['SLO term', 'on the step’s window', 'verdict'],
    s.rows.map((row) => [
      `<td><code>${esc(`${row.metric} ${row.threshold}`)}</code></td>`,
      textCell(row.display),
      textCell(row.ok ? 'held' : 'FAILED', row.ok ? 'ok' : 'fail'),
    ]),
  );
}

/**
 * The page of a capacity search: the verdict per repeat, the capacity chart, every step in a table, then each
 * step's own figures from its directory (`dir`/<step run id>/: merged.json and the interval logs).
 */
export async function capacityReportHtml(report: CapacityReport, dir: string): Promise<string> {
  // The capacity chart's module loads vega at once: only a capacity page needs it.
  const { capacityChartSvg, mainLatencyMetric } = await import('../capacity/chart.ts');
  const metric = mainLatencyMetric(report);
  const steps = [
    ...report.repeats.flatMap((r, i) => r.steps.map((step) => ({ run: `repeat ${i + 1}`, step }))),
    ...(report.verification?.steps ?? []).map((step) => ({ run: 'verification', step })),
  ];
  const chart = scopeSvgIds((await capacityChartSvg(report)).replace(/^<\?xml[^>]*>\s*/, ''), 'capacity');
  const found = report.repeats.some((r) => r.highestPass !== undefined);
  const spread = report.spread;
  const header =
    `<h1>${esc(`${report.dimension} capacity — ${report.server}`)}</h1>` +
    `<p class="outcome">${verdictBadge(found ? 'passed' : 'failed', 'verdict', found ? 'CAPACITY FOUND' : 'NO CAPACITY')} ` +
    esc(
      spread
        ? `capacity over ${report.repeats.length} ${report.repeats.length === 1 ? 'search' : 'searches'}: ` +
            `min ${fmtCount(spread.min)}, median ${fmtCount(spread.median)}, max ${fmtCount(spread.max)} ${report.unit}`
        : 'no load met the SLO',
    ) +
    '</p>' +
    (report.verification ? `<p data-figure="verification">${esc(report.verification.text)}</p>` : '') +
    `<p>${esc(
      `${report.transport}; SLO ${Object.entries(report.slo)
        .flatMap(([m, ts]) => ts.map((t) => `${m} ${t}`))
        .join(', ')}; generated ${report.generatedAt}`,
    )}</p>`;
  const stepSections: string[] = [];
  for (const { run, step } of steps) {
    const stepDir = join(dir, step.runId);
    let files: RunFiles | undefined;
    let why = '';
    try {
      files = await readRunFiles(stepDir);
    } catch (err) {
      if (!(err instanceof ReportInputError)) throw err;
      why = err.message;
    }
    const key = `step-${step.runId}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const body = files
      ? await runBody(runFigures(files), {
          key,
          compact: true,
          overTimeMetrics: Object.keys(report.slo),
        })
      : note(why, 'step');
    stepSections.push(
      runDetails(
        key,
        `${verdictBadge(step.pass ? 'passed' : 'failed')} ${esc(stepLabel(step, run, report.unit))}`,
        esc(stepHeadline(step, report.unit)),
        (step.fellOver ? `<p class="error">${esc(step.fellOver)}</p>` : '') + sloRows(step) + body,
      ),
    );
  }
  const settings = table(
    ['setting', 'value'],
    Object.entries(report.settings).map(([k, v]) => [textCell(k), `<td><code>${esc(String(v))}</code></td>`]),
  );
  const main =
    section('searches', 'Searches', repeatsTable(report)) +
    section('chart', 'Chart', `<div class="charts"><figure data-chart="capacity">${chart}</figure></div>`) +
    section('steps', 'Every step', stepsTable(report, steps, metric)) +
    section('settings', 'Settings', settings) +
    section('each-step', 'Each step', note(FOLDED) + stepSections.join(''));
  return page(
    `${report.dimension} capacity of ${report.server} — starling report`,
    header,
    [
      ['searches', 'Searches'],
      ['chart', 'Chart'],
      ['steps', 'Every step'],
      ['settings', 'Settings'],
      ['each-step', 'Each step'],
    ],
    main,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Any results directory

/** The page for whatever `dir` holds: a capacity search, a transport comparison, or one run. */
export async function reportHtml(dir: string): Promise<string> {
  const capacity = await readJson(join(dir, CAPACITY_FILE));
  if (capacity !== undefined) {
    const c = capacity as Partial<CapacityReport>;
    if (c.version !== 1 || !Array.isArray(c.repeats))
      throw new ReportInputError(`${join(dir, CAPACITY_FILE)} is not a version 1 capacity report`);
    return capacityReportHtml(capacity as CapacityReport, dir);
  }
  const compare = await readJson(join(dir, COMPARE_FILE));
  if (compare !== undefined) {
    const c = compare as Partial<ComparisonReport>;
    if (!Array.isArray(c.transports) || c.flow === undefined)
      throw new ReportInputError(`${join(dir, COMPARE_FILE)} is not a transport comparison`);
    return comparisonReportHtml(compare as ComparisonReport, dir);
  }
  return runReportHtml(dir);
}

/** Writes `dir`/report.html (or `out`) for whatever `dir` holds; returns the file written. */
export async function writeReport(dir: string, out = join(dir, REPORT_FILE)): Promise<string> {
  await writeFile(out, await reportHtml(dir));
  return out;
}
