/**
 * Multi-user chat in k6 (XEP-0045): a session joins a room, and the join is measured from the join presence to
 * the room's self-presence (xmpp_muc_join). Groupchat messages and presence sent into a room are timed: each
 * other occupant that receives one records its latency (xmpp_muc_message_delivery, xmpp_muc_presence_delivery)
 * and counts it (xmpp_muc_fanout_received); its sender counts the occupants it saw in the room when it sent it
 * (xmpp_muc_fanout_expected). Occupants of one room may be in different VUs or generators: the counters add up
 * over all of them. Recipients in the sender's own VU are also expected by the VU's delivery ledger, so their
 * losses are samples of xmpp_muc_message_loss / xmpp_muc_presence_loss, as chat messages are.
 */
import {
  groupchatMessage,
  instantRoomConfig,
  joinError,
  joinPresence,
  leavePresence,
  readOccupantPresence,
  roomPresence,
} from '../xmpp/muc.ts';
import type { PresenceOptions } from '../xmpp/stanzas.ts';
import { x, type XmlElement } from '../xmpp/xml/element.ts';
import { broadcastArrived, expectBroadcast, withdrawBroadcast } from './delivery.ts';
import type { OpenSession } from './flows.ts';
import { xmpp } from './metrics.ts';

/**
 * What a room scenario holds its rooms to: joins within 3 s at p95 and none refused, groupchat within 1 s at p95,
 * no broadcast lost (in the sender's VU); and, always held, the fan-out per kind, so summary.json carries it.
 */
export const ROOM_THRESHOLDS: Record<string, string[]> = {
  xmpp_muc_join: ['p(95)<3000'],
  xmpp_muc_join_success: ['rate==1'],
  xmpp_muc_message_delivery: ['p(95)<1000'],
  xmpp_muc_message_loss: ['rate==0'],
  xmpp_muc_presence_loss: ['rate==0'],
  'xmpp_muc_fanout_expected{kind:message}': ['count>=0'],
  'xmpp_muc_fanout_received{kind:message}': ['count>=0'],
  'xmpp_muc_fanout_expected{kind:presence}': ['count>=0'],
  'xmpp_muc_fanout_received{kind:presence}': ['count>=0'],
};

/** k6's trend columns and counts: how many joins and deliveries each latency is made of. */
export const COUNTED_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];

/** Namespace of the timing element of room broadcasts (apart from TIMING_NS, so chat accounting never sees them). */
export const MUC_TIMING_NS = 'urn:x-starling:muc-timing:0';

/** How long a join may take before it counts as failed (XMPP_MUC_JOIN_TIMEOUT elsewhere sets it per call). */
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;
const LEAVE_TIMEOUT_MS = 5_000;

/** This VU's occupants of each room: nick → full JID of the session, for the ledger's expectations. */
const localOccupants = new Map<string, Map<string, string>>();
/** The rooms each session is in (or joining), by room JID: the one place its room stanzas are routed from. */
const roomsOf = new WeakMap<OpenSession, Map<string, Room>>();
/** The first failed join of this VU is logged with its cause; the rest only counted. */
let joinFailureLogged = false;

/** Why a join failed: `reason` is the tag of its xmpp_muc_join_success sample (muc-error:<condition>, …). */
interface JoinFailure {
  reason: string;
  message: string;
}

export interface JoinOptions {
  timeoutMs?: number;
  /** Extra tags on this occupant's MUC samples. */
  tags?: Record<string, string>;
}

/** One occupant: a session in a room under a nickname. */
export class Room {
  /** Nicknames in the room as this occupant knows them, its own included once joined. */
  readonly occupants = new Set<string>();
  joined = false;
  /** Left the room, or never got in. */
  gone = false;
  private waiter: ((failure?: JoinFailure) => void) | undefined;
  private leaveWaiter: (() => void) | undefined;

  constructor(
    readonly user: OpenSession,
    /** The room's bare JID. */
    readonly jid: string,
    readonly nick: string,
    readonly tags: Record<string, string> | undefined,
  ) {}

  /** Sends a groupchat message with a timing element; false when this occupant is not in the room. */
  sendMessage(body: string): boolean {
    return this.broadcast('muc-message', (t, key) => groupchatMessage(this.jid, key, body, [t]));
  }

  /** Sends presence into the room (a status change every occupant sees), with a timing element. */
  sendPresence(o: Omit<PresenceOptions, 'to' | 'type'> = {}): boolean {
    return this.broadcast('muc-presence', (t) => roomPresence(this.jid, this.nick, o, [t]));
  }

