/**
 * starling's Grafana dashboards, built from the metric names' single sources: src/contract/metric-names.ts
 * (XMPP), src/contract/tap-metric-names.ts (tap), the collector's name builders in src/collector/prometheus.ts, and
 * k6-names.ts for the series k6's `experimental-prometheus-rw` output writes. No metric name is typed here.
 * `npm run dashboards` (src/dashboards/write.ts) writes them to dashboards/*.json.
 *
 * Variables: `$run` (label `run_id`: one STARLING_RUN_ID), `$scenario` (k6 scenario name) and `$transport`
 * (websocket | bosh). "All" is `.*`, which also matches a series without the label.
 */
import { format, resolveConfig } from 'prettier';
import {
  COLLECTOR_METRICS,
  counterMetricName,
  gaugeMetricName,
  histogramMetricName,
  PERCENTILES,
  percentileMetricName,
} from '../collector/prometheus.ts';
import { GENERATOR_METRICS } from '../contract/snapshot.ts';
import { TAP_METRICS } from '../contract/tap-metric-names.ts';
import { XMPP_COUNTERS, XMPP_RATES, XMPP_TRANSPORT_COUNTERS, XMPP_TRENDS } from '../contract/metric-names.ts';
import {
  buildDashboard,
  labelValuesVariable,
  type Dashboard,
  type DashboardSpec,
  type PanelSpec,
  type Query,
  type RowSpec,
  type Variable,
} from './grafana.ts';
import { K6_METRICS, k6SeriesName } from './k6-names.ts';

/** Grafana's rate window: at least four scrapes (the datasource's timeInterval is the scrape interval). */
export const RATE_WINDOW = '$__rate_interval';

/** The collector's rate label (a k6 Rate travels as counts by outcome; see src/k6/metrics.ts). */
const OUTCOME = 'outcome';

/** `name{m1,m2}` (or `name` without matchers). */
export function selector(name: string, ...matchers: string[]): string {
  const m = matchers.filter((x) => x !== '');
  return m.length === 0 ? name : `${name}{${m.join(',')}}`;
}

const RUN = 'run_id=~"$run"';
const SCENARIO = 'scenario=~"$scenario"';
const TRANSPORT = 'transport=~"$transport"';
/** Generator (XMPP) series: run, scenario, transport. */
const XMPP_SCOPE = [RUN, SCENARIO, TRANSPORT];
/** Tap series carry run and transport (the tap has no scenario). */
const TAP_SCOPE = [RUN, TRANSPORT];
/** k6's own series, tagged by `k6 run --tag run_id=… --tag transport=…`. */
const K6_SCOPE = [RUN, TRANSPORT];

const rate = (series: string): string => `rate(${series}[${RATE_WINDOW}])`;

const xmppCounter = (metric: string, ...extra: string[]): string =>
  selector(counterMetricName(metric), ...XMPP_SCOPE, ...extra);

/** Human names of the XMPP trends, in XMPP_TRENDS order (every trend: a missing one is a type error). */
const TREND_TITLES: Record<(typeof XMPP_TRENDS)[keyof typeof XMPP_TRENDS], string> = {
  [XMPP_TRENDS.connect]: 'Connect (TCP + WebSocket handshake, or BOSH session creation)',
  [XMPP_TRENDS.auth]: 'SASL authentication',
  [XMPP_TRENDS.bind]: 'Resource bind',
  [XMPP_TRENDS.sessionReady]: 'Session ready (connect → bound)',
  [XMPP_TRENDS.messageDelivery]: 'Message delivery (sender → receiver)',
  [XMPP_TRENDS.presenceDelivery]: 'Presence delivery (sender → receiver)',
  [XMPP_TRENDS.iqRtt]: 'IQ round trip (ping)',
  [XMPP_TRENDS.close]: 'Close (<close/> → transport closed)',
  [XMPP_TRENDS.tlsHandshake]: 'TLS handshake (BOSH, each new connection)',
  [XMPP_TRENDS.mucJoin]: 'Room join (join presence → self-presence)',
  [XMPP_TRENDS.mucMessageDelivery]: 'Groupchat delivery (sender → each occupant)',
  [XMPP_TRENDS.mucPresenceDelivery]: 'Room presence fan-out (sender → each occupant)',
  [XMPP_TRENDS.smResume]: 'Stream resumption (new transport → <resumed/>)',
};

const PERCENTILE_LIST = PERCENTILES.map((p) => p.label).join(', ');

/** p50/p90/p99/p99.9/max of a histogram metric over the run so far: the collector's HDR percentile gauges. */
function percentilePanel(
  metric: string,
  title: string,
  scope: string[],
  by: string,
  unit: 's' | 'bytes',
): PanelSpec {
  return {
    kind: 'timeseries',
    title,
    description:
      `${metric}: ${PERCENTILE_LIST} of every value recorded in the run so far, from the HDR histograms the ` +
      'collector merged across all generators (exact to 3 significant digits, not a Prometheus bucket estimate).',
    queries: [{ expr: selector(percentileMetricName(metric), ...scope), legend: `${by} p{{percentile}}` }],
    unit,
    width: 8,
  };
}

/** p99 over the recent window, from the histogram buckets (Prometheus interpolates inside a bucket). */
function windowQuantile(metric: string, q: number, scope: string[], by: string[]): string {
  return (
    `histogram_quantile(${q}, sum by (le, ${by.join(', ')}) ` +
    `(${rate(selector(`${histogramMetricName(metric)}_bucket`, ...scope))}))`
  );
}

/** Σ outcome="true" ÷ Σ all, per transport: a k6 Rate over the run so far. */
/**
 * Share of a Rate's samples that were true, per transport. A transport with no true sample at all (no login
 * succeeded, no message lost) has no `outcome="true"` series: `or 0 × total` makes that 0 %, not "No data".
 */
