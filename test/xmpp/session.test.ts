/** The session state machine over an in-memory transport (the k6 path, where the host reports the subprotocol). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeClock } from '../../src/node/clock.ts';
import { nodeCrypto } from '../../src/node/crypto.ts';
import type { Clock } from '../../src/xmpp/clock.ts';
import type { XmppError } from '../../src/xmpp/errors.ts';
import { XmppSession, type SessionTimeouts } from '../../src/xmpp/session.ts';
import { FEATURES_BIND, FEATURES_SASL, SERVER_OPEN } from '../helpers/fake-server.ts';

/** Node's clock, counting the timers set and cleared and those pending. */
function countingClock() {
  const pending = new Set<unknown>();
  const counts = { set: 0, cleared: 0, pending };
  const clock: Clock = {
    now: () => nodeClock.now(),
    setTimeout: (fn, ms) => {
      counts.set++;
      const h = nodeClock.setTimeout(() => {
        pending.delete(h);
        fn();
      }, ms);
      pending.add(h);
      return h;
    },
    clearTimeout: (h) => {
      counts.cleared++;
      pending.delete(h);
      nodeClock.clearTimeout(h);
    },
  };
  return { clock, counts };
}

function memorySession(
  o: { timeouts?: Partial<SessionTimeouts>; send?: (frame: string) => void; clock?: Clock } = {},
) {
  const sent: string[] = [];
  const closes: number[] = [];
  const session = new XmppSession({
    domain: 'localhost',
    credentials: { username: 'alice', password: 'pw' },
    mechanisms: ['PLAIN'],
    clock: o.clock ?? nodeClock,
    crypto: nodeCrypto,
    timeouts: { close: 50, ...o.timeouts },
    transport: {
      send: (f) => {
        o.send?.(f);
        sent.push(f);
      },
      close: (code) => closes.push(code ?? 1000),
    },
  });
  return { session, sent, closes };
}

