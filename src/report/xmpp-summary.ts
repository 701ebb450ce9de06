/**
 * starling's own XMPP summary, beside k6's (src/engine/summary.ts, whose width and humanize helpers it shares):
 * the table `starling run` prints after k6's text summary, and the `xmpp` section of summary.json that the HTML
 * report reads.
 */
import type { MetricStore } from '../engine/metrics.ts';
import {
  humanizeDuration,
  humanizeValue,
  strWidth,
  type SummaryData,
  type SummaryMetric,
} from '../engine/summary.ts';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_RATES, XMPP_TRENDS } from '../contract/metric-names.ts';

// ---------------------------------------------------------------------------------------------------------------
// XMPP table

/** The tag each XMPP counter is broken down by (see the comments in src/contract/metric-names.ts). */
export const XMPP_COUNTER_BREAKDOWN: Readonly<Record<string, string>> = {
  [XMPP_COUNTERS.stanzasSent]: 'kind',
  [XMPP_COUNTERS.stanzasReceived]: 'kind',
  [XMPP_COUNTERS.streamErrors]: 'condition',
  [XMPP_COUNTERS.sessionFailures]: 'reason',
};

function renderTable(rows: string[][], indent: string, leftCols = 1): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, strWidth(c))));
  return rows.map((row) =>
    (
      indent +
      row
        .map((c, i) => {
          const pad = ' '.repeat((widths[i] ?? 0) - strWidth(c));
          return i < leftCols ? c + pad : pad + c;
        })
        .join('  ')
    ).trimEnd(),
  );
}

export interface XmppTableOptions {
  indent?: string;
}

/**
 * What a reader must not miss, in words: no session logged in (and why), and what was lost. A rate with no
 * samples prints as 0% in the tables, which reads like a pass.
 */
function xmppVerdicts(data: SummaryData, store: MetricStore | undefined): string[] {
  const lines: string[] = [];
  const value = (name: string, key: string): number | undefined => data.metrics[name]?.values[key];
  const attempts =
    (value(XMPP_RATES.loginSuccess, 'passes') ?? 0) + (value(XMPP_RATES.loginSuccess, 'fails') ?? 0);
  const opened = value(XMPP_COUNTERS.sessionsOpened, 'count') ?? 0;
  if (data.metrics[XMPP_COUNTERS.sessionsOpened] !== undefined && opened === 0) {
    if (attempts === 0) lines.push('no session was attempted: nothing was measured');
    else {
      const failures = store?.get(XMPP_COUNTERS.sessionFailures);
      const reasons =
        failures?.sink.type === 'counter'
          ? [...(failures.sink.tagBreakdown('reason')?.values ?? [])]
              .sort((a, b) => b[1] - a[1])
              .slice(0, 3)
              .map(([reason, n]) => `${reason} ×${n}`)
          : [];
      lines.push(
        `no session logged in: all ${attempts} logins failed${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`,
      );
    }
  }
  for (const [name, what] of [
    [XMPP_RATES.messageLoss, 'messages'],
    [XMPP_RATES.presenceLoss, 'directed presences'],
  ] as const) {
    const lost = value(name, 'passes');
    const delivered = value(name, 'fails');
    if (lost === undefined || delivered === undefined || lost + delivered === 0) continue;
    lines.push(
      `${what}: ${lost + delivered} sent, ${delivered} delivered, ${lost} lost` +
        (lost > 0 ? ' (not received within XMPP_LOSS_WINDOW, or the addressee session ended first)' : ''),
    );
  }
  return lines;
}

/**
 * A compact table of the XMPP metrics present in `data`: per-phase latency (count, p50, p90, p99, max), rates as
 * percentages, counters with their per-tag breakdown (failures by reason, stream errors by condition, stanzas by
 * kind) and the open-sessions gauge. With the store, percentiles are exact whatever `summaryTrendStats` is and the
 * breakdowns are shown; without it, values come from `data` (p50 = med; missing columns print '-').
 * Returns '' when no XMPP metric was observed.
 */
