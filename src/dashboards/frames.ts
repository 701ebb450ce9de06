/** The frames dashboard (starling-frames.json): what each frame costs, from `starling collect --tap`. */
import {
  counterMetricName,
  gaugeMetricName,
  histogramMetricName,
  percentileMetricName,
} from '../collector/prometheus.ts';
import { TAP_METRICS } from '../contract/tap-metric-names.ts';
import type { DashboardSpec } from './grafana.ts';
import {
  PERCENTILE_LIST,
  percentilePanel,
  rate,
  selector,
  TAP_SCOPE,
  variables,
  windowQuantile,
} from './panels.ts';

export function frames(): DashboardSpec {
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
