import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { XmlElement, XML_NS, serialize, x } from '../../src/xmpp/xml/element.ts';
import {
  parseFrame,
  tryParseFrame,
  XmlParseError,
  DEFAULT_PARSE_LIMITS,
  type XmlParseErrorCode,
} from '../../src/xmpp/xml/parser.ts';
import { tree, type Tree } from '../helpers/xml-tree.ts';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const STREAMS = 'http://etherx.jabber.org/streams';
const CLIENT = 'jabber:client';

function el(
  name: string,
  ns: string,
  attrs: Record<string, string> = {},
  ...children: (Tree | string)[]
): Tree {
  return { name, ns, attrs, children };
}

function parseError(input: string, limits?: Parameters<typeof parseFrame>[1]): XmlParseError {
  try {
    parseFrame(input, limits);
  } catch (e) {
    assert.ok(e instanceof XmlParseError, `expected XmlParseError, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('RFC 7395 framing elements', () => {
  test('<open/> parses to an element in the framing namespace with its attributes as written', () => {
    const open = parseFrame(`<open xmlns="${FRAMING}" to="example.com" version="1.0"/>`);
    assert.ok(open instanceof XmlElement);
    assert.deepEqual(tree(open), el('open', FRAMING, { xmlns: FRAMING, to: 'example.com', version: '1.0' }));
    assert.ok(open.is('open', FRAMING));
  });

  test('the server <open/> with from, id and xml:lang', () => {
    const open = parseFrame(
      `<open xmlns='${FRAMING}' from='example.com' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' version='1.0' xml:lang='en'/>`,
    );
    assert.deepEqual(
      tree(open),
      el('open', FRAMING, {
        xmlns: FRAMING,
        from: 'example.com',
        id: '++TR84Sm6A3hnt3Q065SnAbbk3Y=',
        version: '1.0',
        'xml:lang': 'en',
      }),
    );
  });

  test('<close/> with see-other-uri', () => {
    const close = parseFrame(`<close xmlns="${FRAMING}" see-other-uri="wss://otherserver.example/"/>`);
    assert.deepEqual(
      tree(close),
      el('close', FRAMING, { xmlns: FRAMING, 'see-other-uri': 'wss://otherserver.example/' }),
    );
  });

  test('whitespace around the root element is ignored', () => {
    assert.deepEqual(
      tree(parseFrame(` \r\n\t<close xmlns="${FRAMING}"/>\n `)),
      el('close', FRAMING, { xmlns: FRAMING }),
    );
  });
});

