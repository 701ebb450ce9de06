/** login: every VU logs in SESSIONS_PER_VU sessions, pings once from each, and closes them cleanly. */
import { loadConfig } from '../src/k6/config.ts';
import { closeAll, openSessions } from '../src/k6/flows.ts';
import { timedPing } from '../src/k6/websocket.ts';

const cfg = loadConfig();

export const options = {
  scenarios: {
    login: { executor: 'per-vu-iterations', vus: cfg.vus, iterations: 1, maxDuration: '5m' },
  },
  thresholds: {
    xmpp_login_success: ['rate>0.99'],
    xmpp_session_ready: ['p(95)<3000'],
    xmpp_clean_close: ['rate>0.99'],
  },
};

export default async function (): Promise<void> {
  const sessions = await openSessions(cfg);
  await Promise.all(sessions.map((s) => timedPing(s.session)));
  await closeAll(sessions);
}
