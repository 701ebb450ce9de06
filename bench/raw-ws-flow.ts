/**
 * The floor of bench/standard-flow.ts: the standard flow done by the least a WebSocket client can do, in plain
 * Node on the `ws` package, with string templates out and indexOf/startsWith in (no XML parser). It still waits
 * for every answer the flow depends on (stream features, SASL success, features after the restart, the bind
 * result, the echo of its initial presence, the server's <close/>), so it measures what a session costs, not
 * what skipping the protocol saves.
 *
 * USERS users arrive at RATE per second (a Poisson process, open model). Each: WebSocket connect (subprotocol
 * xmpp) → <open/> → SASL PLAIN → stream restart → bind → initial presence → think → MESSAGES × (a chat message
 * of BODY_SIZE characters to the bare JID of a random other online user; think) → <close/> → WebSocket close.
 * A user can be picked as a recipient once the server has echoed its presence, and stops being picked once it has
 * sent its last message, as in scenarios/churn.ts.
 *
 *   node <built raw-ws-flow.cjs> --url ws://127.0.0.1:5280/xmpp-websocket --domain localhost \
 *     [--users 2000] [--rate 200] [--messages 10] [--think 200] [--body-size 56] [--timeout 15000]
 *
 * bench/standard-flow.ts compiles it once with esbuild (bundled, CommonJS) and runs it with plain `node`, so no
 * TypeScript loader is in the measurement. Prints one JSON line of counts and exits 1 if any user failed.
 */
import WebSocket from 'ws';
// Bundled in by esbuild with the rest: the built script needs nothing but node and ws.
import { benchArgs, BenchArgError, flag } from './lib/args.ts';

const args = benchArgs({
  name: 'raw-ws-flow',
  flags: {
    url: flag.string({ help: "the server's WebSocket endpoint (required)", value: 'ws://…/xmpp-websocket' }),
    domain: flag.string({ help: 'the XMPP domain', default: 'localhost' }),
    users: flag.whole({ help: 'users in the flow', default: '2000' }),
    rate: flag.positive({ help: 'arrivals per second (Poisson)', default: '200' }),
    messages: flag.whole({ help: 'chat messages per user', min: 0, default: '10' }),
    think: flag.whole({ help: 'think time, milliseconds', min: 0, default: '200' }),
    'body-size': flag.whole({ help: 'characters per message body', default: '56' }),
    timeout: flag.whole({ help: 'milliseconds a user waits for each answer', default: '15000' }),
  },
  check: (v) => {
    if (!v.url) throw new BenchArgError('--url', 'is required: --url ws://…/xmpp-websocket');
  },
});
const URL = args.url!;
const DOMAIN = args.domain;
const USERS = args.users;
const RATE = args.rate;
const MESSAGES = args.messages;
const THINK_MS = args.think;
const TIMEOUT_MS = args.timeout;
const BODY = 'x'.repeat(args['body-size']);

const OPEN = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${DOMAIN}' version='1.0'/>`;
const CLOSE = `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`;
// Each WebSocket frame is a document of its own (RFC 7395 §3.3.3): stanzas name their namespace.
const BIND = `<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`;
const PRESENCE = "<presence xmlns='jabber:client'/>";

const stats = {
  users: USERS,
  connected: 0,
  authenticated: 0,
  bound: 0,
  presences: 0,
  sent: 0,
  received: 0,
  closedClean: 0,
  failed: 0,
  failures: {} as Record<string, number>,
};

/** What a user waits for next; 'think' and 'done' wait for nothing from the server. */
type Step =
  'connect' | 'features' | 'success' | 'bindFeatures' | 'bound' | 'presence' | 'think' | 'closing' | 'done';

interface User {
  n: number;
  ws: WebSocket;
  step: Step;
  deadline: number;
  /** Index in `online` while it may be picked as a recipient, else -1. */
  slot: number;
}

/** Users that may receive: an array with swap-remove, so picking and leaving are O(1). */
const online: User[] = [];
const active = new Set<User>();

function goOnline(u: User): void {
  u.slot = online.push(u) - 1;
}

function goOffline(u: User): void {
  if (u.slot < 0) return;
  const last = online.pop()!;
  if (last !== u) {
    online[u.slot] = last;
    last.slot = u.slot;
  }
  u.slot = -1;
}

function pickOther(u: User): User {
  if (online.length < 2) return u; // alone: to itself, as starling's pickPeer
  for (;;) {
    const p = online[Math.floor(Math.random() * online.length)]!;
    if (p !== u) return p;
  }
}

function expect(u: User, step: Step): void {
  u.step = step;
  u.deadline = Date.now() + TIMEOUT_MS;
}