  /** Leaves (unavailable presence) and waits for the room's answer, at most a few seconds. */
  async leave(): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    this.joined = false;
    localOccupants.get(this.jid)?.delete(this.nick);
    if (this.user.session.state !== 'ready') return this.forget();
    const answered = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, LEAVE_TIMEOUT_MS);
      this.leaveWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    try {
      this.user.session.send(leavePresence(this.jid, this.nick));
      await answered;
    } catch {
      // The session ended meanwhile: it is out of the room either way.
    }
    this.forget();
  }

  private broadcast(
    kind: 'muc-message' | 'muc-presence',
    build: (t: XmlElement, key: string) => XmlElement,
  ): boolean {
    if (!this.joined || this.user.session.state !== 'ready') return false;
    const others = this.occupants.size - 1;
    const recipients: string[] = [];
    for (const [nick, jid] of localOccupants.get(this.jid) ?? [])
      if (nick !== this.nick) recipients.push(jid);
    const key = expectBroadcast(kind, recipients, this.tags);
    try {
      this.user.session.send(build(x('t', { xmlns: MUC_TIMING_NS, ms: String(Date.now()), k: key }), key));
    } catch (e) {
      withdrawBroadcast(key, recipients);
      throw e;
    }
    if (others > 0) {
      xmpp.mucFanoutExpected.add(others, {
        ...this.tags,
        kind: kind === 'muc-message' ? 'message' : 'presence',
      });
    }
    return true;
  }

  /** @internal A presence from this room (after readOccupantPresence). */
  onPresence(el: XmlElement): void {
    const error = joinError(el);
    if (error !== undefined) {
      if (el.attr('from') === `${this.jid}/${this.nick}`)
        this.waiter?.({
          reason: `muc-error:${error.condition}`,
          message: `the room refused the join: ${error.condition}`,
        });
      return;
    }
    const p = readOccupantPresence(el);
    if (p === undefined || p.room !== this.jid) return;
    if (p.unavailable) {
      this.occupants.delete(p.nick);
      if (p.self || p.nick === this.nick) {
        this.leaveWaiter?.();
        if (!this.gone)
          this.waiter?.({ reason: 'muc-removed', message: 'the room removed this occupant while it joined' });
      }
      return;
    }
    this.occupants.add(p.nick);
    if (p.self || p.nick === this.nick) {
      if (!this.joined && !this.gone) {
        this.joined = true;
        this.waiter?.();
        if (p.created) void this.acceptInstantRoom();
      }
      return;
    }
    this.arrived(el, 'muc-presence');
  }

  /** @internal A message from this room. */
  onMessage(el: XmlElement, nick: string): void {
    if (nick === this.nick || el.attr('type') !== 'groupchat') return;
    this.arrived(el, 'muc-message');
  }

  /** @internal Resolves the join: no argument when joined. */
  awaitJoin(timeoutMs: number): Promise<JoinFailure | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({
          reason: 'timeout:muc-join',
          message: `no self-presence from ${this.jid} within ${timeoutMs} ms`,
        });
      }, timeoutMs);
      this.waiter = (failure) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(failure);
      };
    });
  }

  /** @internal */
  forget(): void {
    roomsOf.get(this.user)?.delete(this.jid);
  }

  private arrived(el: XmlElement, kind: 'muc-message' | 'muc-presence'): void {
    const t = el.getChild('t', MUC_TIMING_NS);
    if (t === undefined) return;
    const ms = Number(t.attr('ms'));
    const message = kind === 'muc-message';
    if (Number.isFinite(ms))
      (message ? xmpp.mucMessageDelivery : xmpp.mucPresenceDelivery).add(Date.now() - ms, this.tags);
    xmpp.mucFanoutReceived.add(1, { ...this.tags, kind: message ? 'message' : 'presence' });
    const key = t.attr('k');
    if (key !== undefined) broadcastArrived(key, this.user.jid, kind, this.tags);
  }

  /** A room this join created is accepted as it is (XEP-0045 §10.1.2), so a locked one opens to the others. */
  private async acceptInstantRoom(): Promise<void> {
    try {
      await this.user.session.iq('set', instantRoomConfig(), this.jid);
    } catch (e) {
      if (!joinFailureLogged) {
        joinFailureLogged = true;
        console.warn(`configuring the new room ${this.jid} failed: ${(e as Error).message}`);
      }
    }
  }
}

/** Routes the session's room stanzas to its Room objects; installed once per session. */
function roomsFor(user: OpenSession): Map<string, Room> {
  const known = roomsOf.get(user);
  if (known !== undefined) return known;
  const mine = new Map<string, Room>();
  roomsOf.set(user, mine);
  const route = (el: XmlElement): [Room, string] | undefined => {
    const from = el.attr('from');
    if (from === undefined || mine.size === 0) return undefined;
    const slash = from.indexOf('/');
    const room = mine.get(slash < 0 ? from : from.slice(0, slash));
    return room === undefined ? undefined : [room, slash < 0 ? '' : from.slice(slash + 1)];
  };
  user.connection.onPresence((el) => route(el)?.[0].onPresence(el));
  user.connection.onMessage((el) => {
    const r = route(el);
    if (r !== undefined) r[0].onMessage(el, r[1]);
  });
  return mine;
}

/**
 * Joins `room` as `nick` without history; resolves with the occupant once the room's self-presence came
 * (recorded as xmpp_muc_join), or undefined when the room refused the join or did not answer in time (counted
 * by xmpp_muc_join_success, the first cause logged).
 */
export async function joinRoom(
  user: OpenSession,
  room: string,
  nick: string,
  o: JoinOptions = {},
): Promise<Room | undefined> {
  const rooms = roomsFor(user);
  const existing = rooms.get(room);
  if (existing?.joined) return existing;
  const r = new Room(user, room, nick, o.tags);
  rooms.set(room, r);
  const joined = r.awaitJoin(o.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS);
  const t0 = Date.now();
  try {
    user.session.send(joinPresence(room, nick));
  } catch (e) {
    r.forget();
    throw e;
  }
  const failure = await joined;
  if (failure === undefined) {
    xmpp.mucJoin.add(Date.now() - t0, o.tags);
    xmpp.mucJoinSuccess.add(1, o.tags);
    let local = localOccupants.get(room);
    if (local === undefined) localOccupants.set(room, (local = new Map()));
    local.set(nick, user.jid);
    return r;
  }
  r.gone = true;
  r.forget();
  xmpp.mucJoinSuccess.add(0, { ...o.tags, reason: failure.reason });
  if (!joinFailureLogged) {
    joinFailureLogged = true;
    console.warn(`joining ${room} as ${nick} failed: ${failure.message}`);
  }
  return undefined;
}
