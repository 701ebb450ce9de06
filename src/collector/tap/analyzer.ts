/**
 * What the tap learns from each frame once it has been forwarded: parse time (µs, by direction and top-level
 * element), size, RFC 7395 framing checks, IQ response time and message transit time. Transport-neutral: the
 * WebSocket proxy hands it messages, the BOSH proxy hands it HTTP bodies.
 */
import { redactFrame } from '../../xmpp/redact.ts';
import { isUtf8 } from 'node:buffer';
import { NS } from '../../xmpp/namespaces.ts';
import type { XmlElement } from '../../xmpp/xml/element.ts';
import { parseFrame, XmlParseError } from '../../xmpp/xml/parser.ts';
import { TAP_METRICS } from '../../contract/tap-metric-names.ts';
import { recordInto, type CounterSeries, type HistSeries, type TapMetrics } from './metrics.ts';
import { VIOLATION_KINDS as K, type Direction, type FramingViolation } from './types.ts';

/** Most bytes of a frame kept in a violation. */
export const MAX_VIOLATION_FRAME_BYTES = 2048;
/** Distinct element labels per direction before the rest are recorded as '(other)' (bounded cardinality). */
const MAX_ELEMENT_LABELS = 64;
/** Unanswered IQs kept per connection, and unmatched messages kept overall, before the oldest are dropped. */
const MAX_PENDING_IQS = 10_000;
const MAX_PENDING_MESSAGES = 100_000;
/** Unmatched messages older than this are forgotten (never delivered, or delivered where we cannot see). */
const MESSAGE_TTL_NS = 300_000_000_000n;

const INVALID = '(invalid)';
const OTHER = '(other)';

/** Per connection (WebSocket) or session (BOSH) state. */
export interface ConnState {
  id: number;
  /** Full JID bound on this connection, from the server's bind result. */
  jid: string | undefined;
  /** Client iq get/set awaiting the server's answer: id → receipt time (hrtime ns). */
  iqs: Map<string, bigint>;
  frames: Record<Direction, number>;
  closed: Record<Direction, boolean>;
  /** A server stream error not yet followed by the server's <close/>. */
  pendingStreamError: string | undefined;
}

export function newConnState(id: number): ConnState {
  return {
    id,
    jid: undefined,
    iqs: new Map(),
    frames: { c2s: 0, s2c: 0 },
    closed: { c2s: false, s2c: false },
    pendingStreamError: undefined,
  };
}

interface PendingMessage {
  t: bigint;
  conn: number;
  /** Bare JIDs (lower case), '' when unknown. */
  from: string;
  fromFull: string;
  to: string;
}

type ParseResult = { el: XmlElement; us: number; ns: bigint } | { error: Error; us: number; ns: bigint };

/** Cuts `s` to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max = MAX_VIOLATION_FRAME_BYTES): string {
  if (s.length * 3 <= max || Buffer.byteLength(s) <= max) return s;
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > max) break;
    bytes += n;
    i += cp >= 0x10000 ? 2 : 1;
  }
  return s.slice(0, i);
}

function bare(jid: string | undefined): string {
  if (!jid) return '';
  const slash = jid.indexOf('/');
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
}

/** A pre-RFC 7395 stream header or footer, which is never a standalone document (so it fails to parse). */
const LEGACY_STREAM = /^\s*(?:<\?xml[^>]*\?>\s*)?<\/?stream:stream[\s>/]/;

function nsToUs(ns: bigint): number {
  return Math.max(1, Math.round(Number(ns) / 1000));
}

/** The series every frame in one direction touches, looked up once. */
interface DirSeries {
  frames: CounterSeries;
  size: HistSeries;
  /** tap_frame_parse by element label. */
  parse: Map<string, HistSeries>;
}

export class Analyzer {
  private readonly dirs: Record<Direction, DirSeries>;
  private readonly iqResponse: HistSeries;
  private readonly messageTransit: HistSeries;
  private readonly messages = new Map<string, PendingMessage[]>();
  private pendingMessages = 0;

