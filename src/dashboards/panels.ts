/**
 * What the dashboards share: the variables' label matchers and scopes, the query builders (rates,
 * selectors, ratios, window quantiles) and the percentile panel. Metric names come from their single
 * sources; none is typed here.
 *
 * Variables: `$run` (label `run_id`: one STARLING_RUN_ID), `$scenario` (k6 scenario name) and `$transport`
 * (websocket | bosh). "All" is `.*`, which also matches a series without the label.
 */
import {
  COLLECTOR_METRICS,
  counterMetricName,
  histogramMetricName,
  PERCENTILES,
  percentileMetricName,
} from '../collector/prometheus.ts';
import { XMPP_COUNTERS } from '../contract/metric-names.ts';
import { labelValuesVariable, type PanelSpec, type Variable } from './grafana.ts';

/** Grafana's rate window: at least four scrapes (the datasource's timeInterval is the scrape interval). */
export const RATE_WINDOW = '$__rate_interval';

/** The collector's rate label (a k6 Rate travels as counts by outcome; see src/k6/metrics.ts). */
export const OUTCOME = 'outcome';

/** `name{m1,m2}` (or `name` without matchers). */
export function selector(name: string, ...matchers: string[]): string {
  const m = matchers.filter((x) => x !== '');
  return m.length === 0 ? name : `${name}{${m.join(',')}}`;
}

export const RUN = 'run_id=~"$run"';
const SCENARIO = 'scenario=~"$scenario"';
export const TRANSPORT = 'transport=~"$transport"';
/** Generator (XMPP) series: run, scenario, transport. */
export const XMPP_SCOPE = [RUN, SCENARIO, TRANSPORT];
/** Tap series carry run and transport (the tap has no scenario). */
export const TAP_SCOPE = [RUN, TRANSPORT];
/** k6's own series, tagged by `k6 run --tag run_id=… --tag transport=…`. */
export const K6_SCOPE = [RUN, TRANSPORT];

export const rate = (series: string): string => `rate(${series}[${RATE_WINDOW}])`;

export const xmppCounter = (metric: string, ...extra: string[]): string =>
  selector(counterMetricName(metric), ...XMPP_SCOPE, ...extra);

export const PERCENTILE_LIST = PERCENTILES.map((p) => p.label).join(', ');

/** p50/p90/p99/p99.9/max of a histogram metric over the run so far: the collector's HDR percentile gauges. */
export function percentilePanel(
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
export function windowQuantile(metric: string, q: number, scope: string[], by: string[]): string {
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
export function ratio(metric: string): string {
  const total = `sum by (transport) (${xmppCounter(metric)})`;
  return `(sum by (transport) (${xmppCounter(metric, `${OUTCOME}="true"`)}) or 0 * ${total}) / ${total}`;
}

/** A Rate's outcomes per second, by transport and outcome (timeseries, 10 columns). */
export function outcomesPerSecondPanel(metric: string, title: string, description: string): PanelSpec {
  return {
    kind: 'timeseries',
    title,
    description,
    queries: [
      {
        expr: `sum by (transport, ${OUTCOME}) (${rate(xmppCounter(metric))})`,
        legend: `{{transport}} success={{${OUTCOME}}}`,
      },
    ],
    unit: 'ops',
    width: 10,
  };
}

/** A Rate's share of true samples over the run so far, per transport (stat, 4 columns, 0–100 %). */
export function shareStatPanel(metric: string, title: string, description: string): PanelSpec {
  return {
    kind: 'stat',
    title,
    description,
    queries: [{ expr: ratio(metric), legend: '{{transport}}' }],
    unit: 'percentunit',
    width: 4,
    min: 0,
    max: 1,
  };
}

export function variables(which: { scenario: boolean }): Variable[] {
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
