/** The terminal table of a capacity search: a row per step as it finishes, then the verdict. */
import type { SearchResult, Step } from './types.ts';

const SHORT: Record<string, string> = {
  xmpp_session_ready: 'ready',
  xmpp_iq_rtt: 'ping',
  xmpp_message_delivery: 'delivery',
};

const short = (metric: string): string => SHORT[metric] ?? metric.replace(/^xmpp_/, '');

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : String(Number(v.toPrecision(3))));
const num = (v: number): string =>
  Number.isInteger(v) || v >= 1000
    ? v.toFixed(0)
    : v >= 100
      ? v.toFixed(1)
      : Number(v.toPrecision(3)).toString();
const pct = (share: number): string => `${Math.round(share * 100)}%`;

function columns(unit: string, metrics: readonly string[]): [string, number][] {
  return [
    ['step', 4],
    ['phase', 6],
    [`offered ${unit}`, Math.max(9, unit.length + 8)],
    ['achieved', 9],
    ...metrics.map((m): [string, number] => [`${short(m)} p50/p95/p99 ms`, 24]),
    ['login fail', 10],
    ['gen CPU', 8],
    ['server CPU', 10],
    ['verdict', 7],
  ];
}

export function formatStepHeader(unit: string, metrics: readonly string[]): string {
  return columns(unit, metrics)
    .map(([name, width]) => name.padEnd(width))
    .join('  ')
    .trimEnd();
}

export function formatStepRow(step: Step, metrics: readonly string[]): string {
  const widths = columns('', metrics).map(([, w]) => w);
  widths[2] = Math.max(widths[2]!, 9);
  const gen = Math.max(0, ...step.generators.map((g) => g.cpuPeakSpan));
  const saturated = step.generators.some((g) => g.saturated);
  const failRate = step.logins.attempts === 0 ? 'none' : pct(step.logins.failures / step.logins.attempts);
  const cells = [
    String(step.index),
    step.phase,
    num(step.offered),
    num(step.achieved),
    ...metrics.map((m) => {
      const p = step.latency[m];
      return p && p.count > 0 ? `${ms(p.p50)} / ${ms(p.p95)} / ${ms(p.p99)}` : 'no samples';
    }),
    failRate,
    `${pct(gen)}${saturated ? ' SAT' : ''}`,
    step.serverCpu === undefined ? '–' : pct(step.serverCpu),
    step.pass ? 'pass' : 'FAIL',
  ];
  const failing = step.rows.filter((r) => !r.ok).map((r) => `${r.metric} ${r.threshold}: ${r.display}`);
  const tail = [
    ...failing,
    ...(step.messages && step.messages.lost > 0 ? [`${step.messages.lost} messages lost`] : []),
    ...(step.fellOver ? [step.fellOver] : []),
  ];
  const row = cells
    .map((c, i) => c.padEnd(widths[i] ?? 0))
    .join('  ')
    .trimEnd();
  return tail.length > 0 ? `${row}  (${tail.join('; ')})` : row;
}

export function formatVerdict(r: SearchResult, unit: string): string {
  const lines: string[] = [];
  if (r.highestPass === undefined) {
    lines.push(`no load met the SLO: even the lowest step (${r.firstFail} ${unit}) failed.`);
  } else if (r.firstFail === undefined) {
    lines.push(`capacity: at least ${r.highestPass} ${unit} (no step failed).`);
  } else {
    const what = r.isServerCapacity ? 'capacity' : 'NOT the server’s capacity';
    lines.push(
      `${what}: ${r.highestPass} ${unit} met the SLO; ${r.firstFail} ${unit} did not (${r.failedTerms.join('; ')}).`,
    );
  }
  lines.push(`limit: ${r.limitText}.`);
  return lines.join('\n');
}
