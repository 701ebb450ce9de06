/** A parsed or built XML element: namespace-aware, with text and element children in document order. */
export type XmlNode = XmlElement | string;

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';

export class XmlElement {
  /** Qualified name as written, e.g. `message` or `stream:features`. */
  readonly name: string;
  /** Attributes as written, namespace declarations (`xmlns`, `xmlns:p`) and `xml:lang` included. */
  readonly attrs: Record<string, string>;
  readonly children: XmlNode[];
  /** Resolved namespace URI ('' when none is in scope). Set by the parser, or derived from `xmlns` for built elements. */
  ns: string;
  /** The name without its prefix; kept, as every stanza's is read several times while it is dispatched. */
  readonly localName: string;

  constructor(name: string, attrs: Record<string, string> = {}, children: XmlNode[] = [], ns?: string) {
    this.name = name;
    this.attrs = attrs;
    this.children = children;
    const colon = name.indexOf(':');
    this.localName = colon < 0 ? name : name.slice(colon + 1);
    this.ns = ns ?? (colon > 0 ? (attrs[`xmlns:${name.slice(0, colon)}`] ?? '') : (attrs['xmlns'] ?? ''));
  }

  get prefix(): string {
    const i = this.name.indexOf(':');
    return i < 0 ? '' : this.name.slice(0, i);
  }

  /** True when this element has the given local name and (if given) namespace. */
  is(localName: string, ns?: string): boolean {
    return this.localName === localName && (ns === undefined || this.ns === ns);
  }

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  get elements(): XmlElement[] {
    return this.children.filter((c): c is XmlElement => typeof c !== 'string');
  }

  getChild(localName: string, ns?: string): XmlElement | undefined {
    for (const c of this.children) if (typeof c !== 'string' && c.is(localName, ns)) return c;
    return undefined;
  }

  getChildren(localName: string, ns?: string): XmlElement[] {
    return this.elements.filter((c) => c.is(localName, ns));
  }

  /** Concatenated direct text children. */
  text(): string {
    let s = '';
    for (const c of this.children) if (typeof c === 'string') s += c;
    return s;
  }

  getChildText(localName: string, ns?: string): string | undefined {
    return this.getChild(localName, ns)?.text();
  }

  append(...nodes: XmlNode[]): this {
    for (const n of nodes) {
      if (typeof n !== 'string') this.adopt(n);
      this.children.push(n);
    }
    return this;
  }

  /** A child element with no namespace of its own (no xmlns, no prefix) is in its parent's. */
  adopt(child: XmlElement): void {
    if (!child.ns && !child.prefix && child.attrs['xmlns'] === undefined) child.ns = this.ns;
  }
}

/** Builder: `x('message', { to, type: 'chat' }, x('body', {}, 'hi'))`. Undefined attributes are dropped. */
export function x(
  name: string,
  attrs: Record<string, string | undefined> = {},
  ...children: XmlNode[]
): XmlElement {
  const clean: Record<string, string> = {};
  // for…in, not Object.keys: no array per element (attribute objects are plain literals, nothing inherited).
  for (const k in attrs) {
    const v = attrs[k];
    if (v !== undefined) clean[k] = v;
  }
  // The rest array is the element's own, already the right size: appended one by one into a new array, the first
  // push alone grows a backing store of 17 slots.
  const el = new XmlElement(name, clean, children);
  for (const c of children) if (typeof c !== 'string') el.adopt(c);
  return el;
}

const TEXT_SPECIAL = /[&<>\r]/g;

/**
 * Escapes & < > and CR (a raw CR would come back as LF: XML end-of-line handling). Most text needs nothing: one
 * search (which ignores the regex's lastIndex) instead of a replace that calls back per match.
 */
export function escapeText(s: string): string {
  if (s.search(TEXT_SPECIAL) < 0) return s;
  return s.replace(TEXT_SPECIAL, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;',
  );
}

const ATTR_SPECIAL = /[&<>"'\t\n\r]/g;

/** As escapeText, for attribute values in '…' (ids, JIDs and namespaces need nothing). */
export function escapeAttr(s: string): string {
  if (s.search(ATTR_SPECIAL) < 0) return s;
  return s.replace(ATTR_SPECIAL, (c) => ATTR_ESCAPES[c] ?? c);
}

const ATTR_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/** Serializes one element as a standalone document fragment (no XML declaration), attributes in `'`. */
export function serialize(el: XmlElement): string {
  let s = '<' + el.name;
  const attrs = el.attrs;
  for (const k in attrs) s += ` ${k}='${escapeAttr(attrs[k]!)}'`;
  if (el.children.length === 0) return s + '/>';
  s += '>';
  for (const c of el.children) s += typeof c === 'string' ? escapeText(c) : serialize(c);
  return s + '</' + el.name + '>';
}
