/**
 * k6's built-in metrics as its `experimental-prometheus-rw` output names them (xk6-output-prometheus-remote,
 * bundled in k6): `k6_` + the k6 name, then `_total` for a Counter, nothing for a Gauge, `_rate` for a Rate, and
 * one gauge `_<stat>` per K6_PROMETHEUS_RW_TREND_STATS entry for a Trend (`p(99)` → `p99`, `p(99.9)` → `p999`;
 * time trends in seconds). k6 tags become labels: starling's dashboards expect `run_id` and `transport`, which
 * k6 gets from `--tag run_id=… --tag transport=…`.
 */

/** k6's own metric names (k6 metrics reference: standard, HTTP and k6/websockets metrics). */
export const K6_METRICS = {
  vus: 'vus',
  vusMax: 'vus_max',
  dataSent: 'data_sent',
  dataReceived: 'data_received',
  httpReqs: 'http_reqs',
  httpReqDuration: 'http_req_duration',
  httpReqFailed: 'http_req_failed',
  wsSessions: 'ws_sessions',
  wsMsgsSent: 'ws_msgs_sent',
  wsMsgsReceived: 'ws_msgs_received',
  wsConnecting: 'ws_connecting',
  wsSessionDuration: 'ws_session_duration',
} as const;

export type K6MetricType = 'counter' | 'gauge' | 'rate' | 'trend';

/** The k6 type of each metric above (it decides the suffix). */
export const K6_METRIC_TYPES: Readonly<Record<string, K6MetricType>> = {
  [K6_METRICS.vus]: 'gauge',
  [K6_METRICS.vusMax]: 'gauge',
  [K6_METRICS.dataSent]: 'counter',
  [K6_METRICS.dataReceived]: 'counter',
  [K6_METRICS.httpReqs]: 'counter',
  [K6_METRICS.httpReqDuration]: 'trend',
  [K6_METRICS.httpReqFailed]: 'rate',
  [K6_METRICS.wsSessions]: 'counter',
  [K6_METRICS.wsMsgsSent]: 'counter',
  [K6_METRICS.wsMsgsReceived]: 'counter',
  [K6_METRICS.wsConnecting]: 'trend',
  [K6_METRICS.wsSessionDuration]: 'trend',
};

/** The output's default K6_PROMETHEUS_RW_TREND_STATS. */
export const K6_DEFAULT_TREND_STAT = 'p(99)';

/** `k6_<name>_total`. */
export function k6CounterName(metric: string): string {
  return `k6_${metric}_total`;
}

/** `k6_<name>`. */
export function k6GaugeName(metric: string): string {
  return `k6_${metric}`;
}

/** `k6_<name>_rate`. */
export function k6RateName(metric: string): string {
  return `k6_${metric}_rate`;
}

/** `k6_<name>_<stat>`: `p(99)` → `p99`, `p(99.9)` → `p999`, `avg`/`min`/`max`/`med`/`count`/`sum` as they are. */
export function k6TrendStatName(metric: string, stat: string = K6_DEFAULT_TREND_STAT): string {
  const m = /^p\((\d+(?:\.\d+)?)\)$/.exec(stat);
  const suffix = m ? `p${m[1]!.replace(/\./g, '')}` : stat;
  return `k6_${metric}_${suffix}`;
}

/** The series name k6 writes for a built-in metric (trends: the default stat). */
export function k6SeriesName(metric: string): string {
  const type = K6_METRIC_TYPES[metric];
  switch (type) {
    case 'counter':
      return k6CounterName(metric);
    case 'gauge':
      return k6GaugeName(metric);
    case 'rate':
      return k6RateName(metric);
    case 'trend':
      return k6TrendStatName(metric);
    default:
      throw new Error(`k6 metric '${metric}' is not in K6_METRIC_TYPES`);
  }
}
