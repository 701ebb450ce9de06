/** The protocol core over a real WebSocket against real Prosody and ejabberd, started on loopback by the test. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openWebSocketSession } from '../../src/node/websocket-session.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { SUPPORTED_MECHANISMS } from '../../src/xmpp/sasl/defaults.ts';
import { ScramCache } from '../../src/xmpp/sasl/scram.ts';
import { failureOf as rejection, nextStanza } from '../helpers/xmpp-assert.ts';

/** What each server offers over plain ws:// on loopback, as measured; a change here is a finding. */
const EXPECTED_MECHANISMS: Record<LocalServer['kind'], string[]> = {
  prosody: ['PLAIN', 'SCRAM-SHA-1'],
  ejabberd: ['PLAIN', 'SCRAM-SHA-256'], // SHA-256 storage (src/targets/ejabberd.ts)
};

/** The WebSocket close reason each server sends after the <close/> exchange. */
const CLOSE_REASON: Record<LocalServer['kind'], string> = { prosody: 'Stream closed', ejabberd: '' };

for (const kind of ['prosody', 'ejabberd'] as const) {
  describe(`${kind} over WebSocket`, () => {
    let server: LocalServer;
    const scramCache = new ScramCache();

    before(async () => {
      server = await startLocalServer({ kind, users: 20 });
    });
    after(async () => {
      await server?.stop();
    });

    function login(n: number, extra: { password?: string; mechanisms?: string[]; resource?: string } = {}) {
      const acct = server.account(n);
      return openWebSocketSession({
        url: server.websocketUrl,
        domain: server.domain,
        credentials: { username: acct.username, password: extra.password ?? acct.password },
        mechanisms: extra.mechanisms,
        resource: extra.resource,
        scramCache,
      });
    }

    test('offers the expected SASL mechanisms, and login works with each one we support', async () => {
      const first = login(1);
      await first.session.start();
      const offered = [...first.session.offeredMechanisms].sort();
      await first.session.close();
      for (const m of EXPECTED_MECHANISMS[kind])
        assert.ok(offered.includes(m), `${kind} offers ${m}: [${offered}]`);
      const usable = offered.filter((m) => SUPPORTED_MECHANISMS.includes(m));
      assert.deepEqual(usable.sort(), [...EXPECTED_MECHANISMS[kind]].sort());
      for (const m of usable) {
        const { session } = login(2, { mechanisms: [m] });
        const jid = await session.start();
        assert.equal(session.mechanism, m);
        assert.match(jid, new RegExp(`^${server.account(2).username}@${server.domain}/.+`));
        const end = await session.close();
        assert.equal(end.clean, true, `clean close after ${m}`);
      }
    });

    test('a wrong password fails with auth-failed:not-authorized for every usable mechanism', async () => {
      for (const m of EXPECTED_MECHANISMS[kind]) {
        const { session } = login(3, { password: 'definitely-wrong', mechanisms: [m] });
        const err = await rejection(session.start());
        assert.equal(err.reason, 'auth-failed:not-authorized', `${m}: ${err.message}`);
        assert.match(
          err.message,
          new RegExp(`auth failed for ${server.account(3).username}@${server.domain} with ${m}`),
        );
        assert.doesNotMatch(err.message, /definitely-wrong/, 'the password never appears in errors');
        const end = await session.closed;
        assert.equal(end.error?.reason, 'auth-failed:not-authorized');
      }
    });

    test('binds the requested resource; ping and roster get answer', async () => {
      const { session } = login(4, { resource: 'starling-test' });
      assert.equal(await session.start(), `${server.account(4).username}@${server.domain}/starling-test`);
      const rtt = await session.ping();
      assert.ok(rtt >= 0 && rtt < 5000);
      assert.deepEqual(await session.rosterGet(), []);
      assert.equal((await session.close()).clean, true);
    });

    test('a message is delivered between two sessions, and directed presence is seen by the peer', async () => {
      const a = login(5).session;
      const b = login(6).session;
      const [jidA, jidB] = await Promise.all([a.start(), b.start()]);
      const gotPresence = nextStanza((fn) => b.onPresence(fn));
      a.sendPresence({ to: jidB, status: 'here' });
      const p = await gotPresence;
      assert.equal(p.attr('from'), jidA);
      assert.equal(p.getChildText('status'), 'here');

      const gotMessage = nextStanza((fn) => b.onMessage(fn));
      const id = a.sendMessage({ to: jidB, body: 'hello <b> & "you"' });
      const m = await gotMessage;
      assert.equal(m.attr('from'), jidA);
      assert.equal(m.attr('id'), id);
      assert.equal(m.attr('type'), 'chat');
      assert.equal(m.getChildText('body'), 'hello <b> & "you"');
      const [endA, endB] = await Promise.all([a.close(), b.close()]);
      assert.deepEqual(
        [endA.clean, endA.code, endA.initiator, endB.clean, endB.code],
        [true, 1000, 'client', true, 1000],
      );
    });

    test('a resource conflict makes the server send stream-error:conflict to the old session', async () => {
      const frames: string[] = [];
      const old = openWebSocketSession({
        url: server.websocketUrl,
        domain: server.domain,
        credentials: { username: server.account(7).username, password: server.account(7).password },
        resource: 'dup',
        onFrame: (dir, f) => frames.push(`${dir} ${f}`),
      }).session;
      await old.start();
      const fresh = login(7, { resource: 'dup' }).session;
      await fresh.start();
      const end = await old.closed;
      assert.equal(end.error?.reason, 'stream-error:conflict');
      assert.equal(end.initiator, 'server');
      assert.equal(end.clean, false);
      const errorAt = frames.findIndex((f) => f.startsWith('in <stream:error'));
      assert.ok(errorAt > 0, 'a stream error frame arrived');
      assert.ok(
        frames.slice(errorAt).some((f) => f === "out <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
      );
      assert.equal((await fresh.close()).clean, true);
    });

    test('opening a stream to an unknown host gives open-then-error: stream-error:host-unknown', async () => {
      const frames: string[] = [];
      const { session } = openWebSocketSession({
        url: server.websocketUrl,
        domain: 'no-such-host.invalid',
        credentials: { username: 'x', password: 'y' },
        onFrame: (dir, f) => frames.push(`${dir} ${f}`),
      });
      const err = await rejection(session.start());
      assert.equal(err.reason, 'stream-error:host-unknown');
      const inbound = frames.filter((f) => f.startsWith('in '));
      assert.match(inbound[0]!, /^in <open /, 'RFC 7395 §3.5: the server sends <open/> first');
      assert.match(inbound[1]!, /^in <stream:error/, 'then the stream error in a second message');
      await session.closed;
    });

    test('a client close is answered by the server <close/>, then WebSocket close 1000', async () => {
      const frames: string[] = [];
      const acct = server.account(8);
      const { session } = openWebSocketSession({
        url: server.websocketUrl,
        domain: server.domain,
        credentials: { username: acct.username, password: acct.password },
        onFrame: (dir, f) => frames.push(`${dir} ${f}`),
      });
      await session.start();
      const end = await session.close();
      assert.deepEqual(end, {
        clean: true,
        initiator: 'client',
        code: 1000,
        reason: CLOSE_REASON[kind],
        error: undefined,
      });
      assert.equal(frames.at(-2), "out <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
      assert.match(frames.at(-1)!, /^in <close xmlns=['"]urn:ietf:params:xml:ns:xmpp-framing['"]\s*\/>$/);
    });
  });
}