/** A session logged in as alice@localhost/r1 over the in-memory transport, the server's frames fed by hand. */
async function readySession(o: Parameters<typeof memorySession>[0] = {}) {
  const m = memorySession(o);
  const ready = m.session.start();
  m.session.transportOpened('xmpp');
  m.session.transportFrame(SERVER_OPEN);
  m.session.transportFrame(FEATURES_SASL);
  await waitFor(() => m.sent.some((f) => f.startsWith('<auth')));
  m.session.transportFrame("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
  await waitFor(() => m.sent.filter((f) => f.startsWith('<open')).length === 2); // the restart
  m.session.transportFrame(SERVER_OPEN);
  m.session.transportFrame(FEATURES_BIND);
  await waitFor(() => m.sent.some((f) => f.includes('xmpp-bind')));
  const id = /id='([^']+)'/.exec(m.sent.at(-1)!)![1];
  m.session.transportFrame(
    `<iq xmlns='jabber:client' type='result' id='${id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r1</jid></bind></iq>`,
  );
  assert.equal(await ready, 'alice@localhost/r1');
  return m;
}

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), 'condition not reached');
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
    assert.equal(err.reason, 'transport-closed:1006');
    assert.match(err.message, /code 1006, 'gone'/);
  });

  test('a transport that dies under a ready session: transport-closed:<code>, the error text kept, nothing written after', async () => {
    const { session, sent } = await readySession();
    const before = sent.length;
    session.transportClosed(1006, '', 'websocket: close 1006 (abnormal closure): unexpected EOF');
    const end = await session.closed;
    assert.equal(end.error?.reason, 'transport-closed:1006');
    assert.match(
      end.error!.message,
      /while ready \(code 1006\) without an XMPP <close\/>: websocket: close 1006/,
    );
    assert.equal(end.clean, false);
    assert.equal(end.initiator, 'transport');
    assert.equal(sent.length, before, 'no <close/> to a dead transport');
    assert.throws(() => session.send('<presence/>'), /cannot send: session is closed/);
  });

  test('a transport error marks the transport dead: no <close/> is written to it, the session ends on its close', async () => {
    const { session, sent, closes } = await readySession();
    const before = sent.length;
    session.transportError('connection reset');
    assert.equal(sent.length, before, 'nothing written after the transport failed');
    assert.deepEqual(closes, [1000], 'the host is asked to close its side');
    assert.equal(session.state, 'closing');
    session.transportClosed(1006);
    const end = await session.closed;
    assert.equal(end.error?.reason, 'transport-error', 'the first failure is the one counted');
    assert.equal(end.error?.message, 'transport error: connection reset');
  });

  test('a host whose send throws fails the session as transport-error:send instead of throwing', async () => {
    let broken = false;
    const { session, closes } = await readySession({
      send: () => {
        if (broken) throw new Error('InvalidStateError');
      },
    });
    broken = true;
    session.sendPresence(); // the throw stays inside the session
    assert.equal(session.failure?.reason, 'transport-error:send');
    assert.match(session.failure!.message, /sending a frame failed: InvalidStateError/);
    assert.deepEqual(closes, [1000]);
    session.transportClosed(undefined);
    assert.equal((await session.closed).error?.reason, 'transport-error:send');
  });

  test('timeout:connect ends the session at the connect timeout, without waiting for a transport that never opened', async () => {
    const { session, closes } = memorySession({ timeouts: { connect: 30, close: 5000 } });
    const t0 = Date.now();
    const started = session.start().then(
      () => assert.fail('start should fail'),
      (e: unknown) => e as XmppError,
    );
    assert.equal((await started).reason, 'timeout:connect');
    const end = await session.closed;
    assert.ok(
      Date.now() - t0 < 1000,
      `ended ${Date.now() - t0} ms after start, not after the 5 s close timeout`,
    );
    assert.equal(end.error?.reason, 'timeout:connect');
    assert.deepEqual(closes, [1000], 'the host is told to give the socket up');
    session.transportOpened('xmpp'); // a handshake that completes late changes nothing
    assert.equal(session.state, 'closed');
  });

  test('one timer serves the five phases of a login and one the two of a close; none is left pending between', async () => {
    const { clock, counts } = countingClock();
    const m = await readySession({ clock });
    assert.deepEqual(
      [counts.set, counts.cleared, counts.pending.size],
      [1, 1, 0],
      'login: set once, cleared at ready',
    );
    const closed = m.session.close();
    m.session.transportFrame("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    assert.deepEqual(m.closes, [1000]);
    m.session.transportClosed(1000);
    assert.equal((await closed).clean, true);
    assert.deepEqual(
      [counts.set, counts.cleared, counts.pending.size],
      [2, 2, 0],
      'close: set once, cleared at the end',
    );
  });

  test('each phase is timed from its own start: a long one after a short one, a short one after a long one', async () => {
    // open 80 ms (answered at once), then auth 300 ms: the pending 80 ms timer must not end the auth phase early.
    const a = memorySession({ timeouts: { open: 80, auth: 300 } });
    const aFailed = a.session.start().then(assert.fail, (e: unknown) => e as XmppError);
    a.session.transportOpened('xmpp');
    a.session.transportFrame(SERVER_OPEN);
    a.session.transportFrame(FEATURES_SASL);
    await waitFor(() => a.sent.some((f) => f.startsWith('<auth')));
    const authAt = Date.now();
    assert.equal((await aFailed).reason, 'timeout:auth');
    const waited = Date.now() - authAt;
    assert.ok(
      waited >= 290 && waited < 1000,
      `auth timed out ${waited} ms after <auth/>, not at the open deadline`,
    );
    assert.match(a.session.failure!.message, /no the SASL outcome within 300 ms/);
    // connect 5 s (opened at once), then open 40 ms: the shorter deadline replaces the pending timer.
    const b = memorySession({ timeouts: { connect: 5000, open: 40 } });
    const t0 = Date.now();
    const bFailed = b.session.start().then(assert.fail, (e: unknown) => e as XmppError);
    b.session.transportOpened('xmpp');
    assert.equal((await bFailed).reason, 'timeout:open');
    assert.ok(
      Date.now() - t0 < 1000,
      `open timed out after ${Date.now() - t0} ms, not at the connect deadline`,
    );
  });
});
