/** The XMPP k6 metric objects, created once in the init context from the names in metric-names.ts. */
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_RATES, XMPP_TRENDS } from './metric-names.ts';

export const xmpp = {
  connect: new Trend(XMPP_TRENDS.connect, true),
  auth: new Trend(XMPP_TRENDS.auth, true),
  bind: new Trend(XMPP_TRENDS.bind, true),
  sessionReady: new Trend(XMPP_TRENDS.sessionReady, true),
  messageDelivery: new Trend(XMPP_TRENDS.messageDelivery, true),
  presenceDelivery: new Trend(XMPP_TRENDS.presenceDelivery, true),
  iqRtt: new Trend(XMPP_TRENDS.iqRtt, true),
  close: new Trend(XMPP_TRENDS.close, true),
  stanzasSent: new Counter(XMPP_COUNTERS.stanzasSent),
  stanzasReceived: new Counter(XMPP_COUNTERS.stanzasReceived),
  streamErrors: new Counter(XMPP_COUNTERS.streamErrors),
  sessionFailures: new Counter(XMPP_COUNTERS.sessionFailures),
  sessionsOpened: new Counter(XMPP_COUNTERS.sessionsOpened),
  sessionsClosed: new Counter(XMPP_COUNTERS.sessionsClosed),
  boshRetries: new Counter(XMPP_COUNTERS.boshRetries),
  loginSuccess: new Rate(XMPP_RATES.loginSuccess),
  cleanClose: new Rate(XMPP_RATES.cleanClose),
  sessionsOpen: new Gauge(XMPP_GAUGES.sessionsOpen),
};
