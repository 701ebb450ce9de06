/**
 * What a fault run points at: a real Prosody or ejabberd that the run's controller hurts on cue (SIGKILL, SIGSTOP,
 * SIGCONT, a restart on the same ports), or a small purpose-built server for what no real server does on demand
 * (accept TCP and never answer, stream one BOSH body or one WebSocket message forever, answer in garbage). All on
 * 127.0.0.1 with free ports; each closes everything it opened, sockets included.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startLocalServer, type LocalServer, type ServerKind } from '../../src/targets/index.ts';
import { freePorts, isPortOpen, LOOPBACK } from '../../src/targets/ports.ts';
import { processGroupMembers, spawnServerProcess, stopProcessGroup } from '../../src/targets/processes.ts';
import { SERVER_OPEN, startFakeServer, type FakeServer } from './fake-server.ts';
import { HTTPBIND } from './fake-bosh.ts';

export type Transport = 'websocket' | 'bosh';

/** Loopback URLs of a server listening on `port`, at the paths Prosody serves. */
export function loopbackUrl(port: number, transport: Transport): string {
  return transport === 'websocket'
    ? `ws://${LOOPBACK}:${port}/xmpp-websocket`
    : `http://${LOOPBACK}:${port}/http-bind`;
}

/** A purpose-built server: where it listens, and how to stop it and every connection it holds. */
export interface PurposeBuiltServer {
  port: number;
  /** Connections (TCP, HTTP requests or WebSockets) it has accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/** Accepts TCP connections and never writes a byte: neither the HTTP response nor the WebSocket upgrade comes. */
export async function startBlackHole(): Promise<PurposeBuiltServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createTcpServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {}); // the client resetting is expected
    socket.on('close', () => sockets.delete(socket));
  });
  return listenOnLoopback(
    server,
    () => accepted,
    () => {
      for (const s of sockets) s.destroy();
    },
  );
}