function ratio(metric: string): string {
  const total = `sum by (transport) (${xmppCounter(metric)})`;
  return `(sum by (transport) (${xmppCounter(metric, `${OUTCOME}="true"`)}) or 0 * ${total}) / ${total}`;
}

function variables(which: { scenario: boolean }): Variable[] {
  const anchor = selector(COLLECTOR_METRICS.snapshots);
  const opened = selector(counterMetricName(XMPP_COUNTERS.sessionsOpened), RUN);
  const vars = [
    labelValuesVariable('run', 'run_id', anchor, {
      title: 'Run',
      description: 'STARLING_RUN_ID: every generator (and tap) of one run',
      multi: false,
    }),
  ];
  if (which.scenario) {
    vars.push(
      labelValuesVariable('scenario', 'scenario', opened, {
        title: 'Scenario',
        description: "k6 scenario name (the tap's series have none)",
        multi: true,
      }),
    );
  }
  vars.push(
    labelValuesVariable('transport', 'transport', opened, {
      title: 'Transport',
      description: 'websocket or bosh',
      multi: true,
    }),
  );
  return vars;
}

// ---------------------------------------------------------------------------------------------- overview

/**
 * The Node engine's own health (src/engine/health.ts), per generator process: whether the latencies beside it
 * are the server's or starling's. k6 generators send none of it.
 */
function generatorRow(): RowSpec {
  const scope = [RUN];
  const perGenerator = (metric: string): string =>
    `sum by (generator) (${rate(selector(counterMetricName(metric), ...scope))})`;
  return {
    title: 'Generator: is starling keeping up? (Node engine)',
    panels: [
      {
        kind: 'timeseries',
        title: 'Generator CPU and event-loop busy',
        description:
          `${GENERATOR_METRICS.cpuSeconds}: CPU of each Node engine process as a share of one core (its VUs share one ` +
          `thread, so 100 % is its ceiling); ${GENERATOR_METRICS.eventLoopBusySeconds}: share of the time its event ` +
          'loop was busy. Either at 90 % or more for 10 s and the run is saturated: its latencies describe starling.',
        queries: [
          { expr: perGenerator(GENERATOR_METRICS.cpuSeconds), legend: '{{generator}} CPU' },
          {
            expr: perGenerator(GENERATOR_METRICS.eventLoopBusySeconds),
            legend: '{{generator}} event loop busy',
          },
        ],
        unit: 'percentunit',
        width: 8,
        min: 0,
      },
      {
        kind: 'timeseries',
        title: 'Generator event-loop delay p90 and p99, recent window',
        description:
          `${GENERATOR_METRICS.eventLoopDelay}: how late a timer due every 10 ms fired in each generator, corrected ` +
          'for coordinated omission (from the histogram buckets). Every latency a generator measures includes its ' +
          'delay; p90 at 100 ms or more for 10 s and the run is saturated.',
        queries: [
          {
            expr: windowQuantile(GENERATOR_METRICS.eventLoopDelay, 0.9, scope, ['generator']),
            legend: '{{generator}} p90',
          },
          {
            expr: windowQuantile(GENERATOR_METRICS.eventLoopDelay, 0.99, scope, ['generator']),
            legend: '{{generator}} p99',
          },
        ],
        unit: 's',
        width: 8,
      },
      {
        ...percentilePanel(
          GENERATOR_METRICS.eventLoopDelay,
          'Generator event-loop delay, run so far',
          scope,
          '{{generator}}',
          's',
        ),
        width: 5,
      },
      {
        kind: 'stat',
        title: 'Generator saturated',
        description:
          `${GENERATOR_METRICS.saturated}: 1 once a generator's saturation rule tripped in this run (README: ` +
          'Generator saturation), 0 while it keeps up.',
        queries: [
          {
            expr: `max by (generator) (${selector(gaugeMetricName(GENERATOR_METRICS.saturated), ...scope)})`,
            legend: '{{generator}}',
          },
        ],
        unit: 'short',
        width: 3,
        min: 0,
        max: 1,
      },
    ],
  };
}

function sessionsOpen(): string {
  const opened = `sum by (transport) (${xmppCounter(XMPP_COUNTERS.sessionsOpened)})`;
  const closed = `sum by (transport) (${xmppCounter(XMPP_COUNTERS.sessionsClosed)})`;
  // Before the first close there is no closed series: count it as 0.
  return `${opened} - (${closed} or ${opened} * 0)`;
}

/**
 * Multi-user chat (XEP-0045). Fan-out completeness is summed by kind only: an expected broadcast is counted with
 * its sender's tags and a received one with its recipient's, and a room's occupants may use different transports.
 */
