/** RFC 7395 framing: `<open/>` / `<close/>`, stream features and stream errors. */
import { XmppError } from './errors.ts';
import { NS } from './namespaces.ts';
import { serialize, x, type XmlElement } from './xml/element.ts';

export interface StreamHeader {
  from: string | undefined;
  id: string | undefined;
  version: string | undefined;
  lang: string | undefined;
}

export function openFrame(domain: string, lang = 'en'): string {
  return serialize(x('open', { xmlns: NS.framing, to: domain, version: '1.0', 'xml:lang': lang }));
}

export const CLOSE_FRAME = serialize(x('close', { xmlns: NS.framing }));

export function isOpen(el: XmlElement): boolean {
  return el.is('open', NS.framing);
}

export function isClose(el: XmlElement): boolean {
  return el.is('close', NS.framing);
}

/**
 * Checks that a frame the server sent to open the stream is an RFC 7395 `<open/>`; pre-RFC servers answer
 * with `<stream:stream>` (draft framing), which we report as a framing violation rather than half-support.
 */
export function parseOpen(el: XmlElement): StreamHeader {
  if (!isOpen(el)) {
    const what = el.is('stream', NS.streams) ? 'a pre-RFC 7395 <stream:stream> header' : `<${el.name}>`;
    throw new XmppError(
      'framing-violation',
      'expected-open',
      `expected <open xmlns='${NS.framing}'/> from the server, got ${what} (ns '${el.ns}'): the endpoint does not speak RFC 7395 framing`,
    );
  }
  if (el.attr('version') !== '1.0') {
    throw new XmppError(
      'framing-violation',
      'bad-version',
      `server <open/> has version '${el.attr('version') ?? ''}', RFC 7395 requires '1.0'`,
    );
  }
  return { from: el.attr('from'), id: el.attr('id'), version: el.attr('version'), lang: el.attr('xml:lang') };
}

/** The `see-other-uri` of a server `<close/>` (RFC 7395 §3.6.1), if any. */
export function seeOtherUri(close: XmlElement): string | undefined {
  return close.attr('see-other-uri');
}

export interface StreamFeatures {
  mechanisms: string[];
  bind: boolean;
  /** RFC 3921 session establishment, required unless marked `<optional/>` (RFC 6121 appendix E). */
  sessionRequired: boolean;
  /** Stream management (XEP-0198) offered. */
  sm: boolean;
  raw: XmlElement;
}

export function isFeatures(el: XmlElement): boolean {
  return el.is('features', NS.streams);
}

export function parseFeatures(el: XmlElement): StreamFeatures {
  const mechs = el.getChild('mechanisms', NS.sasl);
  const session = el.getChild('session', NS.session);
  return {
    mechanisms: mechs ? mechs.getChildren('mechanism', NS.sasl).map((m) => m.text().trim()) : [],
    bind: el.getChild('bind', NS.bind) !== undefined,
    sessionRequired: session !== undefined && session.getChild('optional', NS.session) === undefined,
    sm: el.getChild('sm', NS.sm) !== undefined,
    raw: el,
  };
}

export interface StreamErrorInfo {
  condition: string;
  text: string | undefined;
  /** For `see-other-host`, the host the server points to. */
  seeOtherHost: string | undefined;
}

export function isStreamError(el: XmlElement): boolean {
  return el.is('error', NS.streams);
}

export function parseStreamError(el: XmlElement): StreamErrorInfo {
  let condition = 'undefined-condition';
  let text: string | undefined;
  let seeOtherHost: string | undefined;
  for (const c of el.elements) {
    if (c.ns !== NS.streamErrors) continue;
    if (c.localName === 'text') text = c.text();
    else {
      condition = c.localName;
      if (condition === 'see-other-host') seeOtherHost = c.text().trim() || undefined;
    }
  }
  return { condition, text, seeOtherHost };
}

export function streamErrorFrame(condition: string, text?: string): string {
  const err = x('stream:error', { 'xmlns:stream': NS.streams }, x(condition, { xmlns: NS.streamErrors }));
  if (text) err.append(x('text', { xmlns: NS.streamErrors, 'xml:lang': 'en' }, text));
  return serialize(err);
}