/** Listens on a free loopback port; `close` drops every connection (`dropAll`), then stops listening. */
async function listenOnLoopback(
  server: TcpServer,
  accepted: () => number,
  dropAll: () => void,
): Promise<PurposeBuiltServer> {
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    close: async () => {
      dropAll();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** How fast the endless servers write: one chunk every `everyMs`, skipped while the client has not read the last. */
export interface EndlessRate {
  /** Bytes per chunk (default 64 KiB). */
  chunkBytes?: number;
  /** Milliseconds between chunks (default 5). */
  everyMs?: number;
  /**
   * Safety net, not part of the fault: the server stops writing (still without an end) once it has written this
   * many bytes over all its connections (default 1 GiB), so a client that buffers without a cap costs the test
   * host a bounded amount of memory however many sessions it runs.
   */
  maxTotalBytes?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Bytes one endless server may still write, shared by its connections. */
interface Budget {
  left: number;
}

function budgetOf(rate: EndlessRate): Budget {
  return { left: rate.maxTotalBytes ?? 1024 * MiB };
}

/**
 * Calls `write` every `everyMs` until `stop()` or the budget is spent, skipping a tick while `backlog()` (bytes
 * written but not yet taken by the client) is above 1 MiB.
 */
function pace(
  rate: EndlessRate,
  budget: Budget,
  write: (chunk: string) => void,
  backlog: () => number,
): () => void {
  const chunk = 'a'.repeat(rate.chunkBytes ?? 64 * KiB);
  const timer = setInterval(() => {
    if (backlog() > MiB) return;
    if (budget.left < chunk.length) return clearInterval(timer);
    write(chunk);
    budget.left -= chunk.length;
  }, rate.everyMs ?? 5);
  return () => clearInterval(timer);
}

/** Reads a request's whole body (the BOSH `<body/>` the client posted). */
async function requestBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

/** An HTTP server on a free loopback port that also destroys every connection when it closes. */
async function startHttpServer(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<PurposeBuiltServer> {
  let accepted = 0;
  const server = createHttpServer((req, res) => {
    accepted++;
    handle(req, res);
  });
  return listenOnLoopback(
    server,
    () => accepted,
    () => server.closeAllConnections(),
  );
}

/**
 * Answers every POST with HTTP 200 and a chunked body that never ends: the opening of a BOSH `<body>`, then text
 * chunks at a bounded rate, until the client goes away.
 */
export function startEndlessBoshBody(rate: EndlessRate = {}): Promise<PurposeBuiltServer> {
  const budget = budgetOf(rate);
  return startHttpServer((req, res) => {
    void requestBody(req).then(() => {
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
      res.write(`<body xmlns='${HTTPBIND}' sid='endless' wait='30' requests='2' hold='1' ver='1.6'>`);
      const stop = pace(
        rate,
        budget,
        (chunk) => res.write(chunk),
        () => res.writableLength,
      );
      res.on('close', stop);
    });
  });
}

/** Purpose-built WebSocket servers reuse the fake XMPP server: it negotiates `xmpp` and records frames. */
export interface FaultWebSocketServer extends PurposeBuiltServer {
  fake: FakeServer;
}

function webSocketServer(fake: FakeServer): FaultWebSocketServer {
  return {
    fake,
    port: Number(new URL(fake.url).port),
    accepted: () => fake.connections.length,
    close: () => fake.close(),
  };
}

/**
 * After the upgrade (subprotocol `xmpp`) and the client's `<open/>`, sends one text message that never ends:
 * 64 KiB fragments without FIN, at a bounded rate, until the client closes.
 */
export async function startEndlessWebSocketMessage(rate: EndlessRate = {}): Promise<FaultWebSocketServer> {
  const budget = budgetOf(rate);
  const fake = await startFakeServer({
    onFrame: (conn, _frame, n) => {
      if (n !== 0) return;
      const ws = conn.ws;
      const stop = pace(
        rate,
        budget,
        (chunk) => {
          if (ws.readyState === WebSocket.OPEN) ws.send(chunk, { fin: false });
        },
        () => ws.bufferedAmount,
      );
      ws.on('close', stop);
    },
  });
  return webSocketServer(fake);
}

/** A frame no XML parser accepts: text outside any element (the parser's `text-outside-root`). */
export const GARBAGE = 'garbage: this is not XML';
/** What the client's parser calls GARBAGE: the condition of its `framing-violation`. */
export const GARBAGE_PARSE_CODE = 'text-outside-root';

/**
 * Answers the client's `<open/>` with a proper `<open/>`, then sends GARBAGE every 100 ms instead of stream
 * features, until the client closes.
 */
export async function startGarbageWebSocket(): Promise<FaultWebSocketServer> {
  const fake = await startFakeServer({
    onFrame: (conn, _frame, n) => {
      if (n !== 0) return;
      conn.ws.send(SERVER_OPEN);
      const timer = setInterval(() => {
        if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(GARBAGE);
      }, 100);
      conn.ws.on('close', () => clearInterval(timer));
    },
  });
  return webSocketServer(fake);
}

/**
 * A BOSH connection manager that creates the session properly (sid, wait, requests, PLAIN offered) and answers
 * every later request with GARBAGE as the HTTP 200 body.
 */
export function startGarbageBosh(): Promise<PurposeBuiltServer> {
  return startHttpServer((req, res) => {
    void requestBody(req).then((body) => {
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' });
      if (/\ssid=/.test(body)) return res.end(GARBAGE);
      res.end(
        `<body xmlns='${HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams' ` +
          `sid='garbage-1' wait='30' requests='2' hold='1' inactivity='60' ver='1.6' from='localhost' ` +
          `xmpp:version='1.0'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` +
          `<mechanism>PLAIN</mechanism></mechanisms></stream:features></body>`,
      );
    });
  });
}

/** A free loopback port with nothing listening on it: connections are refused. */
export async function refusingPort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/**
 * A real server a fault run hurts on cue. Signals go to its whole process group (Prosody is one Lua process;
 * ejabberd is the beam and erl_child_setup), whose leader is LocalServer.pid.
 */
export class ServerUnderFault {
  /** The process group of a server started again by restart(), once it was. */
  private restartedPid: number | undefined;
  private stopped = false;
  private readonly onExit = (): void => {
    if (this.restartedPid !== undefined) signalGroup(this.restartedPid, 'SIGKILL');
  };

  private constructor(readonly server: LocalServer) {}

  static async start(kind: ServerKind, users: number): Promise<ServerUnderFault> {
    return new ServerUnderFault(await startLocalServer({ kind, users }));
  }

  url(transport: Transport): string {
    return transport === 'websocket' ? this.server.websocketUrl : this.server.boshUrl;
  }

  /** The group now serving: the restarted one after restart(). */
  private get pid(): number {
    return this.restartedPid ?? this.server.pid;
  }

  signal(sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void {
    this.stopped = sig === 'SIGSTOP';
    signalGroup(this.pid, sig);
  }

  /**
   * SIGKILL, then the same server program with the same config, data and ports (Prosody: its command line and
   * working directory, read from /proc before the kill). Resolves once it accepts connections again.
   */
  async restart(): Promise<void> {
    if (this.server.kind !== 'prosody')
      throw new Error(`restart is implemented for prosody, not ${this.server.kind}`);
    const argv = readFileSync(`/proc/${this.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const cwd = readlinkSync(`/proc/${this.pid}/cwd`);
    const killed = this.pid;
    signalGroup(killed, 'SIGKILL');
    await waitFor(() => processGroupMembers(killed).length === 0, 5000, `prosody group ${killed} to die`);
    const child = spawnServerProcess(argv[0]!, argv.slice(1), {
      cwd,
      env: process.env,
      outputFile: join(this.server.dir, 'prosody.restart.log'),
    });
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')} again`);
    this.restartedPid = child.pid;
    process.once('exit', this.onExit);
    const { httpPort } = this.server;
    await waitForAsync(() => isPortOpen(httpPort), 15_000, `restarted prosody on port ${httpPort}`);
  }

  /** Lets a stopped server go on, stops a restarted one, then stops the server as LocalServer does. */
  async stop(): Promise<void> {
    if (this.stopped) this.signal('SIGCONT');
    if (this.restartedPid !== undefined) {
      await stopProcessGroup(this.restartedPid, 2000);
      process.removeListener('exit', this.onExit);
    }
    await this.server.stop();
  }
}

function signalGroup(leader: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-leader, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  await waitForAsync(async () => condition(), timeoutMs, what);
}

async function waitForAsync(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The faults of the suite; which transports each applies to is in FAULT_TRANSPORTS. */
export type FaultKind =
  | 'sigkill' // the server is SIGKILLed mid-run
  | 'stall' // SIGSTOP, then SIGCONT after stallMs
  | 'sigstop' // SIGSTOP, never continued during the run
  | 'restart' // SIGKILL, then started again on the same ports
  | 'refused' // nothing listens
  | 'black-hole' // TCP accepted, never a byte back
  | 'endless-body' // BOSH: HTTP 200 whose body never ends
  | 'endless-message' // WebSocket: one message whose fragments never end
  | 'garbage'; // frames that are not XML after the opening exchange

export const FAULT_TRANSPORTS: Record<FaultKind, readonly Transport[]> = {
  sigkill: ['websocket', 'bosh'],
  stall: ['websocket', 'bosh'],
  sigstop: ['websocket', 'bosh'],
  restart: ['websocket', 'bosh'],
  refused: ['websocket', 'bosh'],
  'black-hole': ['websocket', 'bosh'],
  'endless-body': ['bosh'],
  'endless-message': ['websocket'],
  garbage: ['websocket', 'bosh'],
};

/** Faults done to a real server; the others need a purpose-built one (or none). */
export const SERVER_FAULTS: readonly FaultKind[] = ['sigkill', 'stall', 'sigstop', 'restart'];

/** Something to do to the server at `atMs` after the run started. */
export interface TimedStep {
  atMs: number;
  what: string;
  run: () => void | Promise<void>;
}

export interface FaultPlan {
  fault: FaultKind;
  transport: Transport;
  /** The real server for SERVER_FAULTS (ignored for the others). */
  server?: ServerKind;
  /** Accounts to provision on the real server. */
  users: number;
  /** When the fault strikes, from the start of the run. */
  atMs: number;
  /** How long a stall lasts (SIGSTOP to SIGCONT). */
  stallMs: number;
}

/** A fault ready to run: the URL to point the run at, what to do when, and how to clean up. */
export interface PreparedFault {
  url: string;
  /** Who answers: 'prosody', 'ejabberd', or the purpose-built server. */
  target: string;
  steps: TimedStep[];
  /** Connections the purpose-built server accepted (none for a real server or nothing listening). */
  accepted?: () => number;
  /** Stops the server, whatever state the fault left it in. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts the server a fault needs (real or purpose-built) and schedules what is done to it. */
export async function prepareFault(plan: FaultPlan): Promise<PreparedFault> {
  const { fault, transport } = plan;
  if (!FAULT_TRANSPORTS[fault].includes(transport))
    throw new Error(`${fault} does not apply to ${transport}`);
  if (SERVER_FAULTS.includes(fault)) {
    const kind = plan.server ?? 'prosody';
    const s = await ServerUnderFault.start(kind, plan.users);
    let closing: Promise<void> | undefined;
    const at = plan.atMs;
    const steps: TimedStep[] =
      fault === 'sigkill'
        ? [{ atMs: at, what: 'SIGKILL', run: () => s.signal('SIGKILL') }]
        : fault === 'stall'
          ? [
              { atMs: at, what: 'SIGSTOP', run: () => s.signal('SIGSTOP') },
              { atMs: at + plan.stallMs, what: 'SIGCONT', run: () => s.signal('SIGCONT') },
            ]
          : fault === 'sigstop'
            ? [{ atMs: at, what: 'SIGSTOP', run: () => s.signal('SIGSTOP') }]
            : [{ atMs: at, what: 'SIGKILL + start again', run: () => s.restart() }];
    return { url: s.url(transport), target: kind, steps, close: () => (closing ??= s.stop()) };
  }
  if (fault === 'refused') {
    return {
      url: loopbackUrl(await refusingPort(), transport),
      target: 'nothing',
      steps: [],
      close: async () => {},
    };
  }
  const server =
    fault === 'black-hole'
      ? await startBlackHole()
      : fault === 'endless-body'
        ? await startEndlessBoshBody()
        : fault === 'endless-message'
          ? await startEndlessWebSocketMessage()
          : transport === 'websocket'
            ? await startGarbageWebSocket()
            : await startGarbageBosh();
  let closing: Promise<void> | undefined;
  return {
    url: loopbackUrl(server.port, transport),
    target: `${fault} server`,
    steps: [],
    accepted: server.accepted,
    close: () => (closing ??= server.close()),
  };
}
