/** The transports dashboard (starling-transports.json): WebSocket and BOSH side by side. */
import { percentileMetricName } from '../collector/prometheus.ts';
import { XMPP_COUNTERS, XMPP_RATES, XMPP_TRANSPORT_COUNTERS, XMPP_TRENDS } from '../contract/metric-names.ts';
import type { DashboardSpec, PanelSpec } from './grafana.ts';
import { rate, ratio, selector, variables, XMPP_SCOPE, xmppCounter } from './panels.ts';

/** Σ rate of the transport counter ÷ Σ rate of stanzas, per transport. */
function perStanza(numerator: string, stanzas: string[], window: boolean): string {
  const term = (s: string): string => `sum by (transport) (${window ? rate(s) : s})`;
  const denominator = stanzas.map(term).join(' + ');
  return `${term(numerator)} / ${stanzas.length > 1 ? `(${denominator})` : denominator}`;
}

export function transports(): DashboardSpec {
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
