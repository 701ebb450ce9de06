/** The protocol core over BOSH (XEP-0124/0206) against real Prosody and ejabberd, started on loopback by the test. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchPost, openBoshSession } from '../../src/node/bosh-session.ts';
import { openWebSocketSession } from '../../src/node/websocket-session.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import type { BoshPost } from '../../src/xmpp/bosh.ts';
import { SUPPORTED_MECHANISMS } from '../../src/xmpp/sasl/defaults.ts';
import { ScramCache } from '../../src/xmpp/sasl/scram.ts';
import { parseFrame } from '../../src/xmpp/xml/parser.ts';
import type { XmlElement } from '../../src/xmpp/xml/element.ts';
import { failureOf as rejection, nextStanza } from '../helpers/xmpp-assert.ts';

const EXPECTED_MECHANISMS: Record<LocalServer['kind'], string[]> = {
  prosody: ['PLAIN', 'SCRAM-SHA-1'],
  ejabberd: ['PLAIN', 'SCRAM-SHA-256'],
};

/** Every request body and response, in the order requests were made; and the most requests out at once. */
interface Wire {
  requests: XmlElement[];
  responses: string[];
  maxInFlight: number;
}

function recording(url: string): { post: BoshPost; wire: Wire } {
  const inner = fetchPost(url);
  const wire: Wire = { requests: [], responses: [], maxInFlight: 0 };
  let inFlight = 0;
  const post: BoshPost = async (body, timeoutMs) => {
    wire.requests.push(parseFrame(body));
    wire.maxInFlight = Math.max(wire.maxInFlight, ++inFlight);
    try {
      const res = await inner(body, timeoutMs);
      wire.responses.push(res.body);
      return res;
    } finally {
      inFlight--;
    }
  };
  return { post, wire };
}