describe('namespaces', () => {
  test('stream:features resolves the stream prefix; children inherit or override the default namespace', () => {
    const features = parseFrame(
      `<stream:features xmlns:stream="${STREAMS}">` +
        `<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>` +
        `<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>` +
        `</stream:features>`,
    );
    const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
    assert.deepEqual(
      tree(features),
      el(
        'stream:features',
        STREAMS,
        { 'xmlns:stream': STREAMS },
        el(
          'mechanisms',
          SASL,
          { xmlns: SASL },
          el('mechanism', SASL, {}, 'SCRAM-SHA-1'),
          el('mechanism', SASL, {}, 'PLAIN'),
        ),
        el('bind', 'urn:ietf:params:xml:ns:xmpp-bind', { xmlns: 'urn:ietf:params:xml:ns:xmpp-bind' }),
      ),
    );
    assert.equal(features.prefix, 'stream');
    assert.equal(features.localName, 'features');
    assert.ok(features.is('features', STREAMS));
  });

  test('elements with no xmlns in scope have namespace ""', () => {
    assert.deepEqual(tree(parseFrame('<a><b/></a>')), el('a', '', {}, el('b', '')));
  });

  test('a prefix declared on an ancestor resolves in descendants, and goes out of scope after its element', () => {
    const root = parseFrame(`<r xmlns="d"><p:a xmlns:p="P"><p:b/><c/></p:a><b/></r>`);
    assert.deepEqual(
      tree(root),
      el(
        'r',
        'd',
        { xmlns: 'd' },
        el('p:a', 'P', { 'xmlns:p': 'P' }, el('p:b', 'P'), el('c', 'd')),
        el('b', 'd'),
      ),
    );
    assert.equal(parseError(`<r><p:a xmlns:p="P"/><p:b/></r>`).code, 'unbound-prefix');
  });

  test('xmlns="" undeclares the default namespace', () => {
    assert.deepEqual(
      tree(parseFrame(`<a xmlns="A"><b xmlns=""><c/></b></a>`)),
      el('a', 'A', { xmlns: 'A' }, el('b', '', { xmlns: '' }, el('c', ''))),
    );
  });

  test('a prefix can be re-bound in a nested scope and is restored afterwards', () => {
    const root = parseFrame(`<p:a xmlns:p="1"><p:b xmlns:p="2"><p:c/></p:b><p:d/></p:a>`);
    assert.deepEqual(
      tree(root),
      el('p:a', '1', { 'xmlns:p': '1' }, el('p:b', '2', { 'xmlns:p': '2' }, el('p:c', '2')), el('p:d', '1')),
    );
  });

  test('the xml prefix is always bound; prefixed attributes need a binding', () => {
    assert.equal(parseFrame('<xml:a/>').ns, XML_NS);
    assert.deepEqual(parseFrame(`<a xmlns:p="P" p:x="1"/>`).attrs, { 'xmlns:p': 'P', 'p:x': '1' });
    const e = parseError('<a q:x="1"/>');
    assert.equal(e.code, 'unbound-prefix');
    assert.equal(e.offset, 3);
  });

  test('an unbound element prefix is an error at the name', () => {
    const e = parseError('<root><foo:bar/></root>');
    assert.equal(e.code, 'unbound-prefix');
    assert.equal(e.offset, 7);
    assert.match(e.message, /prefix "foo" is not bound/);
  });
});

