/**
 * The raw floor's flow (bench/lib/floor-flow.ts, which bench/raw-ws-flow.ts runs on Node and `ws`) as a k6 script:
 * the same templates and indexOf, no XML parser and no XMPP library, on `k6/websockets` and k6's timers. Run by
 * starling's Node engine, it costs what the engine and its k6 emulation add to plain Node on `ws`; starling's own
 * run costs that plus the XMPP client (parser, session, delivery ledger, metrics). bench/standard-flow.ts runs it
 * as the `k6-raw` generator so each run splits starling's cost over the floor between the two.
 *
 *   starling run bench/k6/raw-flow.ts -e XMPP_URL=ws://127.0.0.1:5280/xmpp-websocket [-e XMPP_DOMAIN=localhost]
 *     [-e USERS=2000] [-e ARRIVAL_RATE=200] [-e MESSAGES=10] [-e THINK_MS=200] [-e BODY_SIZE=56] [-e TIMEOUT_MS=15000]
 *
 * One VU, one iteration that starts every user and ends when the last one has closed or failed; it logs one JSON
 * line of counts, the line raw-ws-flow.ts prints, which the bench reads (so no `-q`, which hides console.log).
 */
import encoding from 'k6/encoding';
import { WebSocket } from 'k6/websockets';
import { runFloor } from '../lib/floor-flow.ts';

function whole(name: string, fallback: number, min = 0): number {
  const v = __ENV[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name}=${v} must be a whole number ≥ ${min}, e.g. ${fallback}`);
  return n;
}

const URL = __ENV.XMPP_URL ?? '';
if (!URL) throw new Error('XMPP_URL is required: -e XMPP_URL=ws://…/xmpp-websocket');
const RATE = Number(__ENV.ARRIVAL_RATE || 200);
if (!(RATE > 0)) throw new Error(`ARRIVAL_RATE=${__ENV.ARRIVAL_RATE} must be a positive number, e.g. 200`);
const floor = {
  domain: __ENV.XMPP_DOMAIN || 'localhost',
  users: whole('USERS', 2000, 1),
  rate: RATE,
  messages: whole('MESSAGES', 10),
  thinkMs: whole('THINK_MS', 200),
  timeoutMs: whole('TIMEOUT_MS', 15000, 1),
  body: 'x'.repeat(whole('BODY_SIZE', 56, 1)),
  base64: (s: string) => encoding.b64encode(s),
};

export const options = {
  scenarios: { flow: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '30m' } },
};

export default function (): Promise<void> {
  return new Promise<void>((resolve) =>
    runFloor(
      floor,
      (_n, events) => {
        // k6 ignores the `protocols` argument: the subprotocol goes in as a header, as src/k6/websocket.ts does.
        const ws = new WebSocket(URL, null, { headers: { 'Sec-WebSocket-Protocol': 'xmpp' } });
        ws.onopen = () => events.opened();
        ws.onmessage = (e: { data: unknown }) => events.frame(String(e.data));
        ws.onerror = (e: { error?: unknown }) => events.error(`ws-error:${String(e.error ?? 'unknown')}`);
        ws.onclose = (e: { code: number }) => events.closed(e.code);
        return {
          send: (text) => ws.send(text),
          close: () => ws.close(1000),
          // k6/websockets has no terminate(): a failed user's socket gets the close handshake, its events ignored.
          // Not while CONNECTING (0): k6's close() would then block the VU for good if the handshake fails; left
          // alone, the socket ends with its handshake timeout.
          drop: () => {
            if (ws.readyState !== 0) ws.close();
          },
        };
      },
      (stats) => {
        console.log(JSON.stringify(stats));
        resolve();
      },
    ),
  );
}
