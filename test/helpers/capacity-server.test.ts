/**
 * The capacity server (capacity-server.ts) with starling itself as its client, as `starling capacity`'s acceptance
 * test uses it: logins below R are answered at once and the sessions work end to end (messages, presence, pings,
 * clean close); logins above R queue, and the server never grants more than its bucket allows.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startCapacityServer, type CapacityServer } from './capacity-server.ts';
import { envArgs, readPoints, runStarling } from './cli.ts';

interface Summary {
  metrics: Record<string, { values: Record<string, number> } | undefined>;
}

let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'starling-capacity-server-'));
  if (!existsSync('dist/scenarios/churn.js') || !existsSync('dist/scenarios/idle.js')) {
    const b = await runStarling(['build']);
    assert.equal(b.code, 0, b.output);
  }
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** `starling run <scenario> --engine node` against `server`; the exit code and summary.json. */
async function run(
  server: CapacityServer,
  scenario: string,
  vars: Record<string, string>,
): Promise<{ code: number | null; output: string; summary: Summary; samples: string }> {
  const root = await mkdtemp(join(tmp, `${scenario}-`));
  const samples = `${root}.json`;
  const r = await runStarling([
    'run',
    scenario,
    '--engine',
    'node',
    '-q',
    '--results-root',
    root,
    '--out',
    `json=${samples}`,
    ...envArgs({ XMPP_URL: server.url, XMPP_DOMAIN: server.domain, XMPP_MECHANISMS: 'PLAIN', ...vars }),
  ]);
  const dirs = await readdir(root);
  assert.equal(dirs.length, 1, `one run directory in ${root}: ${dirs.join(', ')}\n${r.output}`);
  const summary = JSON.parse(await readFile(join(root, dirs[0]!, 'summary.json'), 'utf8')) as Summary;
  return { code: r.code, output: r.output, summary, samples };
}

function metric(s: Summary, name: string, value: string): number {
  const v = s.metrics[name]?.values[value];
  assert.ok(v !== undefined, `${name}.${value} in summary.json: ${JSON.stringify(s.metrics[name])}`);
  return v;
}

