/**
 * chat: every VU logs in SESSIONS_PER_VU sessions; each sends MESSAGE_RATE messages/s to the next session
 * of its VU for DURATION; then all close cleanly. Delivery latency is measured by the receiver.
 */
import { loadConfig, setupEndpoint, withEndpoint, type EndpointData } from '../src/k6/config.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';
import { sendTimedMessage } from '../src/k6/delivery.ts';
import { closeAll, every, flushFinal, openSessions, settleDeliveries } from '../src/k6/flows.ts';

const cfg = loadConfig();

export const options = sessionScenarioOptions('chat', cfg, {
  xmpp_session_ready: ['p(95)<3000'],
  xmpp_message_delivery: ['p(95)<1000'],
  // A message that never arrives has no latency: only this fails the run when the server drops them.
  xmpp_message_loss: ['rate==0'],
});

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const sessions = await openSessions(withEndpoint(cfg, data));
  let sent = 0;
  await every(sessions, 1000 / cfg.messageRate, cfg.durationMs, (s) => {
    const peer = sessions[(s.index + 1) % sessions.length]!;
    sendTimedMessage(s.session, peer.jid, `chat ${sent++}`);
  });
  await settleDeliveries();
  await closeAll(sessions);
  await flushFinal();
}
