/**
 * Strict XML frame parser for XMPP over WebSocket (RFC 7395): every message is one standalone XML document.
 * Enforces the RFC 6120 §11.1 restrictions (no comments, PIs, DTDs or custom entities) and Namespaces in XML.
 * Single pass with charCodeAt, iterative (no recursion), every loop advances the index.
 */
import { XML_NS, XmlElement, type XmlNode } from './element.ts';

export type XmlParseErrorCode =
  | 'empty' // nothing but whitespace
  | 'truncated' // the frame ends inside a tag, reference or open element
  | 'unbalanced' // an end tag that does not match the open element (or no element is open)
  | 'multiple-roots' // a second top-level element in the same frame
  | 'text-outside-root' // non-whitespace text (or CDATA) before or after the root element
  | 'dtd' // <!DOCTYPE …>
  | 'processing-instruction' // <?…?>, other than the XML declaration at the very start
  | 'comment' // <!-- … -->
  | 'bad-entity' // unknown named entity, malformed or non-XML character reference
  | 'bad-name' // malformed element or attribute name (bad first char, misplaced colons)
  | 'duplicate-attribute' // same qualified name, or same namespace + local name, twice
  | 'unbound-prefix' // a prefix with no xmlns:prefix declaration in scope
  | 'invalid-char' // a character XML 1.0 forbids, '<' in an attribute value, '&' not starting a reference
  | 'too-large' // frame longer than maxBytes, or a name longer than maxNameLength
  | 'too-deep' // more than maxDepth nested elements
  | 'too-many-attributes' // more than maxAttributes on one element
  | 'syntax'; // anything else malformed

export interface ParseLimits {
  /** Maximum frame length, in UTF-16 code units (string length). */
  maxBytes: number;
  /** Maximum element nesting; the root is depth 1. */
  maxDepth: number;
  /** Maximum attributes per element, namespace declarations included. */
  maxAttributes: number;
  /** Maximum length of an element or attribute name. */
  maxNameLength: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxBytes: 1_048_576,
  maxDepth: 64,
  maxAttributes: 64,
  maxNameLength: 256,
});

export class XmlParseError extends Error {
  readonly code: XmlParseErrorCode;
  /** Position in the frame, as a string index (UTF-16 code units). */
  readonly offset: number;

  constructor(code: XmlParseErrorCode, message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'XmlParseError';
    this.code = code;
    this.offset = offset;
  }
}

/** Parses one frame into its root element; throws XmlParseError on anything not well-formed XMPP XML. */
export function parseFrame(text: string, limits?: Partial<ParseLimits>): XmlElement {
  return new FrameParser(
    text,
    limits ? { ...DEFAULT_PARSE_LIMITS, ...limits } : DEFAULT_PARSE_LIMITS,
  ).parse();
}

export type TryParseResult = { ok: true; element: XmlElement } | { ok: false; error: XmlParseError };

/** Like parseFrame, but returns parse errors instead of throwing them. */
export function tryParseFrame(text: string, limits?: Partial<ParseLimits>): TryParseResult {
  try {
    return { ok: true, element: parseFrame(text, limits) };
  } catch (e) {
    if (e instanceof XmlParseError) return { ok: false, error: e };
    throw e;
  }
}

const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
const RFC6120 = 'not allowed in XMPP (RFC 6120 §11.1)';

// ASCII name table: bit 1 = NameStartChar, bit 2 = NameChar (':' included; QName rules are checked separately).
const NAME_START = 1;
const NAME_CHAR = 2;
const ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const start = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 58;
  const other = (c >= 48 && c <= 57) || c === 45 || c === 46;
  ASCII[c] = start ? NAME_START | NAME_CHAR : other ? NAME_CHAR : 0;
}

function isNameStartBmp(c: number): boolean {
  if (c < 128) return (ASCII[c]! & NAME_START) !== 0;
  return (
    (c >= 0xc0 && c <= 0xd6) ||
    (c >= 0xd8 && c <= 0xf6) ||
    (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) ||
    c === 0x200c ||
    c === 0x200d ||
    (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) ||
    (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xf900 && c <= 0xfdcf) ||
    (c >= 0xfdf0 && c <= 0xfffd)
  );
}

