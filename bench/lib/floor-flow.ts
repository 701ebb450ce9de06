/**
 * The floor's flow, with no transport and no runtime of its own: bench/raw-ws-flow.ts runs it on Node and `ws`,
 * bench/k6/raw-flow.ts on `k6/websockets` (starling's Node engine), so the two differ only by what runs them and
 * `k6-raw ÷ raw` in the bench is the engine's cost. Plain TypeScript: it must bundle for both.
 *
 * USERS users arrive at RATE per second (a Poisson process, open model). Each: connect → <open/> → SASL PLAIN →
 * stream restart → bind → initial presence → think → MESSAGES × (a chat message of the body's length to the bare
 * JID of a random other online user; think) → <close/> → the transport's close. String templates out,
 * indexOf/startsWith in (no XML parser), but every answer the flow depends on is waited for (stream features, SASL
 * success, features after the restart, the bind result, the echo of its initial presence, the server's <close/>).
 * A user can be picked as a recipient once the server has echoed its presence, and stops being picked once it has
 * sent its last message, as in scenarios/churn.ts.
 */

export interface FloorOptions {
  domain: string;
  users: number;
  /** Arrivals per second. */
  rate: number;
  messages: number;
  thinkMs: number;
  /** How long a user waits for each answer before it fails with `timeout:<step>`. */
  timeoutMs: number;
  body: string;
  /** Base64 of the UTF-8 bytes of a string (SASL PLAIN's initial response). */
  base64(s: string): string;
}

/** What the flow asks of a connection. */
export interface FloorSocket {
  send(text: string): void;
  /** The clean close (code 1000), after the server's <close/>. */
  close(): void;
  /** Drop a failed user's connection. */
  drop(): void;
}

/** What a connection tells the flow. */
export interface FloorEvents {
  opened(): void;
  frame(text: string): void;
  /** The connection failed; `reason` becomes the failure's name (`ws-error:…`). */
  error(reason: string): void;
  closed(code: number): void;
}

/** The counts the floor prints (or logs) as one JSON line; the bench reads `failed` and `failures`. */
export interface FloorStats {
  users: number;
  connected: number;
  authenticated: number;
  bound: number;
  presences: number;
  sent: number;
  received: number;
  closedClean: number;
  failed: number;
  failures: Record<string, number>;
}

/** What a user waits for next; 'think' and 'done' wait for nothing from the server. */
type Step =
  'connect' | 'features' | 'success' | 'bindFeatures' | 'bound' | 'presence' | 'think' | 'closing' | 'done';

interface User {
  n: number;
  socket: FloorSocket;
  step: Step;
  deadline: number;
  /** Index in `online` while it may be picked as a recipient, else -1. */
  slot: number;
}

/**
 * Runs the whole flow: `connect` opens user n's connection and wires its events to the ones given; `done` gets
 * the counts once every user has closed or failed. Timers are the runtime's own (Node's, or k6's globals).
 */
