/**
 * Fuzz tests for the frame parser. Seeded: the seed is printed; rerun with FUZZ_SEED=<seed> to reproduce.
 * FUZZ_SCALE multiplies the iteration counts (default 1, about 20,000 inputs).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { XmlElement, serialize } from '../../src/xmpp/xml/element.ts';
import {
  parseFrame,
  XmlParseError,
  DEFAULT_PARSE_LIMITS,
  type ParseLimits,
  type XmlParseErrorCode,
} from '../../src/xmpp/xml/parser.ts';
import { tree, type Tree } from '../helpers/xml-tree.ts';
import { mulberry32 } from '../../src/engine/random.ts';

const SEED = process.env['FUZZ_SEED']
  ? Number(process.env['FUZZ_SEED']) >>> 0
  : (Math.random() * 2 ** 32) >>> 0;
const SCALE = process.env['FUZZ_SCALE'] ? Number(process.env['FUZZ_SCALE']) : 1;
console.log(`xml-fuzz: FUZZ_SEED=${SEED}`);

const CODES: ReadonlySet<XmlParseErrorCode> = new Set<XmlParseErrorCode>([
  'empty',
  'truncated',
  'unbalanced',
  'multiple-roots',
  'text-outside-root',
  'dtd',
  'processing-instruction',
  'comment',
  'bad-entity',
  'bad-name',
  'duplicate-attribute',
  'unbound-prefix',
  'invalid-char',
  'too-large',
  'too-deep',
  'too-many-attributes',
  'syntax',
]);

class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

function show(input: string): string {
  return input.length > 400
    ? `${JSON.stringify(input.slice(0, 400))}… (${input.length} chars)`
    : JSON.stringify(input);
}

/**
 * The core property: parseFrame returns an XmlElement or throws a well-formed XmlParseError, nothing else;
 * a parsed element serializes and re-parses to an equal structure.
 */
function check(input: string, where: string, limits?: Partial<ParseLimits>): XmlElement | XmlParseError {
  let el: XmlElement;
  try {
    el = parseFrame(input, limits);
  } catch (e) {
    if (!(e instanceof XmlParseError)) {
      assert.fail(`FUZZ_SEED=${SEED} ${where}: non-XmlParseError ${String(e)} for input ${show(input)}`);
    }
    if (!CODES.has(e.code) || !Number.isInteger(e.offset) || e.offset < 0 || e.offset > input.length) {
      assert.fail(`FUZZ_SEED=${SEED} ${where}: bad error ${e.code}@${e.offset} for input ${show(input)}`);
    }
    if (!e.message.endsWith(` at offset ${e.offset}`)) {
      assert.fail(`FUZZ_SEED=${SEED} ${where}: message without offset "${e.message}"`);
    }
    return e;
  }
  if (!(el instanceof XmlElement))
    assert.fail(`FUZZ_SEED=${SEED} ${where}: not an XmlElement for ${show(input)}`);
  const out = serialize(el);
  let again: XmlElement;
  try {
    again = parseFrame(out, limits);
  } catch (e) {
    assert.fail(
      `FUZZ_SEED=${SEED} ${where}: serialized form of ${show(input)} does not re-parse: ${show(out)}: ${e}`,
    );
  }
  assert.deepEqual(
    tree(again),
    tree(el),
    `FUZZ_SEED=${SEED} ${where}: round trip differs for ${show(input)}`,
  );
  assert.equal(serialize(again), out, `FUZZ_SEED=${SEED} ${where}: serialize not stable for ${show(input)}`);
  return el;
}

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const CORPUS = [
  `<open xmlns="${FRAMING}" to="example.com" version="1.0"/>`,
  `<open xmlns='${FRAMING}' from='example.com' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' version='1.0' xml:lang='en'/>`,
  `<close xmlns="${FRAMING}"/>`,
  `<close xmlns="${FRAMING}" see-other-uri="wss://otherserver.example/"/>`,
  `<?xml version='1.0'?><stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
  `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="SCRAM-SHA-1">biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM</auth>`,
  `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289</success>`,
  `<iq xmlns="jabber:client" type="result" id="bind_1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>juliet@example.com/balcony</jid></bind></iq>`,
  `<message xmlns="jabber:client" from="juliet@example.com/balcony" to="romeo@example.net" type="chat" xml:lang="en"><body>Wherefore &amp; why &lt;art&gt; thou &#x1F600;?</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>`,
  `<presence xmlns="jabber:client"><show>away</show><status xml:lang="fr">l&apos;été<![CDATA[ <i>x</i> ]]></status><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="http://x" ver="QgayPKawpkPSDYmwT/WM94uAlu0="/></presence>`,
  `<stream:error xmlns:stream="http://etherx.jabber.org/streams"><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">No such host</text></stream:error>`,
  `<r xmlns="urn:xmpp:sm:3"/>`,
  `<a xmlns:p="P" p:x="&quot;'&#10;" y='"'>\n <p:b>\r\n  x </p:b> </a>`,
];

