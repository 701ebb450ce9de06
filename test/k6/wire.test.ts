/** The transports' payload byte count: UTF-8 length as TextEncoder / Buffer count it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utf8Length } from '../../src/k6/utf8.ts';

test('utf8Length counts UTF-8 bytes, surrogate pairs as 4 and lone surrogates as U+FFFD (3)', () => {
  const samples = [
    '',
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>",
    'héllo wörld',
    '中文消息',
    'emoji 😀 and 🎉',
    'lone \ud800 high',
    'lone \udc00 low',
    'end \ud83d',
    '\u007f\u0080\u07ff\u0800\uffff',
  ];
  for (const s of samples) assert.equal(utf8Length(s), new TextEncoder().encode(s).length, JSON.stringify(s));
});
