/**
 * idle: hold SESSIONS_PER_VU sessions per VU for DURATION, each pinging the server every PING_INTERVAL
 * (soak and capacity: how many sessions does the server hold, at what ping latency).
 */
import { loadConfig, setupEndpoint, withEndpoint, type EndpointData } from '../src/k6/config.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';
import { closeAll, every, flushFinal, openSessions } from '../src/k6/flows.ts';
import { timedPing } from '../src/k6/session.ts';

const cfg = loadConfig();

export const options = sessionScenarioOptions('idle', cfg, { xmpp_iq_rtt: ['p(99)<1000'] });

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const sessions = await openSessions(withEndpoint(cfg, data));
  await every(sessions, cfg.pingIntervalMs, cfg.durationMs, (s) => timedPing(s.session));
  // This VU's share of CLOSE_RATE (default LOGIN_RATE): a soak of thousands of sessions closes as fast as it
  // logged in unless told otherwise.
  await closeAll(sessions, cfg.closeRate / cfg.vus);
  await flushFinal();
}
