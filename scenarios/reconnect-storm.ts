/**
 * reconnect-storm: every VU logs in SESSIONS_PER_VU sessions with stream management (XEP-0198) and resumption, and
 * each sends MESSAGE_RATE chat messages/s to the next session of its VU for DURATION. At STORM_AT after the last
 * login (default: a third of DURATION), BREAK_PERCENT % of every VU's sessions (default 100) lose their WebSocket
 * at the same moment, without `<close/>`, as in a network blip or a load balancer restart. Each comes back after
 * RESUME_AFTER (default 0) and a random pause of up to RESUME_SPREAD (default 0: all at once), and resumes on a new
 * WebSocket. Messages are sent
 * to the broken sessions meanwhile: the server keeps them, and they must arrive after the resumption
 * (xmpp_message_loss); a session whose resumption is refused ends as sm-resume-failed:<condition>. Then every
 * session closes cleanly.
 *
 * Reports: xmpp_sm_resume (new WebSocket → <resumed/>), xmpp_sm_resume_success (resumed %, failures by reason),
 * xmpp_sm_resent (stanzas the server had not acked, sent again), xmpp_stanzas_redelivered (stanzas received twice).
 */
import exec from 'k6/execution';
import {
  loadConfig,
  num,
  parseDuration,
  setupEndpoint,
  withEndpoint,
  type EndpointData,
} from '../src/k6/config.ts';
import { sendTimedMessage } from '../src/k6/delivery.ts';
import { closeAll, delay, every, flushFinal, openSessions, settleDeliveries } from '../src/k6/flows.ts';
import { COUNTED_TREND_STATS } from '../src/k6/muc.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';

const cfg = { ...loadConfig(), streamManagement: true };
const breakPercent = num('BREAK_PERCENT', 100);
if (breakPercent > 100) throw new Error(`BREAK_PERCENT=${breakPercent} must be between 0 and 100`);
const stormAtMs = __ENV.STORM_AT ? parseDuration(__ENV.STORM_AT) : Math.round(cfg.durationMs / 3);
const resumeAfterMs = parseDuration(__ENV.RESUME_AFTER || '0s');
const resumeSpreadMs = parseDuration(__ENV.RESUME_SPREAD || '0s');
if (stormAtMs >= cfg.durationMs) {
  throw new Error(`STORM_AT (${stormAtMs} ms) must come before the end of DURATION (${cfg.durationMs} ms)`);
}
/** Every VU's logins are done by then (the global ramp): the storm hits all VUs at one moment. */
const loginRampMs = cfg.loginRate > 0 ? (cfg.vus * cfg.sessionsPerVu * 1000) / cfg.loginRate : 0;

export const options = {
  summaryTrendStats: COUNTED_TREND_STATS,
  ...sessionScenarioOptions('reconnect-storm', cfg, {
    xmpp_sm_resume: ['p(95)<3000'],
    xmpp_sm_resume_success: ['rate==1'],
    xmpp_message_loss: ['rate==0'],
  }),
};

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const sessions = await openSessions(withEndpoint(cfg, data));
  const stormAt = exec.scenario.startTime + loginRampMs + stormAtMs;
  const breaking = sessions.filter((s) => s.index < Math.round((sessions.length * breakPercent) / 100));
  const storm = (async () => {
    await delay(Math.max(0, stormAt - Date.now()));
    await Promise.all(
      breaking.map((s) => s.connection.breakAndResume(resumeAfterMs + Math.random() * resumeSpreadMs)),
    );
  })();
  let sent = 0;
  await every(sessions, 1000 / cfg.messageRate, cfg.durationMs, (s) => {
    const peer = sessions[(s.index + 1) % sessions.length]!;
    sendTimedMessage(s.session, peer.jid, `chat ${sent++}`);
  });
  await storm;
  await settleDeliveries();
  await closeAll(sessions);
  await flushFinal();
}