describe('stanzas, text and entities', () => {
  test('a message with xml:lang, body text and a namespaced extension', () => {
    const msg = parseFrame(
      `<message xmlns="${CLIENT}" from="juliet@example.com/balcony" to="romeo@example.net" type="chat" xml:lang="en" id="m1">` +
        `<body>Wherefore art thou, Romeo?</body>` +
        `<active xmlns="http://jabber.org/protocol/chatstates"/>` +
        `</message>`,
    );
    assert.deepEqual(
      tree(msg),
      el(
        'message',
        CLIENT,
        {
          xmlns: CLIENT,
          from: 'juliet@example.com/balcony',
          to: 'romeo@example.net',
          type: 'chat',
          'xml:lang': 'en',
          id: 'm1',
        },
        el('body', CLIENT, {}, 'Wherefore art thou, Romeo?'),
        el('active', 'http://jabber.org/protocol/chatstates', {
          xmlns: 'http://jabber.org/protocol/chatstates',
        }),
      ),
    );
    assert.equal(msg.getChildText('body', CLIENT), 'Wherefore art thou, Romeo?');
    assert.equal(msg.attr('xml:lang'), 'en');
  });

  test('predefined entities and character references are decoded in text', () => {
    const body = parseFrame('<body>&lt;b&gt; &amp; &#x1F600; &#65; &quot;&apos; &#x00041;&#0000065;</body>');
    assert.deepEqual(body.children, ['<b> & \u{1F600} A "\' AA']);
  });

  test('predefined entities and character references are decoded in attributes', () => {
    const a = parseFrame(`<a v="&lt;b&gt; &amp; &#x1F600; &#65; &quot;&apos;" w='"' z="'"/>`);
    assert.deepEqual(a.attrs, { v: '<b> & \u{1F600} A "\'', w: '"', z: "'" });
  });

  test('raw > and quotes are allowed in text; whitespace-only text is content', () => {
    assert.deepEqual(parseFrame(`<a>1 > 0 "x" 'y'</a>`).children, [`1 > 0 "x" 'y'`]);
    assert.deepEqual(tree(parseFrame('<a> <b/>\n</a>')), el('a', '', {}, ' ', el('b', ''), '\n'));
  });

  test('text, entities and CDATA that are adjacent merge into one text child', () => {
    const a = parseFrame('<a>x&amp;<![CDATA[ <y> & ]]>z<b/>w</a>');
    assert.deepEqual(tree(a), el('a', '', {}, 'x& <y> & z', el('b', ''), 'w'));
  });

  test('CDATA sections are text (RFC 6120 does not forbid them), markup inside is literal', () => {
    assert.deepEqual(parseFrame('<a><![CDATA[<!-- not a comment --> &foo; ]] >]]></a>').children, [
      '<!-- not a comment --> &foo; ]] >',
    ]);
    assert.deepEqual(parseFrame('<a><![CDATA[]]></a>').children, []);
  });

  test('line endings: CRLF and lone CR become LF in text and CDATA', () => {
    assert.deepEqual(parseFrame('<a>1\r\n2\r3\n4<![CDATA[\r\n5\r]]></a>').children, ['1\n2\n3\n4\n5\n']);
    assert.deepEqual(parseFrame('<a>&#13;</a>').children, ['\r']);
  });

  test('attribute values: literal tab, LF, CR and CRLF become one space each; references stay', () => {
    const a = parseFrame(`<a v="1\t2\n3\r4\r\n5 &#9;&#10;&#13;"/>`);
    assert.equal(a.attrs['v'], '1 2 3 4 5 \t\n\r');
  });

  test('attribute syntax: either quote, whitespace around =, > allowed in values', () => {
    assert.deepEqual(parseFrame(`<a  x = 'a>b'\ny="c'd"\t/>`).attrs, { x: 'a>b', y: "c'd" });
  });

  test('attributes named like Object.prototype members are plain attributes', () => {
    const a = parseFrame(`<a __proto__="p" toString="t" constructor="c"/>`);
    assert.deepEqual(Object.keys(a.attrs), ['__proto__', 'toString', 'constructor']);
    assert.equal(a.attr('__proto__'), 'p');
    assert.equal(Object.getPrototypeOf(a.attrs), Object.prototype);
  });

  test('non-ASCII names and text, astral characters included', () => {
    const a = parseFrame('<café 名前="値">😀 é</café>');
    assert.deepEqual(tree(a), el('café', '', { 名前: '値' }, '😀 é'));
  });

  test('the end tag may have trailing whitespace', () => {
    assert.deepEqual(tree(parseFrame('<a><b></b \n></a >')), el('a', '', {}, el('b', '')));
  });
});

describe('XML declaration', () => {
  test('accepted at the very start, with version, encoding and standalone', () => {
    for (const decl of [
      `<?xml version='1.0'?>`,
      `<?xml version="1.0" encoding="UTF-8"?>`,
      `<?xml version='1.0' encoding='utf-8' standalone='yes'?>`,
      `<?xml version = "1.0"  standalone="no" ?>`,
    ]) {
      assert.deepEqual(tree(parseFrame(`${decl}\n<a/>`)), el('a', ''), decl);
    }
  });

  test('a byte order mark before it is tolerated', () => {
    assert.deepEqual(tree(parseFrame(`\uFEFF<?xml version='1.0'?><a/>`)), el('a', ''));
  });

  test('anywhere else it is a processing instruction', () => {
    assert.equal(parseError(` <?xml version='1.0'?><a/>`).code, 'processing-instruction');
    assert.equal(parseError(`<a><?xml version='1.0'?></a>`).code, 'processing-instruction');
    // No whitespace after the target: a PI named "xml", not a declaration.
    assert.equal(parseError(`<?xml?><a/>`).code, 'processing-instruction');
  });

  test('a malformed or non-UTF-8 declaration is a syntax error', () => {
    for (const bad of [
      `<?xml encoding='UTF-8'?><a/>`,
      `<?xml version='2.0'?><a/>`,
      `<?xml version='1.0' encoding='ISO-8859-1'?><a/>`,
      `<?xml version='1.0' standalone='yes' encoding='UTF-8'?><a/>`,
      `<?xml version='1.0'standalone='yes'?><a/>`,
    ]) {
      assert.equal(parseError(bad).code, 'syntax', bad);
    }
  });

  test('a declaration with no root element is truncated', () => {
    assert.equal(parseError(`<?xml version='1.0'?>`).code, 'truncated');
    assert.equal(parseError(`<?xml version='1.0'`).code, 'truncated');
  });
});