function isNameCharBmp(c: number): boolean {
  if (c < 128) return (ASCII[c]! & NAME_CHAR) !== 0;
  return isNameStartBmp(c) || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f || c === 0x2040;
}

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/**
 * The attributes of the start tag being parsed, flat [name, value, …], sliced into the element's own list at its
 * '>' (shared as KIDS is).
 */
const ATTRS: string[] = [];

/** The attribute names at even indexes of ATTRS below `n`. */
function attrNames(n: number): Set<string> {
  const names = new Set<string>();
  for (let k = 0; k < n; k += 2) names.add(ATTRS[k]!);
  return names;
}

/** Whether `name` is among the attribute names at even indexes of ATTRS below `n`. */
function seenAttr(name: string, n: number): boolean {
  for (let k = 0; k < n; k += 2) if (ATTRS[k] === name) return true;
  return false;
}

/**
 * The children of the elements still open in the frame being parsed, in document order; each open element's
 * start at its Frame's `kids`. An element takes its own as one exact-size array when it closes: pushing into an
 * empty array grows it to 17 slots at the first child. Shared: parsing is synchronous and never re-entered.
 */
const KIDS: XmlNode[] = [];

/** The elements open in the frame being parsed (shared as KIDS is). */
const STACK: Frame[] = [];
/** STACK's Frame objects, reused by depth: a frame's elements then make no Frame each. */
const FRAMES: Frame[] = [];

/**
 * The element and attribute names and the values most stanzas carry, by length: returned instead of a slice of the
 * frame, so they cost no copy and later comparisons (attr('from'), name === 'message') hit on identity.
 */
const COMMON: string[][] = [];
for (const w of [
  'to',
  'id',
  'iq',
  'en',
  'from',
  'type',
  'body',
  'chat',
  'xmlns',
  'result',
  'message',
  'presence',
  'xml:lang',
  'jabber:client',
  'urn:ietf:params:xml:ns:xmpp-framing',
])
  (COMMON[w.length] ??= []).push(w);

/** s[start, end): one of COMMON when it is one, else a slice. */
function common(s: string, start: number, end: number): string {
  const words = COMMON[end - start];
  if (words !== undefined) for (const w of words) if (s.startsWith(w, start)) return w;
  return s.slice(start, end);
}

function describe(s: string, max = 40): string {
  return JSON.stringify(s.length > max ? s.slice(0, max) + '…' : s);
}

interface Frame {
  el: XmlElement;
  name: string;
  start: number;
  /** Default namespace of the parent, restored when this element closes. */
  parentDefault: string;
  /** Prefix bindings this element shadowed, flat [prefix, previous, …], restored when it closes. */
  undo: (string | undefined)[] | null;
  /** Where this element's children start in KIDS. */
  kids: number;
}

class FrameParser {
  private readonly s: string;
  private readonly n: number;
  private readonly limits: Readonly<ParseLimits>;
  /** End index of the last reference/attribute value/name scanned by a helper. */
  private end = 0;
  /** Absolute index of the colon in the last qualified name scanned, or -1. */
  private colon = -1;
  private readonly stack: Frame[] = STACK;
  /** Prefix → namespace; made at the first prefix declaration (most frames declare none). */
  private bindings: Map<string, string> | undefined;
  private defaultNs = '';
  private root: XmlElement | undefined;
  /** KIDS in use: past it are the nodes of earlier frames, overwritten as this one's come. */
  private kidsN = 0;

  constructor(s: string, limits: Readonly<ParseLimits>) {
    this.s = s;
    this.n = s.length;
    this.limits = limits;
  }

  parse(): XmlElement {
    const s = this.s;
    const n = this.n;
    // Checked first so oversized input costs nothing.
    if (n > this.limits.maxBytes) {
      throw new XmlParseError(
        'too-large',
        `frame of ${n} characters exceeds maxBytes (${this.limits.maxBytes})`,
        this.limits.maxBytes,
      );
    }
    STACK.length = 0;
    if (KIDS.length > 1024) KIDS.length = 0; // a large frame's nodes are not kept until the next large one
    let i = 0;
    let sawDecl = false;
    if (n > 0 && s.charCodeAt(0) === 0xfeff) i = 1; // byte order mark
    if (s.startsWith('<?', i)) {
      if (n - i < 6 && '<?xml '.startsWith(s.slice(i))) throw this.eof('XML declaration');
      if (s.startsWith('<?xml', i) && this.isS(s.charCodeAt(i + 5))) {
        i = this.xmlDecl(i);
        sawDecl = true;
      }
    }
    i = this.misc(i, false);
    if (i >= n) {
      if (sawDecl) throw this.eof('root element');
      throw new XmlParseError('empty', 'empty frame', i);
    }
    i = this.startTag(i);
    i = this.content(i);
    this.misc(i, true);
    return this.root!;
  }

