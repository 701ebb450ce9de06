/**
 * A scripted fake BOSH connection manager (XEP-0124/0206) behind an injectable `post`: every request body is
 * parsed and recorded, then answered as the test's script says (at once, after a delay, or held until the test
 * answers it), or else by a minimal server: session creation offering PLAIN, `<success/>` for any `<auth/>`,
 * bind after the restart, `type='terminate'` for a terminate. Promise-only, no sockets: deterministic.
 */
import { nodeClock } from '../../src/node/clock.ts';
import type { BoshHttpResponse, BoshPost } from '../../src/xmpp/bosh.ts';
import type { Clock, TimerHandle } from '../../src/xmpp/clock.ts';
import type { XmlElement } from '../../src/xmpp/xml/element.ts';
import { parseFrame } from '../../src/xmpp/xml/parser.ts';

export const HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const XBOSH = 'urn:xmpp:xbosh';
export const STREAMS = 'http://etherx.jabber.org/streams';
export const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const BIND = 'urn:ietf:params:xml:ns:xmpp-bind';

/** More requests than any test makes: beyond it nothing is answered. */
const MAX_REQUESTS = 1000;

export type RequestKind = 'create' | 'restart' | 'terminate' | 'payload' | 'empty';

/** A body string (HTTP 200), or a full response (status 0 = no HTTP response). */
export type Reply = string | BoshHttpResponse;

/**
 * What the script does with a request: answer it now, answer it later, keep it pending for the test to answer
 * (`'hold'`), or leave it to the minimal server (`undefined`). A script that throws makes `post` reject.
 */
export type Action = Reply | { delayMs: number; reply: Reply } | 'hold' | undefined;

export type Script = (req: FakeRequest, cm: FakeBosh) => Action;

export interface FakeBoshOptions {
  sid?: string;
  /** Granted in the creation response. */
  requests?: number;
  /** Granted, and how many requests the minimal server keeps waiting (0: it answers every request at once). */
  hold?: number;
  /** Granted `wait`; default: the client's. */
  wait?: number;
  /** Granted `polling` (s), when set. */
  polling?: number;
  /**
   * prosody: every child declares its own namespaces. ejabberd: stanzas carry no xmlns and the `stream`
   * prefix is declared only on `<body/>`.
   */
  style?: 'prosody' | 'ejabberd';
  jid?: string;
  script?: Script;
  /** Time stamps requests and runs delayed replies (default: Node's). */
  clock?: Clock;
}

export class FakeRequest {
  /** When it was answered (clock time), once it is. */
  answeredAt: number | undefined;
  response: BoshHttpResponse | undefined;
  readonly kind: RequestKind;
  readonly rid: number;

  constructor(
    /** Position among all POSTs, retries included. */
    readonly seq: number,
    readonly raw: string,
    readonly body: XmlElement,
    readonly timeoutMs: number,
    readonly postedAt: number,
    private readonly settle: (res: BoshHttpResponse) => void,
    private readonly clock: Clock,
  ) {
    this.rid = Number(body.attr('rid'));
    this.kind =
      body.attr('sid') === undefined
        ? 'create'
        : body.attr('xmpp:restart') === 'true'
          ? 'restart'
          : body.attr('type') === 'terminate'
            ? 'terminate'
            : body.elements.length > 0
              ? 'payload'
              : 'empty';
  }

  get pending(): boolean {
    return this.response === undefined;
  }

  /** The request carries a child with this local name (`message`, `auth`, `iq`, …). */
  has(localName: string): boolean {
    return this.body.elements.some((e) => e.localName === localName);
  }

  respond(reply: Reply): void {
    if (!this.pending) throw new Error(`fake BOSH: rid ${this.rid} (request #${this.seq}) answered twice`);
    const res = typeof reply === 'string' ? { status: 200, body: reply } : reply;
    this.response = res;
    this.answeredAt = this.clock.now();
    this.settle(res);
  }
}

export class FakeBosh {
  readonly requests: FakeRequest[] = [];
  /** Most requests unanswered at once, seen when each arrived. */
  maxInFlight = 0;
  /** The minimal server has answered a bind: the session is logged in (or about to be). */
  bound = false;
  readonly o: FakeBoshOptions;
  private readonly clock: Clock;
  /** Requests the minimal server keeps waiting, oldest first. */
  private held: FakeRequest[] = [];
  /** Server → client elements waiting for a request to ride on. */
  private outbox: string[] = [];

  constructor(o: FakeBoshOptions = {}) {
    this.o = o;
    this.clock = o.clock ?? nodeClock;
  }

  readonly post: BoshPost = (raw, timeoutMs) =>
    new Promise<BoshHttpResponse>((resolve, reject) => {
      const req = new FakeRequest(
        this.requests.length,
        raw,
        parseFrame(raw),
        timeoutMs,
        this.clock.now(),
        resolve,
        this.clock,
      );
      this.requests.push(req);
      this.maxInFlight = Math.max(this.maxInFlight, this.pending().length);
      // A client that never stops posting (a retry loop) is left waiting, so the test fails instead of spinning.
      if (this.requests.length > MAX_REQUESTS) return;
      let action: Action;
      try {
        action = this.o.script?.(req, this);
      } catch (e) {
        req.response = { status: 0, body: '', error: String(e) };
        req.answeredAt = this.clock.now();
        reject(e);
        return;
      }
      if (action === undefined) this.serve(req);
      else if (action === 'hold') return;
      else if (typeof action === 'object' && 'delayMs' in action) {
        const { reply } = action;
        this.clock.setTimeout(() => req.respond(reply), action.delayMs);
      } else req.respond(action);
    });

