import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  base64Decode,
  base64Encode,
  bytesEqual,
  concatBytes,
  EncodingError,
  hex,
  utf8Decode,
  utf8Encode,
  xorBytes,
} from '../../src/xmpp/bytes.ts';
import { mulberry32 } from '../../src/engine/random.ts';

const u8 = (...b: number[]) => new Uint8Array(b);

/** Random string mixing ASCII, BMP, astral pairs and (optionally) lone surrogates. */
function randomString(rand: () => number, len: number, loneSurrogates = true): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    const k = rand();
    if (k < 0.3) s += String.fromCharCode(Math.floor(rand() * 0x80));
    else if (k < 0.5) s += String.fromCharCode(0x80 + Math.floor(rand() * 0x780));
    else if (k < 0.7) s += String.fromCharCode(0x800 + Math.floor(rand() * (0xd800 - 0x800)));
    else if (k < 0.8) s += String.fromCharCode(0xe000 + Math.floor(rand() * 0x2000));
    else if (k < 0.95) s += String.fromCodePoint(0x10000 + Math.floor(rand() * 0x100000));
    else if (loneSurrogates) s += String.fromCharCode(0xd800 + Math.floor(rand() * 0x800));
  }
  return s;
}

describe('utf8Encode', () => {
  test('encodes ASCII, 2-, 3- and 4-byte sequences exactly like Buffer', () => {
    for (const s of ['', 'hello', 'é', '€', 'ü€𝄞', '😀', 'a😀b👍🏽c', '\u0000\u007f\u0080\u07ff\u0800\uffff']) {
      assert.deepEqual(utf8Encode(s), new Uint8Array(Buffer.from(s, 'utf8')), JSON.stringify(s));
    }
  });

  test('encodes an emoji surrogate pair as one 4-byte sequence', () => {
    assert.deepEqual(utf8Encode('😀'), u8(0xf0, 0x9f, 0x98, 0x80));
  });

  test('encodes lone surrogates as U+FFFD (EF BF BD)', () => {
    assert.deepEqual(utf8Encode('\ud800'), u8(0xef, 0xbf, 0xbd));
    assert.deepEqual(utf8Encode('a\udc00b'), u8(0x61, 0xef, 0xbf, 0xbd, 0x62));
    assert.deepEqual(utf8Encode('\udc00\ud800'), u8(0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd));
  });

  test('matches Buffer on 2000 random strings with pairs and lone surrogates', () => {
    const rand = mulberry32(1);
    for (let i = 0; i < 2000; i++) {
      const s = randomString(rand, Math.floor(rand() * 40));
      assert.deepEqual(utf8Encode(s), new Uint8Array(Buffer.from(s, 'utf8')), JSON.stringify(s));
    }
  });
});

