import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { redactFrame } from '../../src/xmpp/redact.ts';

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