// Single characters and tokens that make random input reach deeper parser states.
const ALPHABET: readonly string[] = [
  ...'<>/="\'&;:!?[]-',
  ...'abcxyzAZ_.',
  ...'019',
  ' ',
  '\n',
  '\t',
  '\r',
  'é',
  '名',
  '😀',
  '\u00b7',
  '\u0000',
  '\u0008',
  '\ufffe',
  '\uffff',
  '\ud800',
  '\udc00',
  '\ufeff',
  '<a>',
  '</a>',
  '<a/>',
  '<b ',
  '<p:a',
  '</p:a>',
  ' xmlns="u"',
  " xmlns:p='v'",
  ' xml:lang="en"',
  ' p:x="1"',
  '<!--',
  '-->',
  '<![CDATA[',
  ']]>',
  '<!DOCTYPE',
  '<?xml ',
  "<?xml version='1.0'?>",
  '?>',
  '&amp;',
  '&lt;',
  '&#',
  '&#x',
  '&#x1F600;',
  '&#0;',
  '&foo;',
];

function randomString(rng: Rng, maxTokens: number): string {
  let s = '';
  const n = rng.int(maxTokens + 1);
  for (let k = 0; k < n; k++) s += rng.pick(ALPHABET);
  return s;
}

function mutate(rng: Rng, s: string): string {
  const ops = 1 + rng.int(3);
  for (let k = 0; k < ops; k++) {
    const at = rng.int(s.length + 1);
    const len = rng.int(Math.min(12, s.length - at) + 1);
    switch (rng.int(6)) {
      case 0: // flip one character
        s = s.slice(0, at) + rng.pick(ALPHABET) + s.slice(at + 1);
        break;
      case 1: // insert a token or random text
        s = s.slice(0, at) + randomString(rng, 3) + s.slice(at);
        break;
      case 2: // delete a slice
        s = s.slice(0, at) + s.slice(at + len);
        break;
      case 3: // duplicate a slice
        s = s.slice(0, at + len) + s.slice(at, at + len) + s.slice(at + len);
        break;
      case 4: {
        // splice with another frame
        const other = rng.pick(CORPUS);
        s = s.slice(0, at) + other.slice(rng.int(other.length + 1));
        break;
      }
      default: // truncate
        s = s.slice(0, at);
    }
  }
  return s;
}