function mucRow(): RowSpec {
  const fanout = (metric: string): string => `sum by (kind) (${xmppCounter(metric)})`;
  const expected = fanout(XMPP_COUNTERS.mucFanoutExpected);
  return {
    title: 'Multi-user chat (XEP-0045)',
    panels: [
      {
        kind: 'timeseries',
        title: 'Room joins per second, by outcome',
        description:
          `${XMPP_RATES.mucJoinSuccess}: room joins finished per second; outcome="false" is a join the room refused ` +
          '(an error presence) or did not answer within the join timeout.',
        queries: [
          {
            expr: `sum by (transport, ${OUTCOME}) (${rate(xmppCounter(XMPP_RATES.mucJoinSuccess))})`,
            legend: `{{transport}} success={{${OUTCOME}}}`,
          },
        ],
        unit: 'ops',
        width: 10,
      },
      {
        kind: 'stat',
        title: 'Room join success',
        description: `${XMPP_RATES.mucJoinSuccess}: share of room joins that got the room's self-presence, over the run so far.`,
        queries: [{ expr: ratio(XMPP_RATES.mucJoinSuccess), legend: '{{transport}}' }],
        unit: 'percentunit',
        width: 4,
        min: 0,
        max: 1,
      },
      {
        kind: 'timeseries',
        title: 'Room join p99, recent window',
        description:
          `${XMPP_TRENDS.mucJoin}: p99 of the joins (join presence → self-presence) in the last rate window, from ` +
          'the histogram buckets (a bucket estimate; the percentile panels above are exact over the whole run).',
        queries: [
          {
            expr: windowQuantile(XMPP_TRENDS.mucJoin, 0.99, XMPP_SCOPE, ['transport']),
            legend: '{{transport}} p99',
          },
        ],
        unit: 's',
        width: 10,
      },
      {
        kind: 'timeseries',
        title: 'Groupchat delivery p99, recent window',
        description:
          `${XMPP_TRENDS.mucMessageDelivery}: p99 of the last rate window, sender → each other occupant that ` +
          'received the groupchat message (one sample per recipient), from the histogram buckets.',
        queries: [
          {
            expr: windowQuantile(XMPP_TRENDS.mucMessageDelivery, 0.99, XMPP_SCOPE, ['transport']),
            legend: '{{transport}} p99',
          },
        ],
        unit: 's',
        width: 8,
      },
      {
        kind: 'timeseries',
        title: 'Room presence fan-out p99, recent window',
        description:
          `${XMPP_TRENDS.mucPresenceDelivery}: p99 of the last rate window, sender → each other occupant that ` +
          'received its presence into the room (one sample per recipient), from the histogram buckets.',
        queries: [
          {
            expr: windowQuantile(XMPP_TRENDS.mucPresenceDelivery, 0.99, XMPP_SCOPE, ['transport']),
            legend: '{{transport}} p99',
          },
        ],
        unit: 's',
        width: 8,
      },
      {
        kind: 'stat',
        title: 'Room stanzas lost',
        description:
          `${XMPP_RATES.mucMessageLoss} and ${XMPP_RATES.mucPresenceLoss}: share of timed groupchat messages and ` +
          "room presences not received within XMPP_LOSS_WINDOW (or before the recipient's session ended), over the " +
          "run so far. Only recipients in the sender's own VU are sampled; fan-out completeness covers every occupant.",
        queries: [
          { expr: ratio(XMPP_RATES.mucMessageLoss), legend: '{{transport}} groupchat messages' },
          { expr: ratio(XMPP_RATES.mucPresenceLoss), legend: '{{transport}} room presences' },
        ],
        unit: 'percentunit',
        width: 8,
        min: 0,
        max: 1,
      },
      {
        kind: 'stat',
        title: 'Room fan-out completeness',
        description:
          `${XMPP_COUNTERS.mucFanoutReceived} ÷ ${XMPP_COUNTERS.mucFanoutExpected}, by kind, over the run so far: ` +
          'timed broadcasts the occupants received ÷ the other occupants each sender saw in the room when it sent ' +
          'one, summed over every VU and generator. 1 is a complete fan-out; broadcasts still in flight keep it a ' +
          'little under 1 while the run goes on, and occupants leaving or joining as a broadcast is sent move it a ' +
          'little either way.',
        queries: [
          {
            expr: `(${fanout(XMPP_COUNTERS.mucFanoutReceived)} or 0 * ${expected}) / ${expected}`,
            legend: '{{kind}}',
          },
        ],
        unit: 'percentunit',
        width: 8,
        min: 0,
      },
      {
        kind: 'timeseries',
        title: 'Room fan-out deliveries per second, by kind',
        description:
          `${XMPP_COUNTERS.mucFanoutReceived}: timed groupchat messages and room presences the occupants received ` +
          "from other occupants, per second, by the recipient's transport.",
        queries: [
          {
            expr: `sum by (transport, kind) (${rate(xmppCounter(XMPP_COUNTERS.mucFanoutReceived))})`,
            legend: '{{transport}} {{kind}}',
          },
        ],
        unit: 'ops',
        width: 16,
      },
    ],
  };
}

/**
 * Stream management (XEP-0198): resumptions of broken sessions, why they failed, and what they sent or received
 * twice. Redeliveries are counted with the recipient's tags; a resumption's resent stanzas with the session's.
 */
