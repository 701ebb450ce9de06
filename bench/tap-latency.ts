/**
 * The tap's added latency per frame. An echo WebSocket server and the tap run in their own processes (as in a
 * real deployment: the tap does not share an event loop with either end); this process sends XMPP message
 * frames of about 250 bytes, one in flight at a time, and times each round trip (hrtime, HDR in µs), directly
 * to the echo server and through the tap, in alternating blocks so drift hits both alike. A round trip through
 * the tap crosses it twice (c2s and s2c), so "added per frame" is half the added round trip. A bare `ws` relay
 * (same settings, no analysis) runs alongside, so the cost of any Node proxy hop can be told from the tap's.
 *
 *   npm run bench -- tap-latency [--frames 20000] [--block 1000] [--warmup 2000]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import WebSocket, { WebSocketServer } from 'ws';
import { HDR_CONFIG, type Snapshot } from '../src/contract/snapshot.ts';
import { startTap } from '../src/collector/tap/index.ts';
import { benchArgs, flag } from './lib/args.ts';

type Histogram = ReturnType<typeof hdr.build>;

const newHist = (): Histogram => hdr.build({ ...HDR_CONFIG, useWebAssembly: false });

/** A chat message as a client sends it: ~250 bytes, a unique id each. */
function frame(i: number): string {
  const id = `bench-${String(i).padStart(8, '0')}`;
  return (
    `<message xmlns='jabber:client' to='user2@localhost/tap2' id='${id}' type='chat'>` +
    `<body>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</body>` +
    `<active xmlns='http://jabber.org/protocol/chatstates'/></message>`
  );
}

// ---- child processes ----------------------------------------------------------------------------------

async function runEcho(): Promise<void> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: false,
    handleProtocols: (p) => (p.has('xmpp') ? 'xmpp' : false),
  });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data as Buffer, { binary })));
  process.send!({ url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/xmpp-websocket` });
  await once(process, 'disconnect');
  wss.close();
}

/**
 * A bare relay with the tap's `ws` settings and nothing else (no parsing, no metrics): what any Node WebSocket
 * proxy hop costs, to tell the hop apart from the tap's own work.
 */
async function runRelay(upstream: string): Promise<void> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: false,
    autoPong: false,
    skipUTF8Validation: true,
    handleProtocols: (p) => (p.has('xmpp') ? 'xmpp' : false),
  });
  await once(wss, 'listening');
  wss.on('connection', (client) => {
    const up = new WebSocket(upstream, ['xmpp'], {
      perMessageDeflate: false,
      autoPong: false,
      skipUTF8Validation: true,
    });
    const early: [Buffer, boolean][] = [];
    client.on('message', (d, binary) => {
      if (up.readyState === WebSocket.OPEN) up.send(d as Buffer, { binary, compress: false });
      else early.push([d as Buffer, binary]);
    });
    up.on('open', () => {
      for (const [d, binary] of early.splice(0)) up.send(d, { binary, compress: false });
    });
    up.on('message', (d, binary) => client.send(d as Buffer, { binary, compress: false }));
    client.on('close', () => up.close());
    up.on('close', () => client.close());
  });
  process.send!({ url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/xmpp-websocket` });
  await once(process, 'disconnect');
  wss.close();
}

async function runTap(upstream: string): Promise<void> {
  const parse = { c2s: newHist(), s2c: newHist() };
  const tap = await startTap({
    upstream,
    runId: 'bench',
    intervalMs: 1000,
    onSnapshot: (s: Snapshot) => {
      for (const h of s.histograms) {
        if (h.name !== 'tap_frame_parse' || h.labels?.element !== 'message') continue;
        parse[h.labels.direction as 'c2s' | 's2c'].add(hdr.decodeFromCompressedBase64(h.hdr, 32, false));
      }
    },
  });
  process.send!({ url: tap.url });
  await once(process, 'message');
  await tap.close();
  const summary = (h: Histogram) => ({
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p99: h.getValueAtPercentile(99),
  });
  process.send!({
    parse: { c2s: summary(parse.c2s), s2c: summary(parse.s2c) },
    violations: tap.violations.length,
  });
  process.disconnect();
}

// ---- driver -------------------------------------------------------------------------------------------

async function child(args: string[]): Promise<{ proc: ChildProcess; url: string }> {
  const proc = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [msg] = (await once(proc, 'message')) as [{ url: string }];
  return { proc, url: msg.url };
}

