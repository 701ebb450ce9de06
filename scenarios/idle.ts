/**
 * idle: hold SESSIONS_PER_VU sessions per VU for DURATION, each pinging the server every PING_INTERVAL
 * (soak and capacity: how many sessions does the server hold, at what ping latency).
 */
import { loadConfig } from '../src/k6/config.ts';
import { closeAll, every, openSessions } from '../src/k6/flows.ts';
import { timedPing } from '../src/k6/websocket.ts';

const cfg = loadConfig();

export const options = {
  scenarios: {
    idle: {
      executor: 'per-vu-iterations',
      vus: cfg.vus,
      iterations: 1,
      maxDuration: `${cfg.durationMs + 120_000}ms`,
    },
  },
  thresholds: {
    xmpp_login_success: ['rate>0.99'],
    xmpp_iq_rtt: ['p(99)<1000'],
    xmpp_clean_close: ['rate>0.99'],
  },
};

export default async function (): Promise<void> {
  const sessions = await openSessions(cfg);
  await every(sessions, cfg.pingIntervalMs, cfg.durationMs, (s) => timedPing(s.session));
  await closeAll(sessions);
}