/** Runs `fn` against a fresh capacity server, closed afterwards whatever happens. */
async function withServer(
  options: Parameters<typeof startCapacityServer>[0],
  fn: (server: CapacityServer) => Promise<void>,
): Promise<void> {
  const server = await startCapacityServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

describe('capacity server', () => {
  test('below R (50/s, 20 offered for 2 s): every login answered at once, messages delivered', async () => {
    await withServer({ loginsPerSecond: 50 }, async (server) => {
      const r = await run(server, 'churn', {
        USERS: '40',
        ARRIVAL_RATE: '20',
        MESSAGES: '1',
        THINK: '100ms',
        VUS: '1',
      });
      assert.equal(r.code, 0, r.output);
      const s = r.summary;
      assert.equal(metric(s, 'xmpp_login_success', 'rate'), 1);
      assert.equal(metric(s, 'xmpp_sessions_opened', 'count'), 40);
      assert.equal(metric(s, 'xmpp_message_loss', 'rate'), 0);
      assert.equal(metric(s, 'xmpp_message_loss', 'fails') + metric(s, 'xmpp_message_loss', 'passes'), 40);
      assert.equal(metric(s, 'xmpp_clean_close', 'rate'), 1);
      // Poisson arrivals can bunch past the burst of 5, but each waits at most a token's 20 ms per auth ahead of it.
      assert.ok(metric(s, 'xmpp_session_ready', 'p(95)') < 250, JSON.stringify(s.metrics.xmpp_session_ready));
      assert.deepEqual(
        { ...server.stats(), maxQueue: 0 },
        {
          connections: 40,
          openConnections: 0,
          authRequests: 40,
          loginsGranted: 40,
          maxQueue: 0,
          queued: 0,
          online: 0,
          messagesRouted: 40,
          messagesBounced: 0,
          presencesReflected: 40,
          presencesRouted: 0,
          pings: 0,
        },
      );
    });
  });

  test('above R (20/s, 60 offered at 60/s): logins queue, and no window ever holds more than the bucket', async () => {
    await withServer({ loginsPerSecond: 20 }, async (server) => {
      assert.equal(server.burst, 2);
      const r = await run(server, 'churn', {
        USERS: '60',
        ARRIVAL_RATE: '60',
        MESSAGES: '1',
        THINK: '100ms',
        VUS: '1',
      });
      // The queue may push session_ready's p95 past churn's 3 s threshold (99); anything else is a failure.
      assert.ok(r.code === 0 || r.code === 99, r.output);
      const s = r.summary;
      assert.equal(metric(s, 'xmpp_login_success', 'rate'), 1);
      assert.equal(metric(s, 'xmpp_sessions_opened', 'count'), 60);
      // The last arrival comes about 1 s after the first, its grant (60 − 2)/20 s after the first grant.
      assert.ok(metric(s, 'xmpp_session_ready', 'max') > 1000, JSON.stringify(s.metrics.xmpp_session_ready));

      const st = server.stats();
      assert.equal(st.authRequests, 60);
      assert.equal(st.loginsGranted, 60);
      assert.equal(st.queued, 0);
      assert.equal(st.online, 0);
      assert.ok(st.maxQueue >= 20, `maxQueue ${st.maxQueue}`);
      const grants = server.grantTimesUs();
      assert.equal(grants.length, 60);
      assert.ok(server.maxGrantedInAnyWindow(1000) <= 20 + 2, `${server.maxGrantedInAnyWindow(1000)} in 1 s`);
      assert.ok(server.maxGrantedInAnyWindow(1000) >= 18, `${server.maxGrantedInAnyWindow(1000)} in 1 s`);
      const spanUs = grants[59]! - grants[0]!;
      assert.ok(spanUs >= ((60 - 2) * 1e6) / 20, `first to last grant: ${spanUs} µs`);
      // …and not much more: the bucket is the only thing that held them back.
      assert.ok(spanUs < 3.5e6, `first to last grant: ${spanUs} µs`);
    });
  });

  test('chat: every session sends MESSAGE_RATE on time, not a rate that drifts down by each timer delay', async () => {
    await withServer({ loginsPerSecond: 1000 }, async (server) => {
      // 10 sessions × 100/s for 2 s: 2,000 messages on a 10 ms grid each. Sleeping 10 ms after every send
      // sent 5–10 % fewer (each timer fires late by a millisecond or more).
      const r = await run(server, 'chat', {
        VUS: '1',
        SESSIONS_PER_VU: '10',
        LOGIN_RATE: '1000',
        MESSAGE_RATE: '100',
        DURATION: '2s',
      });
      assert.equal(r.code, 0, r.output);
      const routed = server.stats().messagesRouted;
      assert.ok(routed >= 1980 && routed <= 2010, `${routed} messages routed, 2000 offered`);
      assert.equal(metric(r.summary, 'xmpp_message_loss', 'rate'), 0);
    });
  });

  test('idle: pings answered, sessions closed cleanly', async () => {
    await withServer({ loginsPerSecond: 200 }, async (server) => {
      const r = await run(server, 'idle', {
        VUS: '1',
        SESSIONS_PER_VU: '20',
        LOGIN_RATE: '100',
        DURATION: '3s',
        PING_INTERVAL: '1s',
      });
      assert.equal(r.code, 0, r.output);
      const s = r.summary;
      // A Trend's summary has no count (k6's default summaryTrendStats): the samples have.
      const pings = (await readPoints(r.samples, 'xmpp_iq_rtt')).length;
      assert.ok(pings >= 20, `${pings} pings`);
      assert.equal(metric(s, 'xmpp_clean_close', 'rate'), 1);
      assert.equal(metric(s, 'xmpp_sessions_opened', 'count'), 20);
      const st = server.stats();
      assert.equal(st.pings, pings);
      assert.equal(st.loginsGranted, 20);
      assert.equal(st.online, 0);
      assert.equal(st.openConnections, 0);
    });
  });

  test('framing: subprotocol echoed, stanza children kept byte for byte, bounces and the close handshake', async () => {
    await withServer({ loginsPerSecond: 1000 }, async (server) => {
      const a = await login(server.url, 'alice', 'phone');
      const b = await login(server.url, 'bob');
      assert.equal(a.ws.protocol, 'xmpp');
      assert.equal(a.jid, 'alice@localhost/phone');
      assert.match(b.jid, /^bob@localhost\/r\d+$/);

      // To the bare JID, in double quotes, with a from of its own: delivered with the sender's from, content untouched.
      const payload = `<body>a &amp; b &lt;c&gt;</body><t xmlns="urn:x-starling:timing:0" ms='1' k="1.1"/>`;
      a.ws.send(
        `<message xmlns="jabber:client" from="mallory@localhost" to="bob@localhost" id="m1">${payload}</message>`,
      );
      assert.equal(
        await b.next(),
        `<message xmlns="jabber:client" to="bob@localhost" id="m1" from='alice@localhost/phone'>${payload}</message>`,
      );
      // To a full JID nobody holds: bounced.
      a.ws.send(`<message xmlns='jabber:client' to='bob@localhost/nope' id='m2'><body>x</body></message>`);
      assert.equal(
        await a.next(),
        `<message xmlns='jabber:client' type='error' id='m2' from='bob@localhost/nope' to='alice@localhost/phone'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
      );
      a.ws.send(`<presence xmlns='jabber:client'/>`);
      assert.equal(await a.next(), `<presence xmlns='jabber:client' from='alice@localhost/phone'/>`);
      a.ws.send(
        `<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`,
      );
      assert.equal(
        await a.next(),
        `<iq xmlns='jabber:client' type='result' id='p1' to='alice@localhost/phone' from='localhost'/>`,
      );
      a.ws.send(`<iq xmlns='jabber:client' type='get' id='q1'><query xmlns='jabber:iq:roster'/></iq>`);
      assert.equal(
        await a.next(),
        `<iq xmlns='jabber:client' type='result' id='q1' to='alice@localhost/phone'/>`,
      );

      a.ws.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`);
      assert.equal(await a.next(), `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`);
      a.ws.close(1000);
      // bob did not close: the server closes his WebSocket 2 s after the <close/> exchange.
      b.ws.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`);
      assert.equal(await b.next(), `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`);
      const t = Date.now();
      const code = await new Promise<number>((r) => b.ws.once('close', (c: number) => r(c)));
      assert.equal(code, 1000);
      assert.ok(Date.now() - t > 1500, `closed after ${Date.now() - t} ms`);
      const st = server.stats();
      assert.equal(st.messagesRouted, 1);
      assert.equal(st.messagesBounced, 1);
      assert.equal(st.online, 0);
    });
  });

  test('a full bucket answers `burst` logins at once, then one per 1/R', async () => {
    await withServer({ loginsPerSecond: 10, burst: 3 }, async (server) => {
      const t = Date.now();
      const sessions = await Promise.all(
        Array.from({ length: 5 }, (_, i) => login(server.url, `u${i}`).then(() => Date.now() - t)),
      );
      const at = sessions.sort((x, y) => x - y);
      assert.ok(at[2]! < 80, `third login after ${at[2]} ms`);
      assert.ok(at[3]! >= 95 && at[4]! >= 195, `logins after ${at.join(', ')} ms`);
      assert.equal(server.maxGrantedInAnyWindow(150), 4);
      await assert.rejects(startCapacityServer({ loginsPerSecond: 0 }), RangeError);
      await assert.rejects(startCapacityServer({ loginsPerSecond: 10, burst: 0.5 }), RangeError);
    });
  });

  test('an auth whose client leaves while it waits spends no token', async () => {
    await withServer({ loginsPerSecond: 10, burst: 1 }, async (server) => {
      await login(server.url, 'first');
      const [leaver, waiter] = await Promise.all([connect(server.url), connect(server.url)]);
      sendAuth(leaver.ws, 'leaver');
      await new Promise((r) => setTimeout(r, 20));
      sendAuth(waiter.ws, 'waiter');
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(server.stats().queued, 2);
      // The <close/> of a client whose auth timed out, as starling sends it.
      leaver.ws.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`);
      assert.equal(await leaver.next(), `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`);
      assert.equal(await waiter.next(), `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`);
      const st = server.stats();
      assert.deepEqual([st.authRequests, st.loginsGranted, st.maxQueue, st.queued], [3, 2, 2, 0]);
      const grants = server.grantTimesUs();
      assert.ok(grants[1]! - grants[0]! >= 100_000 && grants[1]! - grants[0]! < 150_000, grants.join(', '));
    });
  });
});

