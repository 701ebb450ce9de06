/**
 * The floor of bench/standard-flow.ts: the standard flow done by the least a WebSocket client can do, in plain
 * Node on the `ws` package: the flow of bench/lib/floor-flow.ts (string templates out, indexOf/startsWith in, no
 * XML parser, but every answer the flow depends on waited for), so it measures what a session costs, not what
 * skipping the protocol saves. bench/k6/raw-flow.ts runs the same flow as a k6 script.
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
import { runFloor } from './lib/floor-flow.ts';
import { leanSocket } from './lib/lean-ws.ts';

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
    client: flag.oneOf({
      help: "the WebSocket client: ws (the floor), or lean (the Node engine's own, ws-wire.ts; sizes ws's cost)",
      of: ['ws', 'lean'],
      default: 'ws',
    }),
  },
  check: (v) => {
    if (!v.url) throw new BenchArgError('--url', 'is required: --url ws://…/xmpp-websocket');
  },
});
const URL = args.url!;

runFloor(
  {
    domain: args.domain,
    users: args.users,
    rate: args.rate,
    messages: args.messages,
    thinkMs: args.think,
    timeoutMs: args.timeout,
    body: 'x'.repeat(args['body-size']),
    base64: (s) => Buffer.from(s).toString('base64'),
  },
  (_n, events) => {
    if (args.client === 'lean') return leanSocket(URL, 'xmpp', events);
    const ws = new WebSocket(URL, 'xmpp', { perMessageDeflate: false, skipUTF8Validation: true });
    ws.on('open', events.opened);
    ws.on('message', (data) => events.frame(String(data)));
    ws.on('error', (err) => events.error(`ws-error:${(err as NodeJS.ErrnoException).code ?? err.message}`));
    ws.on('close', events.closed);
    return { send: (text) => ws.send(text), close: () => ws.close(1000), drop: () => ws.terminate() };
  },
  (stats) => {
    process.stdout.write(JSON.stringify(stats) + '\n');
    process.exitCode = stats.failed > 0 ? 1 : 0;
  },
);
