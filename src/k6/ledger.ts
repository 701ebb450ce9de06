/**
 * Delivery accounting for timed stanzas: every message or presence a scenario sends with a timing element is
 * expected by the session it is addressed to, and ends either delivered (it arrived within the window) or lost
 * (it did not arrive within the window, or its addressee's session ended first). A load test that does not count
 * what never arrived passes while the server drops stanzas. Pure bookkeeping: no k6 import, the caller supplies
 * the clock and what to do with each outcome.
 */

/** Chat messages and directed presence (one addressee each); a room's groupchat and presence (one per occupant). */
export type TimedKind = 'message' | 'presence' | 'muc-message' | 'muc-presence';

export interface LedgerOptions {
  /** How long after sending a stanza may still arrive and count as delivered (ms). */
  windowMs: number;
  now: () => number;
  /** Called once per expectation when it settles. */
  settled: (kind: TimedKind, lost: boolean, tags: Record<string, string> | undefined) => void;
}

interface Expectation {
  kind: TimedKind;
  /** The addressee as sent: a full JID, or a bare JID that any of its resources may receive. */
  to: string;
  sentAt: number;
  tags: Record<string, string> | undefined;
}

/** How many delivered keys the ledger remembers for redelivery detection (bounded memory, whatever the run's length). */
const RECENT = 65_536;

export class DeliveryLedger {
  /** In send order (a Map keeps insertion order), so the window sweep stops at the first young one. */
  private readonly pending = new Map<string, Expectation>();
  /**
   * The keys pending per addressee as sent (full or bare JID): one key as itself (nearly always: a stanza is on
   * its way for milliseconds), a set once there are more. A session asks what is on its way to it every 50 ms
   * while it leaves and once when it ends: scanning every pending stanza each time cost O(sessions²) at load
   * (6 million entries scanned for 2,000 sessions of the bench's flow).
   */
  private readonly byTo = new Map<string, string | Set<string>>();
  /**
   * The keys last settled as delivered (a ring of RECENT), to tell a redelivery from a stanza nobody expected.
   * Grows to RECENT as keys come (allocated whole, it cost every VU 0.5 MB and ~2.5 ms before its first session).
   */
  private readonly deliveredRing: string[] = [];
  /**
   * The ring's keys as a set, made at the first arrival of a key that is not pending (a redelivery, with stream
   * management) and kept from then on. Until then nothing asks, and a set of tens of thousands of keys cost every
   * delivery a hash insert in a table that does not fit a cache (issue 13).
   */
  private delivered: Set<string> | undefined;
  private deliveredAt = 0;
  private readonly o: LedgerOptions;

  constructor(o: LedgerOptions) {
    this.o = o;
  }

  get size(): number {
    return this.pending.size;
  }

  get windowMs(): number {
    return this.o.windowMs;
  }

  /** `key` (unique among what this ledger holds) is about to be sent to `to`. */
  expect(key: string, kind: TimedKind, to: string, tags?: Record<string, string>): void {
    this.pending.set(key, { kind, to, sentAt: this.o.now(), tags });
    const keys = this.byTo.get(to);
    if (keys === undefined) this.byTo.set(to, key);
    else if (typeof keys === 'string') this.byTo.set(to, new Set([keys, key]));
    else keys.add(key);
  }

  /** The stanza was never sent after all (its session refused it): it is neither delivered nor lost. */
  withdraw(key: string): void {
    const e = this.pending.get(key);
    if (e !== undefined) this.remove(key, e);
  }

  /**
   * A timed stanza with `key` arrived at the session bound to `receiver`. Settles it as delivered when it is
   * pending and addressed to that session; returns whether it did. A late arrival (already counted lost), a
   * duplicate, or a stanza for another session settles nothing.
   */
  received(key: string, receiver: string | undefined): boolean {
    const e = this.pending.get(key);
    if (e === undefined || receiver === undefined || !addressedTo(e.to, receiver)) return false;
    this.remove(key, e);
    const lost = this.o.now() - e.sentAt > this.o.windowMs;
    this.o.settled(e.kind, lost, e.tags);
    if (!lost) this.rememberDelivered(key);
    return !lost;
  }

  /** `key` was settled as delivered lately (among the last RECENT): another arrival of it is a redelivery. */
  wasDelivered(key: string): boolean {
    this.delivered ??= new Set(this.deliveredRing);
    return this.delivered.has(key);
  }

  private rememberDelivered(key: string): void {
    const ring = this.deliveredRing;
    if (ring.length < RECENT) {
      ring.push(key);
      this.delivered?.add(key);
      return;
    }
    const oldest = ring[this.deliveredAt]!;
    ring[this.deliveredAt] = key;
    this.deliveredAt = (this.deliveredAt + 1) % RECENT;
    if (this.delivered !== undefined) {
      this.delivered.delete(oldest);
      this.delivered.add(key);
    }
  }

  /**
   * The session bound to `jid` ended: what is still on its way to it can no longer arrive there, whether it was
   * addressed to that full JID or to its bare JID (another resource of the account might still take the latter;
   * the scenarios log each account in once).
   */
  recipientEnded(jid: string): void {
    for (const to of addresseesOf(jid)) {
      const keys = this.byTo.get(to);
      if (keys === undefined) continue;
      this.byTo.delete(to);
      if (typeof keys === 'string') this.lost(keys);
      else for (const key of keys) this.lost(key);
    }
  }

  /** How many pending stanzas the session bound to `jid` would receive (to it, or to its bare JID). */
  pendingTo(jid: string): number {
    let n = 0;
    for (const to of addresseesOf(jid)) {
      const keys = this.byTo.get(to);
      if (keys !== undefined) n += typeof keys === 'string' ? 1 : keys.size;
    }
    return n;
  }

  /** Settles as lost everything sent longer than the window ago. */
  sweep(): void {
    const oldest = this.o.now() - this.o.windowMs;
    for (const [key, e] of this.pending) {
      if (e.sentAt >= oldest) return;
      this.remove(key, e);
      this.o.settled(e.kind, true, e.tags);
    }
  }

  private remove(key: string, e: Expectation): void {
    this.pending.delete(key);
    const keys = this.byTo.get(e.to)!;
    if (typeof keys === 'string') this.byTo.delete(e.to);
    else {
      keys.delete(key);
      // Back to one key as itself, as expect() keeps a lone key.
      if (keys.size === 1) this.byTo.set(e.to, keys.values().next().value!);
    }
  }

  /** A pending key (already out of byTo) that can no longer arrive. */
  private lost(key: string): void {
    const e = this.pending.get(key)!;
    this.pending.delete(key);
    this.o.settled(e.kind, true, e.tags);
  }
}

/** What a stanza received by `jid` may have been addressed to: `jid` itself and, for a full JID, its bare JID. */
function addresseesOf(jid: string): string[] {
  const slash = jid.indexOf('/');
  return slash < 0 ? [jid] : [jid, jid.slice(0, slash)];
}

/** A full JID is received by that resource only; a bare JID by any resource of the account. */
function addressedTo(to: string, receiver: string): boolean {
  if (to === receiver) return true;
  // receiver starts with `${to}/`, without building that string for every arrival
  return (
    receiver.length > to.length &&
    receiver.charCodeAt(to.length) === 0x2f &&
    receiver.startsWith(to) &&
    !to.includes('/')
  );
}