function smRow(): RowSpec {
  const failed = xmppCounter(XMPP_RATES.smResumeSuccess, `${OUTCOME}="false"`);
  // Before the first redelivery there is no series: 0 per transport that opened sessions, not "No data".
  const opened = `sum by (transport) (${xmppCounter(XMPP_COUNTERS.sessionsOpened)})`;
  return {
    title: 'Stream management and resumption (XEP-0198)',
    panels: [
      {
        kind: 'timeseries',
        title: 'Resumptions per second, by outcome',
        description:
          `${XMPP_RATES.smResumeSuccess}: resumptions of broken sessions finished per second; outcome="false" is one ` +
          "that did not resume (sm-resume-failed:item-not-found after the server's resumption timeout, a failed " +
          'login on the new transport, a timeout) and ended the session.',
        queries: [
          {
            expr: `sum by (transport, ${OUTCOME}) (${rate(xmppCounter(XMPP_RATES.smResumeSuccess))})`,
            legend: `{{transport}} success={{${OUTCOME}}}`,
          },
        ],
        unit: 'ops',
        width: 10,
      },
      {
        kind: 'stat',
        title: 'Resumption success',
        description: `${XMPP_RATES.smResumeSuccess}: share of resumption attempts that got <resumed/>, over the run so far.`,
        queries: [{ expr: ratio(XMPP_RATES.smResumeSuccess), legend: '{{transport}}' }],
        unit: 'percentunit',
        width: 4,
        min: 0,
        max: 1,
      },
      {
        kind: 'timeseries',
        title: 'Resumption p99, recent window',
        description:
          `${XMPP_TRENDS.smResume}: p99 of the resumptions (new transport → <resumed/>: connect, open, SASL and the ` +
          'resume exchange) in the last rate window, from the histogram buckets (a bucket estimate; the percentile ' +
          'panel above is exact over the whole run).',
        queries: [
          {
            expr: windowQuantile(XMPP_TRENDS.smResume, 0.99, XMPP_SCOPE, ['transport']),
            legend: '{{transport}} p99',
          },
        ],
        unit: 's',
        width: 10,
      },
      {
        kind: 'bargauge',
        title: 'Resumption failures by reason, run so far',
        description:
          `${XMPP_RATES.smResumeSuccess} outcome="false": total per typed reason since the run started ` +
          "(sm-resume-failed:item-not-found: the server's resumption timeout passed, or it never kept the session; " +
          'timeout:resume, timeout:connect, auth-failed:…, transport-…: the new transport, its login or the resume ' +
          'exchange failed).',
        queries: [{ expr: `sum by (reason) (${failed})`, legend: '{{reason}}' }],
        unit: 'short',
        width: 8,
      },
      {
        kind: 'timeseries',
        title: 'Stanzas resent after resumption per second',
        description:
          `${XMPP_COUNTERS.smResent}: stanzas sent again after a resumption, per second: the server had not ` +
          'acknowledged them when the transport broke. 0 while none were (a k6 WebSocket closes with a handshake, ' +
          'so what was written before a break reaches the server and is acked on resumption).',
        queries: [
          {
            expr:
              `sum by (transport) (${rate(xmppCounter(XMPP_COUNTERS.smResent))}) ` +
              `or on (transport) 0 * sum by (transport) (${rate(xmppCounter(XMPP_COUNTERS.sessionsOpened))})`,
            legend: '{{transport}}',
          },
        ],
        unit: 'ops',
        width: 8,
      },
      {
        kind: 'stat',
        title: 'Stanzas redelivered, run so far',
        description:
          `${XMPP_COUNTERS.redelivered}: timed stanzas received again after they had been delivered, by the ` +
          "recipient's transport and kind, over the run so far. It should be 0: a server that replays stanzas the " +
          'session had already received when it resumes shows here.',
        queries: [
          {
            expr:
              `sum by (transport, kind) (${xmppCounter(XMPP_COUNTERS.redelivered)}) ` +
              `or on (transport) 0 * ${opened}`,
            legend: '{{transport}} {{kind}}',
          },
        ],
        unit: 'short',
        width: 8,
        min: 0,
      },
    ],
  };
}