  /** Whitespace, and errors for anything else, outside the root. Returns the index of a root start tag or n. */
  private misc(i: number, afterRoot: boolean): number {
    const s = this.s;
    const n = this.n;
    for (;;) {
      i = this.skipS(i);
      if (i >= n) return i;
      const c = s.charCodeAt(i);
      if (c !== 0x3c) {
        if (c === 0x26 || this.charEnd(i) > 0) {
          throw new XmlParseError(
            'text-outside-root',
            `text ${afterRoot ? 'after' : 'before'} the root element`,
            i,
          );
        }
        throw this.invalidChar(i);
      }
      if (i + 1 >= n) throw this.eof('a tag');
      const d = s.charCodeAt(i + 1);
      if (d === 0x3f) throw this.pi(i);
      if (d === 0x21) {
        this.markup(i);
        throw new XmlParseError('text-outside-root', 'CDATA section outside the root element', i);
      }
      if (d === 0x2f) throw new XmlParseError('unbalanced', 'end tag with no open element', i);
      if (!afterRoot) return i;
      if (this.nameEnd(i + 1) > i + 1) {
        throw new XmlParseError(
          'multiple-roots',
          'second root element (a WebSocket frame holds exactly one XML document, RFC 7395)',
          i,
        );
      }
      throw this.unexpected(i + 1, 'element name');
    }
  }

  /** Element content until the root closes; returns the index after the root's end tag. */
  private content(i: number): number {
    const s = this.s;
    const n = this.n;
    const stack = this.stack;
    let text = '';
    while (stack.length > 0) {
      let runStart = i;
      let c = 0;
      while (i < n) {
        c = s.charCodeAt(i);
        if (c > 0x3e && c < 0xd800) {
          i++;
        } else if (c === 0x3c || c === 0x26) {
          break;
        } else if ((c >= 0x20 && c < 0x3e) || c === 0x0a || c === 0x09) {
          i++;
        } else if (c === 0x3e) {
          // ']]>' must not appear in content (XML 1.0 §2.4).
          if (i >= 2 && s.charCodeAt(i - 1) === 0x5d && s.charCodeAt(i - 2) === 0x5d) {
            throw new XmlParseError('syntax', "']]>' not allowed in text", i - 2);
          }
          i++;
        } else if (c === 0x0d) {
          text += s.slice(runStart, i) + '\n';
          i++;
          if (i < n && s.charCodeAt(i) === 0x0a) i++;
          runStart = i;
        } else {
          i = this.checkChar(i);
        }
      }
      if (i > runStart) text += s.slice(runStart, i);
      const top = stack[stack.length - 1]!;
      if (i >= n) {
        throw new XmlParseError(
          'truncated',
          `frame ends inside <${top.name}> opened at offset ${top.start}`,
          n,
        );
      }
      if (c === 0x26) {
        text += this.reference(i);
        i = this.end;
        continue;
      }
      // '<'
      if (i + 1 >= n) throw this.eof('a tag');
      const d = s.charCodeAt(i + 1);
      if (d === 0x2f) {
        if (text !== '') KIDS[this.kidsN++] = text;
        text = '';
        i = this.endTag(i, top);
      } else if (d === 0x21) {
        text += this.markup(i);
        i = this.end;
      } else if (d === 0x3f) {
        throw this.pi(i);
      } else {
        if (text !== '') KIDS[this.kidsN++] = text;
        text = '';
        i = this.startTag(i);
      }
    }
    return i;
  }