for (const kind of ['prosody', 'ejabberd'] as const) {
  describe(`${kind} over BOSH`, () => {
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
      const { post, wire } = recording(server.boshUrl);
      const s = openBoshSession({
        url: server.boshUrl,
        post,
        domain: server.domain,
        credentials: { username: acct.username, password: extra.password ?? acct.password },
        mechanisms: extra.mechanisms,
        resource: extra.resource,
        scramCache,
        wait: 10,
      });
      return { ...s, wire };
    }

    test('session creation, SASL with every offered mechanism, xmpp:restart, bind, terminate: all on the wire', async () => {
      const offered: string[] = [];
      for (const m of EXPECTED_MECHANISMS[kind]) {
        const { session, bosh, wire } = login(1, { mechanisms: [m] });
        const jid = await session.start();
        offered.splice(0, offered.length, ...session.offeredMechanisms);
        assert.equal(session.mechanism, m);
        assert.match(jid, new RegExp(`^${server.account(1).username}@${server.domain}/.+`));
        const end = await session.close();
        assert.deepEqual(end, {
          clean: true,
          initiator: 'client',
          code: 1000,
          reason: 'terminated',
          error: undefined,
        });

        const [create, ...rest] = wire.requests;
        assert.deepEqual(
          {
            wait: create!.attr('wait'),
            hold: create!.attr('hold'),
            ver: create!.attr('ver'),
            to: create!.attr('to'),
            xmppVersion: create!.attr('xmpp:version'),
            sid: create!.attr('sid'),
          },
          { wait: '10', hold: '1', ver: '1.6', to: server.domain, xmppVersion: '1.0', sid: undefined },
        );
        // Requests carry consecutive rids in the order they were made, all with the server's sid.
        const rids = wire.requests.map((r) => Number(r.attr('rid')));
        assert.deepEqual(
          rids,
          rids.map((_, i) => rids[0]! + i),
        );
        assert.ok(rest.every((r) => r.attr('sid') === bosh.sid));
        assert.deepEqual(bosh.granted.requests, 2);
        assert.ok(
          wire.maxInFlight <= bosh.granted.requests,
          `at most ${bosh.granted.requests} requests at once`,
        );
        // One restart, after the SASL <success/> came back, and before the bind.
        const restartAt = wire.requests.findIndex((r) => r.attr('xmpp:restart') === 'true');
        const authAt = wire.requests.findIndex((r) => r.getChild('auth') !== undefined);
        const bindAt = wire.requests.findIndex((r) => r.getChild('iq') !== undefined);
        assert.ok(
          authAt > 0 && restartAt > authAt && bindAt > restartAt,
          `${authAt} < ${restartAt} < ${bindAt}`,
        );
        assert.equal(wire.requests.filter((r) => r.attr('xmpp:restart') === 'true').length, 1);
        assert.equal(wire.requests.at(-1)!.attr('type'), 'terminate');
      }
      const usable = offered.filter((m) => SUPPORTED_MECHANISMS.includes(m)).sort();
      assert.deepEqual(usable, [...EXPECTED_MECHANISMS[kind]].sort());
    });

    test('a wrong password fails with auth-failed:not-authorized for every usable mechanism', async () => {
      for (const m of EXPECTED_MECHANISMS[kind]) {
        const { session } = login(3, { password: 'definitely-wrong', mechanisms: [m] });
        const err = await rejection(session.start());
        assert.equal(err.reason, 'auth-failed:not-authorized', `${m}: ${err.message}`);
        assert.doesNotMatch(err.message, /definitely-wrong/);
        assert.equal((await session.closed).error?.reason, 'auth-failed:not-authorized');
      }
    });

    test('message and directed presence between two BOSH sessions, and from WebSocket to BOSH; ping answers', async () => {
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
      assert.deepEqual(
        [m.attr('from'), m.attr('id'), m.attr('type'), m.getChildText('body'), m.ns],
        [jidA, id, 'chat', 'hello <b> & "you"', 'jabber:client'],
      );

      const acct = server.account(7);
      const ws = openWebSocketSession({
        url: server.websocketUrl,
        domain: server.domain,
        credentials: { username: acct.username, password: acct.password },
      }).session;
      await ws.start();
      const fromWs = nextStanza((fn) => b.onMessage(fn));
      ws.sendMessage({ to: jidB, body: 'over the other transport' });
      assert.equal((await fromWs).getChildText('body'), 'over the other transport');

      const rtt = await b.ping();
      assert.ok(rtt >= 0 && rtt < 5000);
      const ends = await Promise.all([a.close(), b.close(), ws.close()]);
      assert.deepEqual(
        ends.map((e) => [e.clean, e.code]),
        [
          [true, 1000],
          [true, 1000],
          [true, 1000],
        ],
      );
    });

    test('an unknown sid ends the session with the server condition bosh-terminate:item-not-found', async () => {
      const { session, bosh } = login(8);
      await session.start();
      bosh.sid = 'no-such-sid';
      session.sendPresence();
      const end = await session.closed;
      assert.equal(end.error?.reason, 'bosh-terminate:item-not-found');
      assert.match(end.error!.message, /does not know this sid/);
      assert.equal(end.clean, false);
    });

    test('a rid outside the window ends the session with bosh-terminate:item-not-found', async () => {
      const { session, bosh } = login(9);
      await session.start();
      bosh.rid += 100;
      session.sendPresence();
      const end = await session.closed;
      assert.equal(end.error?.reason, 'bosh-terminate:item-not-found');
      assert.equal(end.clean, false);
    });

    test('a resource conflict reaches the old BOSH session as stream-error:conflict', async () => {
      const old = login(10, { resource: 'dup' }).session;
      await old.start();
      const fresh = login(10, { resource: 'dup' }).session;
      await fresh.start();
      const end = await old.closed;
      assert.equal(end.error?.reason, 'stream-error:conflict');
      assert.equal(end.initiator, 'server');
      assert.equal((await fresh.close()).clean, true);
    });
  });
}