function overview(): DashboardSpec {
  const trends = Object.values(XMPP_TRENDS);
  const loginPhases = [
    XMPP_TRENDS.tlsHandshake,
    XMPP_TRENDS.connect,
    XMPP_TRENDS.auth,
    XMPP_TRENDS.bind,
    XMPP_TRENDS.sessionReady,
    XMPP_TRENDS.close,
  ];
  const delivery = trends.filter((t) => !loginPhases.includes(t as (typeof loginPhases)[number]));
  return {
    uid: 'starling-overview',
    title: 'starling / XMPP overview',
    description:
      'Fleet-wide XMPP load test: sessions, logins, latency percentiles from the merged HDR histograms, multi-user chat rooms, stream resumption, stanzas, failures.',
    variables: variables({ scenario: true }),
    rows: [
      {
        title: 'Sessions and logins',
        panels: [
          {
            kind: 'stat',
            title: 'Sessions open',
            description:
              'Sessions logged in and not yet closed, across every generator (opened − closed counters).',
            queries: [{ expr: sessionsOpen(), legend: '{{transport}}' }],
            unit: 'short',
            width: 6,
          },
          {
            kind: 'timeseries',
            title: 'Logins per second, by outcome',
            description: `${XMPP_RATES.loginSuccess}: logins finished per second; outcome="false" is a login that failed.`,
            queries: [
              {
                expr: `sum by (transport, ${OUTCOME}) (${rate(xmppCounter(XMPP_RATES.loginSuccess))})`,
                legend: `{{transport}} success={{${OUTCOME}}}`,
              },
            ],
            unit: 'ops',
            width: 10,
          },
          {
            kind: 'stat',
            title: 'Login success',
            description: `${XMPP_RATES.loginSuccess}: share of logins that succeeded, over the run so far.`,
            queries: [{ expr: ratio(XMPP_RATES.loginSuccess), legend: '{{transport}}' }],
            unit: 'percentunit',
            width: 4,
            min: 0,
            max: 1,
          },
          {
            kind: 'stat',
            title: 'Clean close',
            description: `${XMPP_RATES.cleanClose}: share of sessions that ended with a clean <close/>, over the run so far.`,
            queries: [{ expr: ratio(XMPP_RATES.cleanClose), legend: '{{transport}}' }],
            unit: 'percentunit',
            width: 4,
            min: 0,
            max: 1,
          },
        ],
      },
      generatorRow(),
      {
        title: 'Login phases: percentiles over the run (merged HDR)',
        panels: [
          ...loginPhases.map((t) => percentilePanel(t, TREND_TITLES[t]!, XMPP_SCOPE, '{{transport}}', 's')),
          {
            kind: 'timeseries',
            title: 'Session ready p99, recent window',
            description:
              `${XMPP_TRENDS.sessionReady}: p99 of the logins in the last rate window, from the histogram buckets ` +
              '(a bucket estimate; the panels beside it are exact over the whole run).',
            queries: [
              {
                expr: windowQuantile(XMPP_TRENDS.sessionReady, 0.99, XMPP_SCOPE, ['transport']),
                legend: '{{transport}} p99',
              },
            ],
            unit: 's',
            width: 8,
          },
        ],
      },
      {
        title: 'Delivery and round trips: percentiles over the run (merged HDR)',
        panels: [
          ...delivery.map((t) => percentilePanel(t, TREND_TITLES[t]!, XMPP_SCOPE, '{{transport}}', 's')),
          {
            kind: 'timeseries',
            title: 'Message delivery p99, recent window',
            description: `${XMPP_TRENDS.messageDelivery}: p99 of the last rate window, from the histogram buckets.`,
            queries: [
              {
                expr: windowQuantile(XMPP_TRENDS.messageDelivery, 0.99, XMPP_SCOPE, ['transport']),
                legend: '{{transport}} p99',
              },
            ],
            unit: 's',
            width: 8,
          },
          {
            kind: 'stat',
            title: 'Stanzas lost',
            description:
              `${XMPP_RATES.messageLoss} and ${XMPP_RATES.presenceLoss}: share of timed stanzas not received by their ` +
              'addressee within XMPP_LOSS_WINDOW (or before its session ended), over the run so far. A lost stanza has ' +
              'no latency, so only this panel shows it.',
            queries: [
              { expr: ratio(XMPP_RATES.messageLoss), legend: '{{transport}} messages' },
              { expr: ratio(XMPP_RATES.presenceLoss), legend: '{{transport}} presences' },
            ],
            unit: 'percentunit',
            width: 8,
            min: 0,
            max: 1,
          },
        ],
      },
      mucRow(),
      smRow(),
      {
        title: 'Stanzas',
        panels: [
          {
            kind: 'timeseries',
            title: 'Stanzas sent per second, by kind',
            description: `${XMPP_COUNTERS.stanzasSent}: message, presence and iq stanzas the sessions sent.`,
            queries: [
              {
                expr: `sum by (transport, kind) (${rate(xmppCounter(XMPP_COUNTERS.stanzasSent))})`,
                legend: '{{transport}} {{kind}}',
              },
            ],
            unit: 'ops',
          },
          {
            kind: 'timeseries',
            title: 'Stanzas received per second, by kind',
            description: `${XMPP_COUNTERS.stanzasReceived}: stanzas the sessions received.`,
            queries: [
              {
                expr: `sum by (transport, kind) (${rate(xmppCounter(XMPP_COUNTERS.stanzasReceived))})`,
                legend: '{{transport}} {{kind}}',
              },
            ],
            unit: 'ops',
          },
        ],
      },
      {
        title: 'Failures',
        panels: [
          {
            kind: 'timeseries',
            title: 'Session failures per second, by reason',
            description: `${XMPP_COUNTERS.sessionFailures}: sessions that failed, by typed reason (auth-failed:…, stream-error:…, timeout:…).`,
            queries: [
              {
                expr: `sum by (reason) (${rate(xmppCounter(XMPP_COUNTERS.sessionFailures))})`,
                legend: '{{reason}}',
              },
            ],
            unit: 'ops',
            width: 8,
          },
          {
            kind: 'bargauge',
            title: 'Session failures by reason, run so far',
            description: `${XMPP_COUNTERS.sessionFailures}: total per reason since the run started.`,
            queries: [
              {
                expr: `sum by (reason) (${xmppCounter(XMPP_COUNTERS.sessionFailures)})`,
                legend: '{{reason}}',
              },
            ],
            unit: 'short',
            width: 4,
          },
          {
            kind: 'timeseries',
            title: 'Stream errors per second, by condition',
            description: `${XMPP_COUNTERS.streamErrors}: <stream:error/> conditions the server sent (conflict, host-unknown, …).`,
            queries: [
              {
                expr: `sum by (condition) (${rate(xmppCounter(XMPP_COUNTERS.streamErrors))})`,
                legend: '{{condition}}',
              },
            ],
            unit: 'ops',
            width: 8,
          },
          {
            kind: 'bargauge',
            title: 'Stream errors by condition, run so far',
            description: `${XMPP_COUNTERS.streamErrors}: total per condition since the run started.`,
            queries: [
              {
                expr: `sum by (condition) (${xmppCounter(XMPP_COUNTERS.streamErrors)})`,
                legend: '{{condition}}',
              },
            ],
            unit: 'short',
            width: 4,
          },
          {
            kind: 'bargauge',
            title: 'Server redirects by kind and outcome, run so far',
            description:
              `${XMPP_COUNTERS.redirects}: see-other-uri and see-other-host redirects; outcome followed, or why not ` +
              '(off: XMPP_FOLLOW_REDIRECTS unset; limit: hops spent; downgrade: TLS to plain text; invalid; stopping: moved while the Node engine winds down on Ctrl+C).',
            queries: [
              {
                expr: `sum by (kind, outcome) (${xmppCounter(XMPP_COUNTERS.redirects)})`,
                legend: '{{kind}} {{outcome}}',
              },
            ],
            unit: 'short',
            width: 8,
          },
        ],
      },
      {
        title: 'Collector',
        panels: [
          {
            kind: 'timeseries',
            title: 'Snapshots merged per second',
            description:
              'Snapshots the collector merged: every generator VU sends one per STARLING_FLUSH_INTERVAL.',
            queries: [
              {
                expr: `sum by (run_id) (${rate(selector(COLLECTOR_METRICS.snapshots, RUN))})`,
                legend: '{{run_id}}',
              },
            ],
            unit: 'ops',
            width: 8,
          },
          {
            kind: 'stat',
            title: 'Producers',
            description:
              'Producers (instance + VU) that sent snapshots, and how many sent their final one: equal when the run is over.',
            queries: [
              { expr: `sum(${selector(COLLECTOR_METRICS.producers, RUN)})`, legend: 'seen' },
              { expr: `sum(${selector(COLLECTOR_METRICS.finalProducers, RUN)})`, legend: 'final' },
            ],
            unit: 'short',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'Snapshots refused per second, by reason',
            description:
              'POSTs the collector refused (invalid, unauthorized, too-large, unsupported-media-type): a generator misconfigured.',
            queries: [
              {
                expr: `sum by (reason) (${rate(selector(COLLECTOR_METRICS.rejected))})`,
                legend: '{{reason}}',
              },
            ],
            unit: 'ops',
            width: 8,
          },
        ],
      },
    ],
  };
}

