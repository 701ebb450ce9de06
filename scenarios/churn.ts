/**
 * churn: USERS users arrive at ARRIVAL_RATE per second (a Poisson process, open model: an arrival never waits
 * for earlier logins), each logs in, sends initial presence, thinks THINK, then sends MESSAGES chat messages
 * of BODY_SIZE characters to the bare JID of another online user with THINK between them, and leaves
 * (`<close/>`, then the transport's close). The users are split over VUS; each VU's arrivals are their own
 * Poisson process at ARRIVAL_RATE / VUS, which sum to one at ARRIVAL_RATE. This is the bench's standard flow
 * (bench/standard-flow.ts), and the shape of a chat service's day: sessions that come, talk and go.
 */
import {
  loadConfig,
  num,
  parseDuration,
  setupEndpoint,
  withEndpoint,
  type EndpointData,
  whole,
} from '../src/k6/config.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';
import { sendTimedMessage } from '../src/k6/delivery.ts';
import { flushFinal, settleDeliveries, userFlow } from '../src/k6/flows.ts';

const cfg = loadConfig();
const users = count('USERS', 100);
const arrivalRate = positive('ARRIVAL_RATE', 50);
const messages = count('MESSAGES', 10, 0);
const thinkMs = parseDuration(__ENV.THINK || '200ms');
const bodySize = count('BODY_SIZE', 56, 1);
if (cfg.vus > users) throw new Error(`VUS=${cfg.vus} is more than USERS=${users}: use VUS ≤ USERS`);

/** A whole number ≥ `min` (USERS, MESSAGES, BODY_SIZE). */
function count(name: string, fallback: number, min = 1): number {
  const n = whole(name, fallback);
  if (n < min) throw new Error(`${name}=${n} must be ${min} or more`);
  return n;
}

/** A positive rate (ARRIVAL_RATE): zero arrivals per second would never start a user. */
function positive(name: string, fallback: number): number {
  const n = num(name, fallback);
  if (!(n > 0)) throw new Error(`${name}=${n} must be a positive number, e.g. 50`);
  return n;
}

export const options = sessionScenarioOptions(
  'churn',
  // The whole arrival period is the test's timed part: maxDuration leaves room for the last users to finish.
  { ...cfg, durationMs: Math.ceil((users / arrivalRate) * 1000 + (messages + 1) * thinkMs) },
  {
    xmpp_session_ready: ['p(95)<3000'],
    xmpp_message_delivery: ['p(95)<1000'],
    xmpp_message_loss: ['rate==0'],
  },
  Math.ceil(users / cfg.vus),
);

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

const body = 'x'.repeat(bodySize);

export default async function (data: EndpointData): Promise<void> {
  await userFlow(withEndpoint(cfg, data), {
    users,
    arrivalRate,
    thinkMs,
    act: async (user, ctx) => {
      await ctx.available(thinkMs);
      await ctx.think();
      for (let i = 0; i < messages && user.session.state === 'ready'; i++) {
        // A random other user that is online and not leaving, as Tsung's destination="online".
        sendTimedMessage(user.session, ctx.pickPeer().bareJid, body);
        if (i === messages - 1) ctx.leaving();
        await ctx.think();
      }
    },
  });
  await settleDeliveries();
  await flushFinal();
}
