/** The k6 dashboard (starling-k6.json): k6's own series, as experimental-prometheus-rw writes them. */
import { counterMetricName } from '../collector/prometheus.ts';
import { XMPP_COUNTERS } from '../contract/metric-names.ts';
import type { DashboardSpec, Query } from './grafana.ts';
import { K6_METRICS, k6SeriesName } from './k6-names.ts';
import { K6_SCOPE, rate, RUN, selector, TRANSPORT, variables } from './panels.ts';

export function k6(): DashboardSpec {
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
