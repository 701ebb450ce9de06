/**
 * transport-compare: the flow `starling compare-transports` runs over each transport — every session logs in,
 * sends one directed presence and MESSAGES chat messages (MESSAGE_RATE per second) to the next session of its
 * VU, waits for what it sent to be delivered, and closes cleanly. Messages start together in every VU once
 * the login ramp is over (MESSAGE_START_DELAY after it), so login load does not mix with the message phase. Run with MESSAGES=0 it is the baseline the
 * comparison subtracts to price one message on the wire.
 */
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
import {
  loadConfig,
  parseDuration,
  setupEndpoint,
  withEndpoint,
  type EndpointData,
} from '../src/k6/config.ts';
import {
  closeAll,
  delay,
  flushFinal,
  openSessions,
  pendingDeliveries,
  settle,
  settleDeliveries,
  stopping,
} from '../src/k6/flows.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';
import { sendTimedMessage, sendTimedPresence } from '../src/k6/delivery.ts';

const cfg = loadConfig();
const messages = Number(__ENV.MESSAGES ?? '10');
if (!Number.isInteger(messages) || messages < 0) {
  throw new Error(`MESSAGES='${__ENV.MESSAGES}' is not a whole number of messages per session`);
}

const startDelayMs = parseDuration(__ENV.MESSAGE_START_DELAY || '3s');

/** Epoch ms when each VU started and finished its message phase: min(start)…max(end) is the phase. */
const phaseStart = new Trend('starling_message_phase_start');
const phaseEnd = new Trend('starling_message_phase_end');

export const options = {
  ...sessionScenarioOptions('transport_compare', cfg, {
    xmpp_message_loss: ['rate==0'],
    xmpp_presence_loss: ['rate==0'],
  }),
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'count'],
};

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const sessions = await openSessions(withEndpoint(cfg, data));
  for (const s of sessions) {
    sendTimedPresence(s.session, sessions[(s.index + 1) % sessions.length]!.jid, 'compare');
  }
  await settleDeliveries();
  if (messages > 0 && sessions.length > 0) {
    const periodMs = 1000 / cfg.messageRate;
    const rampMs = cfg.loginRate > 0 ? ((cfg.vus * cfg.sessionsPerVu) / cfg.loginRate) * 1000 : 0;
    const startAt = exec.scenario.startTime + rampMs + startDelayMs;
    await delay(Math.max(0, startAt - Date.now()));
    phaseStart.add(Date.now());
    await Promise.all(
      sessions.map(async (s) => {
        await delay((periodMs * s.index) / sessions.length);
        const peer = sessions[(s.index + 1) % sessions.length]!;
        for (let i = 0; i < messages && s.session.state === 'ready' && !stopping(); i++) {
          if (i > 0) await delay(periodMs);
          sendTimedMessage(s.session, peer.jid, `compare ${i}`);
        }
      }),
    );
    // Up to 30 s for a saturated server to drain what it queued: the loss window decides what counts as lost.
    await settle(() => pendingDeliveries() === 0, 30_000);
    phaseEnd.add(Date.now());
  }
  await closeAll(sessions);
  await flushFinal();
}
