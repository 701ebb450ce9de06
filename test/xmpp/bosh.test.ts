/**
 * BoshTransport (XEP-0124/0206) under a real XmppSession, against a scripted fake connection manager: exact
 * bodies on the wire, the requests limit, rid-ordered handling, retries, and every way a BOSH session ends.
 * No sockets; the real-server counterpart is test/integration/xmpp-bosh.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openBoshSession, type BoshSessionOptions } from '../../src/node/bosh-session.ts';
import { nodeClock } from '../../src/node/clock.ts';
import { nodeCrypto } from '../../src/node/crypto.ts';
import { BoshTransport, type BoshSink } from '../../src/xmpp/bosh.ts';
import { XmppError } from '../../src/xmpp/errors.ts';
import type { XmlElement } from '../../src/xmpp/xml/element.ts';
import { parseFrame } from '../../src/xmpp/xml/parser.ts';
import {
  BIND,
  FakeBosh,
  HTTPBIND,
  SASL,
  STREAMS,
  until,
  VirtualClock,
  XBOSH,
  type FakeBoshOptions,
  type FakeRequest,
} from '../helpers/fake-bosh.ts';
import { failureOf } from '../helpers/xmpp-assert.ts';

const credentials = { username: 'alice', password: 'pw' };
const JID = 'alice@localhost/r1';
const CLIENT = 'jabber:client';
const fast = { connect: 1000, open: 1000, auth: 1000, bind: 1000, iq: 1000, close: 500 };
const CLEAN_CLIENT_END = {
  clean: true,
  initiator: 'client',
  code: 1000,
  reason: 'terminated',
  error: undefined,
} as const;

function connect(cm: FakeBosh, o: Partial<BoshSessionOptions> = {}) {
  return openBoshSession({
    url: 'http://bosh.invalid/http-bind',
    post: cm.post,
    domain: 'localhost',
    credentials,
    mechanisms: ['PLAIN'],
    orderGapMs: 0,
    wait: 5,
    timeouts: fast,
    ...o,
  });
}

/** Logs in; resolves once the idle empty request (for the server to hold) has been posted. */
async function loggedIn(cm: FakeBosh, o: Partial<BoshSessionOptions> = {}) {
  const s = connect(cm, o);
  assert.equal(await s.session.start(), JID);
  await until(() => cm.requests.some((r) => r.kind === 'empty'), 'the idle empty request');
  const idle = cm.requests.find((r) => r.kind === 'empty')!;
  return { ...s, idle };
}