export function xmppTable(data: SummaryData, store?: MetricStore, opts: XmppTableOptions = {}): string {
  const indent = opts.indent ?? ' ';
  const timeUnit = data.options.summaryTimeUnit;
  const present = (name: string) => data.metrics[name] !== undefined;
  const out: string[] = [];
  const dur = (v: number | undefined) => (v === undefined ? '-' : humanizeDuration(v, timeUnit));

  for (const line of xmppVerdicts(data, store)) out.push(`${indent}${line}`);

  const trends = Object.values(XMPP_TRENDS).filter(present);
  if (trends.length > 0) {
    if (out.length > 0) out.push('');
    const rows = [['latency', 'count', 'p50', 'p90', 'p99', 'max']];
    for (const name of trends) {
      const m = store?.get(name);
      const v = (data.metrics[name] as SummaryMetric).values;
      if (m !== undefined && m.sink.type === 'trend') {
        const s = m.sink;
        rows.push([name, String(s.count), dur(s.p(0.5)), dur(s.p(0.9)), dur(s.p(0.99)), dur(s.max)]);
      } else {
        const count = v['count'];
        rows.push([
          name,
          count === undefined ? '-' : String(count),
          dur(v['p(50)'] ?? v['med']),
          dur(v['p(90)']),
          dur(v['p(99)']),
          dur(v['max']),
        ]);
      }
    }
    out.push(...renderTable(rows, indent));
  }

  const rates = Object.values(XMPP_RATES).filter(present);
  if (rates.length > 0) {
    const rows = [['rate', '%', 'passes', 'total']];
    for (const name of rates) {
      const metric = data.metrics[name] as SummaryMetric;
      const passes = metric.values['passes'] ?? 0;
      const fails = metric.values['fails'] ?? 0;
      rows.push([
        name,
        humanizeValue(metric.values['rate'] ?? 0, metric),
        String(passes),
        String(passes + fails),
      ]);
    }
    if (out.length > 0) out.push('');
    out.push(...renderTable(rows, indent));
  }

  const counters = Object.values(XMPP_COUNTERS).filter(present);
  if (counters.length > 0) {
    const rows = [['counter', 'count', 'per s']];
    for (const name of counters) {
      const metric = data.metrics[name] as SummaryMetric;
      rows.push([
        name,
        humanizeValue(metric.values['count'] ?? 0, metric),
        humanizeValue(metric.values['rate'] ?? 0, metric),
      ]);
      const tagKey = XMPP_COUNTER_BREAKDOWN[name];
      const m = store?.get(name);
      if (tagKey === undefined || m === undefined || m.sink.type !== 'counter') continue;
      const breakdown = m.sink.tagBreakdown(tagKey);
      if (breakdown === undefined) continue;
      const entries = [...breakdown.values].sort(
        (a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0),
      );
      for (const [value, count] of entries)
        rows.push([`  ${tagKey}=${value}`, humanizeValue(count, metric), '']);
      if (breakdown.other !== 0)
        rows.push([`  ${tagKey}=(other)`, humanizeValue(breakdown.other, metric), '']);
    }
    if (out.length > 0) out.push('');
    out.push(...renderTable(rows, indent));
  }

  const gauges = Object.values(XMPP_GAUGES).filter(present);
  if (gauges.length > 0) {
    const rows = [['gauge', 'value', 'min', 'max']];
    for (const name of gauges) {
      const metric = data.metrics[name] as SummaryMetric;
      const v = metric.values;
      rows.push([
        name,
        humanizeValue(v['value'] ?? 0, metric),
        humanizeValue(v['min'] ?? 0, metric),
        humanizeValue(v['max'] ?? 0, metric),
      ]);
    }
    if (out.length > 0) out.push('');
    out.push(...renderTable(rows, indent));
  }

  return out.length === 0 ? '' : [`${indent}XMPP`, ...out].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// starling's XMPP section of summary.json

/** One XMPP trend over every sample (ms), with k6's percentile definition (TrendSink.p). */
export interface XmppLatency {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  'p99.9': number;
  max: number;
}

/** An XMPP counter's sums per value of the tag it is broken down by; `other` sums the values past the cap. */
export interface XmppBreakdown {
  tag: string;
  values: Record<string, number>;
  other: number;
}

/**
 * `xmpp` in summary.json, beside k6's fields: what k6's data cannot say, so the HTML report has it without a
 * collector: exact percentiles whatever `summaryTrendStats` is, and failures by reason, stream errors by
 * condition and stanzas by kind.
 */
export interface XmppSummary {
  latency: Record<string, XmppLatency>;
  breakdowns: Record<string, XmppBreakdown>;
}

/** The XMPP section of summary.json; undefined when the run observed no XMPP trend or broken-down counter. */
export function xmppSummary(store: MetricStore): XmppSummary | undefined {
  const latency: Record<string, XmppLatency> = {};
  for (const name of Object.values(XMPP_TRENDS)) {
    const sink = store.get(name)?.sink;
    if (sink?.type !== 'trend' || sink.isEmpty()) continue;
    latency[name] = {
      count: sink.count,
      min: sink.min,
      p50: sink.p(0.5),
      p90: sink.p(0.9),
      p95: sink.p(0.95),
      p99: sink.p(0.99),
      'p99.9': sink.p(0.999),
      max: sink.max,
    };
  }
  const breakdowns: Record<string, XmppBreakdown> = {};
  for (const [name, tag] of Object.entries(XMPP_COUNTER_BREAKDOWN)) {
    const sink = store.get(name)?.sink;
    const b = sink?.type === 'counter' ? sink.tagBreakdown(tag) : undefined;
    if (b === undefined) continue;
    breakdowns[name] = { tag, values: Object.fromEntries(b.values), other: b.other };
  }
  if (Object.keys(latency).length === 0 && Object.keys(breakdowns).length === 0) return undefined;
  return { latency, breakdowns };
}