  /** Parses `<name attrs…>` or `<name attrs…/>` at i, attaches the element, and pushes it if it stays open. */
  private startTag(i: number): number {
    const s = this.s;
    const n = this.n;
    const limits = this.limits;
    const stack = this.stack;
    if (stack.length >= limits.maxDepth) {
      throw new XmlParseError('too-deep', `element nesting exceeds maxDepth (${limits.maxDepth})`, i);
    }
    const nameStart = i + 1;
    const nameEnd = this.qname(nameStart);
    if (nameEnd === nameStart) throw this.unexpected(nameStart, 'element name');
    const elColon = this.colon;
    const name = common(s, nameStart, nameEnd);

    let count = 0;
    let names: Set<string> | null = null;
    let prefixed = -1; // start of the first prefixed non-xmlns attribute (xml:lang on most stanzas)
    let prefixedColon = -1;
    let prefixedEnd = -1;
    let more: number[] | null = null; // [start, colon, end, …] of the others
    let decls: string[] | null = null; // [prefix, uri, …]
    let defaultDecl: string | undefined;
    let selfClosing = false;
    let j = nameEnd;
    for (;;) {
      const ws = j;
      j = this.skipS(j);
      if (j >= n) throw this.eof(`'>' closing <${name}>`);
      const c = s.charCodeAt(j);
      if (c === 0x3e) {
        j++;
        break;
      }
      if (c === 0x2f) {
        if (j + 1 < n && s.charCodeAt(j + 1) === 0x3e) {
          selfClosing = true;
          j += 2;
          break;
        }
        throw this.unexpected(j + 1, "'>' after '/'");
      }
      if (j === ws) throw this.unexpected(j, "whitespace, '>' or '/>'");
      const an = j;
      const ae = this.qname(an);
      if (ae === an) throw this.unexpected(an, 'attribute name');
      const colon = this.colon;
      if (++count > limits.maxAttributes) {
        throw new XmlParseError(
          'too-many-attributes',
          `more than maxAttributes (${limits.maxAttributes}) attributes on <${name}>`,
          an,
        );
      }
      const aname = common(s, an, ae);
      j = this.skipS(ae);
      if (j >= n || s.charCodeAt(j) !== 0x3d) throw this.unexpected(j, `'=' after attribute ${aname}`);
      j = this.skipS(j + 1);
      const q = j < n ? s.charCodeAt(j) : -1;
      if (q !== 0x22 && q !== 0x27) throw this.unexpected(j, `quoted value for attribute ${aname}`);
      const value = this.attrValue(j + 1, q);
      j = this.end;
      // A scan of the names so far (no object, no interned keys); past a few, a set, so that limits far above
      // the default cost no quadratic time.
      if (count > 16) names ??= attrNames(2 * count - 2);
      if (names === null ? seenAttr(aname, 2 * count - 2) : names.has(aname)) {
        throw new XmlParseError('duplicate-attribute', `duplicate attribute ${aname} on <${name}>`, an);
      }
      names?.add(aname);
      ATTRS[2 * count - 2] = aname;
      ATTRS[2 * count - 1] = value;
      if (colon < 0) {
        if (aname === 'xmlns') {
          if (value === XML_NS || value === XMLNS_NS) {
            throw new XmlParseError('syntax', `reserved namespace ${value} cannot be the default`, an);
          }
          defaultDecl = value;
        }
      } else if (colon - an === 5 && s.startsWith('xmlns', an)) {
        const prefix = s.slice(colon + 1, ae);
        this.checkDecl(prefix, value, an);
        if (!decls) decls = [];
        decls.push(prefix, value);
      } else {
        if (prefixed < 0) {
          prefixed = an;
          prefixedColon = colon;
          prefixedEnd = ae;
        } else {
          if (!more) more = [prefixed, prefixedColon, prefixedEnd];
          more.push(an, colon, ae);
        }
      }
    }

    // Namespace scope: this element's declarations apply to its own name and attributes.
    const parentDefault = this.defaultNs;
    if (defaultDecl !== undefined) this.defaultNs = defaultDecl;
    let undo: (string | undefined)[] | null = null;
    if (decls) {
      undo = [];
      for (let k = 0; k < decls.length; k += 2) {
        const p = decls[k]!;
        this.bindings ??= new Map();
        undo.push(p, this.bindings.get(p));
        this.bindings.set(p, decls[k + 1]!);
      }
    }
    let ns: string;
    if (elColon < 0) {
      ns = this.defaultNs;
    } else {
      const p = s.slice(nameStart, elColon);
      if (p === 'xmlns') throw new XmlParseError('bad-name', `element name ${name} uses the xmlns prefix`, i);
      ns = this.resolve(p, nameStart);
    }
    if (more) this.checkPrefixedAttrs(more, name);
    else if (prefixed >= 0) this.resolveAt(prefixed, prefixedColon);

    const el = new XmlElement(name, count === 0 ? [] : ATTRS.slice(0, 2 * count), [], ns);
    if (stack.length > 0) KIDS[this.kidsN++] = el;
    else this.root = el;
    if (selfClosing) this.restore(parentDefault, undo);
    else {
      const depth = stack.length;
      let f = FRAMES[depth];
      if (f === undefined) FRAMES[depth] = f = { el, name, start: i, parentDefault, undo, kids: this.kidsN };
      else {
        f.el = el;
        f.name = name;
        f.start = i;
        f.parentDefault = parentDefault;
        f.undo = undo;
        f.kids = this.kidsN;
      }
      stack.push(f);
    }
    return j;
  }