describe('utf8Decode', () => {
  test('round-trips random well-formed strings (surrogates paired)', () => {
    const rand = mulberry32(2);
    for (let i = 0; i < 2000; i++) {
      const s = randomString(rand, Math.floor(rand() * 40), false);
      assert.equal(utf8Decode(utf8Encode(s)), s);
    }
  });

  test('decodes emoji to a surrogate pair', () => {
    assert.equal(utf8Decode(u8(0xf0, 0x9f, 0x98, 0x80)), '\ud83d\ude00');
  });

  test('replaces invalid input with U+FFFD per maximal subpart (WHATWG)', () => {
    const cases: [Uint8Array, string][] = [
      [u8(0xff), '\ufffd'],
      [u8(0x80), '\ufffd'],
      [u8(0xc0, 0xaf), '\ufffd\ufffd'], // overlong
      [u8(0xe0, 0x80, 0xaf), '\ufffd\ufffd\ufffd'], // overlong 3-byte
      [u8(0xed, 0xa0, 0x80), '\ufffd\ufffd\ufffd'], // encoded surrogate
      [u8(0xf4, 0x90, 0x80, 0x80), '\ufffd\ufffd\ufffd\ufffd'], // > U+10FFFF
      [u8(0xe2, 0x82), '\ufffd'], // truncated at end
      [u8(0xe2, 0x82, 0x41), '\ufffdA'], // truncated, next byte re-read
      [u8(0xf0, 0x9f, 0x98), '\ufffd'],
    ];
    for (const [b, want] of cases) assert.equal(utf8Decode(b), want, hex(b));
  });

  test('matches TextDecoder and Buffer on 5000 random byte arrays', () => {
    const rand = mulberry32(3);
    const td = new TextDecoder();
    for (let i = 0; i < 5000; i++) {
      const b = new Uint8Array(Math.floor(rand() * 24));
      // Bias towards bytes that start or continue multi-byte sequences.
      for (let j = 0; j < b.length; j++)
        b[j] = rand() < 0.3 ? Math.floor(rand() * 128) : 0x80 + Math.floor(rand() * 128);
      const want = td.decode(b);
      assert.equal(utf8Decode(b), want, hex(b));
      assert.equal(want, Buffer.from(b).toString('utf8'), hex(b));
    }
  });

  test('decodes inputs longer than the internal flush chunk', () => {
    const s = 'aé€😀'.repeat(10_000);
    assert.equal(utf8Decode(utf8Encode(s)), s);
  });
});

describe('base64', () => {
  test('encodes the RFC 4648 §10 vectors', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, enc] of vectors) {
      assert.equal(base64Encode(utf8Encode(plain)), enc);
      assert.equal(utf8Decode(base64Decode(enc)), plain);
    }
  });

  test('matches Buffer for random bytes of every length 0..300, both directions', () => {
    for (let n = 0; n <= 300; n++) {
      const b = new Uint8Array(randomBytes(n));
      const want = Buffer.from(b).toString('base64');
      assert.equal(base64Encode(b), want);
      assert.deepEqual(base64Decode(want), b);
    }
  });

  test('decodes all 256 byte values and the + and / characters', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    assert.deepEqual(base64Decode(Buffer.from(all).toString('base64')), all);
    assert.deepEqual(base64Decode('+/+/'), u8(0xfb, 0xff, 0xbf));
  });

  test('rejects invalid base64 with EncodingError', () => {
    for (const bad of [
      'Zg',
      'Zg=',
      'Zm9',
      'Z===',
      '====',
      'Zg==Zg==',
      'Zm=v',
      'Zm9v\n',
      ' Zm9v',
      'Zm9-',
      'Zm9_',
      'Zm9é',
      'Zm 9',
    ]) {
      assert.throws(() => base64Decode(bad), EncodingError, JSON.stringify(bad));
    }
  });
});

describe('byte helpers', () => {
  test('concatBytes joins in order', () => {
    assert.deepEqual(concatBytes(u8(1, 2), u8(), u8(3)), u8(1, 2, 3));
    assert.deepEqual(concatBytes(), u8());
  });

  test('xorBytes xors bytewise and rejects different lengths', () => {
    assert.deepEqual(xorBytes(u8(0xff, 0x0f, 0x00), u8(0x0f, 0x0f, 0xaa)), u8(0xf0, 0x00, 0xaa));
    assert.throws(() => xorBytes(u8(1), u8(1, 2)), RangeError);
  });

  test('bytesEqual compares content and length', () => {
    assert.equal(bytesEqual(u8(1, 2, 3), u8(1, 2, 3)), true);
    assert.equal(bytesEqual(u8(), u8()), true);
    assert.equal(bytesEqual(u8(1, 2, 3), u8(1, 2, 4)), false);
    assert.equal(bytesEqual(u8(1, 2), u8(1, 2, 0)), false);
    assert.equal(bytesEqual(u8(0), u8()), false);
  });

  test('hex is lowercase and zero-padded', () => {
    assert.equal(hex(u8(0x00, 0x0f, 0xa0, 0xff)), '000fa0ff');
    assert.equal(hex(u8()), '');
  });
});