describe('errors: every code with a representative input', () => {
  const manyAttrs = `<a ${Array.from({ length: 65 }, (_, i) => `a${i}="${i}"`).join(' ')}/>`;
  const cases: [XmlParseErrorCode, string, number][] = [
    ['empty', '', 0],
    ['empty', ' \r\n\t ', 5],
    ['truncated', '<message><body>hi</body>', 24],
    ['truncated', '<a', 2],
    ['truncated', '<a b="1', 7],
    ['truncated', '<a>&am', 6],
    ['truncated', '<a><![CDATA[x]]', 15],
    ['truncated', '<a></a', 6],
    ['unbalanced', '<a><b></a></b>', 6],
    ['unbalanced', '</a>', 0],
    ['unbalanced', '<a/></a>', 4],
    ['multiple-roots', '<a/><b/>', 4],
    ['multiple-roots', `<open xmlns="${FRAMING}"/> <close xmlns="${FRAMING}"/>`, 52],
    ['text-outside-root', 'hello<a/>', 0],
    ['text-outside-root', '<a/>x', 4],
    ['text-outside-root', '&amp;<a/>', 0],
    ['text-outside-root', '<a/><![CDATA[x]]>', 4],
    ['dtd', '<!DOCTYPE a [<!ENTITY x "y">]><a/>', 0],
    ['dtd', '<a><!DOCTYPE a></a>', 3],
    ['processing-instruction', '<?xml-stylesheet href="a"?><a/>', 0],
    ['processing-instruction', '<a><?pi data?></a>', 3],
    ['processing-instruction', '<a/><?pi?>', 4],
    ['comment', '<a>x<!-- c --></a>', 4],
    ['comment', '<!-- c --><a/>', 0],
    ['bad-entity', '<a>&nbsp;</a>', 3],
    ['bad-entity', '<a b="&foo;"/>', 6],
    ['bad-entity', '<a>&#0;</a>', 3],
    ['bad-entity', '<a>&#xFFFE;</a>', 3],
    ['bad-entity', '<a>&#xD800;</a>', 3],
    ['bad-entity', '<a>&#x110000;</a>', 3],
    ['bad-entity', '<a>&#;</a>', 3],
    ['bad-entity', '<a>&#x;</a>', 3],
    ['bad-entity', '<a>&#12a;</a>', 3],
    ['bad-entity', '<a>&#X41;</a>', 3],
    ['bad-name', '<1a/>', 1],
    ['bad-name', '<a:b:c/>', 1],
    ['bad-name', '<:a/>', 1],
    ['bad-name', '<a: xmlns:a="x"/>', 1],
    ['bad-name', '<a -b="1"/>', 3],
    ['bad-name', '<a xml:0ang="en"/>', 3],
    ['bad-name', '<a xmlns:-="u"/>', 3],
    ['truncated', '<a xml:', 7],
    ['duplicate-attribute', '<a id="1" id="2"/>', 10],
    ['duplicate-attribute', '<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>', 35],
    ['unbound-prefix', '<p:a/>', 1],
    ['unbound-prefix', '<a p:b="1"/>', 3],
    ['invalid-char', '<a>\u0000</a>', 3],
    ['invalid-char', '<a>\u0008</a>', 3],
    ['invalid-char', '<a>\uFFFE</a>', 3],
    ['invalid-char', '<a>\uFFFF</a>', 3],
    ['invalid-char', '<a>\uD800x</a>', 3],
    ['invalid-char', '<a>\uDC00</a>', 3],
    ['invalid-char', '<a b="\u0001"/>', 6],
    ['invalid-char', '<a b="x<y"/>', 7],
    ['invalid-char', '<a>AT&T</a>', 5],
    ['invalid-char', '<a>a & b</a>', 5],
    ['invalid-char', '<a/>\u0000', 4],
    ['invalid-char', '<a><![CDATA[\u0007]]></a>', 12],
    ['too-large', 'x'.repeat(DEFAULT_PARSE_LIMITS.maxBytes + 1), DEFAULT_PARSE_LIMITS.maxBytes],
    ['too-large', `<${'a'.repeat(257)}/>`, 1],
    ['too-deep', '<a>'.repeat(65), 64 * 3],
    ['too-many-attributes', manyAttrs, manyAttrs.indexOf('a64=')],
    ['syntax', '<a b>', 4],
    ['syntax', '<a b=c/>', 5],
    ['syntax', '<a b="1"c="2"/>', 8],
    ['syntax', '< a/>', 1],
    ['syntax', '<a/ >', 3],
    ['syntax', '<a>]]></a>', 3],
    ['syntax', '<a><!x></a>', 5],
    ['syntax', '<a></a b>', 7],
    ['syntax', '<a xmlns:p=""/>', 3],
    ['syntax', '<a xmlns:xmlns="x"/>', 3],
    ['syntax', '<a/>< b/>', 5],
  ];
  for (const [code, input, offset] of cases) {
    const label = input.length > 60 ? `${input.slice(0, 60)}… (${input.length} chars)` : input;
    test(`${code}: ${JSON.stringify(label)}`, () => {
      const e = parseError(input);
      assert.equal(e.code, code, e.message);
      assert.equal(e.offset, offset, e.message);
      assert.ok(e.message.endsWith(` at offset ${offset}`), e.message);
    });
  }

  test('messages name the cause and the position', () => {
    assert.equal(
      parseError('<a>x<!-- c --></a>').message,
      'comment not allowed in XMPP (RFC 6120 §11.1) at offset 4',
    );
    assert.equal(
      parseError('<a><b></a>').message,
      'end tag </a> does not match <b> opened at offset 3 at offset 6',
    );
    assert.equal(parseError('<a>\u0000</a>').message, 'character U+0000 not allowed in XML at offset 3');
    assert.equal(parseError('<a b>').message, `expected '=' after attribute b but found ">" at offset 4`);
    const e = parseError('<a>');
    assert.equal(e.name, 'XmlParseError');
    assert.ok(e instanceof Error);
  });
});