  /** Resolves attribute prefixes and rejects two attributes with the same expanded name. */
  private checkPrefixedAttrs(p: number[], elName: string): void {
    const s = this.s;
    const keys: string[] = [];
    for (let k = 0; k < p.length; k += 3) {
      const start = p[k]!;
      const colon = p[k + 1]!;
      const uri = this.resolve(s.slice(start, colon), start);
      const key = uri + ' ' + s.slice(colon + 1, p[k + 2]!);
      if (keys.includes(key)) {
        throw new XmlParseError(
          'duplicate-attribute',
          `attribute ${s.slice(start, p[k + 2]!)} on <${elName}> duplicates another in namespace ${uri}`,
          start,
        );
      }
      keys.push(key);
    }
  }

  /** resolve() for the prefix s[start, colon), without slicing it when it is `xml` (xml:lang on most stanzas). */
  private resolveAt(start: number, colon: number): string {
    if (colon - start === 3 && this.s.startsWith('xml', start)) return XML_NS;
    return this.resolve(this.s.slice(start, colon), start);
  }

  private resolve(prefix: string, at: number): string {
    if (prefix === 'xml') return XML_NS;
    const uri = this.bindings?.get(prefix);
    if (uri === undefined) {
      throw new XmlParseError('unbound-prefix', `prefix ${describe(prefix)} is not bound to a namespace`, at);
    }
    return uri;
  }

  private checkDecl(prefix: string, uri: string, at: number): void {
    let problem = '';
    if (prefix === 'xmlns') problem = 'the xmlns prefix must not be declared';
    else if (prefix === 'xml' && uri !== XML_NS) problem = `the xml prefix can only be bound to ${XML_NS}`;
    else if (prefix !== 'xml' && (uri === XML_NS || uri === XMLNS_NS)) problem = `${uri} is reserved`;
    else if (uri === '') problem = `prefix ${prefix} cannot be undeclared (Namespaces in XML 1.0)`;
    if (problem) throw new XmlParseError('syntax', problem, at);
  }

  private restore(parentDefault: string, undo: (string | undefined)[] | null): void {
    this.defaultNs = parentDefault;
    if (!undo) return;
    for (let k = undo.length - 2; k >= 0; k -= 2) {
      const p = undo[k]!;
      const prev = undo[k + 1];
      if (prev === undefined) this.bindings!.delete(p);
      else this.bindings!.set(p, prev);
    }
  }