  constructor(
    private readonly m: TapMetrics,
    private readonly report: (v: FramingViolation) => void,
  ) {
    const dir = (direction: Direction): DirSeries => ({
      frames: m.counter(TAP_METRICS.frames, { direction }),
      size: m.histogram(TAP_METRICS.frameSize, { direction }),
      parse: new Map(),
    });
    this.dirs = { c2s: dir('c2s'), s2c: dir('s2c') };
    this.iqResponse = m.histogram(TAP_METRICS.iqResponse);
    this.messageTransit = m.histogram(TAP_METRICS.messageTransit);
  }

  /** One WebSocket message, already forwarded; `t` is when it arrived (hrtime ns). */
  wsFrame(c: ConnState, dir: Direction, data: Buffer, isBinary: boolean, t: bigint): void {
    const d = this.dirs[dir];
    d.frames.delta++;
    recordInto(d.size, data.length);
    const first = ++c.frames[dir] === 1;
    const text = data.toString('utf8');
    let reported = true;
    if (isBinary) {
      this.violation(
        c,
        dir,
        K.binaryMessage,
        text,
        'binary WebSocket message: XMPP frames are text (RFC 7395 §3.2)',
      );
    } else if (!isUtf8(data)) {
      this.violation(c, dir, K.invalidUtf8, text, 'text WebSocket message that is not valid UTF-8');
    } else reported = false;
    const r = this.parse(text);
    if ('error' in r) {
      recordInto(this.parseSeries(dir, INVALID), r.us);
      this.afterStreamError(c, dir, text, undefined);
      if (LEGACY_STREAM.test(text)) {
        this.violation(
          c,
          dir,
          K.legacyStreamHeader,
          text,
          `pre-RFC 7395 <stream:stream> framing instead of <open xmlns='${NS.framing}'/> / <close/>`,
        );
      } else if (!reported) this.parseViolation(c, dir, text, r.error); // binary garbage: reported once
      return;
    }
    const el = r.el;
    recordInto(this.parseSeries(dir, el.localName), r.us);
    this.afterStreamError(c, dir, text, el);
    if (c.closed[dir] && el.localName !== 'open') {
      this.violation(
        c,
        dir,
        K.frameAfterClose,
        text,
        `<${el.name}> sent after this side's <close/> (RFC 7395 §3.6)`,
      );
    }
    const local = el.localName;
    if (local === 'open' || local === 'close') {
      if (el.ns !== NS.framing) {
        this.violation(
          c,
          dir,
          local === 'open' ? K.openNamespace : K.closeNamespace,
          text,
          `<${el.name}> in namespace '${el.ns}', not '${NS.framing}' (RFC 7395 §3.3.2)`,
        );
      }
      c.closed[dir] = local === 'close';
    } else if (local === 'stream' && (el.ns === NS.streams || el.prefix === 'stream')) {
      this.violation(
        c,
        dir,
        K.legacyStreamHeader,
        text,
        `pre-RFC 7395 <${el.name}> header instead of <open xmlns='${NS.framing}'/>`,
      );
    } else if (first) {
      this.violation(
        c,
        dir,
        K.firstFrameNotOpen,
        text,
        `first ${dir === 'c2s' ? 'client' : 'server'} frame is <${el.name}>, not <open xmlns='${NS.framing}'/> (RFC 7395 §3.4)`,
      );
    }
    if (dir === 's2c' && el.is('error', NS.streams)) c.pendingStreamError = text;
    this.stanza(c, dir, el, t);
  }

  /** The WebSocket connection is gone (either side closed it, or it broke). */
  wsEnd(c: ConnState): void {
    if (c.pendingStreamError !== undefined) {
      const frame = c.pendingStreamError;
      c.pendingStreamError = undefined;
      this.violation(
        c,
        's2c',
        K.streamErrorWithoutClose,
        frame,
        `the WebSocket closed after the server's stream error without the server's <close/> (RFC 7395 §3.5, §3.6)`,
      );
    }
    c.iqs.clear();
  }