export function runFloor(
  o: FloorOptions,
  connect: (n: number, events: FloorEvents) => FloorSocket,
  done: (stats: FloorStats) => void,
): void {
  const OPEN = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${o.domain}' version='1.0'/>`;
  const CLOSE = `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`;
  // Each WebSocket frame is a document of its own (RFC 7395 §3.3.3): stanzas name their namespace.
  const BIND = `<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`;
  const PRESENCE = "<presence xmlns='jabber:client'/>";
  const stats: FloorStats = {
    users: o.users,
    connected: 0,
    authenticated: 0,
    bound: 0,
    presences: 0,
    sent: 0,
    received: 0,
    closedClean: 0,
    failed: 0,
    failures: {},
  };
  /** Users that may receive: an array with swap-remove, so picking and leaving are O(1). */
  const online: User[] = [];
  const active = new Set<User>();
  let arrived = 0;

  const goOnline = (u: User): void => {
    u.slot = online.push(u) - 1;
  };
  const goOffline = (u: User): void => {
    if (u.slot < 0) return;
    const last = online.pop()!;
    if (last !== u) {
      online[u.slot] = last;
      last.slot = u.slot;
    }
    u.slot = -1;
  };
  const pickOther = (u: User): User => {
    if (online.length < 2) return u; // alone: to itself, as starling's pickPeer
    for (;;) {
      const p = online[Math.floor(Math.random() * online.length)]!;
      if (p !== u) return p;
    }
  };
  const expect = (u: User, step: Step): void => {
    u.step = step;
    u.deadline = Date.now() + o.timeoutMs;
  };
  const fail = (u: User, reason: string): void => {
    if (u.step === 'done') return;
    u.step = 'done';
    active.delete(u);
    goOffline(u);
    stats.failed++;
    stats.failures[reason] = (stats.failures[reason] ?? 0) + 1;
    u.socket.drop();
    maybeFinish();
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  async function talk(u: User): Promise<void> {
    await sleep(o.thinkMs);
    for (let i = 0; i < o.messages; i++) {
      if (u.step !== 'think') return;
      const to = pickOther(u);
      u.socket.send(
        `<message xmlns='jabber:client' to='user${to.n}@${o.domain}' type='chat' id='m${i}'><body>${o.body}</body></message>`,
      );
      stats.sent++;
      if (i === o.messages - 1) goOffline(u);
      await sleep(o.thinkMs);
    }
    if (u.step !== 'think') return;
    goOffline(u);
    expect(u, 'closing');
    u.socket.send(CLOSE);
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
          const initial = o.base64(`\0user${u.n}\0pass${u.n}`);
          expect(u, 'success');
          u.socket.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${initial}</auth>`);
        } else {
          if (text.indexOf('urn:ietf:params:xml:ns:xmpp-bind') < 0) return fail(u, 'no-bind');
          expect(u, 'bound');
          u.socket.send(BIND);
        }
        return;
      case 'success':
        if (text.startsWith('<success')) {
          stats.authenticated++;
          expect(u, 'bindFeatures');
          u.socket.send(OPEN);
        } else if (text.startsWith('<failure')) fail(u, 'sasl-failure');
        return;
      case 'bound':
        if (!text.startsWith('<iq') || text.indexOf("id='bind'") < 0) return;
        if (text.indexOf("type='result'") < 0) return fail(u, 'bind-error');
        stats.bound++;
        expect(u, 'presence');
        u.socket.send(PRESENCE);
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
        if (text.startsWith('<close')) u.socket.close();
        return;
      default:
        if (text.startsWith('<stream:error')) fail(u, 'stream-error');
    }
  }

  function start(n: number): void {
    const u = { n, step: 'connect', deadline: Date.now() + o.timeoutMs, slot: -1 } as User;
    active.add(u);
    u.socket = connect(n, {
      opened: () => {
        stats.connected++;
        expect(u, 'features');
        u.socket.send(OPEN);
      },
      frame: (text) => onFrame(u, text),
      error: (reason) => fail(u, reason),
      closed: (code) => {
        if (u.step === 'closing' && code === 1000) {
          stats.closedClean++;
          u.step = 'done';
          active.delete(u);
          maybeFinish();
        } else fail(u, `closed-at-${u.step}:${code}`);
      },
    });
  }

  function maybeFinish(): void {
    if (arrived < o.users || active.size > 0) return;
    clearInterval(watchdog);
    done(stats);
  }

  // One timer checks every deadline, instead of one timer per step per user.
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const u of active) if (now > u.deadline) fail(u, `timeout:${u.step}`);
  }, 1000);

  // Poisson arrivals: exponential gaps, each scheduled from the start so timer lateness does not accumulate.
  const t0 = Date.now();
  let at = -Math.log(1 - Math.random()) * (1000 / o.rate);
  const arrive = (): void => {
    while (arrived < o.users && Date.now() - t0 >= at) {
      start(++arrived);
      at += -Math.log(1 - Math.random()) * (1000 / o.rate);
    }
    if (arrived < o.users) setTimeout(arrive, Math.max(0, at - (Date.now() - t0)));
  };
  setTimeout(arrive, at);
}
