/**
 * Stream management (XEP-0198) of the protocol core over real WebSockets, against real Prosody (mod_smacks) and
 * ejabberd (mod_stream_mgmt): enabling with resumption, a transport broken without <close/>, the session taken up
 * on a new WebSocket with what was sent to it meanwhile, and the refusal once the server's timeout has passed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openWebSocketSession, resumeWebSocketSession } from '../../src/node/websocket-session.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import type { XmppError } from '../../src/xmpp/errors.ts';
import type { XmppSession } from '../../src/xmpp/session.ts';

/** The servers keep a broken session this long: short, so the refusal after it is tested in seconds. */
const RESUME_TIMEOUT_SEC = 2;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Between a break and the resumption, as a client's reconnect has: ejabberd 23.01 left 1 <resume/> in 19
 * unanswered when it came within milliseconds of the old socket's end (none in 80 at 100 ms on a quiet machine),
 * and once at 200 ms while the whole suite loaded the machine (README, Rooms and resumption).
 */
const RECONNECT_PAUSE_MS = 1000;

/** Resolves once `session` holds `n` message bodies (or rejects after 5 s with what it has). */
function bodies(session: XmppSession): { list: string[]; count: (n: number) => Promise<string[]> } {
  const list: string[] = [];
  session.onMessage((el) => list.push(el.getChildText('body') ?? ''));
  return {
    list,
    count: async (n) => {
      for (let waited = 0; list.length < n && waited < 5000; waited += 20) await sleep(20);
      return list;
    },
  };
}

for (const kind of ['prosody', 'ejabberd'] as const) {
  describe(`stream management on ${kind}`, () => {
    let server: LocalServer;
    const detached: string[] = [];

    before(async () => {
      server = await startLocalServer({ kind, users: 10, resumeTimeoutSec: RESUME_TIMEOUT_SEC });
    });
    after(async () => {
      await server?.stop();
    });

    function login(n: number, streamManagement = true): XmppSession {
      const acct = server.account(n);
      return openWebSocketSession({
        url: server.websocketUrl,
        domain: server.domain,
        credentials: { username: acct.username, password: acct.password },
        streamManagement,
        onDetached: (why) => detached.push(why.reason),
      }).session;
    }

    test('enabled with resumption; broken without <close/>, resumed on a new WebSocket with what was sent meanwhile', async () => {
      try {
        await breakAndResume(1, 2);
      } catch (e) {
        // ejabberd 23.01 leaves an occasional <resume/> unanswered, even 1 s after the break while the whole suite
        // loads the machine (README): the flow runs once more on fresh accounts, and must then pass as written.
        if (kind !== 'ejabberd' || (e as { reason?: string }).reason !== 'timeout:resume') throw e;
        console.warn('ejabberd left <resume/> unanswered (timeout:resume); running the flow once more');
        await breakAndResume(6, 7);
      }
    });

    async function breakAndResume(first: number, second: number): Promise<void> {
      const a = login(first);
      const b = login(second);
      const got = bodies(a);
      await Promise.all([a.start(), b.start()]);
      assert.equal(a.state, 'ready');
      assert.ok(a.sm?.id, 'the server gave a resumption id');
      assert.equal(a.sm.max, RESUME_TIMEOUT_SEC);
      a.sendPresence();
      b.sendMessage({ to: a.jid!, body: 'before' });
      assert.deepEqual(await got.count(1), ['before']);

      detached.length = 0;
      a.breakTransport();
      assert.equal(a.state, 'detached');
      assert.deepEqual(detached, ['transport-closed']);
      for (const body of ['during 1', 'during 2', 'during 3']) b.sendMessage({ to: a.jid!, body });
      await sleep(RECONNECT_PAUSE_MS);
      assert.deepEqual(got.list, ['before'], 'nothing reaches a detached session');

      const jid = a.jid;
      const { resumed } = resumeWebSocketSession(a, { url: server.websocketUrl });
      assert.equal(await resumed, jid, 'the same session, the same JID');
      assert.equal(a.state, 'ready');
      assert.ok(a.timings.resumed! >= a.timings.resumeStarted!);
      assert.deepEqual(await got.count(4), ['before', 'during 1', 'during 2', 'during 3']);

      // A stanza sent just before a break arrives exactly once: acked before it, or sent again after resuming.
      const atB = bodies(b);
      a.sendMessage({ to: b.jid!, body: 'last words' });
      a.breakTransport();
      await sleep(RECONNECT_PAUSE_MS);
      await resumeWebSocketSession(a, { url: server.websocketUrl }).resumed;
      await atB.count(1);
      await sleep(300);
      assert.deepEqual(atB.list, ['last words']);
      assert.equal(a.sm!.outbound, a.sm!.acked + a.unackedCount);

      const end = await a.close();
      assert.equal(end.clean, true, JSON.stringify(end));
      await b.close();
    }

    test(`resuming after the server's timeout (${RESUME_TIMEOUT_SEC} s) is refused: sm-resume-failed:item-not-found, and the session ends`, async () => {
      const a = login(3);
      await a.start();
      a.breakTransport();
      assert.equal(a.state, 'detached');
      await sleep(RESUME_TIMEOUT_SEC * 1000 + 1500);
      const err = (await resumeWebSocketSession(a, { url: server.websocketUrl }).resumed.then(
        () => undefined,
        (e: unknown) => e,
      )) as XmppError | undefined;
      assert.equal(err?.reason, 'sm-resume-failed:item-not-found');
      const end = await a.closed;
      assert.equal(end.clean, false);
      assert.equal(end.error?.reason, 'sm-resume-failed:item-not-found');
    });

    test('a detached session nobody resumes ends on close() as transport-closed, without a stream to close', async () => {
      const a = login(4);
      await a.start();
      a.breakTransport();
      const end = await a.close();
      assert.equal(a.state, 'closed');
      assert.equal(end.clean, false);
      assert.equal(end.error?.reason, 'transport-closed');
    });

    test('without stream management a broken transport ends the session (no detaching)', async () => {
      detached.length = 0;
      const a = login(5, false);
      await a.start();
      assert.equal(a.sm, undefined);
      a.breakTransport();
      assert.equal(a.state, 'closed');
      const end = await a.closed;
      assert.equal(end.error?.reason, 'transport-closed');
      assert.deepEqual(detached, []);
      assert.equal(
        (await resumeWebSocketSession(a, { url: server.websocketUrl }).resumed.catch(
          (e: XmppError) => e.reason,
        )) as string,
        'sm-resume-failed:not-detached',
      );
    });
  });
}