  /**
   * One BOSH HTTP body (request or response), already forwarded; `connFor` picks its session from the parsed
   * `<body/>` (undefined when it did not parse). Returns the `<body/>`, or undefined. The parse time is shared
   * evenly between its children (one sample each, labelled by local name; an empty body is one sample, 'body').
   */
  boshBody(
    dir: Direction,
    data: Buffer,
    t: bigint,
    connFor: (body: XmlElement | undefined) => ConnState,
  ): XmlElement | undefined {
    const d = this.dirs[dir];
    d.frames.delta++;
    recordInto(d.size, data.length);
    const text = data.toString('utf8');
    const r = this.parse(text);
    if ('error' in r) {
      const c = connFor(undefined);
      c.frames[dir]++;
      recordInto(this.parseSeries(dir, INVALID), r.us);
      this.parseViolation(c, dir, text, r.error);
      return undefined;
    }
    const body = r.el;
    const c = connFor(body);
    c.frames[dir]++;
    if (!body.is('body', NS.bosh)) {
      this.violation(
        c,
        dir,
        K.boshNotBody,
        text,
        `BOSH ${dir === 'c2s' ? 'request' : 'response'} root is <${body.name}> in '${body.ns}', not <body xmlns='${NS.bosh}'/> (XEP-0124)`,
      );
      recordInto(this.parseSeries(dir, body.localName), r.us);
      return body;
    }
    const children = body.elements;
    if (children.length === 0) {
      recordInto(this.parseSeries(dir, 'body'), r.us);
    } else {
      const share = nsToUs(r.ns / BigInt(children.length));
      for (const child of children) recordInto(this.parseSeries(dir, child.localName), share);
    }
    for (const child of children) this.stanza(c, dir, child, t);
    return body;
  }

  /** IQ response time, bound JIDs and message transit, from one top-level stanza. */
  stanza(c: ConnState, dir: Direction, el: XmlElement, t: bigint): void {
    const local = el.localName;
    if (local === 'iq') {
      const id = el.attr('id');
      if (id === undefined) return;
      const type = el.attr('type');
      if (dir === 'c2s') {
        if (type !== 'get' && type !== 'set') return;
        if (c.iqs.size >= MAX_PENDING_IQS) c.iqs.delete(c.iqs.keys().next().value!);
        c.iqs.set(id, t);
        return;
      }
      if (type !== 'result' && type !== 'error') return;
      const sent = c.iqs.get(id);
      if (sent === undefined) return;
      c.iqs.delete(id);
      recordInto(this.iqResponse, nsToUs(t - sent));
      if (type === 'result') {
        const jid = el.getChild('bind', NS.bind)?.getChildText('jid');
        if (jid) c.jid = jid.trim();
      }
      return;
    }
    if (local !== 'message') return;
    const id = el.attr('id');
    if (id === undefined || el.attr('type') === 'error') return;
    if (dir === 'c2s') {
      const fromFull = c.jid ?? el.attr('from') ?? '';
      this.addMessage(id, { t, conn: c.id, from: bare(fromFull), fromFull, to: bare(el.attr('to')) });
      return;
    }
    const list = this.messages.get(id);
    if (!list) return;
    const from = el.attr('from');
    const to = bare(el.attr('to'));
    const i = list.findIndex((p) => matches(p, from, to));
    if (i < 0) return;
    const p = list[i]!;
    list.splice(i, 1);
    this.pendingMessages--;
    if (list.length === 0) this.messages.delete(id);
    recordInto(this.messageTransit, nsToUs(t - p.t));
  }

