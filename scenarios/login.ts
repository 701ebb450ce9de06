/** login: every VU logs in SESSIONS_PER_VU sessions, pings once from each, and closes them cleanly. */
import { loadConfig, setupEndpoint, withEndpoint, type EndpointData } from '../src/k6/config.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';
import { closeAll, flushFinal, openSessions } from '../src/k6/flows.ts';
import { timedPing } from '../src/k6/session.ts';

const cfg = loadConfig();

export const options = sessionScenarioOptions('login', cfg, { xmpp_session_ready: ['p(95)<3000'] });

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const sessions = await openSessions(withEndpoint(cfg, data));
  await Promise.all(sessions.map((s) => timedPing(s.session)));
  await closeAll(sessions);
  await flushFinal();
}
