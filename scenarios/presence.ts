/**
 * presence: every VU logs in SESSIONS_PER_VU sessions; each sends directed presence to the next session of
 * its VU PRESENCE_RATE times a second for DURATION; then all close cleanly.
 */
import { loadConfig, setupEndpoint, withEndpoint, type EndpointData } from '../src/k6/config.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';
import { sendTimedPresence } from '../src/k6/delivery.ts';
import { closeAll, every, flushFinal, openSessions, settleDeliveries } from '../src/k6/flows.ts';

const cfg = loadConfig();

export const options = sessionScenarioOptions('presence', cfg, {
  xmpp_presence_delivery: ['p(95)<1000'],
  xmpp_presence_loss: ['rate==0'],
});

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const sessions = await openSessions(withEndpoint(cfg, data));
  let sent = 0;
  await every(sessions, 1000 / cfg.presenceRate, cfg.durationMs, (s) => {
    const peer = sessions[(s.index + 1) % sessions.length]!;
    sendTimedPresence(s.session, peer.jid, `status ${sent++}`);
  });
  await settleDeliveries();
  await closeAll(sessions);
  await flushFinal();
}
