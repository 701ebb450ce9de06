/** A parsed or built XML element: namespace-aware, with text and element children in document order. */
export type XmlNode = XmlElement | string;

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';

export class XmlElement {
  /** Qualified name as written, e.g. `message` or `stream:features`. */
  readonly name: string;
  /**
   * Attributes as written, flat `[name, value, name, value, …]` in document order, namespace declarations
   * (`xmlns`, `xmlns:p`) and `xml:lang` included. An array, not an object: a parsed attribute's name would be
   * interned to become a property key, and every element's object would take its own shape (megamorphic access
   * on every read and write, issue 13).
   */
  readonly attrList: string[];
  readonly children: XmlNode[];
  /** Resolved namespace URI ('' when none is in scope). Set by the parser, or derived from `xmlns` for built elements. */
  ns: string;
  /** The name without its prefix; kept, as every stanza's is read several times while it is dispatched. */
  readonly localName: string;

  /** `attrList` is the element's own from here on (not copied). */
  constructor(name: string, attrList: string[] = [], children: XmlNode[] = [], ns?: string) {
    this.name = name;
    this.attrList = attrList;
    this.children = children;
    const colon = name.indexOf(':');
    this.localName = colon < 0 ? name : name.slice(colon + 1);
    this.ns = ns ?? this.attr(colon > 0 ? `xmlns:${name.slice(0, colon)}` : 'xmlns') ?? '';
  }

  /** The attributes as a new object (name → value), for reading; change them with `setAttr`. */
  get attrs(): Record<string, string> {
    const o: Record<string, string> = {};
    const a = this.attrList;
    for (let i = 0; i < a.length; i += 2) {
      // An attribute named __proto__ is data like any other, not the object's prototype.
      if (a[i] === '__proto__') {
        Object.defineProperty(o, '__proto__', {
          value: a[i + 1],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else o[a[i]!] = a[i + 1]!;
    }
    return o;
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
    const a = this.attrList;
    for (let i = 0; i < a.length; i += 2) if (a[i] === name) return a[i + 1];
    return undefined;
  }

  /** Sets an attribute: replaces its value where it is, or appends it. */
  setAttr(name: string, value: string): void {
    const a = this.attrList;
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] === name) {
        a[i + 1] = value;
        return;
      }
    }
    a.push(name, value);
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
    if (!child.ns && !child.prefix && child.attr('xmlns') === undefined) child.ns = this.ns;
  }
}

/** x()'s attributes before they are sliced into the element's own exact-size list (x() is never re-entered). */
const SCRATCH: string[] = [];

/** Builder: `x('message', { to, type: 'chat' }, x('body', {}, 'hi'))`. Undefined attributes are dropped. */
export function x(
  name: string,
  attrs: Record<string, string | undefined> = {},
  ...children: XmlNode[]
): XmlElement {
  let n = 0;
  // for…in, not Object.keys: no array per element (attribute objects are plain literals, nothing inherited).
  for (const k in attrs) {
    const v = attrs[k];
    if (v !== undefined) {
      SCRATCH[n++] = k;
      SCRATCH[n++] = v;
    }
  }
  // The rest array is the element's own, already the right size: appended one by one into a new array, the first
  // push alone grows a backing store of 17 slots. The attribute list is sliced to size for the same reason.
  const el = new XmlElement(name, n === 0 ? [] : SCRATCH.slice(0, n), children);
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
  const a = el.attrList;
  for (let i = 0; i < a.length; i += 2) s += ' ' + a[i] + "='" + escapeAttr(a[i + 1]!) + "'";
  if (el.children.length === 0) return s + '/>';
  s += '>';
  for (const c of el.children) s += typeof c === 'string' ? escapeText(c) : serialize(c);
  return s + '</' + el.name + '>';
}