function fail(u: User, reason: string): void {
  if (u.step === 'done') return;
  u.step = 'done';
  active.delete(u);
  goOffline(u);
  stats.failed++;
  stats.failures[reason] = (stats.failures[reason] ?? 0) + 1;
  u.ws.terminate();
  maybeFinish();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function talk(u: User): Promise<void> {
  await sleep(THINK_MS);
  for (let i = 0; i < MESSAGES; i++) {
    if (u.step !== 'think') return;
    const to = pickOther(u);
    u.ws.send(
      `<message xmlns='jabber:client' to='user${to.n}@${DOMAIN}' type='chat' id='m${i}'><body>${BODY}</body></message>`,
    );
    stats.sent++;
    if (i === MESSAGES - 1) goOffline(u);
    await sleep(THINK_MS);
  }
  if (u.step !== 'think') return;
  goOffline(u);
  expect(u, 'closing');
  u.ws.send(CLOSE);
}

function onFrame(u: User, text: string): void {
  // A chat message can arrive at any time after presence; everything else answers the step we are in.
  if (text.startsWith('<message')) {
    if (text.indexOf("type='chat'") > 0 || text.indexOf('type="chat"') > 0) stats.received++;
    return;
  }
  switch (u.step) {
    case 'features':
    case 'bindFeatures':
      if (!text.startsWith('<stream:features')) return; // the <open/> before them
      if (u.step === 'features') {
        if (text.indexOf('>PLAIN<') < 0) return fail(u, 'no-plain');
        const initial = Buffer.from(`\0user${u.n}\0pass${u.n}`).toString('base64');
        expect(u, 'success');
        u.ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${initial}</auth>`);
      } else {
        if (text.indexOf('urn:ietf:params:xml:ns:xmpp-bind') < 0) return fail(u, 'no-bind');
        expect(u, 'bound');
        u.ws.send(BIND);
      }
      return;
    case 'success':
      if (text.startsWith('<success')) {
        stats.authenticated++;
        expect(u, 'bindFeatures');
        u.ws.send(OPEN);
      } else if (text.startsWith('<failure')) fail(u, 'sasl-failure');
      return;
    case 'bound':
      if (!text.startsWith('<iq') || text.indexOf("id='bind'") < 0) return;
      if (text.indexOf("type='result'") < 0) return fail(u, 'bind-error');
      stats.bound++;
      expect(u, 'presence');
      u.ws.send(PRESENCE);
      return;
    case 'presence':
      // The server's broadcast of our presence back to us: it has processed it, so a message to us now is
      // delivered, not bounced (starling's userFlow waits for the same before a user can be picked).
      if (!text.startsWith('<presence')) return;
      stats.presences++;
      goOnline(u);
      expect(u, 'think');
      u.deadline = Infinity;
      void talk(u);
      return;
    case 'closing':
      if (text.startsWith('<close')) u.ws.close(1000);
      return;
    default:
      if (text.startsWith('<stream:error')) fail(u, 'stream-error');
  }
}

function start(n: number): void {
  const ws = new WebSocket(URL, 'xmpp', { perMessageDeflate: false, skipUTF8Validation: true });
  const u: User = { n, ws, step: 'connect', deadline: Date.now() + TIMEOUT_MS, slot: -1 };
  active.add(u);
  ws.on('open', () => {
    stats.connected++;
    expect(u, 'features');
    ws.send(OPEN);
  });
  ws.on('message', (data) => onFrame(u, String(data)));
  ws.on('error', (err) => fail(u, `ws-error:${(err as NodeJS.ErrnoException).code ?? err.message}`));
  ws.on('close', (code) => {
    if (u.step === 'closing' && code === 1000) {
      stats.closedClean++;
      u.step = 'done';
      active.delete(u);
      maybeFinish();
    } else fail(u, `closed-at-${u.step}:${code}`);
  });
}

let arrived = 0;
function maybeFinish(): void {
  if (arrived < USERS || active.size > 0) return;
  clearInterval(watchdog);
  process.stdout.write(JSON.stringify(stats) + '\n');
  process.exitCode = stats.failed > 0 ? 1 : 0;
}

// One timer checks every deadline, instead of one timer per step per user.
const watchdog = setInterval(() => {
  const now = Date.now();
  for (const u of active) if (now > u.deadline) fail(u, `timeout:${u.step}`);
}, 1000);

// Poisson arrivals: exponential gaps, each scheduled from the start so timer lateness does not accumulate.
const t0 = Date.now();
let at = 0;
function arrive(): void {
  while (arrived < USERS && Date.now() - t0 >= at) {
    start(++arrived);
    at += -Math.log(1 - Math.random()) * (1000 / RATE);
  }
  if (arrived < USERS) setTimeout(arrive, Math.max(0, at - (Date.now() - t0)));
}
at = -Math.log(1 - Math.random()) * (1000 / RATE);
setTimeout(arrive, at);