interface RawClient {
  ws: WebSocket;
  jid: string;
  /** The next frame from the server. */
  next(): Promise<string>;
}

/** A WebSocket to the server whose stream is open and offers PLAIN. */
async function connect(url: string): Promise<Omit<RawClient, 'jid'>> {
  const ws = new WebSocket(url, ['xmpp']);
  const inbox: string[] = [];
  const waiters: ((f: string) => void)[] = [];
  ws.on('message', (d) => {
    const w = waiters.shift();
    if (w) w(d.toString());
    else inbox.push(d.toString());
  });
  const next = (): Promise<string> =>
    inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiters.push(r));
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  ws.send(OPEN);
  assert.match(
    await next(),
    /^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='[^']+' version='1.0'/,
  );
  assert.match(await next(), /<mechanism>PLAIN<\/mechanism>/);
  return { ws, next };
}

const OPEN = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`;

function sendAuth(ws: WebSocket, user: string): void {
  const b64 = Buffer.from(`\0${user}\0secret`).toString('base64');
  ws.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${b64}</auth>`);
}

/** Logs in by hand, frame by frame, checking each answer. */
async function login(url: string, user: string, resource?: string): Promise<RawClient> {
  const { ws, next } = await connect(url);
  sendAuth(ws, user);
  assert.equal(await next(), `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`);
  ws.send(OPEN);
  assert.match(await next(), /^<open /);
  assert.match(await next(), /<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'\/>/);
  const res = resource ? `<resource>${resource}</resource>` : '';
  ws.send(
    `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${res}</bind></iq>`,
  );
  const bound = await next();
  const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1];
  assert.ok(jid, bound);
  return { ws, jid, next };
}
