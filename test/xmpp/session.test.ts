/** The session state machine over an in-memory transport (the k6 path, where the host reports the subprotocol). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeClock } from '../../src/node/clock.ts';
import { nodeCrypto } from '../../src/node/crypto.ts';
import type { XmppError } from '../../src/xmpp/errors.ts';
import { XmppSession } from '../../src/xmpp/session.ts';

function memorySession() {
  const sent: string[] = [];
  const closes: number[] = [];
  const session = new XmppSession({
    domain: 'localhost',
    credentials: { username: 'alice', password: 'pw' },
    clock: nodeClock,
    crypto: nodeCrypto,
    timeouts: { close: 50 },
    transport: { send: (f) => sent.push(f), close: (code) => closes.push(code ?? 1000) },
  });
  return { session, sent, closes };
}

describe('XmppSession', () => {
  test('a transport opened without the xmpp subprotocol is closed with 1000 and fails subprotocol-missing', async () => {
    const { session, sent, closes } = memorySession();
    const started = session.start().then(
      () => assert.fail('start should fail'),
      (e: unknown) => e as XmppError,
    );
    session.transportOpened('');
    assert.deepEqual(sent, [], 'no <open/> is sent');
    assert.deepEqual(closes, [1000]);
    session.transportClosed(1000);
    assert.equal((await started).reason, 'subprotocol-missing');
    const end = await session.closed;
    assert.equal(end.error?.reason, 'subprotocol-missing');
    assert.equal(session.state, 'closed');
  });

  test('the first frame sent is the RFC 7395 <open/> with to, version and xml:lang', () => {
    const { session, sent } = memorySession();
    void session.start().catch(() => {});
    session.transportOpened('xmpp');
    assert.deepEqual(sent, [
      "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0' xml:lang='en'/>",
    ]);
    session.transportClosed(1006);
  });

  test('a transport that closes during auth ends the session as transport-closed with the code', async () => {
    const { session } = memorySession();
    const started = session.start().then(
      () => assert.fail('start should fail'),
      (e: unknown) => e as XmppError,
    );
    session.transportOpened('xmpp');
    session.transportClosed(1006, 'gone');
    const err = await started;
    assert.equal(err.reason, 'transport-closed');
    assert.match(err.message, /code 1006, 'gone'/);
  });
});