/** Once logged in, every request is left for the test to answer (terminate too, unless `serveTerminate`). */
function holdAfterLogin(serveTerminate = false): FakeBoshOptions['script'] {
  return (req, cm) => (cm.bound && !(serveTerminate && req.kind === 'terminate') ? 'hold' : undefined);
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const tick = (ms = 10) => new Promise((r) => setTimeout(r, ms));

/** Runs the virtual clock until `p` settles, then returns (or throws) its outcome. */
async function runTo<T>(clock: VirtualClock, p: Promise<T>, what: string): Promise<T> {
  let settled = false;
  const q = p.finally(() => (settled = true));
  q.catch(() => {});
  await clock.run(() => settled, what);
  return q;
}

function chat(cm: FakeBosh, id: string, text = id): string {
  return `${cm.open('message')} from='bob@localhost/x' to='${JID}' type='chat' id='${id}'><body>${text}</body></message>`;
}

const idleSink: BoshSink = {
  transportOpened() {},
  transportElement() {},
  transportFailed() {},
  transportClosed() {},
};

describe('BOSH bodies on the wire', () => {
  test('creation, PLAIN, xmpp:restart, bind, an idle request and a clean terminate: every body exact', async () => {
    const cm = new FakeBosh();
    const { session, bosh } = await loggedIn(cm);
    assert.deepEqual(await session.close(), CLEAN_CLIENT_END);

    const reqs = cm.requests;
    assert.deepEqual(
      reqs.map((r) => r.kind),
      ['create', 'payload', 'restart', 'payload', 'empty', 'terminate'],
    );
    const [create, auth, restart, bind, idle, terminate] = reqs as [
      FakeRequest,
      FakeRequest,
      FakeRequest,
      FakeRequest,
      FakeRequest,
      FakeRequest,
    ];
    const rid0 = create.rid;
    assert.ok(Number.isSafeInteger(rid0) && rid0 >= 1 && rid0 <= 2 ** 52, `initial rid ${rid0}`);
    assert.deepEqual(create.body.attrs, {
      content: 'text/xml; charset=utf-8',
      hold: '1',
      rid: String(rid0),
      to: 'localhost',
      ver: '1.6',
      wait: '5',
      'xml:lang': 'en',
      'xmpp:version': '1.0',
      xmlns: HTTPBIND,
      'xmlns:xmpp': XBOSH,
    });
    assert.deepEqual(create.body.children, []);
    reqs.forEach((r, i) => {
      assert.equal(r.rid, rid0 + i, `request #${i} has rid previous+1`);
      if (i > 0) assert.equal(r.body.attr('sid'), 'sid-1', `request #${i} carries the sid`);
    });

    assert.deepEqual(
      auth.body.elements.map((e) => [e.name, e.ns, e.attr('mechanism'), e.text()]),
      [['auth', SASL, 'PLAIN', Buffer.from('\0alice\0pw').toString('base64')]],
    );
    assert.deepEqual(restart.body.attrs, {
      rid: String(rid0 + 2),
      sid: 'sid-1',
      to: 'localhost',
      'xml:lang': 'en',
      'xmpp:restart': 'true',
      'xmlns:xmpp': XBOSH,
      xmlns: HTTPBIND,
    });
    assert.deepEqual(restart.body.children, []);
    assert.deepEqual(
      bind.body.elements.map((e) => [e.name, e.ns, e.attr('type'), e.elements[0]?.name, e.elements[0]?.ns]),
      [['iq', CLIENT, 'set', 'bind', BIND]],
    );
    assert.deepEqual(idle.body.attrs, { rid: String(rid0 + 4), sid: 'sid-1', xmlns: HTTPBIND });
    assert.deepEqual(idle.body.children, []);
    assert.deepEqual(terminate.body.attrs, {
      rid: String(rid0 + 5),
      sid: 'sid-1',
      type: 'terminate',
      xmlns: HTTPBIND,
    });
    assert.deepEqual(terminate.body.children, []);
    assert.equal(bosh.requestCount, 6);
    assert.equal(bosh.sid, 'sid-1');
  });

  test('the initial rid is 7 random bytes reduced to 1..2^52', () => {
    function firstRid(crypto = nodeCrypto): number {
      const cm = new FakeBosh({ script: () => 'hold' });
      new BoshTransport({ domain: 'localhost', post: cm.post, clock: nodeClock, crypto }).start(idleSink);
      return cm.requests[0]!.rid;
    }
    const fixed = (bytes: number[]) => firstRid({ ...nodeCrypto, randomBytes: () => Uint8Array.from(bytes) });
    assert.equal(fixed([0, 0, 0, 0, 0, 0, 0]), 1);
    assert.equal(fixed([0, 0, 0, 0, 0, 1, 2]), 259);
    assert.equal(fixed([0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 2 ** 52);
    assert.equal(fixed([0x10, 0, 0, 0, 0, 0, 0]), 1);
    const all = fixed([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.ok(Number.isSafeInteger(all) && all >= 1 && all <= 2 ** 52, `rid ${all}`);
    const rids = Array.from({ length: 200 }, () => firstRid());
    for (const rid of rids) assert.ok(Number.isSafeInteger(rid) && rid >= 1 && rid <= 2 ** 52, `rid ${rid}`);
    assert.ok(new Set(rids).size > 190, 'random');
  });

  test('the HTTP timeout must exceed wait; it defaults to wait*1000 + 10000 on every request after the creation', async () => {
    const make = (
      o: { wait?: number; httpTimeoutMs?: number },
      cm = new FakeBosh({ script: () => 'hold' }),
    ) =>
      new BoshTransport({ domain: 'localhost', post: cm.post, clock: nodeClock, crypto: nodeCrypto, ...o });
    assert.throws(
      () => make({ wait: 30, httpTimeoutMs: 30_000 }),
      (e: unknown) =>
        e instanceof XmppError &&
        e.reason === 'bosh-config:timeout-below-wait' &&
        /30000 ms must exceed wait=30 s/.test(e.message),
    );
    assert.doesNotThrow(() => make({ wait: 30, httpTimeoutMs: 30_001 }));

    const held = new FakeBosh({ script: () => 'hold' });
    make({}, held).start(idleSink);
    assert.deepEqual([held.requests[0]!.body.attr('wait'), held.requests[0]!.timeoutMs], ['30', 40_000]);

    const cm = new FakeBosh();
    const { session } = await loggedIn(cm, { wait: 5 });
    await session.close();
    // The creation request is answered at once by any connection manager: it times out just after the
    // session's connect timeout (1 s here), so a silent server costs that, not wait + 10 s.
    assert.deepEqual(
      cm.requests.map((r) => r.timeoutMs),
      cm.requests.map((_r, i) => (i === 0 ? 2000 : 15_000)),
    );
  });

  test('a server that raises wait to the HTTP timeout fails creation as bosh-config:timeout-below-wait', async () => {
    const cm = new FakeBosh({ wait: 15 });
    const { session } = connect(cm, { wait: 5 });
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'bosh-config:timeout-below-wait');
    assert.match(err.message, /raised wait to 15 s, at or above the HTTP timeout of 15000 ms/);
    await session.closed;
    assert.equal(cm.requests.length, 1);
  });
});

describe('requests limit, batching and rid order', () => {
  test("never more than the server's requests out; stanzas queued meanwhile go together in one body, in order", async () => {
    const cm = new FakeBosh({ script: holdAfterLogin(true) });
    const { session, idle } = await loggedIn(cm);
    session.sendMessage({ to: 'bob@localhost', body: 'one', id: 'm1' });
    await until(() => cm.requests.length === 6, 'the request carrying m1');
    const first = cm.last();
    assert.deepEqual(
      first.body.elements.map((e) => e.attr('id')),
      ['m1'],
    );
    session.sendMessage({ to: 'bob@localhost', body: 'two', id: 'm2' });
    session.sendMessage({ to: 'bob@localhost', body: 'three', id: 'm3' });
    await tick(20);
    assert.equal(cm.requests.length, 6, 'no third request while two are out (requests=2)');

    idle.respond(cm.body());
    await until(() => cm.requests.length === 7, 'the batched request');
    const batch = cm.last();
    assert.deepEqual(
      batch.body.elements.map((e) => [e.name, e.ns, e.attr('id'), e.getChildText('body', CLIENT)]),
      [
        ['message', CLIENT, 'm2', 'two'],
        ['message', CLIENT, 'm3', 'three'],
      ],
    );
    assert.equal(batch.rid, first.rid + 1);
    assert.equal(cm.maxInFlight, 2);

    for (const r of cm.pending()) r.respond(cm.body());
    assert.deepEqual(await session.close(), CLEAN_CLIENT_END);
    assert.equal(cm.maxInFlight, 2);
  });

  test('responses are handled in rid order: rid N+1 answered first waits for rid N', async () => {
    const cm = new FakeBosh({ script: holdAfterLogin(true) });
    const { session, idle } = await loggedIn(cm);
    const got: string[] = [];
    session.onMessage((el) => got.push(el.attr('id')!));
    session.sendMessage({ to: 'bob@localhost', body: 'hello', id: 'out' });
    await until(() => cm.requests.length === 6, 'the second request');
    const later = cm.last();
    assert.equal(later.rid, idle.rid + 1);

    later.respond(cm.body(chat(cm, 'b1') + chat(cm, 'b2')));
    await tick(20);
    assert.deepEqual(got, [], 'nothing from rid N+1 is delivered before rid N is answered');
    idle.respond(cm.body(chat(cm, 'a1') + chat(cm, 'a2')));
    await until(() => got.length === 4, 'all four messages');
    assert.deepEqual(got, ['a1', 'a2', 'b1', 'b2']);
    assert.deepEqual(await session.close(), CLEAN_CLIENT_END);
  });

  test('orderGapMs: a second request is not posted sooner than the gap after the first while it is unanswered', async () => {
    const clock = new VirtualClock();
    const cm = new FakeBosh({ clock });
    const { session } = connect(cm, { clock, orderGapMs: 50 });
    assert.equal(await runTo(clock, session.start(), 'login'), JID);
    await clock.run(() => cm.requests.some((r) => r.kind === 'empty'), 'the idle request');
    const idle = cm.last();
    assert.equal(idle.kind, 'empty');
    assert.equal(clock.now(), idle.postedAt);

    session.sendMessage({ to: 'bob@localhost', body: 'x', id: 'g1' });
    await clock.run(() => cm.last().has('message'), 'the message request');
    const msg = cm.last();
    assert.equal(msg.postedAt - idle.postedAt, 50, 'posted exactly orderGapMs after the held request');
    assert.ok(
      idle.answeredAt === undefined || idle.answeredAt >= msg.postedAt,
      'the first request was still unanswered when the gap ran',
    );
    assert.deepEqual(await runTo(clock, session.close(), 'close'), CLEAN_CLIENT_END);
  });
});

describe('polling sessions (requests=1, virtual clock)', () => {
  /** Virtual, so free; long enough that no phase times out on the polling interval. */
  const virtualTimeouts = {
    connect: 10_000,
    open: 10_000,
    auth: 10_000,
    bind: 10_000,
    iq: 10_000,
    close: 10_000,
  };

  test('an empty request is not posted sooner than polling seconds after an empty response', async () => {
    const clock = new VirtualClock();
    const cm = new FakeBosh({ clock, requests: 1, hold: 0, polling: 1 });
    const { session, bosh } = connect(cm, { clock, timeouts: virtualTimeouts });
    assert.equal(await runTo(clock, session.start(), 'login'), JID);
    assert.deepEqual([bosh.granted.requests, bosh.granted.polling], [1, 1]);
    const after = cm.requests.length;
    await clock.run(() => cm.requests.slice(after).filter((r) => r.kind === 'empty').length >= 4, '4 polls');
    const polls = cm.requests.slice(after);
    assert.ok(polls.every((r) => r.kind === 'empty' && r.response?.body === cm.body()));
    for (let i = 1; i < polls.length; i++) {
      const gap = polls[i]!.postedAt - polls[i - 1]!.answeredAt!;
      assert.ok(gap >= 1000 && gap < 1100, `poll ${i} posted ${gap} ms after the previous empty response`);
    }
    assert.equal(cm.maxInFlight, 1);
    assert.deepEqual(await runTo(clock, session.close(), 'close'), CLEAN_CLIENT_END);
    assert.equal(cm.maxInFlight, 1);
  });

  test('a stanza written between polls is posted at once, not held back until the next poll', async () => {
    const clock = new VirtualClock();
    const cm = new FakeBosh({ clock, requests: 1, hold: 0, polling: 1 });
    const { session } = connect(cm, { clock, timeouts: virtualTimeouts });
    await runTo(clock, session.start(), 'login');
    await clock.run(() => cm.last().kind === 'empty' && !cm.last().pending, 'an answered poll');
    const t = clock.now();
    session.sendMessage({ to: 'bob@localhost', body: 'now', id: 'p1' });
    await clock.run(() => cm.last().has('message'), 'the message request', t + 999);
    assert.equal(cm.last().postedAt, t);
  });
});

describe('retries', () => {
  test('a request without HTTP response is re-sent with the same rid and body, up to maxRetries, onRetry each time', async () => {
    let failures = 0;
    const cm = new FakeBosh({
      script: (req) =>
        req.has('auth') && failures++ < 2 ? { status: 0, body: '', error: 'request timeout' } : undefined,
    });
    const retries: string[] = [];
    const { session, bosh } = connect(cm, { maxRetries: 2, onRetry: (r) => retries.push(r) });
    assert.equal(await session.start(), JID);
    const auths = cm.requests.filter((r) => r.has('auth'));
    assert.equal(auths.length, 3);
    assert.equal(new Set(auths.map((r) => r.raw)).size, 1, 'same body, same rid');
    assert.deepEqual(retries, ['no HTTP response (request timeout)', 'no HTTP response (request timeout)']);
    const rids = cm.distinct().map((r) => r.rid);
    rids.forEach((rid, i) => assert.equal(rid, rids[0]! + i));
    assert.equal(bosh.requestCount, cm.requests.length);
    assert.deepEqual(await session.close(), CLEAN_CLIENT_END);
  });

  for (const [error, reason] of [
    ['request timeout', 'transport-error:bosh-timeout'],
    ['dial: connection refused', 'transport-error:bosh-network'],
  ] as const) {
    test(`after maxRetries, '${error}' fails the session as ${reason}`, async () => {
      const cm = new FakeBosh({
        script: (req) => (req.has('auth') ? { status: 0, body: '', error } : undefined),
      });
      const retries: string[] = [];
      const { session } = connect(cm, { maxRetries: 2, onRetry: (r) => retries.push(r) });
      const err = await failureOf(session.start());
      assert.equal(err.reason, reason);
      const auths = cm.requests.filter((r) => r.has('auth'));
      assert.equal(auths.length, 3);
      assert.equal(new Set(auths.map((r) => r.raw)).size, 1);
      assert.equal(retries.length, 2);
      assert.equal(
        err.message,
        `BOSH request rid ${auths[0]!.rid} failed: no HTTP response (${error}), after 2 retries`,
      );
      const end = await session.closed;
      assert.equal(end.clean, false);
      assert.equal(end.error?.reason, reason);
    });
  }

  test('a response body over the HTTP client’s limit is not retried: transport-error:bosh-body-too-large at once', async () => {
    const error =
      'response body larger than 1048576 bytes, the Node engine’s limit for one response body (a safety limit, k6 has none): raise it with starling run --max-response-body <bytes>';
    const cm = new FakeBosh({
      script: (req) => (req.has('auth') ? { status: 0, body: '', error, bodyTooLarge: true } : undefined),
    });
    const retries: string[] = [];
    const { session } = connect(cm, { maxRetries: 3, onRetry: (r) => retries.push(r) });
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'transport-error:bosh-body-too-large');
    assert.equal(
      err.message,
      `BOSH request rid ${cm.requests.find((r) => r.has('auth'))!.rid} failed: no HTTP response (${error}), after 0 retries`,
    );
    assert.equal(
      cm.requests.filter((r) => r.has('auth')).length,
      1,
      'the same oversized answer is not asked for again',
    );
    assert.deepEqual(retries, []);
    await session.closed;
  });

  test('a post that rejects is a network failure; maxRetries 0 fails at once', async () => {
    const cm = new FakeBosh({
      script: (req) => {
        if (req.has('auth')) throw new Error('socket hang up');
        return undefined;
      },
    });
    const retries: string[] = [];
    const { session } = connect(cm, { maxRetries: 0, onRetry: (r) => retries.push(r) });
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'transport-error:bosh-network');
    assert.match(err.message, /no HTTP response \(Error: socket hang up\), after 0 retries$/);
    assert.equal(cm.requests.filter((r) => r.has('auth')).length, 1);
    assert.deepEqual(retries, []);
    await session.closed;
  });

  test("a type='error' body is re-sent the same way", async () => {
    let errors = 0;
    const cm = new FakeBosh({
      script: (req, cm) => (req.has('auth') && errors++ < 2 ? cm.body('', { type: 'error' }) : undefined),
    });
    const retries: string[] = [];
    const { session } = connect(cm, { maxRetries: 2, onRetry: (r) => retries.push(r) });
    assert.equal(await session.start(), JID);
    const auths = cm.requests.filter((r) => r.has('auth'));
    assert.equal(auths.length, 3);
    assert.equal(new Set(auths.map((r) => r.raw)).size, 1);
    assert.deepEqual(retries, [
      "recoverable binding error (type='error')",
      "recoverable binding error (type='error')",
    ]);
    assert.deepEqual(await session.close(), CLEAN_CLIENT_END);
  });

  test("after maxRetries, type='error' fails the session instead of being taken for an empty response", async () => {
    const cm = new FakeBosh({
      script: (req, cm) => (req.has('auth') ? cm.body('', { type: 'error' }) : undefined),
    });
    const { session } = connect(cm, { maxRetries: 1, timeouts: { ...fast, auth: 300 } });
    const err = await failureOf(session.start());
    assert.equal(cm.requests.filter((r) => r.has('auth')).length, 2);
    assert.match(err.message, /type='error'/, `got ${err.reason}: ${err.message}`);
  });
});

describe('the server ends the session', () => {
  for (const [condition, inner, text] of [
    ['item-not-found', '', /terminated by the server: item-not-found \(the server does not know this sid/],
    ['remote-connection-failed', '', /terminated by the server: remote-connection-failed \(the connection/],
    ['policy-violation', '', /terminated by the server: policy-violation \(too many requests/],
    [
      'see-other-uri',
      '<uri>https://other.example/http-bind</uri>',
      /terminated by the server: see-other-uri \(https:\/\/other\.example\/http-bind\)$/,
    ],
  ] as const) {
    test(`terminate condition='${condition}' ends the session at once, while an earlier request is still held`, async () => {
      const cm = new FakeBosh({ script: holdAfterLogin() });
      const { session, idle } = await loggedIn(cm);
      session.sendMessage({ to: 'bob@localhost', body: 'x', id: 'm1' });
      await until(() => cm.requests.length === 6, 'the second request');
      cm.last().respond(cm.body(inner, { type: 'terminate', condition }));
      const end = await within(session.closed, 500, 'the session end');
      assert.equal(end.error?.reason, `bosh-terminate:${condition}`);
      assert.match(end.error!.message, text);
      assert.equal(end.clean, false);
      assert.equal(end.initiator, 'transport');
      assert.ok(idle.pending, 'the earlier held request is still unanswered');
      assert.deepEqual(
        session.redirect,
        condition === 'see-other-uri'
          ? { kind: 'see-other-uri', to: 'https://other.example/http-bind' }
          : undefined,
      );
    });
  }

  test('a fatal terminate behind an XML declaration still ends the session at once', async () => {
    const cm = new FakeBosh({ script: holdAfterLogin() });
    const { session, idle } = await loggedIn(cm);
    session.sendMessage({ to: 'bob@localhost', body: 'x', id: 'm1' });
    await until(() => cm.requests.length === 6, 'the second request');
    cm.last().respond(
      `<?xml version='1.0'?>` + cm.body('', { type: 'terminate', condition: 'item-not-found' }),
    );
    const end = await within(session.closed, 500, 'the session end');
    assert.equal(end.error?.reason, 'bosh-terminate:item-not-found');
    assert.ok(idle.pending, 'the earlier held request is still unanswered');
  });

  test('after a fatal terminate nothing more is posted to the dead session', async () => {
    const cm = new FakeBosh({ script: holdAfterLogin() });
    const { session } = await loggedIn(cm);
    session.sendMessage({ to: 'bob@localhost', body: 'x', id: 'm1' });
    await until(() => cm.requests.length === 6, 'the second request');
    cm.last().respond(cm.body('', { type: 'terminate', condition: 'item-not-found' }));
    await within(session.closed, 500, 'the session end');
    await tick();
    assert.deepEqual(
      cm.requests.slice(6).map((r) => r.kind),
      [],
    );
  });

  test('legacy HTTP 404 mid-session is item-not-found, at once, while an earlier request is still held', async () => {
    const cm = new FakeBosh({ script: holdAfterLogin() });
    const { session, idle } = await loggedIn(cm);
    session.sendMessage({ to: 'bob@localhost', body: 'x', id: 'm1' });
    await until(() => cm.requests.length === 6, 'the second request');
    const second = cm.last();
    second.respond({ status: 404, body: '' });
    const end = await within(session.closed, 500, 'the session end');
    assert.equal(end.error?.reason, 'bosh-terminate:item-not-found');
    assert.equal(
      end.error?.message,
      `BOSH connection manager answered rid ${second.rid} with HTTP 404 (legacy item-not-found, XEP-0124 §17.3)`,
    );
    assert.ok(idle.pending);
  });

  for (const [status, reason, text] of [
    [500, 'bosh-terminate:http-500', /with HTTP 500: Internal Server Error$/],
    [403, 'bosh-terminate:policy-violation', /with HTTP 403 \(legacy policy-violation/],
    [400, 'bosh-terminate:bad-request', /with HTTP 400 \(legacy bad-request/],
  ] as const) {
    test(`HTTP ${status} to the creation request fails as ${reason}`, async () => {
      const cm = new FakeBosh({
        script: (req) =>
          req.kind === 'create' ? { status, body: status === 500 ? 'Internal Server Error' : '' } : undefined,
      });
      const { session } = connect(cm);
      const err = await failureOf(session.start());
      assert.equal(err.reason, reason);
      assert.match(err.message, text);
      assert.equal((await session.closed).error?.reason, reason);
      assert.equal(cm.requests.length, 1);
    });
  }

  for (const [name, reply, reason] of [
    ['without sid', `<body xmlns='${HTTPBIND}' requests='2' wait='5'/>`, 'framing-violation:no-sid'],
    ['not a <body>', '<html><body>It works!</body></html>', 'framing-violation:expected-body'],
    ['a <body> in no namespace', "<body sid='s1'/>", 'framing-violation:expected-body'],
    ['malformed XML', `<body xmlns='${HTTPBIND}' sid='s1'><a></b></body>`, 'framing-violation:unbalanced'],
    ['truncated XML', `<body xmlns='${HTTPBIND}' sid='s1'`, 'framing-violation:truncated'],
  ] as const) {
    test(`a creation response ${name} fails as ${reason}`, async () => {
      const cm = new FakeBosh({ script: (req) => (req.kind === 'create' ? reply : undefined) });
      const { session } = connect(cm);
      const err = await failureOf(session.start());
      assert.equal(err.reason, reason);
      const end = await session.closed;
      assert.equal(end.error?.reason, reason);
      assert.equal(end.clean, false);
      assert.equal(cm.requests.length, 1, 'nothing more is posted');
    });
  }

  test('a plain terminate is the server closing the stream: stanzas first, clean end initiated by the server, nothing posted after', async () => {
    const cm = new FakeBosh({ script: holdAfterLogin() });
    const { session, idle } = await loggedIn(cm);
    const got: string[] = [];
    session.onMessage((el) => got.push(el.attr('id')!));
    const before = cm.requests.length;
    idle.respond(cm.body(chat(cm, 'bye'), { type: 'terminate' }));
    const end = await within(session.closed, 500, 'the session end');
    assert.deepEqual(end, {
      clean: true,
      initiator: 'server',
      code: 1000,
      reason: 'terminated',
      error: undefined,
    });
    assert.deepEqual(got, ['bye']);
    await tick();
    assert.equal(cm.requests.length, before, 'no request after the terminate');
  });

  test('remote-stream-error carrying <stream:error><conflict/> (prefix declared on <body>) is stream-error:conflict', async () => {
    const cm = new FakeBosh({ style: 'ejabberd', script: holdAfterLogin() });
    const { session, idle } = await loggedIn(cm);
    const before = cm.requests.length;
    const STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams';
    idle.respond(
      cm.body(
        `<stream:error><conflict xmlns='${STREAM_ERRORS}'/><text xmlns='${STREAM_ERRORS}'>Replaced by new connection</text></stream:error>`,
        { type: 'terminate', condition: 'remote-stream-error' },
      ),
    );
    const end = await within(session.closed, 500, 'the session end');
    assert.equal(end.error?.reason, 'stream-error:conflict');
    assert.equal(end.error?.serverText, 'Replaced by new connection');
    assert.equal(end.initiator, 'server');
    assert.equal(end.clean, false);
    await tick();
    assert.equal(cm.requests.length, before, 'no request after the terminate');
  });
});

describe('ejabberd style', () => {
  test('stanzas without xmlns reach the session as jabber:client; stream:features declared only on <body> works', async () => {
    const inFrames: string[] = [];
    const cm = new FakeBosh({ style: 'ejabberd' });
    const { session } = await loggedIn(cm, { onFrame: (d, f) => void (d === 'in' && inFrames.push(f)) });
    assert.match(
      cm.requests[0]!.response!.body,
      new RegExp(`^<body xmlns='${HTTPBIND}' xmlns:stream='${STREAMS}' [^>]*><stream:features><mechanisms`),
      'the fake declares the stream prefix only on <body>',
    );
    assert.equal(
      inFrames[1],
      `<stream:features xmlns:stream='${STREAMS}'><mechanisms xmlns='${SASL}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
    );

    const got: XmlElement[] = [];
    session.onMessage((el) => got.push(el));
    cm.push(`<message from='bob@localhost/x' to='${JID}' type='chat' id='e1'><body>hi</body></message>`);
    await until(() => got.length === 1, 'the message');
    const m = got[0]!;
    assert.equal(m.ns, CLIENT);
    assert.equal(m.attr('xmlns'), CLIENT);
    assert.equal(m.getChild('body')?.ns, CLIENT);
    assert.equal(m.getChildText('body', CLIENT), 'hi');
    assert.equal(
      inFrames.at(-1),
      `<message from='bob@localhost/x' to='${JID}' type='chat' id='e1' xmlns='${CLIENT}'><body>hi</body></message>`,
    );
    assert.equal(parseFrame(inFrames.at(-1)!).ns, CLIENT);
    assert.deepEqual(await session.close(), CLEAN_CLIENT_END);
  });

  for (const order of ['held request first', 'terminate answer first'] as const) {
    test(`condition='other-request' on the held request after our terminate is a clean end (${order})`, async () => {
      const cm = new FakeBosh({ style: 'ejabberd', script: holdAfterLogin() });
      const { session, idle } = await loggedIn(cm);
      const closed = session.close();
      await until(() => cm.last().kind === 'terminate', 'the terminate request');
      const terminate = cm.last();
      const superseded = () => idle.respond(cm.body('', { type: 'terminate', condition: 'other-request' }));
      const ack = () => terminate.respond(cm.body('', { type: 'terminate' }));
      if (order === 'held request first') {
        superseded();
        ack();
      } else {
        ack();
        superseded();
      }
      assert.deepEqual(await within(closed, 500, 'the session end'), CLEAN_CLIENT_END);
    });
  }

  test("condition='other-request' before we sent a terminate is a failure", async () => {
    const cm = new FakeBosh({ style: 'ejabberd', script: holdAfterLogin() });
    const { session, idle } = await loggedIn(cm);
    idle.respond(cm.body('', { type: 'terminate', condition: 'other-request' }));
    const end = await within(session.closed, 500, 'the session end');
    assert.equal(end.error?.reason, 'bosh-terminate:other-request');
    assert.equal(end.clean, false);
  });
});