describe('limits', () => {
  test('defaults', () => {
    assert.deepEqual(
      { ...DEFAULT_PARSE_LIMITS },
      { maxBytes: 1_048_576, maxDepth: 64, maxAttributes: 64, maxNameLength: 256 },
    );
  });

  test('maxDepth counts the root as 1 and applies to self-closing elements too', () => {
    assert.ok(parseFrame('<a>'.repeat(64) + '</a>'.repeat(64)));
    assert.equal(parseError('<a>'.repeat(64) + '<b/>' + '</a>'.repeat(64)).code, 'too-deep');
    assert.equal(parseError('<a><a><a/></a></a>', { maxDepth: 2 }).code, 'too-deep');
    assert.ok(parseFrame('<a><a/></a>', { maxDepth: 2 }));
  });

  test('maxBytes counts characters and is checked before parsing', () => {
    assert.ok(parseFrame('<a>xx</a>', { maxBytes: 9 }));
    assert.equal(parseError('<a>xx</a>', { maxBytes: 8 }).code, 'too-large');
    assert.equal(parseError('<a/>'.repeat(10), { maxBytes: 8 }).code, 'too-large');
  });

  test('maxAttributes counts namespace declarations', () => {
    assert.ok(parseFrame(`<a xmlns="x" b="1"/>`, { maxAttributes: 2 }));
    assert.equal(parseError(`<a xmlns="x" b="1" c="2"/>`, { maxAttributes: 2 }).code, 'too-many-attributes');
  });

  test('maxNameLength applies to element and attribute names', () => {
    assert.ok(parseFrame(`<${'a'.repeat(256)}/>`));
    assert.ok(parseFrame(`<abc/>`, { maxNameLength: 3 }));
    assert.equal(parseError(`<abcd/>`, { maxNameLength: 3 }).code, 'too-large');
    assert.equal(parseError(`<a abcd="1"/>`, { maxNameLength: 3 }).code, 'too-large');
  });
});

