/**
 * The overview dashboard (starling-overview.json): sessions, logins, latency percentiles, multi-user
 * chat, stream resumption, stanzas and failures across the whole fleet. Its own rows are in
 * overview-rows.ts.
 */
import { COLLECTOR_METRICS } from '../collector/prometheus.ts';
import { XMPP_COUNTERS, XMPP_RATES, XMPP_TRENDS } from '../contract/metric-names.ts';
import type { DashboardSpec } from './grafana.ts';
import { generatorRow, mucRow, sessionsOpen, smRow } from './overview-rows.ts';
import {
  outcomesPerSecondPanel,
  percentilePanel,
  rate,
  ratio,
  RUN,
  selector,
  shareStatPanel,
  variables,
  windowQuantile,
  XMPP_SCOPE,
  xmppCounter,
} from './panels.ts';

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

export function overview(): DashboardSpec {
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
          outcomesPerSecondPanel(
            XMPP_RATES.loginSuccess,
            'Logins per second, by outcome',
            `${XMPP_RATES.loginSuccess}: logins finished per second; outcome="false" is a login that failed.`,
          ),
          shareStatPanel(
            XMPP_RATES.loginSuccess,
            'Login success',
            `${XMPP_RATES.loginSuccess}: share of logins that succeeded, over the run so far.`,
          ),
          shareStatPanel(
            XMPP_RATES.cleanClose,
            'Clean close',
            `${XMPP_RATES.cleanClose}: share of sessions that ended with a clean <close/>, over the run so far.`,
          ),
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