  /** Parses `</name S?>` at i for the open element `top`, pops it, and returns the index after '>'. */
  private endTag(i: number, top: Frame): number {
    const s = this.s;
    const n = this.n;
    const nameStart = i + 2;
    const nameEnd = this.nameEnd(nameStart);
    if (nameEnd >= n) throw this.eof(`</${top.name}>`);
    if (nameEnd === nameStart) throw this.unexpected(nameStart, 'element name');
    if (nameEnd - nameStart !== top.name.length || !s.startsWith(top.name, nameStart)) {
      throw new XmlParseError(
        'unbalanced',
        `end tag </${describe(s.slice(nameStart, nameEnd)).slice(1, -1)}> does not match <${top.name}> opened at offset ${top.start}`,
        i,
      );
    }
    const j = this.skipS(nameEnd);
    if (j >= n || s.charCodeAt(j) !== 0x3e) throw this.unexpected(j, `'>' closing </${top.name}>`);
    this.stack.pop();
    this.restore(top.parentDefault, top.undo);
    const kidsN = this.kidsN;
    (top.el as { children: XmlNode[] }).children = kidsN > top.kids ? KIDS.slice(top.kids, kidsN) : [];
    this.kidsN = top.kids;
    return j + 1;
  }

  /** `<!` at i: returns CDATA text (this.end after it); throws for comments, DTDs and anything else. */
  private markup(i: number): string {
    const s = this.s;
    const n = this.n;
    if (s.startsWith('<!--', i)) throw new XmlParseError('comment', `comment ${RFC6120}`, i);
    if (s.startsWith('<!DOCTYPE', i)) throw new XmlParseError('dtd', `DTD ${RFC6120}`, i);
    if (s.startsWith('<![CDATA[', i)) {
      const start = i + 9;
      const close = s.indexOf(']]>', start);
      if (close < 0) throw this.eof("']]>' closing the CDATA section");
      this.end = close + 3;
      return this.rawText(start, close);
    }
    for (const lit of ['<!--', '<!DOCTYPE', '<![CDATA[']) {
      if (n - i < lit.length && lit.startsWith(s.slice(i))) throw this.eof(lit);
    }
    throw this.unexpected(i + 2, "'--', 'DOCTYPE' or '[CDATA['");
  }

  /** Validates characters in [from, to) and normalizes line endings (CDATA content). */
  private rawText(from: number, to: number): string {
    const s = this.s;
    let out = '';
    let runStart = from;
    let k = from;
    while (k < to) {
      const c = s.charCodeAt(k);
      if ((c >= 0x20 && c < 0xd800) || c === 0x0a || c === 0x09) {
        k++;
      } else if (c === 0x0d) {
        out += s.slice(runStart, k) + '\n';
        k++;
        if (k < to && s.charCodeAt(k) === 0x0a) k++;
        runStart = k;
      } else {
        k = this.checkChar(k);
      }
    }
    return out + s.slice(runStart, to);
  }

