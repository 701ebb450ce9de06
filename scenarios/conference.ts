/**
 * conference: video-conference rooms as Jitsi Meet uses multi-user chat (XEP-0045), to see how the join and the
 * room's fan-out grow with the room's size. ROOM_SIZES (default 5,10,20) gives one room per size, ROOMS_PER_SIZE
 * (default 1) more of each. Every participant logs in (LOGIN_RATE); once the whole login ramp is over, every
 * participant of every room joins at the same moment (the join burst, xmpp_muc_join, each sample tagged
 * room_size); then for DURATION each participant updates its presence in the room every PRESENCE_INTERVAL
 * (default 2s: a status that changes each time, as a conferencing client announces its media state) and says
 * something every CHAT_INTERVAL (default 30s); every other occupant records each one it receives. Then every
 * participant leaves and closes. A PRESENCE_INTERVAL or CHAT_INTERVAL of 0 sends none.
 *
 * ROOM_JOIN_GAP (default 0: every room at once, as at the top of the hour) starts room k's burst k gaps after the
 * first: with a gap longer than a burst takes, each room's join latency is its own, not its place in the queue of
 * every room's joins at once.
 *
 * By default each room is played by one VU (VUS = the number of rooms), so every recipient of a broadcast is in
 * its sender's VU and the loss rates (xmpp_muc_message_loss, xmpp_muc_presence_loss) cover all of them. With any
 * other VUS the participants are split over the VUs in room order and a room may span VUs: its recipients in
 * other VUs are counted by the fan-out counters only (xmpp_muc_fanout_received against
 * xmpp_muc_fanout_expected), not by the loss rates.
 *
 * Accounts are numbered from ACCOUNT_OFFSET + 1 in room order (rooms in ROOM_SIZES order), one per participant.
 * With one VU per room the login ramp gives every VU as many slots as the largest room has participants, so
 * rooms of different sizes leave gaps in it (the logins of a VU still start LOGIN_RATE apart).
 *
 * summary.json has the join latency per room size (sub-metrics xmpp_muc_join{room_size:N}) and the fan-out per
 * kind (xmpp_muc_fanout_expected{kind:message}, …): thresholds that always hold put them there, for the report.
 *
 * XMPP_MUC_DOMAIN names the MUC service (default conference.<XMPP_DOMAIN>, as `starling server up` serves it);
 * XMPP_MUC_ROOM_PREFIX the rooms' names (room k, counted over all rooms, is <prefix><k>).
 */
import exec from 'k6/execution';
import {
  loadConfig,
  parseDuration,
  setupEndpoint,
  whole,
  withEndpoint,
  type EndpointData,
} from '../src/k6/config.ts';
import {
  closeAll,
  delay,
  every,
  flushFinal,
  openSessions,
  settle,
  settleDeliveries,
  stopping,
} from '../src/k6/flows.ts';
import { COUNTED_TREND_STATS, joinRoom, ROOM_THRESHOLDS, type Room } from '../src/k6/muc.ts';
import { sessionScenarioOptions } from '../src/k6/options.ts';

interface ConferenceRoom {
  jid: string;
  size: number;
  /** Its first participant, 0-based over all rooms. */
  first: number;
}

const base = loadConfig();
const sizes = roomSizes(__ENV.ROOM_SIZES || '5,10,20');
const perSize = whole('ROOMS_PER_SIZE', 1);
if (perSize < 1) throw new Error(`ROOMS_PER_SIZE=${perSize} must be 1 or more`);
const presenceMs = parseDuration(__ENV.PRESENCE_INTERVAL || '2s');
const chatMs = parseDuration(__ENV.CHAT_INTERVAL || '30s');
const roomGapMs = parseDuration(__ENV.ROOM_JOIN_GAP || '0s');
const mucDomain = __ENV.XMPP_MUC_DOMAIN || `conference.${base.domain}`;
const roomPrefix = __ENV.XMPP_MUC_ROOM_PREFIX || 'starling-conference-';

const rooms: ConferenceRoom[] = [];
let total = 0;
for (const size of sizes)
  for (let k = 0; k < perSize; k++) {
    rooms.push({ jid: `${roomPrefix}${rooms.length + 1}@${mucDomain}`, size, first: total });
    total += size;
  }
const vus = __ENV.VUS ? base.vus : rooms.length;
if (vus > total) throw new Error(`VUS=${vus} is more than the ${total} participants: use VUS <= ${total}`);
/** One VU per room: each VU plays exactly its room's participants. */
const roomPerVu = vus === rooms.length;
const sessionsPerVu = roomPerVu ? Math.max(...sizes) : Math.ceil(total / vus);
const cfg = { ...base, vus, sessionsPerVu };
/** When every login of the whole test has started: the join burst comes a moment later. */
const loginRampMs = cfg.loginRate > 0 ? (vus * sessionsPerVu * 1000) / cfg.loginRate : 0;
/** How long after the last login started the participants join (a login takes a few round trips). */
const JOIN_GRACE_MS = 1000;
/** How long a participant waits for its room to fill before the timed part starts anyway. */
const FILL_WAIT_MS = 15_000;

