/**
 * presence: every VU logs in SESSIONS_PER_VU sessions; each sends directed presence to the next session of
 * its VU PRESENCE_RATE times a second for DURATION; then all close cleanly.
 */
import { loadConfig } from '../src/k6/config.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';
import { closeAll, countTimed, every, flushFinal, openSessions, settle } from '../src/k6/flows.ts';
import { sendTimedPresence } from '../src/k6/session.ts';

const cfg = loadConfig();

export const options = sessionScenarioOptions('presence', cfg, { xmpp_presence_delivery: ['p(95)<1000'] });

export default async function (): Promise<void> {
  const sessions = await openSessions(cfg);
  const seen = countTimed(sessions, 'presence');
  let sent = 0;
  await every(sessions, 1000 / cfg.presenceRate, cfg.durationMs, (s) => {
    const peer = sessions[(s.index + 1) % sessions.length]!;
    sendTimedPresence(s.session, peer.jid, `status ${sent++}`);
  });
  await settle(() => seen.received >= sent);
  await closeAll(sessions);
  await flushFinal();
}