  /** Unanswered requests, oldest first. */
  pending(): FakeRequest[] {
    return this.requests.filter((r) => r.pending);
  }

  /** The first POST of each rid, in order (retries left out). */
  distinct(): FakeRequest[] {
    const seen = new Set<number>();
    return this.requests.filter((r) => !seen.has(r.rid) && seen.add(r.rid));
  }

  last(): FakeRequest {
    const r = this.requests.at(-1);
    if (!r) throw new Error('fake BOSH: no request yet');
    return r;
  }

  /** A response `<body/>` around `inner`, in this server's style. */
  body(inner = '', attrs: Record<string, string> = {}): string {
    let s = `<body xmlns='${HTTPBIND}'`;
    if (this.o.style === 'ejabberd') s += ` xmlns:stream='${STREAMS}'`;
    for (const [k, v] of Object.entries(attrs)) s += ` ${k}='${v}'`;
    return inner ? `${s}>${inner}</body>` : `${s}/>`;
  }

  /** A stanza's opening: `<message xmlns='jabber:client'` (prosody) or `<message` (ejabberd). */
  open(name: string): string {
    return this.o.style === 'ejabberd' ? `<${name}` : `<${name} xmlns='jabber:client'`;
  }

  features(inner: string): string {
    return this.o.style === 'ejabberd'
      ? `<stream:features>${inner}</stream:features>`
      : `<stream:features xmlns:stream='${STREAMS}'>${inner}</stream:features>`;
  }

  creation(req: FakeRequest): string {
    const attrs: Record<string, string> = {
      sid: this.o.sid ?? 'sid-1',
      wait: String(this.o.wait ?? req.body.attr('wait')),
      requests: String(this.o.requests ?? 2),
      hold: String(this.o.hold ?? 1),
      inactivity: '60',
      ver: '1.6',
      from: req.body.attr('to') ?? 'localhost',
      'xmlns:xmpp': XBOSH,
      'xmpp:version': '1.0',
    };
    if (this.o.polling !== undefined) attrs['polling'] = String(this.o.polling);
    return this.body(
      this.features(`<mechanisms xmlns='${SASL}'><mechanism>PLAIN</mechanism></mechanisms>`),
      attrs,
    );
  }

  /** Server → client: goes out on the oldest request the minimal server holds, or with the next to arrive. */
  push(xml: string): void {
    this.outbox.push(xml);
    this.flush();
  }

  /** The minimal server. */
  serve(req: FakeRequest): void {
    switch (req.kind) {
      case 'create':
        return req.respond(this.creation(req));
      case 'restart':
        return req.respond(this.body(this.features(`<bind xmlns='${BIND}'/>`)));
      case 'terminate':
        // A connection manager answers whatever it still holds before it acknowledges the terminate.
        for (const r of this.pending()) if (r !== req) r.respond(this.body(this.outbox.splice(0).join('')));
        this.held = [];
        return req.respond(this.body('', { type: 'terminate' }));
    }
    for (const el of req.body.elements) {
      if (el.is('auth', SASL)) this.outbox.push(`<success xmlns='${SASL}'/>`);
      else if (el.localName === 'iq' && el.getChild('bind', BIND)) {
        this.bound = true;
        this.outbox.push(
          `${this.open('iq')} type='result' id='${el.attr('id')}'><bind xmlns='${BIND}'><jid>${this.o.jid ?? 'alice@localhost/r1'}</jid></bind></iq>`,
        );
      }
    }
    this.held.push(req);
    this.flush();
  }

  private flush(): void {
    this.held = this.held.filter((r) => r.pending);
    while (this.outbox.length > 0 && this.held.length > 0)
      this.held.shift()!.respond(this.body(this.outbox.splice(0).join('')));
    while (this.held.length > (this.o.hold ?? 1)) this.held.shift()!.respond(this.body());
  }
}

/** Waits (real time, 1 ms steps) until `done()`; throws naming `what` after `ms`. */
export async function until(done: () => boolean, what: string, ms = 1000): Promise<void> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Virtual time for the transport and the session: timers only run from `run`, in time order, with promise
 * callbacks settled between them, so "not before 1 s" costs no real second and is exact.
 */
export class VirtualClock implements Clock {
  private t = 1_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /**
   * Runs timers until `done()`; throws naming `what` when none is left at or before `limit` (absolute virtual
   * time, default 60 s from now) and `done()` is still false.
   */
  async run(done: () => boolean, what: string, limit = this.t + 60_000): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (done()) return;
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (!next || e[1].at < next[1].at) next = e;
      if (!next || next[1].at > limit) {
        throw new Error(`virtual clock at +${this.t - 1_000_000} ms: no timer left before ${what}`);
      }
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
  }
}