/** `5,10,20`: whole numbers of 1 or more, each once (ROOMS_PER_SIZE gives more rooms of a size). */
function roomSizes(raw: string): number[] {
  const out: number[] = [];
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const n = Number(part.trim());
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`ROOM_SIZES='${raw}': '${part.trim()}' is not a room size; use e.g. 5,10,20`);
    if (out.includes(n))
      throw new Error(`ROOM_SIZES='${raw}' lists ${n} twice: use ROOMS_PER_SIZE for more rooms of a size`);
    out.push(n);
  }
  if (out.length === 0) throw new Error(`ROOM_SIZES='${raw}' names no room size: use e.g. 5,10,20`);
  return out;
}

/** The room of participant `g` (0-based over all rooms). */
function roomOf(g: number): ConferenceRoom {
  let r = rooms[0]!;
  for (const room of rooms) if (room.first <= g) r = room;
  return r;
}

/** A conferencing client's media state: each update says something new. */
function mediaStatus(n: number): string {
  return `audio ${n % 2 === 0 ? 'on' : 'muted'}, video ${n % 4 < 2 ? 'on' : 'off'} (#${n})`;
}

export const options = {
  summaryTrendStats: COUNTED_TREND_STATS,
  ...sessionScenarioOptions(
    'conference',
    cfg,
    {
      ...ROOM_THRESHOLDS,
      // Always hold: they put the join latency per room size in summary.json.
      ...Object.fromEntries(sizes.map((s) => [`xmpp_muc_join{room_size:${s}}`, ['p(95)>=0']])),
    },
    sessionsPerVu,
  ),
};

/** The endpoint: XMPP_URL, or what XEP-0156 discovery finds when XMPP_URL is xmpp://<domain> (printed). */
export function setup(): EndpointData {
  return setupEndpoint(cfg);
}

export default async function (data: EndpointData): Promise<void> {
  const v = exec.vu.idInTest - 1;
  // This VU's participants: its room's, or its share of all of them in room order.
  const first = roomPerVu ? rooms[v]!.first : v * sessionsPerVu;
  const count = roomPerVu ? rooms[v]!.size : Math.max(0, Math.min(sessionsPerVu, total - first));
  // Accounts follow the participants (ACCOUNT_OFFSET + first + 1, …), not the VU's slots of the login ramp.
  const sessions = await openSessions(
    { ...withEndpoint(cfg, data), accountOffset: cfg.accountOffset + first - v * sessionsPerVu },
    count,
  );

  // The join burst: every VU waits for the end of the whole login ramp, then all its participants join at once.
  const joinAt = exec.scenario.startTime + loginRampMs + JOIN_GRACE_MS;
  while (!stopping() && Date.now() < joinAt) await delay(Math.min(250, joinAt - Date.now()));
  if (stopping()) {
    await closeAll(sessions);
    return flushFinal();
  }
  const joined = await Promise.all(
    sessions.map(async (s) => {
      const g = first + s.index;
      const room = roomOf(g);
      const at = joinAt + rooms.indexOf(room) * roomGapMs;
      if (at > Date.now()) await delay(at - Date.now());
      if (stopping()) return undefined;
      return joinRoom(s, room.jid, `participant${g - room.first + 1}`, {
        tags: { room_size: String(room.size) },
      });
    }),
  );
  const mine = new Map<number, { room: Room; size: number; updates: number }>();
  joined.forEach((r, i) => {
    const s = sessions[i]!;
    if (r) mine.set(s.index, { room: r, size: roomOf(first + s.index).size, updates: 0 });
  });
  const inRooms = sessions.filter((s) => mine.has(s.index));
  await settle(() => [...mine.values()].every((p) => p.room.occupants.size >= p.size), FILL_WAIT_MS);

  let said = 0;
  await Promise.all([
    every(inRooms, presenceMs, cfg.durationMs, (s) => {
      const p = mine.get(s.index)!;
      p.room.sendPresence({ status: mediaStatus(++p.updates) });
    }),
    every(inRooms, chatMs, cfg.durationMs, (s) => {
      mine.get(s.index)!.room.sendMessage(`conference chat ${said++}`);
    }),
  ]);
  await settleDeliveries();
  // Broadcasts to participants in other VUs are not in this VU's ledger: a moment for the last of them to land.
  if (!roomPerVu) await delay(500);
  await Promise.all([...mine.values()].map((p) => p.room.leave()));
  await closeAll(sessions);
  await flushFinal();
}
