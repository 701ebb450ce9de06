/**
 * WebSocket against BOSH on the same flow, from the summaries of four runs: per transport a baseline (log in,
 * one presence, close) and the full flow (the same plus N messages per session). What one message costs on the
 * wire is the difference between the two, divided by the messages: login and close overhead cancel out.
 */

export type Transport = 'websocket' | 'bosh';

/** The part of a run's summary.json this report reads. */
export interface RunSummary {
  metrics: Record<string, { values: Record<string, number> } | undefined>;
}

export interface ServerUsage {
  cpuSeconds: number;
  /** Highest resident set size seen during the run, KiB. */
  peakRssKiB: number;
  /** Resident set size before the run (accounts loaded, no session), KiB. */
  idleRssKiB: number;
}

/** One run as measured: its summary, the generator's CPU, the local server's usage when there is one. */
export interface MeasuredRun {
  summary: RunSummary;
  exitCode: number;
  generatorCpuSeconds: number;
  wallSeconds: number;
  server?: ServerUsage;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface TransportComparison {
  transport: Transport;
  url: string;
  sessions: { planned: number; loggedIn: number; cleanCloseRate: number };
  /** delivered / lost: within XMPP_LOSS_WINDOW or not (xmpp_message_loss), the run's verdict on each message. */
  messages: { sent: number; delivered: number; lost: number; perSecond: number; offeredPerSecond: number };
  latencyMs: { login: Percentiles; messageDelivery: Percentiles; presenceDelivery: Percentiles };
  /** Bytes on the wire (HTTP headers, WebSocket framing, TCP payload; not TCP/IP headers). */
  wire: {
    perSession: { sentBytes: number; receivedBytes: number; httpRequests: number };
    perMessage: { sentBytes: number; receivedBytes: number; httpRequests: number };
  };
  /** `busyPercent`: CPU seconds ÷ wall seconds of the full run, in % of one core (100 = one core saturated). */
  generator: {
    cpuSeconds: number;
    baselineCpuSeconds: number;
    /** Undefined when no message was delivered or the full run cost no more CPU than its baseline (too few to resolve). */
    cpuMsPerMessage: number | undefined;
    busyPercent: number;
  };
  server?: {
    cpuSeconds: number;
    busyPercent: number;
    baselineCpuSeconds: number;
    peakRssMiB: number;
    rssKiBPerSession: number;
  };
  exitCodes: { baseline: number; full: number };
}

export interface ComparisonReport {
  generatedAt: string;
  server: string;
  flow: { sessions: number; messagesPerSession: number; messageRatePerSession: number; loginRate: number };
  notes: string[];
  transports: TransportComparison[];
}

function busy(cpuSeconds: number, wallSeconds: number): number {
  return wallSeconds > 0 ? (cpuSeconds / wallSeconds) * 100 : 0;
}

function value(s: RunSummary, metric: string, key: string): number {
  return s.metrics[metric]?.values[key] ?? 0;
}

function percentiles(s: RunSummary, metric: string): Percentiles {
  return {
    p50: value(s, metric, 'med'),
    p90: value(s, metric, 'p(90)'),
    p99: value(s, metric, 'p(99)'),
    max: value(s, metric, 'max'),
  };
}

export interface FlowFacts {
  transport: Transport;
  url: string;
  sessions: number;
  messageRatePerSession: number;
}

export function compareTransport(
  flow: FlowFacts,
  baseline: MeasuredRun,
  full: MeasuredRun,
): TransportComparison {
  const b = baseline.summary;
  const f = full.summary;
  const sent = value(f, 'xmpp_stanzas_sent', 'count') - value(b, 'xmpp_stanzas_sent', 'count');
  const delivered = value(f, 'xmpp_message_loss', 'fails');
  const lost = value(f, 'xmpp_message_loss', 'passes');
  const phaseMs =
    value(f, 'starling_message_phase_end', 'max') - value(f, 'starling_message_phase_start', 'min');
  const loggedIn = value(f, 'xmpp_login_success', 'passes');
  const perMessage = (metric: string): number =>
    delivered > 0 ? (value(f, metric, 'count') - value(b, metric, 'count')) / delivered : 0;
  const baseSessions = Math.max(1, value(b, 'xmpp_login_success', 'passes'));
  const result: TransportComparison = {
    transport: flow.transport,
    url: flow.url,
    sessions: { planned: flow.sessions, loggedIn, cleanCloseRate: value(f, 'xmpp_clean_close', 'rate') },
    messages: {
      sent,
      delivered,
      lost,
      perSecond: phaseMs > 0 ? delivered / (phaseMs / 1000) : 0,
      offeredPerSecond: loggedIn * flow.messageRatePerSession,
    },
    latencyMs: {
      login: percentiles(f, 'xmpp_session_ready'),
      messageDelivery: percentiles(f, 'xmpp_message_delivery'),
      presenceDelivery: percentiles(f, 'xmpp_presence_delivery'),
    },
    wire: {
      perSession: {
        sentBytes: value(b, 'data_sent', 'count') / baseSessions,
        receivedBytes: value(b, 'data_received', 'count') / baseSessions,
        httpRequests: value(b, 'http_reqs', 'count') / baseSessions,
      },
      perMessage: {
        sentBytes: perMessage('data_sent'),
        receivedBytes: perMessage('data_received'),
        httpRequests: perMessage('http_reqs'),
      },
    },
    generator: {
      cpuSeconds: full.generatorCpuSeconds,
      baselineCpuSeconds: baseline.generatorCpuSeconds,
      cpuMsPerMessage: cpuPerMessage(full.generatorCpuSeconds - baseline.generatorCpuSeconds, delivered),
      busyPercent: busy(full.generatorCpuSeconds, full.wallSeconds),
    },
    exitCodes: { baseline: baseline.exitCode, full: full.exitCode },
  };
  if (full.server && baseline.server) {
    result.server = {
      cpuSeconds: full.server.cpuSeconds,
      busyPercent: busy(full.server.cpuSeconds, full.wallSeconds),
      baselineCpuSeconds: baseline.server.cpuSeconds,
      peakRssMiB: full.server.peakRssKiB / 1024,
      rssKiBPerSession: loggedIn > 0 ? (full.server.peakRssKiB - full.server.idleRssKiB) / loggedIn : 0,
    };
  }
  return result;
}

/**
 * The messages' own CPU in ms each. A short run's difference is within the noise of the two runs' start-up and can
 * be zero or negative: that is no figure, so none is given (printed as –) rather than a negative cost.
 */
function cpuPerMessage(cpuSeconds: number, delivered: number): number | undefined {
  return delivered > 0 && cpuSeconds > 0 ? (cpuSeconds * 1000) / delivered : undefined;
}

/** A row of the comparison: its label, the figure of one transport, the digits it is printed with. */
export type ComparisonRow = [
  label: string,
  pick: (t: TransportComparison) => number | undefined,
  digits: number,
];

/** The comparison's rows in order; a string starts a group (the terminal table and the HTML report share them). */
export const COMPARISON_ROWS: readonly (ComparisonRow | string)[] = [
  'sessions',
  ['logged in', (t) => t.sessions.loggedIn, 0],
  ['clean close %', (t) => t.sessions.cleanCloseRate * 100, 1],
  'login (session ready) ms',
  ['  p50', (t) => t.latencyMs.login.p50, 1],
  ['  p90', (t) => t.latencyMs.login.p90, 1],
  ['  p99', (t) => t.latencyMs.login.p99, 1],
  'message delivery ms',
  ['  p50', (t) => t.latencyMs.messageDelivery.p50, 1],
  ['  p90', (t) => t.latencyMs.messageDelivery.p90, 1],
  ['  p99', (t) => t.latencyMs.messageDelivery.p99, 1],
  ['  max', (t) => t.latencyMs.messageDelivery.max, 1],
  'presence delivery ms',
  ['  p50', (t) => t.latencyMs.presenceDelivery.p50, 1],
  ['  p99', (t) => t.latencyMs.presenceDelivery.p99, 1],
  'messages',
  ['  delivered', (t) => t.messages.delivered, 0],
  ['  lost', (t) => t.messages.lost, 0],
  ['  offered /s', (t) => t.messages.offeredPerSecond, 0],
  ['  achieved /s', (t) => t.messages.perSecond, 0],
  'wire per message (bytes)',
  ['  sent', (t) => t.wire.perMessage.sentBytes, 1],
  ['  received', (t) => t.wire.perMessage.receivedBytes, 1],
  ['  HTTP requests', (t) => t.wire.perMessage.httpRequests, 2],
  'wire per session: login, presence, close',
  ['  sent bytes', (t) => t.wire.perSession.sentBytes, 0],
  ['  received bytes', (t) => t.wire.perSession.receivedBytes, 0],
  ['  HTTP requests', (t) => t.wire.perSession.httpRequests, 1],
  'generator (starling)',
  ['  CPU s, full run', (t) => t.generator.cpuSeconds, 2],
  ['  CPU ms per message', (t) => t.generator.cpuMsPerMessage, 3],
  ['  busy, % of one core', (t) => t.generator.busyPercent, 0],
  'server',
  ['  CPU s, full run', (t) => t.server?.cpuSeconds, 2],
  ['  busy, % of one core', (t) => t.server?.busyPercent, 0],
  ['  peak RSS MiB', (t) => t.server?.peakRssMiB, 1],
  ['  RSS KiB per session', (t) => t.server?.rssKiBPerSession, 1],
];

/** The side-by-side table: one column per transport, then BOSH ÷ WebSocket. */
export function formatComparison(r: ComparisonReport): string {
  const ws = r.transports.find((t) => t.transport === 'websocket');
  const bosh = r.transports.find((t) => t.transport === 'bosh');
  const cols = [ws, bosh];
  const w = 14;
  const cell = (v: number | undefined, digits: number): string =>
    (v === undefined ? '-' : v.toFixed(digits)).padStart(w);
  const lines = [
    `BOSH vs WebSocket on ${r.server}: ${r.flow.sessions} sessions, ${r.flow.messagesPerSession} messages each at ` +
      `${r.flow.messageRatePerSession}/s, logins at ${r.flow.loginRate}/s`,
    '',
    `${''.padEnd(34)}${'websocket'.padStart(w)}${'bosh'.padStart(w)}${'bosh/ws'.padStart(w)}`,
  ];
  for (const row of COMPARISON_ROWS) {
    if (typeof row === 'string') {
      lines.push(row);
      continue;
    }
    const [label, pick, digits] = row;
    const [a, b] = cols.map((t) => (t ? pick(t) : undefined));
    const ratio = a !== undefined && b !== undefined && a > 0 ? `${(b / a).toFixed(2)}×` : '-';
    lines.push(`${label.padEnd(34)}${cell(a, digits)}${cell(b, digits)}${ratio.padStart(w)}`);
  }
  if (r.notes.length > 0) lines.push('', ...r.notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}
