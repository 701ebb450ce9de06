/** Runs an XmppSession over a Node WebSocket (the `ws` package): for tests, tools and the CLI, not for k6. */
import { rootCertificates } from 'node:tls';
import WebSocket from 'ws';
import { XmppError } from '../xmpp/errors.ts';
import { XmppSession, type FrameTransport, type SessionOptions } from '../xmpp/session.ts';
import { nodeClock } from './clock.ts';
import { nodeCrypto } from './crypto.ts';

export type WebSocketSessionOptions = Omit<SessionOptions, 'transport' | 'clock' | 'crypto'> &
  Partial<Pick<SessionOptions, 'clock' | 'crypto'>> & {
    url: string;
    /** Extra CA certificates (PEM) to trust for wss://, besides Node's roots: e.g. a local server's `caFile` content. */
    ca?: string | Buffer;
    /** false: no certificate verification (a test of a broken certificate). Default true. */
    verifyTls?: boolean;
  };

export interface WebSocketSession {
  session: XmppSession;
  socket: WebSocket;
}

export function openWebSocketSession(o: WebSocketSessionOptions): WebSocketSession {
  const socket = dial(o);
  const session = new XmppSession({
    ...o,
    clock: o.clock ?? nodeClock,
    crypto: o.crypto ?? nodeCrypto,
    transport: transportOf(socket),
  });
  wire(socket, session);
  return { session, socket };
}

/**
 * Takes up a `detached` session (stream management) on a new WebSocket to `o.url`: the promise is the session's
 * resume() (the JID once `<resumed/>` came), `socket` the new WebSocket.
 */
export function resumeWebSocketSession(
  session: XmppSession,
  o: Pick<WebSocketSessionOptions, 'url' | 'ca' | 'verifyTls'>,
): { resumed: Promise<string>; socket: WebSocket | undefined } {
  // Not detached: resume() says why, and no WebSocket is opened for nothing.
  if (session.state !== 'detached')
    return { resumed: session.resume(transportOf(undefined)), socket: undefined };
  const socket = dial(o);
  const resumed = session.resume(transportOf(socket));
  wire(socket, session);
  return { resumed, socket };
}

function dial(o: Pick<WebSocketSessionOptions, 'url' | 'ca' | 'verifyTls'>): WebSocket {
  return new WebSocket(o.url, ['xmpp'], {
    ...(o.ca !== undefined ? { ca: withDefaultRoots(o.ca) } : {}),
    ...(o.verifyTls === false ? { rejectUnauthorized: false } : {}),
  });
}

function transportOf(socket: WebSocket | undefined): FrameTransport {
  return {
    send: (frame) => socket?.send(frame),
    close: (code, reason) => socket?.close(code, reason),
    abort: () => {
      if (socket === undefined) return;
      socket.removeAllListeners();
      socket.on('error', () => {}); // a late error of a socket we dropped is nobody's concern
      socket.terminate();
    },
  };
}

function wire(socket: WebSocket, session: XmppSession): void {
  socket.on('open', () => session.transportOpened(socket.protocol));
  socket.on('message', (data, isBinary) => {
    if (isBinary) {
      // RFC 7395 §3.2: XMPP frames are text messages.
      session.transportFailed(
        new XmppError(
          'transport-error',
          undefined,
          'binary WebSocket message received: RFC 7395 requires text frames',
        ),
      );
      return;
    }
    session.transportFrame(data.toString());
  });
  socket.on('error', (err) => {
    // `ws` refuses a handshake whose response lacks the requested subprotocol before 'open' fires.
    if (/no subprotocol|invalid subprotocol/i.test(err.message)) {
      session.transportFailed(
        new XmppError(
          'subprotocol-missing',
          undefined,
          `the server answered the WebSocket handshake without the 'xmpp' subprotocol (${err.message}): is this an XMPP endpoint? (RFC 7395 §3.1)`,
        ),
      );
    } else session.transportError(err.message);
  });
  socket.on('close', (code, reason) => session.transportClosed(code, reason.toString()));
}

/** Node's `ca` replaces its roots: keep them, so a private CA is trusted in addition to the public ones. */
export function withDefaultRoots(ca: string | Buffer): string[] {
  return [...rootCertificates, ca.toString()];
}
