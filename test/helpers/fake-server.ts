/**
 * A tiny purpose-built WebSocket server for what real XMPP servers will not do on demand: drop the
 * subprotocol, send malformed or multi-element frames, stall. Loopback only, free port.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
export const SERVER_OPEN = `<open xmlns='${FRAMING}' from='localhost' id='fake-1' version='1.0' xml:lang='en'/>`;
export const FEATURES_SASL =
  "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
export const FEATURES_BIND =
  "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";

export interface FakeConnection {
  ws: WebSocket;
  /** Frames the client sent, in order. */
  received: string[];
  /** Close code the client sent, once the socket is closed. */
  closeCode: Promise<number>;
}

export interface FakeServer {
  url: string;
  connections: FakeConnection[];
  close(): Promise<void>;
}

export interface FakeServerOptions {
  /** Echo the `xmpp` subprotocol (default true). */
  subprotocol?: boolean;
  /** Called for every client frame; `n` counts from 0 per connection. */
  onFrame?: (conn: FakeConnection, frame: string, n: number) => void;
}

export async function startFakeServer(o: FakeServerOptions = {}): Promise<FakeServer> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) =>
      o.subprotocol === false ? false : protocols.has('xmpp') ? 'xmpp' : false,
  });
  await once(wss, 'listening');
  const connections: FakeConnection[] = [];
  wss.on('connection', (ws) => {
    const conn: FakeConnection = {
      ws,
      received: [],
      closeCode: new Promise((r) => ws.on('close', (code) => r(code))),
    };
    connections.push(conn);
    ws.on('message', (data) => {
      const frame = data.toString();
      conn.received.push(frame);
      o.onFrame?.(conn, frame, conn.received.length - 1);
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/xmpp-websocket`,
    connections,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/** Answers like a minimal server up to stream features with PLAIN, then runs `after` for later frames. */
export function openThenFeatures(after?: FakeServerOptions['onFrame']): FakeServerOptions['onFrame'] {
  return (conn, frame, n) => {
    if (n === 0) {
      conn.ws.send(SERVER_OPEN);
      conn.ws.send(FEATURES_SASL);
    } else after?.(conn, frame, n);
  };
}

/** A fake server that logs `alice` in with PLAIN and binds `alice@localhost/r1`, then runs `after`. */
export function loginThen(after?: FakeServerOptions['onFrame']) {
  return openThenFeatures((conn, frame, n) => {
    if (frame.startsWith('<auth')) conn.ws.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    else if (frame.startsWith('<open')) {
      conn.ws.send(SERVER_OPEN);
      conn.ws.send(FEATURES_BIND);
    } else if (frame.includes('urn:ietf:params:xml:ns:xmpp-bind')) {
      const id = /id='([^']+)'/.exec(frame)![1];
      conn.ws.send(
        `<iq xmlns='jabber:client' type='result' id='${id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r1</jid></bind></iq>`,
      );
    } else after?.(conn, frame, n);
  });
}
