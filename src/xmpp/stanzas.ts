/** Builders and readers for the stanzas a load test sends: presence, chat message, IQ (bind, session, ping, roster). */
import { NS } from './namespaces.ts';
import { escapeAttr, escapeText, serialize, x, type XmlElement } from './xml/element.ts';
import { parseFrame } from './xml/parser.ts';

export type StanzaKind = 'message' | 'presence' | 'iq';

export function stanzaKind(el: XmlElement): StanzaKind | undefined {
  if (el.ns !== NS.client) return undefined;
  const n = el.localName;
  return n === 'message' || n === 'presence' || n === 'iq' ? n : undefined;
}

export interface PresenceOptions {
  to?: string;
  type?: 'unavailable' | 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed' | 'probe';
  show?: 'away' | 'chat' | 'dnd' | 'xa';
  status?: string;
  priority?: number;
  id?: string;
}

export function presence(o: PresenceOptions = {}): XmlElement {
  const p = x('presence', { xmlns: NS.client, to: o.to, type: o.type, id: o.id });
  if (o.show) p.append(x('show', {}, o.show));
  if (o.status !== undefined) p.append(x('status', {}, o.status));
  if (o.priority !== undefined) p.append(x('priority', {}, String(o.priority)));
  return p;
}

export interface MessageOptions {
  to: string;
  body: string;
  id?: string;
  type?: 'chat' | 'normal' | 'headline' | 'groupchat';
  /** Extra child elements (e.g. a timestamp payload for delivery latency). */
  extra?: XmlElement[];
  /**
   * One more child element, already serialized and written as it is (not checked, not escaped), after `extra`:
   * the timing element of every timed message, which would otherwise be built and serialized per message.
   */
  extraXml?: string;
}

/** `id` overrides `o.id` without copying `o` (a spread per message took V8's slow property paths). */
export function message(o: MessageOptions, id: string | undefined = o.id): XmlElement {
  const attrs = { xmlns: NS.client, to: o.to, type: o.type ?? 'chat', id };
  const body = x('body', {}, o.body);
  const el = o.extra ? x('message', attrs, body, ...o.extra) : x('message', attrs, body);
  if (o.extraXml !== undefined) el.append(parseFrame(o.extraXml));
  return el;
}

/**
 * `serialize(message(o, id))`, written without building the elements: a chat flow's commonest frame (issue 13:
 * three elements, their attribute lists and a recursive serialize per message).
 */
export function messageFrame(o: MessageOptions, id: string | undefined = o.id): string {
  let s = "<message xmlns='" + NS.client + "'";
  if (o.to !== undefined) s += " to='" + escapeAttr(o.to) + "'";
  s += " type='" + escapeAttr(o.type ?? 'chat') + "'";
  if (id !== undefined) s += " id='" + escapeAttr(id) + "'";
  s += '><body>' + escapeText(o.body) + '</body>';
  if (o.extra !== undefined) for (const e of o.extra) s += serialize(e);
  if (o.extraXml !== undefined) s += o.extraXml;
  return s + '</message>';
}

export function iq(
  type: 'get' | 'set' | 'result' | 'error',
  id: string,
  payload?: XmlElement,
  to?: string,
): XmlElement {
  const el = x('iq', { xmlns: NS.client, type, id, to });
  if (payload) el.append(payload);
  return el;
}

export function bindPayload(resource?: string): XmlElement {
  const b = x('bind', { xmlns: NS.bind });
  if (resource) b.append(x('resource', {}, resource));
  return b;
}

export const sessionPayload = (): XmlElement => x('session', { xmlns: NS.session });
export const pingPayload = (): XmlElement => x('ping', { xmlns: NS.ping });
export const rosterQuery = (): XmlElement => x('query', { xmlns: NS.roster });

export interface RosterItem {
  jid: string;
  name: string | undefined;
  subscription: string;
  groups: string[];
}

export function parseRoster(result: XmlElement): RosterItem[] {
  const q = result.getChild('query', NS.roster);
  if (!q) return [];
  return q.getChildren('item', NS.roster).map((i) => ({
    jid: i.attr('jid') ?? '',
    name: i.attr('name'),
    subscription: i.attr('subscription') ?? 'none',
    groups: i.getChildren('group', NS.roster).map((g) => g.text()),
  }));
}

export interface StanzaErrorInfo {
  type: string;
  condition: string;
  text: string | undefined;
}

/** Reads `<error type='…'><condition xmlns='…stanzas'/><text/></error>` (RFC 6120 §8.3). */
export function parseStanzaError(stanza: XmlElement): StanzaErrorInfo {
  const err = stanza.getChild('error');
  let condition = 'undefined-condition';
  let text: string | undefined;
  for (const c of err?.elements ?? []) {
    if (c.ns !== NS.stanzas) continue;
    if (c.localName === 'text') text = c.text();
    else condition = c.localName;
  }
  return { type: err?.attr('type') ?? 'cancel', condition, text };
}

/** An IQ error reply to a request we do not handle (RFC 6120 §8.4: reply service-unavailable). */
export function iqErrorReply(request: XmlElement, condition = 'service-unavailable'): string {
  const reply = x(
    'iq',
    { xmlns: NS.client, type: 'error', id: request.attr('id'), to: request.attr('from') },
    x('error', { type: 'cancel' }, x(condition, { xmlns: NS.stanzas })),
  );
  return serialize(reply);
}

export function iqResultReply(request: XmlElement): string {
  return serialize(
    x('iq', { xmlns: NS.client, type: 'result', id: request.attr('id'), to: request.attr('from') }),
  );
}