/** Random well-formed document and the tree the parser must produce for it. */
function generate(rng: Rng): { xml: string; expected: Tree } {
  const NAMES = ['a', 'b', 'body', 'x-y', 'x.y', '_z', 'é', '名前', 'a1'];
  const URIS = ['', 'jabber:client', 'urn:x', 'http://example.com/ns?a=1&b=2', 'u"\'<>'];
  const PREFIXES = ['p', 'q', 'stream'];
  const TEXT = [...'abc xyz\n\t&<>"\']]]', 'é', '😀', '\r', '\u00a0'];
  const ws = (): string => (rng.chance(0.7) ? '' : rng.pick([' ', '\n', '\t', '\r\n', '  ']));
  const charRef = (ch: string): string =>
    rng.chance(0.5) ? `&#${ch.codePointAt(0)!};` : `&#x${ch.codePointAt(0)!.toString(16)};`;
  const attrValue = (v: string, quote: string): string => {
    let out = '';
    for (const ch of v) {
      if (ch === '&') out += rng.chance(0.5) ? '&amp;' : charRef(ch);
      else if (ch === '<') out += rng.chance(0.5) ? '&lt;' : charRef(ch);
      else if (ch === quote) out += quote === '"' ? '&quot;' : '&apos;';
      else if (ch === '\t' || ch === '\n' || ch === '\r') out += charRef(ch);
      else out += rng.chance(0.1) ? charRef(ch) : ch;
    }
    return out;
  };
  const randomText = (): string => {
    let t = '';
    const n = 1 + rng.int(6);
    for (let k = 0; k < n; k++) t += rng.pick(TEXT);
    return t;
  };
  // `before`: what precedes, so a raw '>' never completes a ']]>' across pieces.
  const encodeText = (t: string, before: string): string => {
    if (rng.chance(0.2) && !t.includes(']]>') && !t.includes('\r')) return `<![CDATA[${t}]]>`;
    let out = before.slice(-2);
    for (const ch of t) {
      if (ch === '&') out += '&amp;';
      else if (ch === '<') out += '&lt;';
      else if (ch === '>' && out.endsWith(']]')) out += '&gt;';
      else if (ch === '\r') out += charRef(ch);
      else out += rng.chance(0.1) ? charRef(ch) : ch;
    }
    return out.slice(Math.min(2, before.length));
  };

  const element = (
    depth: number,
    defaultNs: string,
    scope: Map<string, string>,
  ): { xml: string; tree: Tree } => {
    const attrs: Record<string, string> = {};
    let xml = '';
    const inner = new Map(scope);
    let ns = defaultNs;
    if (rng.chance(0.3)) {
      ns = rng.pick(URIS);
      attrs['xmlns'] = ns;
    }
    for (const p of PREFIXES) {
      if (rng.chance(0.15)) {
        const uri = rng.pick(URIS.filter((u) => u !== ''));
        attrs[`xmlns:${p}`] = uri;
        inner.set(p, uri);
      }
    }
    const local = rng.pick(NAMES);
    let name = local;
    const bound = [...inner.keys()];
    if (bound.length > 0 && rng.chance(0.4)) {
      const p = rng.pick(bound);
      name = `${p}:${local}`;
      ns = inner.get(p)!;
    }
    const locals = new Set<string>();
    for (let k = rng.int(4); k > 0; k--) {
      const l = rng.pick(NAMES);
      if (locals.has(l)) continue;
      locals.add(l);
      const p = bound.length > 0 && rng.chance(0.3) ? rng.pick([...bound, 'xml']) : '';
      attrs[p ? `${p}:${l}` : l] = randomText();
    }
    xml += `<${name}`;
    for (const [k, v] of Object.entries(attrs)) {
      const q = rng.chance(0.5) ? '"' : "'";
      xml += `${rng.pick([' ', '\n', '\t', '  '])}${k}${ws()}=${ws()}${q}${attrValue(v, q)}${q}`;
    }
    xml += ws();
    const children: (Tree | string)[] = [];
    const n = depth >= 5 ? 0 : rng.int(5);
    if (n === 0 && rng.chance(0.7)) return { xml: xml + '/>', tree: { name, ns, attrs, children } };
    xml += '>';
    for (let k = 0; k < n; k++) {
      if (rng.chance(0.5)) {
        const t = randomText();
        xml += encodeText(t, xml);
        const last = children[children.length - 1];
        if (typeof last === 'string') children[children.length - 1] = last + t;
        else children.push(t);
      } else {
        const child = element(depth + 1, attrs['xmlns'] ?? defaultNs, inner);
        xml += child.xml;
        children.push(child.tree);
      }
    }
    return { xml: `${xml}</${name}${ws()}>`, tree: { name, ns, attrs, children } };
  };

  const root = element(1, '', new Map());
  const decl = rng.chance(0.2) ? `<?xml version='1.0'${rng.chance(0.5) ? ' encoding="UTF-8"' : ''}?>` : '';
  return { xml: `${decl}${decl ? ws() : ''}${ws()}${root.xml}${ws()}`, expected: root.tree };
}

