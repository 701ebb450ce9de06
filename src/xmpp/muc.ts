/**
 * Multi-user chat (XEP-0045), the part a load test needs: join a room without history, recognise the join as
 * complete at the self-presence (status 110), read occupant presences, accept an instant room (status 201), send
 * groupchat messages and presence into the room, leave. Builders and readers only: the session sends them.
 */
import { NS } from './namespaces.ts';
import { parseStanzaError, presence, type PresenceOptions, type StanzaErrorInfo } from './stanzas.ts';
import { x, type XmlElement } from './xml/element.ts';

/** XEP-0045 status codes this module reads. */
export const MUC_STATUS = {
  /** This presence is about the receiving occupant itself (§7.2.3). */
  self: '110',
  /** The room was created by this join (§10.1.1); a locked room waits for its configuration. */
  created: '201',
} as const;

/** `room@service/nick` for a room's bare JID and a nickname. */
export function occupantJid(room: string, nick: string): string {
  return `${room}/${nick}`;
}

/**
 * The join presence (§7.2.1) to `room/nick`, asking for no discussion history (§7.2.13: maxstanzas='0'), so
 * a joiner's latency and traffic do not depend on what the room said before.
 */
export function joinPresence(room: string, nick: string, extra?: XmlElement[]): XmlElement {
  const p = presence({ to: occupantJid(room, nick) });
  p.append(x('x', { xmlns: NS.muc }, x('history', { maxstanzas: '0' })));
  if (extra) p.append(...extra);
  return p;
}

/** An occupant's presence into the room (§7.7: a change of availability or status), broadcast to every occupant. */
export function roomPresence(
  room: string,
  nick: string,
  o: Omit<PresenceOptions, 'to' | 'type'> = {},
  extra?: XmlElement[],
): XmlElement {
  const p = presence({ ...o, to: occupantJid(room, nick) });
  if (extra) p.append(...extra);
  return p;
}

/** Leaving (§7.14): unavailable presence to `room/nick`. */
export function leavePresence(room: string, nick: string): XmlElement {
  return presence({ to: occupantJid(room, nick), type: 'unavailable' });
}

/** Accepting the default configuration of a room this join created: an instant room (§10.1.2). */
export function instantRoomConfig(): XmlElement {
  return x('query', { xmlns: NS.mucOwner }, x('x', { xmlns: NS.dataForms, type: 'submit' }));
}

/** What a presence from a room says about one occupant. */
export interface OccupantPresence {
  /** The room's bare JID. */
  room: string;
  nick: string;
  /** Unavailable: the occupant left (or was removed). */
  unavailable: boolean;
  /** The presence is about the receiver itself (status 110). */
  self: boolean;
  /** The room was created by this join (status 201, on the self-presence). */
  created: boolean;
  /** Every status code of the muc#user payload, as sent. */
  statuses: string[];
  role: string | undefined;
  affiliation: string | undefined;
}

/**
 * Reads a presence from an occupant JID carrying a muc#user payload; undefined for anything else (a presence
 * from a user, or an error: see joinError).
 */
export function readOccupantPresence(el: XmlElement): OccupantPresence | undefined {
  const from = el.attr('from');
  const type = el.attr('type');
  if (from === undefined || (type !== undefined && type !== 'unavailable')) return undefined;
  const slash = from.indexOf('/');
  if (slash <= 0) return undefined;
  const user = el.getChild('x', NS.mucUser);
  if (user === undefined) return undefined;
  const statuses: string[] = [];
  let role: string | undefined;
  let affiliation: string | undefined;
  for (const c of user.children) {
    if (typeof c === 'string' || c.ns !== NS.mucUser) continue;
    if (c.localName === 'status') {
      const code = c.attr('code');
      if (code !== undefined) statuses.push(code);
    } else if (c.localName === 'item') {
      role = c.attr('role');
      affiliation = c.attr('affiliation');
    }
  }
  return {
    room: from.slice(0, slash),
    nick: from.slice(slash + 1),
    unavailable: type === 'unavailable',
    self: statuses.includes(MUC_STATUS.self),
    created: statuses.includes(MUC_STATUS.created),
    statuses,
    role,
    affiliation,
  };
}

/** A presence of type error: why a join failed (§7.2.6–§7.2.11: conflict, not-authorized, …); the caller checks it came from its `room/nick`. */
export function joinError(el: XmlElement): StanzaErrorInfo | undefined {
  return el.attr('type') === 'error' ? parseStanzaError(el) : undefined;
}

/** A groupchat message to the room (§7.4), with extra payloads such as a timing element. */
export function groupchatMessage(room: string, id: string, body: string, extra?: XmlElement[]): XmlElement {
  const m = x('message', { xmlns: NS.client, to: room, type: 'groupchat', id }, x('body', {}, body));
  if (extra) m.append(...extra);
  return m;
}
