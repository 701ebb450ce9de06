/**
 * Rows of the overview dashboard (overview.ts) only: the generator's health, multi-user chat and stream
 * management; and its open-sessions query.
 */
import { counterMetricName, gaugeMetricName } from '../collector/prometheus.ts';
import { GENERATOR_METRICS } from '../contract/snapshot.ts';
import { XMPP_COUNTERS, XMPP_RATES, XMPP_TRENDS } from '../contract/metric-names.ts';
import type { RowSpec } from './grafana.ts';
import {
  OUTCOME,
  outcomesPerSecondPanel,
  percentilePanel,
  rate,
  ratio,
  RUN,
  selector,
  shareStatPanel,
  windowQuantile,
  XMPP_SCOPE,
  xmppCounter,
} from './panels.ts';

/**
 * The Node engine's own health (src/engine/health.ts), per generator process: whether the latencies beside it
 * are the server's or starling's. k6 generators send none of it.
 */
export function generatorRow(): RowSpec {
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

export function sessionsOpen(): string {
  const opened = `sum by (transport) (${xmppCounter(XMPP_COUNTERS.sessionsOpened)})`;
  const closed = `sum by (transport) (${xmppCounter(XMPP_COUNTERS.sessionsClosed)})`;
  // Before the first close there is no closed series: count it as 0.
  return `${opened} - (${closed} or ${opened} * 0)`;
}

/**
 * Multi-user chat (XEP-0045). Fan-out completeness is summed by kind only: an expected broadcast is counted with
 * its sender's tags and a received one with its recipient's, and a room's occupants may use different transports.
 */
export function mucRow(): RowSpec {
  const fanout = (metric: string): string => `sum by (kind) (${xmppCounter(metric)})`;
  const expected = fanout(XMPP_COUNTERS.mucFanoutExpected);
  return {
    title: 'Multi-user chat (XEP-0045)',
    panels: [
      outcomesPerSecondPanel(
        XMPP_RATES.mucJoinSuccess,
        'Room joins per second, by outcome',
        `${XMPP_RATES.mucJoinSuccess}: room joins finished per second; outcome="false" is a join the room refused ` +
          '(an error presence) or did not answer within the join timeout.',
      ),
      shareStatPanel(
        XMPP_RATES.mucJoinSuccess,
        'Room join success',
        `${XMPP_RATES.mucJoinSuccess}: share of room joins that got the room's self-presence, over the run so far.`,
      ),
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
export function smRow(): RowSpec {
  const failed = xmppCounter(XMPP_RATES.smResumeSuccess, `${OUTCOME}="false"`);
  // Before the first redelivery there is no series: 0 per transport that opened sessions, not "No data".
  const opened = `sum by (transport) (${xmppCounter(XMPP_COUNTERS.sessionsOpened)})`;
  return {
    title: 'Stream management and resumption (XEP-0198)',
    panels: [
      outcomesPerSecondPanel(
        XMPP_RATES.smResumeSuccess,
        'Resumptions per second, by outcome',
        `${XMPP_RATES.smResumeSuccess}: resumptions of broken sessions finished per second; outcome="false" is one ` +
          "that did not resume (sm-resume-failed:item-not-found after the server's resumption timeout, a failed " +
          'login on the new transport, a timeout) and ended the session.',
      ),
      shareStatPanel(
        XMPP_RATES.smResumeSuccess,
        'Resumption success',
        `${XMPP_RATES.smResumeSuccess}: share of resumption attempts that got <resumed/>, over the run so far.`,
      ),
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
