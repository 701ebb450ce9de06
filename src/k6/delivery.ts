/**
 * Timed stanzas in k6: the sender stamps each message or presence with its send time and a key, this VU's
 * ledger expects it at its addressee, and the receiving session records the delivery latency and settles the
 * expectation. Every timed stanza ends as one sample of `xmpp_message_loss` / `xmpp_presence_loss`: 0 delivered
 * within XMPP_LOSS_WINDOW (default 10 s), 1 lost (late, or its addressee's session ended first).
 */
import exec from 'k6/execution';
import type { XmppSession } from '../xmpp/session.ts';
import { x, type XmlElement } from '../xmpp/xml/element.ts';
import { positiveDuration } from './env.ts';
import { DeliveryLedger, type TimedKind } from './ledger.ts';
import { xmpp } from './metrics.ts';

/** Namespace of the timing element that carries the sender's clock (ms) and the ledger key. */
export const TIMING_NS = 'urn:x-starling:timing:0';

/** XMPP_LOSS_WINDOW: how long a timed stanza may take and still count as delivered. */
export const LOSS_WINDOW_ENV = 'XMPP_LOSS_WINDOW';
const DEFAULT_LOSS_WINDOW_MS = 10_000;

const LOSS = {
  message: xmpp.messageLoss,
  presence: xmpp.presenceLoss,
  'muc-message': xmpp.mucMessageLoss,
  'muc-presence': xmpp.mucPresenceLoss,
} as const;

const ledger = new DeliveryLedger({
  windowMs: positiveDuration(LOSS_WINDOW_ENV, DEFAULT_LOSS_WINDOW_MS),
  now: () => Date.now(),
  settled: (kind, lost, tags) => LOSS[kind].add(lost ? 1 : 0, tags),
});
let keySeq = 0;
/** This VU's id, read once: `exec.vu` builds a new object of getters on every read, as k6's does. */
let vuId: number | undefined;
/** Sweeps the window once a second while anything is pending, and not at all otherwise (no open timer at the end). */
let sweeper: number | undefined;

/** Unique across VUs, so a stanza that reaches another VU's session can never settle this VU's expectation. */
function newKey(): string {
  return `${(vuId ??= exec.vu.idInTest)}.${(++keySeq).toString(36)}`;
}

function sweepWhilePending(): void {
  sweeper ??= setInterval(() => {
    ledger.sweep();
    stopSweeperWhenIdle();
  }, 1000);
}

function expect(kind: TimedKind, to: string, tags?: Record<string, string>): string {
  const key = newKey();
  ledger.expect(key, kind, to, tags);
  sweepWhilePending();
  return key;
}

/**
 * A room broadcast (groupchat message or presence) about to be sent: expects it at each of `recipients`, the
 * full JIDs of this VU's sessions among the room's other occupants (the ledger of one VU cannot see the others').
 * Returns the key its timing element carries.
 */
export function expectBroadcast(
  kind: 'muc-message' | 'muc-presence',
  recipients: readonly string[],
  tags?: Record<string, string>,
): string {
  const key = newKey();
  for (const to of recipients) ledger.expect(`${key}>${to}`, kind, to, tags);
  if (recipients.length > 0) sweepWhilePending();
  return key;
}

/** The broadcast with `key` was not sent after all: neither delivered nor lost. */
export function withdrawBroadcast(key: string, recipients: readonly string[]): void {
  for (const to of recipients) ledger.withdraw(`${key}>${to}`);
  stopSweeperWhenIdle();
}

/** The broadcast with `key` reached the session bound to `receiver`: settles that recipient's expectation. */
export function broadcastArrived(
  key: string,
  receiver: string,
  kind: 'muc-message' | 'muc-presence',
  tags?: Record<string, string>,
): void {
  arrived(`${key}>${receiver}`, receiver, kind, tags);
}

/**
 * A timed stanza with ledger key `key` reached `receiver`: settles its expectation, or, when it had already been
 * delivered, counts a redelivery (xmpp_stanzas_redelivered).
 */
function arrived(
  key: string,
  receiver: string | undefined,
  kind: TimedKind,
  tags?: Record<string, string>,
): void {
  if (!ledger.received(key, receiver) && ledger.wasDelivered(key)) xmpp.redelivered.add(1, { ...tags, kind });
  stopSweeperWhenIdle();
}

function stopSweeperWhenIdle(): void {
  if (ledger.size > 0 || sweeper === undefined) return;
  clearInterval(sweeper);
  sweeper = undefined;
}

/** Expects a `kind` stanza at `to` and calls `send` with its key; an unsent stanza is withdrawn, not counted. */
function sendKeyed<R>(
  kind: TimedKind,
  to: string,
  send: (key: string) => R,
  tags?: Record<string, string>,
): R {
  const key = expect(kind, to, tags);
  try {
    return send(key);
  } catch (e) {
    ledger.withdraw(key);
    stopSweeperWhenIdle();
    throw e;
  }
}

/** Sends a chat message stamped with the send time; the peer's session records xmpp_message_delivery. */
export function sendTimedMessage(session: XmppSession, to: string, body: string): string {
  // The timing element written as text, not built: the standard flow's commonest send. The clock and the key need
  // no escaping (digits; a VU number, '.' and base-36 digits).
  return sendKeyed('message', to, (key) =>
    session.sendMessage({
      to,
      body,
      extraXml: "<t xmlns='" + TIMING_NS + "' ms='" + Date.now() + "' k='" + key + "'/>",
    }),
  );
}

/**
 * Sends presence directed to `to`, stamped with the send time, for xmpp_presence_delivery and
 * xmpp_presence_loss. Broadcast presence (no `to`) has no one addressee to expect it: it is not timed.
 */
export function sendTimedPresence(session: XmppSession, to: string, status?: string): void {
  sendKeyed('presence', to, (key) => {
    const t = x('t', { xmlns: TIMING_NS, ms: String(Date.now()), k: key });
    const p = x('presence', { xmlns: 'jabber:client', to }, t);
    if (status !== undefined) p.append(x('status', {}, status));
    session.send(p);
  });
}

/**
 * A stanza reached `session`: when it carries a timing element, records its delivery latency and settles its
 * expectation. Latency is recorded for every timed arrival, late ones included: it is what the stanza took.
 */
export function noteArrival(
  el: XmlElement,
  kind: 'message' | 'presence',
  session: XmppSession,
  tags?: Record<string, string>,
): void {
  const t = el.getChild('t', TIMING_NS);
  if (t === undefined) return;
  const ms = t.attr('ms');
  if (ms !== undefined)
    (kind === 'message' ? xmpp.messageDelivery : xmpp.presenceDelivery).add(Date.now() - Number(ms), tags);
  const key = t.attr('k');
  if (key !== undefined) arrived(key, session.jid, kind, tags);
}

/** The session bound to `jid` ended: what was on its way to it is lost. */
export function addresseeEnded(jid: string): void {
  ledger.recipientEnded(jid);
  stopSweeperWhenIdle();
}

/** Timed stanzas of this VU still on their way. */
export function pendingDeliveries(): number {
  return ledger.size;
}

/** Timed stanzas of this VU still on their way to the session bound to `jid`. */
export function pendingTo(jid: string): number {
  return ledger.pendingTo(jid);
}

/** The loss window in force (XMPP_LOSS_WINDOW), ms. */
export function lossWindow(): number {
  return ledger.windowMs;
}
