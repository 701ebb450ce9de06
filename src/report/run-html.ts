/**
 * One run's figures as HTML: the sections of report.html, and the block a comparison or capacity page repeats for
 * each of its runs. Figures carry `data-figure`/`data-value`, thresholds `data-threshold`, charts `data-chart`.
 */
import type { GeneratorHealth } from '../engine/health.ts';
import { distributionChart, timeChart, xyChart, type Chart, type TimePoint } from './charts.ts';
import {
  chartFigures,
  esc,
  figureCell,
  fmtCount,
  fmtMs,
  fmtShare,
  note,
  section,
  table,
  textCell,
} from './html-page.ts';
import {
  TABLE_PERCENTILES,
  type LatencyTable,
  type OverTime,
  type RoomFigures,
  type RunFigures,
  type Tally,
  type ThresholdFigure,
} from './run-figures.ts';

/** What a rate over time counts, per latency metric whose samples are events of that kind. */
const RATE_LABELS: Record<string, string> = {
  xmpp_session_ready: 'sessions ready /s',
  xmpp_message_delivery: 'messages delivered /s',
  xmpp_presence_delivery: 'presences delivered /s',
  xmpp_iq_rtt: 'IQ answers /s',
  xmpp_close: 'sessions closed /s',
};

export interface RunHtmlOptions {
  /** Prefixes ids, chart names and figure names' scope: unique in the page. */
  key: string;
  /** compact: latency (no distribution charts), over time, failures and generators only (a capacity step). */
  compact?: boolean;
  /** Only these metrics' latency over time (a capacity step draws its SLO's). */
  overTimeMetrics?: readonly string[];
}

/**
 * The anchors of a run's sections, for the page's contents; with the run's figures, the rooms' sections too when
 * it has them.
 */
export function runContents(key: string, f?: RunFigures): [string, string][] {
  return [
    [`${key}-thresholds`, 'Thresholds'],
    [`${key}-sessions`, 'Sessions and losses'],
    ...(f?.xmpp && f.rooms ? [[`${key}-rooms`, 'Rooms'] as [string, string]] : []),
    [`${key}-latency`, 'Latency'],
    ...(f?.xmpp && f.rooms && f.rooms.bySize.length > 0
      ? [[`${key}-room-sizes`, 'Room join latency against room size'] as [string, string]]
      : []),
    [`${key}-over-time`, 'Over time'],
    [`${key}-failures`, 'Failures'],
    [`${key}-generator`, 'Generator'],
    [`${key}-tap`, 'Tap'],
    [`${key}-config`, 'Configuration'],
    [`${key}-metrics`, 'All metrics'],
  ];
}

/** The coloured verdict; `label` says it in other words than PASSED / FAILED (a capacity found, or not). */
export function verdictBadge(verdict: 'passed' | 'failed' | 'unknown', key?: string, text?: string): string {
  const label = text ?? (verdict === 'passed' ? 'PASSED' : verdict === 'failed' ? 'FAILED' : 'NO VERDICT');
  return `<span class="verdict ${verdict}"${key ? ` data-figure="${esc(key)}"` : ''} data-verdict="${verdict}">${esc(label)}</span>`;
}

/** The run's heading block: its name, verdict, exit code and error. */
export function runHeader(f: RunFigures, level: 1 | 3): string {
  const o = f.outcome;
  return (
    `<h${level}>${esc(f.title)}${f.runId ? ` <small>run <code>${esc(f.runId)}</code></small>` : ''}</h${level}>` +
    `<p class="outcome">${verdictBadge(o.verdict, 'verdict')} ` +
    (o.exitCode !== undefined
      ? `<span data-figure="exit-code" data-value="${o.exitCode}">${esc(o.text)}</span>`
      : esc(o.text)) +
    '</p>' +
    (o.error ? `<p class="error" data-figure="error">${esc(o.error)}</p>` : '') +
    f.missing.map((m) => note(m, 'file')).join('')
  );
}

/** Latency metrics a headline names, most telling first, with the words it uses for them. */
const HEADLINE_LATENCY: [metric: string, words: string][] = [
  ['xmpp_message_delivery', 'message delivery'],
  ['xmpp_session_ready', 'login'],
];

