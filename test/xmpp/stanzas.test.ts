import { test } from 'node:test';
import assert from 'node:assert/strict';
import { message, messageFrame, type MessageOptions } from '../../src/xmpp/stanzas.ts';
import { parseFrame } from '../../src/xmpp/xml/parser.ts';
import { serialize, x } from '../../src/xmpp/xml/element.ts';

test('messageFrame writes what serializing the built message writes, escapes included', () => {
  const timing = x('t', { xmlns: 'urn:x-starling:timing:0', ms: '1733', k: '1.a' });
  const cases: [MessageOptions, string | undefined][] = [
    [{ to: 'bob@example.com', body: 'hello' }, 'm1'],
    [{ to: 'bob@example.com', body: 'hello' }, undefined],
    [{ to: 'bob@example.com', body: '', type: 'normal', id: 'own' }, undefined],
    [{ to: "o'brien&co@example.com/r<1>", body: 'a < b & c > d\r', type: 'headline' }, `i"d'`],
    [{ to: 'room@muc.example.com', body: 'x'.repeat(56), type: 'groupchat', extra: [timing] }, 'm2'],
    [{ to: 'bob@example.com', body: 'two', extra: [timing, x('active', { xmlns: 'c' })] }, 'm3'],
  ];
  for (const [o, id] of cases) {
    const built = serialize(message(o, id));
    assert.equal(messageFrame(o, id), built);
    // And it is one well-formed stanza with what was asked for.
    const el = parseFrame(built);
    assert.deepEqual([el.attr('to'), el.attr('id'), el.getChildText('body')], [o.to, id ?? o.id, o.body]);
  }
  assert.equal(
    messageFrame({ to: 'bob@example.com', body: 'hi', extra: [timing] }, 'm4'),
    "<message xmlns='jabber:client' to='bob@example.com' type='chat' id='m4'><body>hi</body>" +
      "<t xmlns='urn:x-starling:timing:0' ms='1733' k='1.a'/></message>",
  );
});

test('extraXml is written as it is after the extra elements, as if it were one of them', () => {
  const timing = x('t', { xmlns: 'urn:x-starling:timing:0', ms: '1733', k: '1.a' });
  const o: MessageOptions = { to: 'bob@example.com', body: 'hi', extra: [x('active', { xmlns: 'c' })] };
  const asText = { ...o, extraXml: serialize(timing) };
  const asElement = { ...o, extra: [...o.extra!, timing] };
  assert.equal(messageFrame(asText, 'm5'), messageFrame(asElement, 'm5'));
  assert.equal(serialize(message(asText, 'm5')), serialize(message(asElement, 'm5')));
  assert.equal(
    parseFrame(messageFrame(asText, 'm5')).getChild('t', 'urn:x-starling:timing:0')?.attr('k'),
    '1.a',
  );
});