// ------------------------------------------------------------------------------------------------ frames

function frames(): DashboardSpec {
  const tapCounter = (metric: string): string => selector(counterMetricName(metric), ...TAP_SCOPE);
  const size = histogramMetricName(TAP_METRICS.frameSize);
  return {
    uid: 'starling-frames',
    title: 'starling / Frames (tap)',
    description:
      'What each frame costs, from `starling collect --tap`: parse time and size by direction (c2s, s2c) and element, RFC 7395 framing violations, and server response and transit times.',
    variables: variables({ scenario: false }),
    rows: [
      {
        title: 'Parsing',
        panels: [
          {
            kind: 'timeseries',
            title: 'Frame parse time p99 by direction and element, recent window',
            description: `${TAP_METRICS.frameParse}: p99 time the tap spent parsing one frame, per top-level element, from the histogram buckets.`,
            queries: [
              {
                expr: windowQuantile(TAP_METRICS.frameParse, 0.99, TAP_SCOPE, [
                  'transport',
                  'direction',
                  'element',
                ]),
                legend: '{{transport}} {{direction}} <{{element}}>',
              },
            ],
            unit: 's',
          },
          {
            kind: 'timeseries',
            title: 'Frame parse time percentiles, run so far',
            description: `${TAP_METRICS.frameParse}: ${PERCENTILE_LIST} per direction and element over the run, from the merged HDR histograms.`,
            queries: [
              {
                expr: selector(percentileMetricName(TAP_METRICS.frameParse), ...TAP_SCOPE),
                legend: '{{transport}} {{direction}} <{{element}}> p{{percentile}}',
              },
            ],
            unit: 's',
          },
        ],
      },
      {
        title: 'Frames and sizes',
        panels: [
          {
            kind: 'timeseries',
            title: 'Frames per second, by direction',
            description: `${TAP_METRICS.frames}: WebSocket messages, or BOSH HTTP bodies, the tap forwarded.`,
            queries: [
              {
                expr: `sum by (transport, direction) (${rate(tapCounter(TAP_METRICS.frames))})`,
                legend: '{{transport}} {{direction}}',
              },
            ],
            unit: 'ops',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'Frame size percentiles by direction, run so far',
            description: `${TAP_METRICS.frameSize}: ${PERCENTILE_LIST} of frame sizes (bytes) per direction, merged HDR.`,
            queries: [
              {
                expr: selector(percentileMetricName(TAP_METRICS.frameSize), ...TAP_SCOPE),
                legend: '{{transport}} {{direction}} p{{percentile}}',
              },
            ],
            unit: 'bytes',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'Mean frame size by direction, recent window',
            description: `${TAP_METRICS.frameSize}: bytes per frame over the last rate window (histogram _sum ÷ _count).`,
            queries: [
              {
                expr:
                  `sum by (transport, direction) (${rate(selector(`${size}_sum`, ...TAP_SCOPE))}) / ` +
                  `sum by (transport, direction) (${rate(selector(`${size}_count`, ...TAP_SCOPE))})`,
                legend: '{{transport}} {{direction}}',
              },
            ],
            unit: 'bytes',
            width: 8,
          },
        ],
      },
      {
        title: 'Framing violations',
        panels: [
          {
            kind: 'timeseries',
            title: 'Framing violations per second, by kind',
            description: `${TAP_METRICS.framingViolations}: RFC 7395 framing broken (multiple-roots, first-frame-not-open, legacy-stream-header, …), by side.`,
            queries: [
              {
                expr: `sum by (kind, direction) (${rate(tapCounter(TAP_METRICS.framingViolations))})`,
                legend: '{{direction}} {{kind}}',
              },
            ],
            unit: 'ops',
            width: 16,
          },
          {
            kind: 'bargauge',
            title: 'Framing violations, run so far',
            description: `${TAP_METRICS.framingViolations}: total per kind and side; the tap logs each one with its frame.`,
            queries: [
              {
                expr: `sum by (kind, direction) (${tapCounter(TAP_METRICS.framingViolations)})`,
                legend: '{{direction}} {{kind}}',
              },
            ],
            unit: 'short',
            width: 8,
          },
        ],
      },
      {
        title: 'Server times (seen by the tap)',
        panels: [
          percentilePanel(
            TAP_METRICS.iqResponse,
            'Server IQ response time (client iq → server result)',
            TAP_SCOPE,
            '{{transport}}',
            's',
          ),
          percentilePanel(
            TAP_METRICS.messageTransit,
            'Message transit through the server (client → recipient)',
            TAP_SCOPE,
            '{{transport}}',
            's',
          ),
          {
            kind: 'stat',
            title: 'Connections through the tap',
            description: `${TAP_METRICS.connections}: WebSocket connections, or BOSH sessions, open through the tap.`,
            queries: [
              {
                expr: `sum by (transport) (${selector(gaugeMetricName(TAP_METRICS.connections), ...TAP_SCOPE)})`,
                legend: '{{transport}}',
              },
            ],
            unit: 'short',
            width: 8,
          },
        ],
      },
    ],
  };
}

// -------------------------------------------------------------------------------------------- transports

/** Σ rate of the transport counter ÷ Σ rate of stanzas, per transport. */
function perStanza(numerator: string, stanzas: string[], window: boolean): string {
  const term = (s: string): string => `sum by (transport) (${window ? rate(s) : s})`;
  const denominator = stanzas.map(term).join(' + ');
  return `${term(numerator)} / ${stanzas.length > 1 ? `(${denominator})` : denominator}`;
}

