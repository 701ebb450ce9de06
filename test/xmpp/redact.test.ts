import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maskUrlPasswords, redactFrame } from '../../src/xmpp/redact.ts';

describe('redactFrame', () => {
  test('hides the PLAIN initial response (the base64 password)', () => {
    const auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHVzZXIxAHBhc3Mx</auth>";
    assert.equal(
      redactFrame(auth),
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</auth>",
    );
  });

  test('hides SCRAM responses but keeps challenges, success and other frames unchanged', () => {
    const response = "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdzLHI9eHl6LHA9YWJj</response>";
    assert.equal(
      redactFrame(response),
      "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>[redacted]</response>",
    );
    const challenge =
      "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1hYmMscz1zYWx0LGk9NDA5Ng==</challenge>";
    assert.equal(redactFrame(challenge), challenge);
    const msg = "<message xmlns='jabber:client'><body><auth>not sasl</auth></body></message>";
    assert.equal(redactFrame(msg), msg);
  });
});

describe('maskUrlPasswords', () => {
  test("replaces the password of every URL in a text with *** (Go's net/http error style), keeps the rest", () => {
    assert.equal(
      maskUrlPasswords('Post "http://alice:s3cr%40t@127.0.0.1:5280/http-bind": dial tcp: refused'),
      'Post "http://alice:***@127.0.0.1:5280/http-bind": dial tcp: refused',
    );
    assert.equal(
      maskUrlPasswords('XMPP_URL=https://bob:pw@a.example/x and wss://carol:other@b.example/ws'),
      'XMPP_URL=https://bob:***@a.example/x and wss://carol:***@b.example/ws',
    );
    // URL parsers take the last @ before the path as the end of the userinfo.
    assert.equal(maskUrlPasswords('http://alice:p@ss@host/x'), 'http://alice:***@host/x');
  });

  test('leaves URLs without a password, and user-only userinfo, unchanged', () => {
    for (const s of [
      'ws://127.0.0.1:5280/xmpp-websocket',
      'http://alice@host/x',
      'xmpp://example.org',
      'a:b@c',
    ]) {
      assert.equal(maskUrlPasswords(s), s);
    }
  });
});
