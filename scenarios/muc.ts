/**
 * muc: ROOMS multi-user chat rooms (XEP-0045) of OCCUPANTS_PER_ROOM occupants each. The ROOMS × OCCUPANTS_PER_ROOM
 * sessions are split over VUS (default: one VU per room) in room order, so a room spans VUs when its occupants do
 * not fit one. Every session logs in (LOGIN_RATE), joins its room at once (the join burst, xmpp_muc_join), waits
 * until it sees its room full, then for DURATION each room carries MESSAGE_RATE groupchat messages and
 * PRESENCE_RATE presence changes a second, its occupants taking turns; every other occupant records each one it
 * receives (latency and fan-out counts). Then every occupant leaves its room and closes.
 *
 * XMPP_MUC_DOMAIN names the MUC service (default conference.<XMPP_DOMAIN>, as `starling server up` serves it);
 * XMPP_MUC_ROOM_PREFIX the rooms' names (room k is <prefix><k>).
 */
import exec from 'k6/execution';
import { loadConfig, num, setupEndpoint, whole, withEndpoint, type EndpointData } from '../src/k6/config.ts';
import {
  closeAll,
  delay,
  every,
  flushFinal,
  openSessions,
  settle,
  settleDeliveries,
} from '../src/k6/flows.ts';
import { COUNTED_TREND_STATS, joinRoom, ROOM_THRESHOLDS, type Room } from '../src/k6/muc.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';

const base = loadConfig();
const rooms = atLeastOne('ROOMS', 2);
const perRoom = atLeastOne('OCCUPANTS_PER_ROOM', 5);
const messageRate = num('MESSAGE_RATE', 1);
const presenceRate = num('PRESENCE_RATE', 0.5);
const total = rooms * perRoom;
const vus = __ENV.VUS ? base.vus : rooms;
if (vus > total)
  throw new Error(`VUS=${vus} is more than ROOMS × OCCUPANTS_PER_ROOM = ${total}: use VUS ≤ ${total}`);
const sessionsPerVu = Math.ceil(total / vus);
const cfg = { ...base, vus, sessionsPerVu };
const mucDomain = __ENV.XMPP_MUC_DOMAIN || `conference.${cfg.domain}`;
const roomPrefix = __ENV.XMPP_MUC_ROOM_PREFIX || 'starling-room-';
/** How long an occupant waits for its room to fill before the timed part starts anyway. */
const FILL_WAIT_MS = 15_000;

function atLeastOne(name: string, fallback: number): number {
  const n = whole(name, fallback);
  if (n < 1) throw new Error(`${name}=${n} must be 1 or more`);
  return n;
}

export const options = {
  summaryTrendStats: COUNTED_TREND_STATS,
  ...sessionScenarioOptions('muc', cfg, ROOM_THRESHOLDS, sessionsPerVu),
};

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const first = (exec.vu.idInTest - 1) * sessionsPerVu; // this VU's first occupant, 0-based over all rooms
  const sessions = await openSessions(
    withEndpoint(cfg, data),
    Math.max(0, Math.min(sessionsPerVu, total - first)),
  );
  const joined = await Promise.all(
    sessions.map((s) => {
      const g = first + s.index;
      return joinRoom(
        s,
        `${roomPrefix}${Math.floor(g / perRoom) + 1}@${mucDomain}`,
        `occupant${(g % perRoom) + 1}`,
      );
    }),
  );
  const roomOf = new Map<number, Room>();
  joined.forEach((r, i) => r && roomOf.set(sessions[i]!.index, r));
  const inRooms = sessions.filter((s) => roomOf.has(s.index));
  await settle(() => [...roomOf.values()].every((r) => r.occupants.size >= perRoom), FILL_WAIT_MS);

  // Each occupant sends 1/perRoom of its room's rate: the room as a whole carries MESSAGE_RATE and PRESENCE_RATE.
  let said = 0;
  let changed = 0;
  await Promise.all([
    every(inRooms, (1000 * perRoom) / messageRate, cfg.durationMs, (s) => {
      roomOf.get(s.index)!.sendMessage(`groupchat ${said++}`);
    }),
    every(inRooms, (1000 * perRoom) / presenceRate, cfg.durationMs, (s) => {
      roomOf.get(s.index)!.sendPresence({ status: `status ${changed++}` });
    }),
  ]);
  await settleDeliveries();
  // Broadcasts to occupants in other VUs are not in this VU's ledger: a moment for the last of them to land.
  await delay(500);
  await Promise.all([...roomOf.values()].map((r) => r.leave()));
  await closeAll(sessions);
  await flushFinal();
}
