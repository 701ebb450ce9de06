/** RFC 7395 XMPP over `k6/websockets`: one WebSocket per session. */
import { WebSocket } from 'k6/websockets';
import { XmppError } from '../xmpp/errors.ts';
import type { XmppSession } from '../xmpp/session.ts';
import type { HostTransport } from './transport.ts';
import { countReceived, countRequest, countSent } from './wire.ts';

const CONNECTING = 0;
const OPEN = 1;

export function webSocketTransport(url: string, tags?: Record<string, string>): HostTransport {
  // k6 ignores the `protocols` argument (reserved, per its docs): the subprotocol goes in as a header.
  const ws = new WebSocket(url, null, { headers: { 'Sec-WebSocket-Protocol': 'xmpp' }, tags });
  countRequest();
  /** close() was asked for while the handshake was under way: done once it opens (see close below). */
  let closeWanted = false;
  /** The text of the error event that precedes the close event of a socket that died. */
  let lastError: string | undefined;
  /** Aborted (breakTransport): its events reach the session no more. */
  let aborted = false;
  const live =
    <E>(fn: (e: E) => void) =>
    (e: E): void => {
      if (!aborted) fn(e);
    };
  return {
    send: (f) => {
      // A socket that is not OPEN throws InvalidStateError in k6: report it to the session, never into the VU.
      if (ws.readyState !== OPEN) throw new XmppError('closed', undefined, 'the WebSocket is not open');
      ws.send(f);
      countSent(f);
    },
    close: (code, reason) => {
      // k6's close() on a CONNECTING socket writes to a channel nobody reads until the handshake completes: it
      // blocks the VU's event loop meanwhile, and forever if the handshake fails (xk6-websockets close()).
      if (ws.readyState === CONNECTING) closeWanted = true;
      else ws.close(code, reason);
    },
    // k6/websockets has no way to drop a socket without its closing handshake: the close goes out, and whatever
    // the socket does after is not the session's any more (it may be resumed on another one meanwhile).
    abort: () => {
      aborted = true;
      if (ws.readyState === CONNECTING) closeWanted = true;
      else ws.close(1000);
    },
    start(session) {
      ws.onopen = guard(
        session,
        live(() => {
          if (closeWanted) ws.close(1000);
          else session.transportOpened(ws.protocol);
        }),
      );
      ws.onmessage = guard(
        session,
        live((e: { data: unknown }) => {
          if (typeof e.data !== 'string') {
            session.transportFailed(
              new XmppError(
                'transport-error',
                undefined,
                'binary WebSocket message: RFC 7395 requires text frames',
              ),
            );
          } else {
            countReceived(e.data);
            session.transportFrame(e.data);
          }
        }),
      );
      ws.onerror = guard(
        session,
        live((e: unknown) => {
          const text = String((e as { error?: unknown }).error ?? 'WebSocket error');
          // Before open, the handshake failed (refused, TLS, bad status): no stream ever existed. After open, the
          // close event follows at once and says how the socket ended; the error only explains it.
          if (session.timings.connected === undefined) session.transportError(text);
          else lastError = text;
        }),
      );
      ws.onclose = guard(
        session,
        live((e: { code: number; reason: string }) =>
          session.transportClosed(e.code || undefined, e.reason, lastError),
        ),
      );
    },
  };
}

/**
 * A k6 event handler that cannot throw: k6 would drop the connection and fail the iteration, and the session's
 * end would never be counted. A bug of ours ends the session as `client-error`, named in its message.
 */
function guard<E>(session: XmppSession, fn: (e: E) => void): (e: E) => void {
  return (e) => {
    try {
      fn(e);
    } catch (err) {
      session.transportFailed(
        new XmppError(
          'client-error',
          undefined,
          `starling failed handling a WebSocket event: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        ),
      );
    }
  };
}
