/**
 * The floor's flow on the Node engine's own WebSocket client (src/engine/modules/ws-wire.ts: RFC 6455 by hand, no
 * library) instead of `ws`: `raw-ws-flow --client lean`, the bench's `raw-lean`. It sizes what `ws` costs a session
 * against the client the engine now uses, so starling's figures can be read against a floor on the same socket code.
 */
import type { FloorEvents, FloorSocket } from './floor-flow.ts';
import { Handshake, WireSocket } from '../../src/engine/modules/ws-wire.ts';

const NOOP = (): void => undefined;

/** Opens `url` with subprotocol `protocol`; the flow's socket, events as `ws` would give them. */
export function leanSocket(url: string, protocol: string, events: FloorEvents): FloorSocket {
  const ws = new WireSocket(url, new Handshake(), {
    headers: { 'Sec-WebSocket-Protocol': protocol },
    compression: false,
    handshakeTimeoutMs: 60_000,
    maxPayload: 1 << 20,
  });
  ws.on('open', events.opened);
  ws.on('message', (data: Buffer) => events.frame(data.toString()));
  ws.on('error', (err: Error & { code?: string }) => events.error(`ws-error:${err.code ?? err.message}`));
  ws.on('close', events.closed);
  return {
    send: (text) => ws.send(text, false, NOOP),
    close: () => ws.close(1000),
    drop: () => ws.terminate(),
  };
}