describe('tryParseFrame', () => {
  test('returns the element on success', () => {
    const r = tryParseFrame('<a/>');
    assert.equal(r.ok, true);
    if (r.ok) assert.deepEqual(tree(r.element), el('a', ''));
  });

  test('returns the XmlParseError on failure', () => {
    const r = tryParseFrame('<a>');
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.ok(r.error instanceof XmlParseError);
      assert.equal(r.error.code, 'truncated');
    }
  });
});

describe('round trips: serialize(parseFrame(s)) re-parses to an equal structure', () => {
  const frames = [
    `<open xmlns="${FRAMING}" to="example.com" version="1.0"/>`,
    `<close xmlns="${FRAMING}"/>`,
    `<stream:features xmlns:stream="${STREAMS}"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
    `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="SCRAM-SHA-1">biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM</auth>`,
    `<iq xmlns="${CLIENT}" type="set" id="bind_1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>balcony</resource></bind></iq>`,
    `<message xmlns="${CLIENT}" to="romeo@example.net" type="chat" xml:lang="en"><body>&lt;3 &amp; "kisses" 'x' &#x1F600;</body></message>`,
    `<presence xmlns="${CLIENT}"><show>away</show><status xml:lang="fr">l&apos;été\r\n</status></presence>`,
    `<stream:error xmlns:stream="${STREAMS}"><host-unknown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
    `<a xmlns:p="P" p:x="&quot;'&#10;&#9;" y='"&apos;'> <p:b> x <![CDATA[<c/>]]> </p:b> </a>`,
  ];
  for (const frame of frames) {
    test(frame.slice(0, 70), () => {
      const parsed = parseFrame(frame);
      const out = serialize(parsed);
      const again = parseFrame(out);
      assert.deepEqual(tree(again), tree(parsed));
      assert.equal(serialize(again), out);
    });
  }

  test('serialize output of a parsed frame is exact', () => {
    assert.equal(
      serialize(parseFrame(`<a xmlns:p="P" p:x="1"><p:b>x &lt; y</p:b><c/></a>`)),
      `<a xmlns:p='P' p:x='1'><p:b>x &lt; y</p:b><c/></a>`,
    );
  });
});

describe('serialize escaping', () => {
  test('text with &, < and > is escaped and round-trips exactly', () => {
    const body = x('body', {}, 'a & b < c > d ]]> e');
    const s = serialize(body);
    assert.equal(s, '<body>a &amp; b &lt; c &gt; d ]]&gt; e</body>');
    assert.deepEqual(parseFrame(s).children, ['a & b < c > d ]]> e']);
  });

  test('text with a CR round-trips (escaped as &#13;)', () => {
    const s = serialize(x('a', {}, 'x\r\ny\rz'));
    assert.equal(s, '<a>x&#13;\ny&#13;z</a>');
    assert.deepEqual(parseFrame(s).children, ['x\r\ny\rz']);
  });

  test('attribute values with quotes, apostrophes, newlines and tabs round-trip exactly', () => {
    const v = `it's "quoted" <tag> & more\nline\ttab\r\nend`;
    const s = serialize(x('a', { v }));
    assert.equal(
      s,
      `<a v='it&apos;s &quot;quoted&quot; &lt;tag&gt; &amp; more&#10;line&#9;tab&#13;&#10;end'/>`,
    );
    assert.equal(parseFrame(s).attrs['v'], v);
  });

  test('non-ASCII and astral text is written as is', () => {
    const s = serialize(x('a', { t: '名前 😀' }, 'é 😀'));
    assert.equal(s, `<a t='名前 😀'>é 😀</a>`);
    assert.deepEqual(tree(parseFrame(s)), el('a', '', { t: '名前 😀' }, 'é 😀'));
  });
});