async function connect(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, ['xmpp'], { perMessageDeflate: false });
  await once(ws, 'open');
  // A stream opens with <open/> (the echo returns it): the tap then sees a well-framed stream.
  ws.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`);
  await once(ws, 'message');
  return ws;
}

/** Sends frames [from, from + n) one at a time; records each round trip (µs) into `h` unless warming up. */
async function roundTrips(ws: WebSocket, from: number, n: number, h: Histogram | undefined): Promise<void> {
  let resolve!: (d: Buffer) => void;
  ws.on('message', (d) => resolve(d as Buffer));
  for (let i = from; i < from + n; i++) {
    const text = frame(i);
    const back = new Promise<Buffer>((r) => (resolve = r));
    const t0 = process.hrtime.bigint();
    ws.send(text);
    const got = await back;
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (got.length !== Buffer.byteLength(text)) throw new Error('echo mismatch');
    h?.recordValue(Math.max(1, Math.round(us)));
  }
  ws.removeAllListeners('message');
}

function row(label: string, h: Histogram): string {
  const f = (v: number) => `${v.toFixed(0).padStart(6)} µs`;
  return (
    `${label.padEnd(22)}${f(h.getValueAtPercentile(50))}${f(h.getValueAtPercentile(90))}` +
    `${f(h.getValueAtPercentile(99))}${f(h.getValueAtPercentile(99.9))}${f(h.mean)}`
  );
}

async function main(): Promise<void> {
  const { frames, block, warmup } = benchArgs({
    name: 'tap-latency',
    flags: {
      frames: flag.whole({
        help: 'measured round trips each way (direct, through the tap, the relay)',
        default: '20000',
      }),
      block: flag.whole({
        help: 'round trips per block; the three ways alternate block by block',
        default: '1000',
      }),
      warmup: flag.whole({ help: 'unmeasured round trips each way first', default: '2000' }),
    },
  });
  const echo = await child(['--role', 'echo']);
  const tap = await child(['--role', 'tap', '--upstream', echo.url]);
  const relay = await child(['--role', 'relay', '--upstream', echo.url]);
  const direct = await connect(echo.url);
  const tapped = await connect(tap.url);
  const relayed = await connect(relay.url);
  await roundTrips(direct, 0, warmup, undefined);
  await roundTrips(tapped, 0, warmup, undefined);
  await roundTrips(relayed, 0, warmup, undefined);
  const hDirect = newHist();
  const hTap = newHist();
  const hRelay = newHist();
  let next = warmup;
  for (let done = 0; done < frames; done += block) {
    const n = Math.min(block, frames - done);
    await roundTrips(direct, next, n, hDirect);
    await roundTrips(tapped, next, n, hTap);
    await roundTrips(relayed, next, n, hRelay);
    next += n;
  }
  for (const ws of [direct, tapped, relayed]) ws.close();
  await Promise.all([once(direct, 'close'), once(tapped, 'close'), once(relayed, 'close')]);
  relay.proc.disconnect();
  tap.proc.send('stop');
  const [report] = (await once(tap.proc, 'message')) as [
    { parse: Record<'c2s' | 's2c', { count: number; p50: number; p99: number }>; violations: number },
  ];
  echo.proc.disconnect();

  const size = Buffer.byteLength(frame(0));
  const p = (h: Histogram, q: number) => h.getValueAtPercentile(q);
  console.log(
    `tap-latency: ${frames} round trips each way of ${size}-byte <message/> frames, one in flight, loopback;\n` +
      `echo server and tap in their own processes; ${warmup} warm-up frames each; blocks of ${block} alternate.\n`,
  );
  console.log(`${''.padEnd(22)}${['p50', 'p90', 'p99', 'p99.9', 'mean'].map((s) => s.padStart(9)).join('')}`);
  console.log(row('direct RTT', hDirect));
  console.log(row('through tap RTT', hTap));
  console.log(row('through bare relay RTT', hRelay));
  const d50 = p(hTap, 50) - p(hDirect, 50);
  const d99 = p(hTap, 99) - p(hDirect, 99);
  console.log(
    `\nadded by the tap per round trip (2 frames): p50 ${d50} µs, p99 ${d99} µs` +
      `\nadded by the tap per frame (half that):    p50 ${(d50 / 2).toFixed(1)} µs, p99 ${(d99 / 2).toFixed(1)} µs` +
      `\nfor scale, a bare ws relay hop (no analysis) adds per round trip: p50 ${p(hRelay, 50) - p(hDirect, 50)} µs, ` +
      `p99 ${p(hRelay, 99) - p(hDirect, 99)} µs`,
  );
  const r = report.parse;
  console.log(
    `\nthe tap's own parse time of these frames (tap_frame_parse, element=message):` +
      `\n  c2s: ${r.c2s.count} samples, p50 ${r.c2s.p50} µs, p99 ${r.c2s.p99} µs` +
      `\n  s2c: ${r.s2c.count} samples, p50 ${r.s2c.p50} µs, p99 ${r.s2c.p99} µs` +
      `\n  framing violations: ${report.violations}`,
  );
}

const role =
  process.argv.indexOf('--role') >= 0 ? process.argv[process.argv.indexOf('--role') + 1] : undefined;
if (role === 'echo') await runEcho();
else if (role === 'tap') await runTap(process.argv[process.argv.indexOf('--upstream') + 1]!);
else if (role === 'relay') await runRelay(process.argv[process.argv.indexOf('--upstream') + 1]!);
else await main();