  /** Attribute value from i up to the closing quote q; sets this.end after the quote. */
  private attrValue(i: number, q: number): string {
    const s = this.s;
    const n = this.n;
    let v = '';
    let runStart = i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === q) {
        this.end = i + 1;
        return v === '' ? common(s, runStart, i) : v + s.slice(runStart, i);
      }
      if (c > 0x3c && c < 0xd800) {
        i++;
      } else if (c === 0x3c) {
        throw new XmlParseError('invalid-char', "'<' not allowed in an attribute value", i);
      } else if (c === 0x26) {
        v += s.slice(runStart, i) + this.reference(i);
        i = this.end;
        runStart = i;
      } else if (c >= 0x20 && c < 0xd800) {
        i++;
      } else if (c === 0x09 || c === 0x0a || c === 0x0d) {
        // Attribute-value normalization (XML 1.0 §3.3.3); CRLF is one line end, hence one space.
        v += s.slice(runStart, i) + ' ';
        i++;
        if (c === 0x0d && i < n && s.charCodeAt(i) === 0x0a) i++;
        runStart = i;
      } else {
        i = this.checkChar(i);
      }
    }
    throw this.eof('closing quote of the attribute value');
  }

  /** `&…;` at i: returns the decoded text and sets this.end after the ';'. */
  private reference(i: number): string {
    const s = this.s;
    const n = this.n;
    let j = i + 1;
    if (j >= n) throw this.eof('entity or character reference');
    let c = s.charCodeAt(j);
    if (c === 0x23) {
      j++;
      const hex = j < n && s.charCodeAt(j) === 0x78;
      if (hex) j++;
      const digits = j;
      let v = 0;
      while (j < n) {
        c = s.charCodeAt(j);
        let d: number;
        if (c >= 0x30 && c <= 0x39) d = c - 0x30;
        else if (hex && c >= 0x61 && c <= 0x66) d = c - 0x57;
        else if (hex && c >= 0x41 && c <= 0x46) d = c - 0x37;
        else break;
        v = Math.min(v * (hex ? 16 : 10) + d, 0x110000); // clamped: stays invalid without growing
        j++;
      }
      if (j >= n) throw this.eof("';' ending the character reference");
      if (j === digits || c !== 0x3b) {
        throw new XmlParseError('bad-entity', 'malformed character reference', i);
      }
      if (!isXmlChar(v)) {
        throw new XmlParseError(
          'bad-entity',
          `character reference ${s.slice(i, j + 1)} is not an XML character`,
          i,
        );
      }
      this.end = j + 1;
      return String.fromCodePoint(v);
    }
    const end = this.nameEnd(j);
    if (end === j || !this.isNameStartAt(j)) {
      throw new XmlParseError('invalid-char', "'&' not starting an entity or character reference", i);
    }
    if (end >= n) throw this.eof("';' ending the entity reference");
    if (s.charCodeAt(end) !== 0x3b) {
      throw new XmlParseError('invalid-char', "'&' not starting an entity or character reference", i);
    }
    this.end = end + 1;
    switch (s.slice(j, end)) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    throw new XmlParseError(
      'bad-entity',
      `unknown entity &${describe(s.slice(j, end)).slice(1, -1)}; (XMPP allows only amp, lt, gt, quot, apos and character references, RFC 6120 §11.1)`,
      i,
    );
  }

  /** `<?xml S …?>` at i; returns the index after '?>'. */
  private xmlDecl(i: number): number {
    const s = this.s;
    const n = this.n;
    let j = i + 5;
    let stage = 0; // 0: version next, 1: encoding/standalone allowed, 2: standalone allowed, 3: done
    for (;;) {
      const ws = j;
      j = this.skipS(j);
      if (j >= n) throw this.eof("'?>' ending the XML declaration");
      if (s.charCodeAt(j) === 0x3f) {
        if (j + 1 >= n) throw this.eof("'?>' ending the XML declaration");
        if (stage > 0 && s.charCodeAt(j + 1) === 0x3e) return j + 2;
        throw new XmlParseError('syntax', 'malformed XML declaration', j);
      }
      if (j === ws) throw this.unexpected(j, "whitespace or '?>' in the XML declaration");
      const ne = this.nameEnd(j);
      if (ne >= n) throw this.eof('XML declaration');
      const key = s.slice(j, ne);
      const expected =
        stage === 0
          ? key === 'version'
          : (key === 'encoding' && stage === 1) || (key === 'standalone' && stage <= 2);
      if (!expected) throw new XmlParseError('syntax', `unexpected ${describe(key)} in XML declaration`, j);
      let k = this.skipS(ne);
      if (k >= n) throw this.eof("'=' in the XML declaration");
      if (s.charCodeAt(k) !== 0x3d) throw this.unexpected(k, "'=' in the XML declaration");
      k = this.skipS(k + 1);
      if (k >= n) throw this.eof('quoted value in the XML declaration');
      const q = s.charCodeAt(k);
      if (q !== 0x22 && q !== 0x27) throw this.unexpected(k, 'quoted value in the XML declaration');
      const close = s.indexOf(q === 0x22 ? '"' : "'", k + 1);
      if (close < 0) throw this.eof('closing quote in the XML declaration');
      const value = s.slice(k + 1, close);
      if (key === 'version') {
        if (!/^1\.[0-9]+$/.test(value)) {
          throw new XmlParseError('syntax', `unsupported XML version ${describe(value)}`, k + 1);
        }
        stage = 1;
      } else if (key === 'encoding') {
        // RFC 6120 §11.6: XMPP is always UTF-8.
        if (value.toLowerCase() !== 'utf-8') {
          throw new XmlParseError(
            'syntax',
            `encoding ${describe(value)} is not UTF-8 (RFC 6120 §11.6)`,
            k + 1,
          );
        }
        stage = 2;
      } else {
        if (value !== 'yes' && value !== 'no') {
          throw new XmlParseError('syntax', `standalone must be 'yes' or 'no'`, k + 1);
        }
        stage = 3;
      }
      j = close + 1;
    }
  }

  /** Scans a QName at i; returns its end (i when there is none), sets this.colon; enforces maxNameLength. */
  private qname(i: number): number {
    const end = this.nameEnd(i);
    this.colon = -1;
    if (end === i) return end;
    if (end - i > this.limits.maxNameLength) {
      throw new XmlParseError(
        'too-large',
        `name longer than maxNameLength (${this.limits.maxNameLength})`,
        i,
      );
    }
    if (end >= this.n) throw this.eof('the rest of the name');
    const s = this.s;
    let bad = !this.isNameStartAt(i);
    for (let k = i; k < end && !bad; k++) {
      if (s.charCodeAt(k) !== 0x3a) continue;
      // Namespaces in XML: prefix and local part are both NCNames.
      if (this.colon >= 0 || k === i || k === end - 1 || !this.isNameStartAt(k + 1)) bad = true;
      else this.colon = k;
    }
    if (bad) throw new XmlParseError('bad-name', `invalid name ${describe(s.slice(i, end))}`, i);
    return end;
  }

  /** End of the run of XML NameChars starting at i (astral name chars included). */
  private nameEnd(i: number): number {
    const s = this.s;
    const n = this.n;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 128) {
        if ((ASCII[c]! & NAME_CHAR) === 0) break;
        i++;
      } else if (c >= 0xd800 && c <= 0xdbff) {
        // [#x10000-#xEFFFF] are name chars: high surrogate up to 0xDB7F.
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c > 0xdb7f || d < 0xdc00 || d > 0xdfff) break;
        i += 2;
      } else if (isNameCharBmp(c)) {
        i++;
      } else {
        break;
      }
    }
    return i;
  }

  private isNameStartAt(i: number): boolean {
    const c = this.s.charCodeAt(i);
    // Astral name chars are all start chars; nameEnd already checked the pair.
    return (c >= 0xd800 && c <= 0xdb7f) || isNameStartBmp(c);
  }

  private isS(c: number): boolean {
    return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
  }

  private skipS(i: number): number {
    const s = this.s;
    const n = this.n;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x09 && c !== 0x0d) break;
      i++;
    }
    return i;
  }

  /** Index after the XML character at i, or 0 if it is not one. */
  private charEnd(i: number): number {
    const c = this.s.charCodeAt(i);
    if (c >= 0x20 && c < 0xd800) return i + 1;
    if (c < 0x20) return c === 0x09 || c === 0x0a || c === 0x0d ? i + 1 : 0;
    if (c <= 0xdbff) {
      const d = this.s.charCodeAt(i + 1);
      return d >= 0xdc00 && d <= 0xdfff ? i + 2 : 0;
    }
    if (c <= 0xdfff || c === 0xfffe || c === 0xffff) return 0;
    return i + 1;
  }

  private checkChar(i: number): number {
    const next = this.charEnd(i);
    if (next === 0) throw this.invalidChar(i);
    return next;
  }

  private invalidChar(i: number): XmlParseError {
    const c = this.s.charCodeAt(i);
    const hex = c.toString(16).toUpperCase().padStart(4, '0');
    const what = c >= 0xd800 && c <= 0xdfff ? 'unpaired surrogate' : 'character';
    return new XmlParseError('invalid-char', `${what} U+${hex} not allowed in XML`, i);
  }

  private pi(i: number): XmlParseError {
    const decl = this.s.startsWith('<?xml', i) && this.isS(this.s.charCodeAt(i + 5));
    const what = decl ? 'XML declaration not at the start of the frame' : 'processing instruction';
    return new XmlParseError('processing-instruction', `${what} ${RFC6120}`, i);
  }

  private eof(expected: string): XmlParseError {
    return new XmlParseError('truncated', `frame ends while expecting ${expected}`, this.n);
  }

  /** Error for an unexpected character (or end of input) at i. */
  private unexpected(i: number, expected: string): XmlParseError {
    if (i >= this.n) return this.eof(expected);
    if (this.charEnd(i) === 0) return this.invalidChar(i);
    return new XmlParseError(
      'syntax',
      `expected ${expected} but found ${describe(String.fromCodePoint(this.s.codePointAt(i)!))}`,
      i,
    );
  }
}