function transports(): DashboardSpec {
  const bytes = (direction: string): string =>
    xmppCounter(XMPP_TRANSPORT_COUNTERS.payloadBytes, `direction="${direction}"`);
  const sent = xmppCounter(XMPP_COUNTERS.stanzasSent);
  const received = xmppCounter(XMPP_COUNTERS.stanzasReceived);
  const requests = xmppCounter(XMPP_TRANSPORT_COUNTERS.requests);
  const side = (metric: string, title: string): PanelSpec => ({
    kind: 'timeseries',
    title,
    description: `${metric}: p50 and p99 per transport over the run so far (merged HDR).`,
    queries: [
      {
        expr: selector(percentileMetricName(metric), ...XMPP_SCOPE, 'percentile=~"50|99"'),
        legend: '{{transport}} p{{percentile}}',
      },
    ],
    unit: 's',
    width: 8,
  });
  const payloadNote =
    `${XMPP_TRANSPORT_COUNTERS.payloadBytes}: UTF-8 bytes of WebSocket messages or BOSH bodies (no HTTP headers, ` +
    'no WebSocket framing: see the k6 dashboard for wire bytes)';
  return {
    uid: 'starling-transports',
    title: 'starling / Transports: WebSocket and BOSH',
    description:
      'WebSocket and BOSH side by side: latency, payload bytes and HTTP requests per stanza, stanza rates, login and close.',
    variables: variables({ scenario: true }),
    rows: [
      {
        title: 'Latency by transport',
        panels: [
          side(XMPP_TRENDS.sessionReady, 'Session ready'),
          side(XMPP_TRENDS.messageDelivery, 'Message delivery'),
          side(XMPP_TRENDS.presenceDelivery, 'Presence delivery'),
        ],
      },
      {
        title: 'Cost per stanza',
        panels: [
          {
            kind: 'timeseries',
            title: 'Payload bytes per stanza, recent window',
            description: `${payloadNote}; sent bytes ÷ stanzas sent and received bytes ÷ stanzas received, login and close included.`,
            queries: [
              { expr: perStanza(bytes('sent'), [sent], true), legend: '{{transport}} sent' },
              { expr: perStanza(bytes('received'), [received], true), legend: '{{transport}} received' },
            ],
            unit: 'bytes',
            width: 8,
          },
          {
            kind: 'bargauge',
            title: 'Payload bytes per stanza, run so far',
            description: `${payloadNote}; totals over the run.`,
            queries: [
              { expr: perStanza(bytes('sent'), [sent], false), legend: '{{transport}} sent' },
              { expr: perStanza(bytes('received'), [received], false), legend: '{{transport}} received' },
            ],
            unit: 'bytes',
            width: 4,
          },
          {
            kind: 'timeseries',
            title: 'HTTP requests per stanza, recent window',
            description:
              `${XMPP_TRANSPORT_COUNTERS.requests} ÷ stanzas sent and received: BOSH POSTs (retries included); ` +
              'WebSocket makes one request per session, its opening handshake.',
            queries: [{ expr: perStanza(requests, [sent, received], true), legend: '{{transport}}' }],
            unit: 'short',
            width: 8,
          },
          {
            kind: 'bargauge',
            title: 'HTTP requests per stanza, run so far',
            description: `${XMPP_TRANSPORT_COUNTERS.requests} ÷ stanzas sent and received, totals over the run.`,
            queries: [{ expr: perStanza(requests, [sent, received], false), legend: '{{transport}}' }],
            unit: 'short',
            width: 4,
          },
        ],
      },
      {
        title: 'Throughput, logins and closes by transport',
        panels: [
          {
            kind: 'timeseries',
            title: 'Stanzas per second',
            description: `${XMPP_COUNTERS.stanzasSent} and ${XMPP_COUNTERS.stanzasReceived} per transport.`,
            queries: [
              { expr: `sum by (transport) (${rate(sent)})`, legend: '{{transport}} sent' },
              { expr: `sum by (transport) (${rate(received)})`, legend: '{{transport}} received' },
            ],
            unit: 'ops',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'Payload throughput',
            description: `${payloadNote}; bytes per second by direction.`,
            queries: [
              {
                expr: `sum by (transport, direction) (${rate(xmppCounter(XMPP_TRANSPORT_COUNTERS.payloadBytes))})`,
                legend: '{{transport}} {{direction}}',
              },
            ],
            unit: 'Bps',
            width: 8,
          },
          {
            kind: 'stat',
            title: 'Login success and clean close',
            description: `${XMPP_RATES.loginSuccess} and ${XMPP_RATES.cleanClose} per transport, over the run so far.`,
            queries: [
              { expr: ratio(XMPP_RATES.loginSuccess), legend: '{{transport}} login' },
              { expr: ratio(XMPP_RATES.cleanClose), legend: '{{transport}} clean close' },
            ],
            unit: 'percentunit',
            width: 8,
            min: 0,
            max: 1,
          },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------- k6

function k6(): DashboardSpec {
  const s = (metric: string, ...extra: string[]): string =>
    selector(k6SeriesName(metric), ...K6_SCOPE, ...extra);
  /** k6's http_* include the VUs' snapshot POSTs to the collector (tagged name="starling-collector"): left out. */
  const BOSH_ONLY = 'name!="starling-collector"';
  const stanzas = selector(counterMetricName(XMPP_COUNTERS.stanzasSent), RUN, TRANSPORT);
  const stanzasIn = selector(counterMetricName(XMPP_COUNTERS.stanzasReceived), RUN, TRANSPORT);
  const byTransport = (expr: string): string => `sum by (transport) (${expr})`;
  const needs =
    'Needs k6 run -o experimental-prometheus-rw --tag run_id=<STARLING_RUN_ID> --tag transport=<websocket|bosh>.';
  const q = (expr: string, legend: string): Query => ({ expr, legend });
  return {
    uid: 'starling-k6',
    title: 'starling / k6 (experimental-prometheus-rw)',
    description:
      "k6's own series, written by `k6 run -o experimental-prometheus-rw` to Prometheus's remote-write receiver: VUs, WebSocket and HTTP (BOSH) activity, wire bytes.",
    variables: variables({ scenario: false }),
    rows: [
      {
        title: 'VUs and WebSocket (k6/websockets)',
        panels: [
          {
            kind: 'timeseries',
            title: 'VUs',
            description: `k6 ${K6_METRICS.vus} and ${K6_METRICS.vusMax}, summed over every k6 instance of the run. ${needs}`,
            queries: [
              q(byTransport(s(K6_METRICS.vus)), '{{transport}} vus'),
              q(byTransport(s(K6_METRICS.vusMax)), '{{transport}} vus_max'),
            ],
            unit: 'short',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'WebSocket sessions and messages per second',
            description: `k6 ${K6_METRICS.wsSessions}, ${K6_METRICS.wsMsgsSent} and ${K6_METRICS.wsMsgsReceived}: one XMPP session is one WebSocket. ${needs}`,
            queries: [
              q(byTransport(rate(s(K6_METRICS.wsSessions))), '{{transport}} sessions'),
              q(byTransport(rate(s(K6_METRICS.wsMsgsSent))), '{{transport}} messages sent'),
              q(byTransport(rate(s(K6_METRICS.wsMsgsReceived))), '{{transport}} messages received'),
            ],
            unit: 'ops',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'WebSocket connecting and session duration p99',
            description: `k6 ${K6_METRICS.wsConnecting} and ${K6_METRICS.wsSessionDuration}, p99 per k6 instance (k6's default trend stat). ${needs}`,
            queries: [
              q(`max by (transport) (${s(K6_METRICS.wsConnecting)})`, '{{transport}} connecting p99'),
              q(`max by (transport) (${s(K6_METRICS.wsSessionDuration)})`, '{{transport}} session p99'),
            ],
            unit: 's',
            width: 8,
          },
        ],
      },
      {
        title: 'Wire bytes and HTTP (BOSH)',
        panels: [
          {
            kind: 'timeseries',
            title: 'Wire bytes per second',
            description: `k6 ${K6_METRICS.dataSent} and ${K6_METRICS.dataReceived}: TCP payload, HTTP headers and WebSocket framing included (and the snapshot POSTs to the collector). ${needs}`,
            queries: [
              q(byTransport(rate(s(K6_METRICS.dataSent))), '{{transport}} sent'),
              q(byTransport(rate(s(K6_METRICS.dataReceived))), '{{transport}} received'),
            ],
            unit: 'Bps',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'Wire bytes per stanza',
            description: `k6 ${K6_METRICS.dataSent} ÷ starling ${XMPP_COUNTERS.stanzasSent}, and received ÷ received, per transport (snapshot POSTs included). ${needs}`,
            queries: [
              q(
                `${byTransport(rate(s(K6_METRICS.dataSent)))} / ${byTransport(rate(stanzas))}`,
                '{{transport}} sent',
              ),
              q(
                `${byTransport(rate(s(K6_METRICS.dataReceived)))} / ${byTransport(rate(stanzasIn))}`,
                '{{transport}} received',
              ),
            ],
            unit: 'bytes',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'HTTP requests per second and per stanza (BOSH)',
            description: `k6 ${K6_METRICS.httpReqs} without the collector POSTs, per second and ÷ stanzas sent and received. ${needs}`,
            queries: [
              q(byTransport(rate(s(K6_METRICS.httpReqs, BOSH_ONLY))), '{{transport}} requests/s'),
              q(
                `${byTransport(rate(s(K6_METRICS.httpReqs, BOSH_ONLY)))} / (${byTransport(rate(stanzas))} + ${byTransport(rate(stanzasIn))})`,
                '{{transport}} requests/stanza',
              ),
            ],
            unit: 'short',
            width: 8,
          },
          {
            kind: 'timeseries',
            title: 'HTTP request duration p99 (BOSH)',
            description: `k6 ${K6_METRICS.httpReqDuration} p99 per k6 instance, collector POSTs left out; a held BOSH request lasts up to BOSH_WAIT. ${needs}`,
            queries: [
              q(`max by (transport) (${s(K6_METRICS.httpReqDuration, BOSH_ONLY)})`, '{{transport}} p99'),
            ],
            unit: 's',
            width: 12,
          },
          {
            kind: 'timeseries',
            title: 'HTTP requests failed (BOSH)',
            description: `k6 ${K6_METRICS.httpReqFailed}: share of HTTP requests that failed, per k6 instance. ${needs}`,
            queries: [q(`max by (transport) (${s(K6_METRICS.httpReqFailed, BOSH_ONLY)})`, '{{transport}}')],
            unit: 'percentunit',
            width: 12,
            min: 0,
            max: 1,
          },
        ],
      },
    ],
  };
}

/** Every dashboard, by the file it is written to under dashboards/. */
export function buildDashboards(): { file: string; dashboard: Dashboard }[] {
  return [
    { file: 'starling-overview.json', dashboard: buildDashboard(overview()) },
    { file: 'starling-frames.json', dashboard: buildDashboard(frames()) },
    { file: 'starling-transports.json', dashboard: buildDashboard(transports()) },
    { file: 'starling-k6.json', dashboard: buildDashboard(k6()) },
  ];
}

/** A dashboard as written to `path`: JSON as the project's prettier config formats it (`npm run format:check`). */
export async function dashboardText(d: Dashboard, path: string): Promise<string> {
  const config = (await resolveConfig(path)) ?? {};
  return format(JSON.stringify(d, null, 2), { ...config, parser: 'json' });
}