describe('frames parsed one after another', () => {
  test('a frame that failed halfway leaves nothing in the next one', () => {
    // The first frame fails with two elements open and children collected; the next must not see any of them.
    assert.equal(parseError('<a><b>t<c/><d x="1"').code, 'truncated');
    assert.deepEqual(tree(parseFrame('<m><n/>text</m>')), el('m', '', {}, el('n', ''), 'text'));
    assert.equal(parseError('<a><b><c/></a>').code, 'unbalanced');
    assert.deepEqual(tree(parseFrame('<z/>')), el('z', ''));
  });

  test('children of nested elements stay with their parents, in document order, as arrays of their own', () => {
    const root = parseFrame('<r>1<a>2<b>3</b>4<c/></a>5<d><e/><f>6</f></d></r>');
    assert.deepEqual(
      tree(root),
      el(
        'r',
        '',
        {},
        '1',
        el('a', '', {}, '2', el('b', '', {}, '3'), '4', el('c', '')),
        '5',
        el('d', '', {}, el('e', ''), el('f', '', {}, '6')),
      ),
    );
    // Each element owns its children: changing one element's changes no other's, in this frame or the next.
    const a = root.getChild('a')!;
    a.children.push('added');
    assert.equal(root.children.length, 4);
    const again = parseFrame('<r><a/><a></a><a>x</a></r>');
    const [p, q, s] = again.children as XmlElement[];
    assert.deepEqual([p!.children, q!.children, s!.children], [[], [], ['x']]);
    p!.children.push('y');
    assert.deepEqual([q!.children, s!.children], [[], ['x']]);
  });

  test('two prefixed attributes with one expanded name are rejected; one resolves as before', () => {
    assert.deepEqual(parseFrame(`<a xml:lang="en"/>`).attrs, { 'xml:lang': 'en' });
    assert.deepEqual(parseFrame(`<a xmlns:p="P" xml:lang="en" p:x="1"/>`).attrs, {
      'xmlns:p': 'P',
      'xml:lang': 'en',
      'p:x': '1',
    });
    const e = parseError(`<a xmlns:p="P" xmlns:q="P" p:x = "1" q:x="2"/>`);
    assert.equal(e.code, 'duplicate-attribute');
    assert.equal(e.offset, 37);
    assert.match(e.message, /attribute q:x on <a> duplicates another in namespace P/);
    assert.equal(parseError(`<a xml:lang="en" q:x="1"/>`).code, 'unbound-prefix');
  });

  test('attributes are kept as a list in document order; each element owns its own', () => {
    const root = parseFrame(`<r b="2" a="1"><c z="26" y="25"/><d/></r>`);
    assert.deepEqual(root.attrList, ['b', '2', 'a', '1']);
    const [c, d] = root.children as XmlElement[];
    assert.deepEqual([c!.attrList, d!.attrList], [['z', '26', 'y', '25'], []]);
    assert.deepEqual([c!.attr('y'), c!.attr('b'), d!.attr('z')], ['25', undefined, undefined]);
    // `attrs` is a copy for reading: writing to it changes nothing; setAttr replaces in place or appends.
    c!.attrs['z'] = 'changed';
    assert.equal(c!.attr('z'), '26');
    c!.setAttr('z', '0');
    c!.setAttr('x', '24');
    assert.deepEqual(c!.attrList, ['z', '0', 'y', '25', 'x', '24']);
    assert.equal(serialize(c!), `<c z='0' y='25' x='24'/>`);
    assert.deepEqual(parseFrame(`<r b="2" a="1"/>`).attrList, ['b', '2', 'a', '1']);
  });

  test('a duplicate attribute is found among many, before and past the set of names', () => {
    const attrs = (n: number): string => Array.from({ length: n }, (_, i) => ` a${i}="${i}"`).join('');
    const limits = { ...DEFAULT_PARSE_LIMITS, maxAttributes: 100 };
    assert.equal(parseFrame(`<e${attrs(40)}/>`, limits).attrList.length, 80);
    for (const [count, dupOf] of [
      [3, 0],
      [16, 15],
      [17, 0],
      [40, 39],
    ] as const) {
      const input = `<e${attrs(count)} a${dupOf}="again"/>`;
      const e = parseError(input, limits);
      assert.equal(e.code, 'duplicate-attribute', input);
      assert.equal(e.offset, input.indexOf(` a${dupOf}="again"`) + 1);
      assert.match(e.message, new RegExp(`duplicate attribute a${dupOf} on <e>`));
    }
  });
});
