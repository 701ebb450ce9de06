/**
 * The XMPP k6 metric objects, created once in the init context from the names in src/contract/metric-names.ts.
 * Each `add` also feeds the VU's collector snapshot (src/k6/collector.ts, a no-op without
 * STARLING_COLLECTOR_URL): trends into an HDR histogram per metric (no labels yet), counters as deltas labelled
 * with their tags, the gauge as this VU's reading.
 */
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { collectorEnabled, recordCount, recordGauge, recordLatency } from './collector.ts';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_RATES, XMPP_TRENDS } from '../contract/metric-names.ts';

type Tags = Record<string, string>;

/** A k6 metric as session code uses it: one `add` records the k6 sample and the collector's copy. */
export interface RecordedMetric {
  add(value: number, tags?: Tags): void;
}

/** A time Trend (ms) whose samples also go into the VU's HDR histogram of the same name. */
function latency(name: string): RecordedMetric {
  const trend = new Trend(name, true);
  return {
    add(ms, tags) {
      trend.add(ms, tags);
      recordLatency(name, ms);
    },
  };
}

function counter(name: string): RecordedMetric {
  const c = new Counter(name);
  return {
    add(n, tags) {
      c.add(n, tags);
      recordCount(name, n, tags);
    },
  };
}

/** A per-VU reading: the collector sums it across VUs and instances, so it carries no labels. */
function gauge(name: string): RecordedMetric {
  const g = new Gauge(name);
  return {
    add(v, tags) {
      g.add(v, tags);
      recordGauge(name, v);
    },
  };
}

/**
 * A Rate whose samples also travel as counts labelled `outcome="true"|"false"` (the collector's RATE_OUTCOME_LABEL),
 * so `gate` and Prometheus can compute the fleet-wide rate.
 */
function rate(name: string): RecordedMetric {
  const r = new Rate(name);
  return {
    add(v, tags) {
      r.add(v, tags);
      if (collectorEnabled) recordCount(name, 1, { ...tags, outcome: v !== 0 ? 'true' : 'false' });
    },
  };
}

export const xmpp = {
  connect: latency(XMPP_TRENDS.connect),
  auth: latency(XMPP_TRENDS.auth),
  bind: latency(XMPP_TRENDS.bind),
  sessionReady: latency(XMPP_TRENDS.sessionReady),
  messageDelivery: latency(XMPP_TRENDS.messageDelivery),
  presenceDelivery: latency(XMPP_TRENDS.presenceDelivery),
  iqRtt: latency(XMPP_TRENDS.iqRtt),
  close: latency(XMPP_TRENDS.close),
  tlsHandshake: latency(XMPP_TRENDS.tlsHandshake),
  mucJoin: latency(XMPP_TRENDS.mucJoin),
  mucMessageDelivery: latency(XMPP_TRENDS.mucMessageDelivery),
  mucPresenceDelivery: latency(XMPP_TRENDS.mucPresenceDelivery),
  smResume: latency(XMPP_TRENDS.smResume),
  stanzasSent: counter(XMPP_COUNTERS.stanzasSent),
  stanzasReceived: counter(XMPP_COUNTERS.stanzasReceived),
  streamErrors: counter(XMPP_COUNTERS.streamErrors),
  sessionFailures: counter(XMPP_COUNTERS.sessionFailures),
  sessionsOpened: counter(XMPP_COUNTERS.sessionsOpened),
  sessionsClosed: counter(XMPP_COUNTERS.sessionsClosed),
  boshRetries: counter(XMPP_COUNTERS.boshRetries),
  redirects: counter(XMPP_COUNTERS.redirects),
  mucFanoutExpected: counter(XMPP_COUNTERS.mucFanoutExpected),
  mucFanoutReceived: counter(XMPP_COUNTERS.mucFanoutReceived),
  smResent: counter(XMPP_COUNTERS.smResent),
  redelivered: counter(XMPP_COUNTERS.redelivered),
  loginSuccess: rate(XMPP_RATES.loginSuccess),
  cleanClose: rate(XMPP_RATES.cleanClose),
  messageLoss: rate(XMPP_RATES.messageLoss),
  presenceLoss: rate(XMPP_RATES.presenceLoss),
  mucJoinSuccess: rate(XMPP_RATES.mucJoinSuccess),
  mucMessageLoss: rate(XMPP_RATES.mucMessageLoss),
  mucPresenceLoss: rate(XMPP_RATES.mucPresenceLoss),
  smResumeSuccess: rate(XMPP_RATES.smResumeSuccess),
  sessionsOpen: gauge(XMPP_GAUGES.sessionsOpen),
};