describe(`XML parser fuzzing (FUZZ_SEED=${SEED})`, () => {
  const rng = new Rng(SEED);
  let total = 0;
  let parsed = 0;

  test('(a) random strings over an XML-heavy alphabet', (t) => {
    const iterations = Math.round(7000 * SCALE);
    for (let k = 0; k < iterations; k++) {
      const input = randomString(rng, 1 + rng.int(40));
      if (check(input, `random #${k}`) instanceof XmlElement) parsed++;
    }
    total += iterations;
    t.diagnostic(`${iterations} inputs`);
  });

  test('(b) mutations of valid XMPP frames', (t) => {
    const iterations = Math.round(7000 * SCALE);
    for (let k = 0; k < iterations; k++) {
      const input = mutate(rng, rng.pick(CORPUS));
      if (check(input, `mutation #${k}`) instanceof XmlElement) parsed++;
    }
    total += iterations;
    t.diagnostic(`${iterations} inputs`);
  });

  test('(b) every frame in the corpus parses, and every proper prefix of it is rejected', () => {
    let count = 0;
    for (const frame of CORPUS) {
      assert.ok(check(frame, 'corpus') instanceof XmlElement, frame);
      for (let cut = 0; cut < frame.length; cut++) {
        const prefix = frame.slice(0, cut);
        const r = check(prefix, `prefix ${cut} of ${frame.slice(0, 30)}`);
        // A prefix can only be well-formed if the cut falls in trailing whitespace.
        if (r instanceof XmlElement)
          assert.equal(prefix.trimEnd(), frame.trimEnd().slice(0, prefix.trimEnd().length));
        else
          assert.ok(['truncated', 'empty'].includes(r.code), `${r.code} for ${show(prefix)}: ${r.message}`);
        count++;
      }
    }
    total += count;
  });

  test('generated well-formed documents parse to exactly the expected tree', (t) => {
    const iterations = Math.round(4000 * SCALE);
    for (let k = 0; k < iterations; k++) {
      const { xml, expected } = generate(rng);
      const r = check(xml, `generated #${k}`);
      if (!(r instanceof XmlElement))
        assert.fail(`FUZZ_SEED=${SEED} generated #${k}: ${r.message} for ${show(xml)}`);
      assert.deepEqual(tree(r), expected, `FUZZ_SEED=${SEED} generated #${k}: ${show(xml)}`);
      parsed++;
    }
    total += iterations;
    t.diagnostic(`${iterations} inputs`);
  });

  test('(c) deep, huge and adversarial inputs are rejected or parsed quickly', () => {
    const MB = DEFAULT_PARSE_LIMITS.maxBytes;
    const timed = (
      label: string,
      input: string,
      expect: XmlParseErrorCode | 'ok',
      limits?: Partial<ParseLimits>,
    ): XmlElement | XmlParseError => {
      const t0 = performance.now();
      let r: XmlElement | XmlParseError;
      try {
        r = parseFrame(input, limits);
      } catch (e) {
        if (!(e instanceof XmlParseError)) assert.fail(`${label}: non-XmlParseError ${String(e)}`);
        r = e;
      }
      const ms = performance.now() - t0;
      assert.ok(ms < 2000, `${label}: took ${ms.toFixed(0)} ms`);
      assert.equal(r instanceof XmlParseError ? r.code : 'ok', expect, label);
      total++;
      return r;
    };

    const deep = '<a>'.repeat(100_000);
    const e1 = timed('100,000 nested <a>', deep, 'too-deep');
    assert.equal((e1 as XmlParseError).offset, 64 * 3);
    timed('100,000 nested <a> with maxDepth raised: truncated, no stack overflow', deep, 'truncated', {
      maxDepth: 1e9,
    });
    const closed = timed(
      '100,000 nested and closed <a>, maxDepth raised',
      deep + '</a>'.repeat(100_000),
      'ok',
      {
        maxDepth: 1e9,
      },
    );
    let depth = 0;
    for (let cur: XmlElement | undefined = closed as XmlElement; cur; cur = cur.elements[0]) depth++;
    assert.equal(depth, 100_000);
    timed('100,000 siblings', `<r>${'<a/>'.repeat(100_000)}</r>`, 'ok');
    timed('100,000 mismatched nestings', '<a><b>'.repeat(50_000) + '</a>', 'too-deep');

    // Memory bound: the length check comes before anything else, so a deep 2 MB frame is 'too-large'.
    const huge = '<a>'.repeat(Math.ceil((2 * MB) / 3));
    const e2 = timed('2 MB frame', huge, 'too-large');
    assert.equal((e2 as XmlParseError).offset, MB);
    const t0 = performance.now();
    for (let k = 0; k < 1000; k++) assert.throws(() => parseFrame(huge), { code: 'too-large' });
    assert.ok(performance.now() - t0 < 500, '1000 rejections of a 2 MB frame must not scan it');

    const body = 'x&amp;<>\n'.replace('<', '&lt;').repeat(Math.floor((2 * MB) / 12));
    const big = timed('2 MB text body with a raised maxBytes', `<body>${body}</body>`, 'ok', {
      maxBytes: 4 * MB,
    });
    assert.equal((big as XmlElement).text().length, Math.floor((2 * MB) / 12) * 5);
    timed('1 MB of entities', `<a>${'&amp;&#x41;'.repeat(Math.floor((MB - 16) / 11))}</a>`, 'ok');
    timed('1 MB attribute value', `<a v="${'&#10;x\t'.repeat(Math.floor((MB - 16) / 7))}"/>`, 'ok');
    timed('1 MB name', `<${'a'.repeat(MB - 8)}/>`, 'too-large');
    timed('1 MB end tag name', `<a></${'a'.repeat(MB - 8)}>`, 'unbalanced');
    timed('1 MB unknown entity name', `<a>&${'a'.repeat(MB - 8)}`, 'truncated');
    timed('1 MB character reference', `<a>&#${'9'.repeat(MB - 16)};</a>`, 'bad-entity');
    timed('1 MB unclosed CDATA', `<a><![CDATA[${']]'.repeat((MB - 16) / 2)}`, 'truncated');
    timed('CDATA sections back to back', `<a>${'<![CDATA[x]]>'.repeat(Math.floor((MB - 8) / 13))}</a>`, 'ok');
    timed('1 MB of ]]', `<a>${']'.repeat(MB - 8)}</a>`, 'ok');
    timed('1 MB XML declaration version', `<?xml version='1.${'0'.repeat(MB - 32)}'?><a/>`, 'ok');
    timed('1 MB of whitespace then text', `${' '.repeat(MB - 8)}x<a/>`, 'text-outside-root');
    timed(
      'many prefixed attributes',
      `<a xmlns:p="u" ${Array.from({ length: 63 }, (_, i) => `p:a${i}='1'`).join(' ')}/>`,
      'ok',
    );
    timed('deep prefix re-binding', '<p:a xmlns:p="u">'.repeat(64) + '</p:a>'.repeat(64), 'ok');
  });

  test('summary', (t) => {
    t.diagnostic(`FUZZ_SEED=${SEED}: ${total} inputs, ${parsed} parsed successfully`);
    console.log(`xml-fuzz: FUZZ_SEED=${SEED}: ${total} inputs, ${parsed} parsed successfully`);
    assert.ok(total >= 18_000 * Math.min(SCALE, 1));
  });
});