/**
 * A run in one line, for a page that folds its runs away: its outcome, sessions logged in, messages delivered and
 * lost, and the p99 of its message delivery (or of its logins when it sent no message). Text, not yet escaped.
 */
export function runHeadline(f: RunFigures): string {
  const parts = [f.outcome.text];
  const s = f.sessions;
  if (s) parts.push(`${fmtCount(s.loggedIn)} of ${fmtCount(s.attempted)} sessions logged in`);
  const m = f.losses.find((l) => l.what === 'messages');
  if (m) parts.push(`${fmtCount(m.delivered)} messages delivered, ${fmtCount(m.lost)} lost`);
  const rows = 'rows' in f.latency ? f.latency.rows : [];
  for (const [metric, words] of HEADLINE_LATENCY) {
    const p99 = rows.find((r) => r.metric === metric)?.values.p99;
    if (p99 === undefined) continue;
    parts.push(`${words} p99 ${fmtMs(p99)}`);
    break;
  }
  return parts.join(' · ');
}

function thresholdsHtml(f: RunFigures): string {
  if (!Array.isArray(f.thresholds)) return note(f.thresholds.why, 'thresholds');
  if (f.thresholds.length === 0) return note('the run set no thresholds', 'thresholds');
  const observed = (t: ThresholdFigure): string => {
    const o = t.observed;
    if (!o) return '<td class="num missing">–</td>';
    const text = (v: number): string =>
      o.unit === 'ms' ? fmtMs(v) : o.unit === '%' ? fmtShare(v, 2) : fmtCount(v);
    return `<td class="num" data-value="${o.value}">${esc(`${o.stat} = ${text(o.value)}`)}</td>`;
  };
  const rows = f.thresholds.map(
    (t) =>
      `<tr data-threshold="${esc(t.metric)}" data-expr="${esc(t.expr)}" data-ok="${t.ok}">` +
      `${textCell(t.metric)}<td><code>${esc(t.expr)}</code></td>${observed(t)}` +
      `${textCell(t.ok ? 'held' : 'CROSSED', t.ok ? 'ok' : 'fail')}</tr>`,
  );
  return (
    `<table><thead><tr><th>metric</th><th>threshold</th><th>at the end</th><th>verdict</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

function sessionsHtml(f: RunFigures): string {
  const parts: string[] = [];
  const s = f.sessions;
  if (s) {
    const c = (name: string, v: number | undefined): string => figureCell(`sessions.${name}`, v, fmtCount);
    parts.push(
      table(
        ['logins attempted', 'logged in', 'failed logins', 'clean closes', 'closes'],
        [
          [
            c('attempted', s.attempted),
            c('loggedIn', s.loggedIn),
            c('failedLogins', s.failedLogins),
            c('cleanCloses', s.cleanCloses),
            c('closes', s.closes),
          ],
        ],
      ),
    );
  } else parts.push(note('no login was counted (xmpp_login_success has no sample)', 'sessions'));
  if (f.losses.length > 0) {
    parts.push(
      table(
        ['timed stanzas', 'sent', 'delivered', 'lost', 'lost %'],
        f.losses.map((l) => {
          const key = l.what === 'messages' ? 'messages' : 'presences';
          return [
            textCell(l.what),
            figureCell(`${key}.sent`, l.sent, fmtCount),
            figureCell(`${key}.delivered`, l.delivered, fmtCount),
            figureCell(`${key}.lost`, l.lost, fmtCount),
            figureCell(`${key}.lostShare`, l.lost / l.sent, (v) => fmtShare(v, 3)),
          ];
        }),
      ),
      note(
        'lost: not received within XMPP_LOSS_WINDOW, or the addressee’s session ended first (xmpp_message_loss, xmpp_presence_loss)',
      ),
    );
  } else
    parts.push(note('no timed chat message or directed presence was sent: no chat loss to count', 'losses'));
  return parts.join('');
}

const FANOUT_LABELS = {
  message: 'groupchat messages',
  presence: 'room presences',
  all: 'messages and presences',
} as const;

/** Multi-user chat in brief: joins that got in, what the rooms delivered of what was sent, and losses. */
function roomsHtml(r: RoomFigures): string {
  const parts: string[] = [];
  if (r.joins) {
    const { ok, total } = r.joins;
    parts.push(
      `<p>room joins: <strong data-figure="rooms.joins.ok" data-value="${ok}">${esc(fmtCount(ok))}</strong> of ` +
        `<strong data-figure="rooms.joins.total" data-value="${total}">${esc(fmtCount(total))}</strong> joined ` +
        `(${esc(fmtShare(ok / total))})</p>`,
    );
  } else parts.push(note('no room join was counted (xmpp_muc_join_success has no sample)', 'rooms.joins'));
  parts.push(
    table(
      ['room fan-out', 'expected', 'received', 'received ÷ expected'],
      r.fanout.map((x) => [
        textCell(FANOUT_LABELS[x.kind]),
        figureCell(`rooms.fanout.${x.kind}.expected`, x.expected, fmtCount),
        figureCell(`rooms.fanout.${x.kind}.received`, x.received, fmtCount),
        figureCell(
          `rooms.fanout.${x.kind}.share`,
          x.expected > 0 ? x.received / x.expected : undefined,
          (v) => fmtShare(v, 2),
        ),
      ]),
    ),
    note(
      `expected: each other occupant a broadcast’s sender saw in the room; received: each broadcast an occupant ` +
        `got, in any VU or generator (xmpp_muc_fanout_expected, xmpp_muc_fanout_received); ${r.fanoutSource}`,
    ),
  );
  if (r.losses.length > 0)
    parts.push(
      table(
        ['room loss', 'recipients', 'lost', 'lost %'],
        r.losses.map((l) => {
          const key = l.what === 'groupchat messages' ? 'messages' : 'presences';
          return [
            textCell(l.what),
            figureCell(`rooms.loss.${key}.samples`, l.samples, fmtCount),
            figureCell(`rooms.loss.${key}.lost`, l.lost, fmtCount),
            figureCell(`rooms.loss.${key}.lostShare`, l.lost / l.samples, (v) => fmtShare(v, 3)),
          ];
        }),
      ),
      note(
        'recipients in the sender’s own VU only, each lost when not received within XMPP_LOSS_WINDOW ' +
          '(xmpp_muc_message_loss, xmpp_muc_presence_loss); recipients in other VUs count in the fan-out alone',
      ),
    );
  else
    parts.push(note('no room broadcast had a recipient in its sender’s VU: no loss to count', 'rooms.loss'));
  return parts.join('');
}

const ROOM_SIZE_COLUMNS = ['p50', 'p95', 'p99', 'max'] as const;

/** The join latency of each room size, as a table and as p50/p95/p99 against the size. */
function roomSizesHtml(r: RoomFigures, key: string): { html: string; charts: Chart[] } {
  const rows = r.bySize.map((s) => [
    figureCell(`room-size.${s.size}.size`, s.size, fmtCount),
    figureCell(`room-size.${s.size}.joins`, s.count, fmtCount),
    ...ROOM_SIZE_COLUMNS.map((p) => figureCell(`room-size.${s.size}.${p}`, s.values[p], fmtMs)),
  ]);
  const points = r.bySize.flatMap((s) =>
    (['p50', 'p95', 'p99'] as const).flatMap((p) => {
      const value = s.values[p];
      return value === undefined ? [] : [{ x: s.size, series: p, value }];
    }),
  );
  return {
    html:
      table(['room size', 'joins', 'p50', 'p95', 'p99', 'max'], rows) +
      note(
        'xmpp_muc_join (join presence sent → the room’s self-presence) of the occupants tagged room_size, from ' +
          'summary.json’s sub-metrics xmpp_muc_join{room_size:N}',
      ) +
      (r.bySizeNote ? note(r.bySizeNote, 'room-size-percentiles') : ''),
    charts:
      points.length > 0
        ? [
            xyChart(
              `${key}.room-sizes`,
              'room join latency against room size',
              'room size (occupants)',
              'latency (ms)',
              points,
              { percentiles: true },
            ),
          ]
        : [],
  };
}

function latencyTableHtml(t: LatencyTable, scope: string): string {
  const rows = t.rows.map((r) => [
    textCell(r.metric),
    figureCell(`${scope}.${r.metric}.count`, r.count, fmtCount),
    ...[...TABLE_PERCENTILES, 'max' as const].map((p) =>
      figureCell(`${scope}.${r.metric}.${p}`, r.values[p], fmtMs),
    ),
  ]);
  return (
    table(['metric', 'count', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max'], rows) +
    note(`source: ${t.source}`) +
    (t.note ? note(t.note, 'percentiles') : '')
  );
}

function latencyHtml(f: RunFigures, key: string): { html: string; charts: Chart[] } {
  if (!('rows' in f.latency)) return { html: note(f.latency.why, 'latency'), charts: [] };
  const charts = f.distributions
    .filter((d) => d.points.length > 1)
    .map((d) =>
      distributionChart(`${key}.distribution.${d.metric}`, `${d.metric}: percentile distribution`, [
        { label: d.metric, count: d.count, points: d.points },
      ]),
    );
  return { html: latencyTableHtml(f.latency, 'latency'), charts };
}

function percentilePoints(o: OverTime): TimePoint[] {
  return o.points.flatMap((p) => [
    { t: p.t, series: 'p50', value: p.p50 },
    { t: p.t, series: 'p99', value: p.p99 },
    { t: p.t, series: 'max', value: p.max },
  ]);
}

/** Latency and rates over time as charts; a metric whose samples all fell in one interval is named instead. */
async function overTimeHtml(f: RunFigures, key: string, metrics?: readonly string[]): Promise<string> {
  const o = f.overTime;
  if (!o.available) return note(o.why, 'over-time');
  const latency = o.latency.filter((l) => metrics === undefined || metrics.includes(l.metric));
  const drawn = latency.filter((l) => l.points.length > 1);
  const single = latency.filter((l) => l.points.length === 1).map((l) => l.metric);
  const charts = drawn.map((l) =>
    timeChart(
      `${key}.over-time.${l.metric}`,
      `${l.metric} per ${o.intervalSeconds} s`,
      'latency (ms)',
      percentilePoints(l),
      { percentiles: true, seconds: o.spanSeconds },
    ),
  );
  const rates = latency
    .filter((l) => RATE_LABELS[l.metric] !== undefined)
    .flatMap((l) =>
      l.points.map((p) => ({ t: p.t, series: RATE_LABELS[l.metric] as string, value: p.count / p.seconds })),
    );
  if (rates.length > 0)
    charts.push(
      timeChart(`${key}.rates`, `rates per ${o.intervalSeconds} s`, 'per second', rates, {
        seconds: o.spanSeconds,
      }),
    );
  return (
    (await chartFigures(charts)) +
    (single.length > 0
      ? note(
          `${single.join(', ')}: every sample fell in one ${o.intervalSeconds} s interval, so there is no line ` +
            'to draw (the latency table has their figures)',
          'one-interval',
        )
      : '')
  );
}

function tallyHtml(t: Tally, what: string, tag: string, figure: string): string {
  if (t.total === undefined)
    return note(`${what}: no data (neither summary.json nor merged.json counts them)`, figure);
  const head = `<p>${esc(what)}: <strong data-figure="${esc(figure)}.total" data-value="${t.total}">${esc(fmtCount(t.total))}</strong></p>`;
  if (t.by === undefined) return head + note(t.note ?? '', figure);
  if (t.by.length === 0) return head;
  return (
    head +
    table(
      [tag, 'count'],
      t.by.map(([k, n]) => [`<td><code>${esc(k)}</code></td>`, figureCell(`${figure}.${k}`, n, fmtCount)]),
    ) +
    (t.note ? note(t.note) : '')
  );
}

function failuresHtml(f: RunFigures): string {
  return (
    tallyHtml(f.failures, 'session failures', 'reason', 'failures') +
    tallyHtml(f.streamErrors, 'stream errors', 'condition', 'stream-errors') +
    tallyHtml(f.stanzasSent, 'stanzas sent', 'kind', 'stanzas-sent') +
    tallyHtml(f.stanzasReceived, 'stanzas received', 'kind', 'stanzas-received')
  );
}

function healthHtml(h: GeneratorHealth): string {
  const d = h.eventLoopDelay;
  const g = (name: string, v: number, text: (v: number) => string): string =>
    figureCell(`generator.${name}`, v, text);
  const verdict = h.verdict
    ? `<p class="error" data-figure="generator.verdict">${esc(h.verdict)}</p>`
    : h.sampledMs < h.rule.sustainMs
      ? note(`not judged: the run was shorter than ${h.rule.sustainMs / 1000} s`)
      : `<p data-figure="generator.verdict">not saturated</p>`;
  return (
    `<p>this Node engine process (pid ${h.pid}), ${(h.sampledMs / 1000).toFixed(0)} s sampled every ` +
    `${h.rule.sampleMs / 1000} s</p>` +
    table(
      ['event-loop delay', 'p50', 'p90', 'p99', 'p99.9', 'max'],
      [
        [
          textCell('whole run'),
          g('delay.p50', d.p50, fmtMs),
          g('delay.p90', d.p90, fmtMs),
          g('delay.p99', d.p99, fmtMs),
          g('delay.p999', d.p999, fmtMs),
          g('delay.max', d.max, fmtMs),
        ],
      ],
    ) +
    table(
      ['share of one core', 'mean', 'busiest sample', `busiest ${h.rule.sustainMs / 1000} s`],
      [
        [
          textCell('CPU'),
          g('cpu.mean', h.cpu.mean, fmtShare),
          g('cpu.peakSample', h.cpu.peakSample, fmtShare),
          g('cpu.peakSpan', h.cpu.peakSpan, fmtShare),
        ],
        [
          textCell('event loop busy'),
          g('busy.mean', h.eventLoopBusy.mean, fmtShare),
          '<td class="num missing">–</td>',
          g('busy.peakSpan', h.eventLoopBusy.peakSpan, fmtShare),
        ],
      ],
    ) +
    verdict
  );
}

function generatorHtml(f: RunFigures, key: string): { html: string; charts: Chart[] } {
  const g = f.generator;
  const parts: string[] = [];
  if (g.why) parts.push(note(g.why, 'generator'));
  if (g.health) parts.push(healthHtml(g.health));
  if (g.fleet) {
    parts.push(
      `<h3>every generator, from merged.json</h3>` +
        table(
          ['generator', 'delay samples', 'p50', 'p99', 'max', 'CPU s', 'saturated'],
          g.fleet.map((x) => [
            `<td><code>${esc(x.generator)}</code></td>`,
            figureCell(`fleet.${x.generator}.count`, x.delay.count, fmtCount),
            figureCell(`fleet.${x.generator}.p50`, x.delay.p50, fmtMs),
            figureCell(`fleet.${x.generator}.p99`, x.delay.p99, fmtMs),
            figureCell(`fleet.${x.generator}.max`, x.delay.max, fmtMs),
            figureCell(`fleet.${x.generator}.cpu`, x.cpuSeconds, (v) => v.toFixed(2)),
            textCell(
              x.saturated === undefined ? '–' : x.saturated ? 'SATURATED' : 'no',
              x.saturated ? 'fail' : '',
            ),
          ]),
        ),
    );
  }
  const o = f.overTime;
  const charts =
    o.available && o.generatorDelay && o.generatorDelay.points.length > 1
      ? [
          timeChart(
            `${key}.over-time.generator_event_loop_delay`,
            `generator event-loop delay per ${o.intervalSeconds} s`,
            'delay (ms)',
            percentilePoints(o.generatorDelay),
            { percentiles: true, seconds: o.spanSeconds },
          ),
        ]
      : [];
  return { html: parts.join(''), charts };
}

function tapHtml(f: RunFigures): string {
  const t = f.tap;
  if (!t.ran) return note(t.why ?? 'no tap ran', 'tap');
  const frames = t.frames?.length
    ? table(
        ['direction', 'frames'],
        t.frames.map(([d, n]) => [textCell(d), figureCell(`tap.frames.${d}`, n, fmtCount)]),
      )
    : note('the tap saw no frame');
  const violations = t.violations?.length
    ? table(
        ['framing violation', 'direction', 'count'],
        t.violations.map((v) => [
          `<td><code>${esc(v.kind)}</code></td>`,
          textCell(v.direction),
          figureCell(`tap.violations.${v.kind}.${v.direction}`, v.count, fmtCount),
        ]),
      )
    : `<p data-figure="tap.violations.total" data-value="0">no framing violation (RFC 7395 framing held in every frame)</p>`;
  const latency = t.latency && t.latency.rows.length > 0 ? latencyTableHtml(t.latency, 'tap') : '';
  return frames + violations + latency;
}

function configHtml(f: RunFigures): string {
  const rows = f.config.map(([k, v]) => [textCell(k), `<td><code>${esc(v)}</code></td>`]);
  const env = f.env.map(([k, v]) => [
    `<td><code>${esc(k)}</code></td>`,
    `<td><code data-env="${esc(k)}">${esc(v)}</code></td>`,
  ]);
  return (
    (rows.length
      ? table(['setting', 'value'], rows)
      : note('nothing is recorded about how this run was started')) +
    (env.length
      ? `<h3>variables given with -e (passwords, secrets and tokens masked)</h3>${table(['variable', 'value'], env)}`
      : note('no -e variables (or no run.json)'))
  );
}

function metricsHtml(f: RunFigures): string {
  if (f.metrics.length === 0) return note('no summary.json: no k6 metrics', 'metrics');
  const value = (k: string, v: number): string => `${k}=${Number.isInteger(v) ? v : Number(v.toFixed(3))}`;
  return table(
    ['metric', 'type', 'values (as in summary.json)'],
    f.metrics.map((m) => [
      `<td><code>${esc(m.name)}</code></td>`,
      textCell(m.type ?? ''),
      `<td><code>${esc(
        Object.entries(m.values)
          .map(([k, v]) => value(k, v))
          .join('  '),
      )}</code></td>`,
    ]),
  );
}

/** A run's sections (without its heading): everything, or a capacity step's compact view. */
export async function runBody(f: RunFigures, opts: RunHtmlOptions): Promise<string> {
  const key = opts.key;
  const generator = generatorHtml(f, key);
  if (opts.compact) {
    const overTime = await overTimeHtml(f, key, opts.overTimeMetrics);
    return [
      section(`${key}-latency`, 'Latency over the whole step', latencyHtml(f, key).html, 3),
      section(`${key}-over-time`, 'Over time', overTime, 3),
      section(`${key}-sessions`, 'Sessions and losses', sessionsHtml(f), 3),
      section(`${key}-failures`, 'Failures, stream errors and stanzas', failuresHtml(f), 3),
      section(`${key}-generator`, 'Generators', generator.html, 3),
    ].join('');
  }
  const head = section(`${key}-thresholds`, 'Thresholds', thresholdsHtml(f));
  const tail =
    section(`${key}-generator`, 'Generator', generator.html + (await chartFigures(generator.charts))) +
    section(`${key}-tap`, 'Tap', tapHtml(f)) +
    section(`${key}-config`, 'Configuration', configHtml(f)) +
    section(`${key}-metrics`, 'All metrics (summary.json)', metricsHtml(f));
  if (!f.xmpp)
    return head + note('no XMPP metric in this run: no sessions, latency or failures to show', 'xmpp') + tail;
  const latency = latencyHtml(f, key);
  const overTime = await overTimeHtml(f, key);
  const sizes = f.rooms && f.rooms.bySize.length > 0 ? roomSizesHtml(f.rooms, key) : undefined;
  return (
    head +
    section(`${key}-sessions`, 'Sessions and losses', sessionsHtml(f)) +
    (f.rooms ? section(`${key}-rooms`, 'Rooms', roomsHtml(f.rooms)) : '') +
    section(`${key}-latency`, 'Latency', latency.html + (await chartFigures(latency.charts))) +
    (sizes
      ? section(
          `${key}-room-sizes`,
          'Room join latency against room size',
          sizes.html + (await chartFigures(sizes.charts)),
        )
      : '') +
    section(`${key}-over-time`, 'Over time', overTime) +
    section(`${key}-failures`, 'Failures, stream errors and stanzas', failuresHtml(f)) +
    tail
  );
}