  /** Forgets messages nobody received within the TTL. */
  sweep(now: bigint): void {
    for (const [id, list] of this.messages) {
      const keep = list.filter((p) => now - p.t < MESSAGE_TTL_NS);
      this.pendingMessages -= list.length - keep.length;
      if (keep.length === 0) this.messages.delete(id);
      else if (keep.length !== list.length) this.messages.set(id, keep);
    }
  }

  private addMessage(id: string, p: PendingMessage): void {
    if (this.pendingMessages >= MAX_PENDING_MESSAGES) {
      // Map iteration order is insertion order: the first id is the oldest still waiting.
      const [oldId, oldList] = this.messages.entries().next().value!;
      oldList.shift();
      this.pendingMessages--;
      if (oldList.length === 0) this.messages.delete(oldId);
    }
    const list = this.messages.get(id);
    if (list) list.push(p);
    else this.messages.set(id, [p]);
    this.pendingMessages++;
  }

  /** After a server stream error only the server's <close/> may come (RFC 7395 §3.5, §3.6). */
  private afterStreamError(c: ConnState, dir: Direction, text: string, el: XmlElement | undefined): void {
    if (dir !== 's2c' || c.pendingStreamError === undefined) return;
    const streamError = c.pendingStreamError;
    c.pendingStreamError = undefined;
    if (el?.localName === 'close') return;
    this.violation(
      c,
      dir,
      K.streamErrorWithoutClose,
      text,
      `${el ? `<${el.name}>` : 'a malformed frame'} followed the server's stream error ` +
        `${truncateUtf8(streamError, 200)} instead of <close xmlns='${NS.framing}'/> (RFC 7395 §3.5, §3.6)`,
    );
  }

  private parse(text: string): ParseResult {
    const t0 = process.hrtime.bigint();
    try {
      const el = parseFrame(text);
      const ns = process.hrtime.bigint() - t0;
      return { el, ns, us: nsToUs(ns) };
    } catch (e) {
      const ns = process.hrtime.bigint() - t0;
      return { error: e instanceof Error ? e : new Error(String(e)), ns, us: nsToUs(ns) };
    }
  }

  private parseViolation(c: ConnState, dir: Direction, text: string, error: Error): void {
    if (error instanceof XmlParseError) {
      this.violation(
        c,
        dir,
        error.code,
        text,
        `frame is not one standalone XML document (RFC 7395 §3.3): ${error.message}`,
      );
    } else {
      this.violation(c, dir, K.parserException, text, `the parser failed: ${error.message}`);
    }
  }

  /** tap_frame_parse for this direction and element; past MAX_ELEMENT_LABELS names, '(other)'. */
  private parseSeries(dir: Direction, element: string): HistSeries {
    const parse = this.dirs[dir].parse;
    let s = parse.get(element);
    if (s) return s;
    const label = parse.size >= MAX_ELEMENT_LABELS ? OTHER : element;
    s = parse.get(label) ?? this.m.histogram(TAP_METRICS.frameParse, { direction: dir, element: label });
    parse.set(label, s);
    return s;
  }

  private violation(c: ConnState, dir: Direction, kind: string, frame: string, message: string): void {
    this.m.count(TAP_METRICS.framingViolations, { kind, direction: dir });
    this.report({
      kind,
      direction: dir,
      connection: c.id,
      // SASL payloads never reach a log or a report: PLAIN carries the password in base64.
      frame: truncateUtf8(redactFrame(frame)),
      message,
      at: Date.now(),
    });
  }
}

/**
 * Is the server's <message from to> the delivery of pending client message `p` (same id)? Same from-to pair
 * when both are known; a relay (MUC) delivers it from the address it was sent to.
 */
function matches(p: PendingMessage, from: string | undefined, to: string): boolean {
  const fromBare = bare(from);
  if (p.to && fromBare === p.to && p.to !== p.from) return true; // a room reflecting or relaying it
  if (p.to && to && to !== p.to) return false;
  if (p.from && from)
    return from.includes('/') && p.fromFull.includes('/') ? from === p.fromFull : fromBare === p.from;
  return true;
}
