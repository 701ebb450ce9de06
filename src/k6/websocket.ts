/** RFC 7395 XMPP over `k6/websockets`: one WebSocket per session. */
import { WebSocket } from 'k6/websockets';
import { XmppError } from '../xmpp/errors.ts';
import type { XmppSession } from '../xmpp/session.ts';
import type { HostTransport } from './transport.ts';
import { countReceived, countRequest, countSent } from './wire.ts';

const CONNECTING = 0;
const OPEN = 1;

export function webSocketTransport(url: string, tags?: Record<string, string>): HostTransport {
  return new WebSocketTransport(url, tags);
}

/**
 * One session's socket. A class, not closures: a session then holds its four event handlers and this object, where
 * a handler, a liveness wrapper and a guard per event, and the methods, made 17 closures and 10 contexts.
 */
class WebSocketTransport implements HostTransport {
  private readonly ws: WebSocket;
  private session: XmppSession | undefined;
  /** close() was asked for while the handshake was under way: done once it opens (see close below). */
  private closeWanted = false;
  /** The text of the error event that precedes the close event of a socket that died. */
  private lastError: string | undefined;
  /** Aborted (breakTransport): its events reach the session no more. */
  private aborted = false;

  constructor(url: string, tags?: Record<string, string>) {
    // k6 ignores the `protocols` argument (reserved, per its docs): the subprotocol goes in as a header.
    this.ws = new WebSocket(url, null, { headers: { 'Sec-WebSocket-Protocol': 'xmpp' }, tags });
    countRequest();
  }

  send(f: string): void {
    // A socket that is not OPEN throws InvalidStateError in k6: report it to the session, never into the VU.
    if (this.ws.readyState !== OPEN) throw new XmppError('closed', undefined, 'the WebSocket is not open');
    this.ws.send(f);
    countSent(f);
  }

  close(code?: number, reason?: string): void {
    // k6's close() on a CONNECTING socket writes to a channel nobody reads until the handshake completes: it
    // blocks the VU's event loop meanwhile, and forever if the handshake fails (xk6-websockets close()).
    if (this.ws.readyState === CONNECTING) this.closeWanted = true;
    else this.ws.close(code, reason);
  }

  // k6/websockets has no way to drop a socket without its closing handshake: the close goes out, and whatever
  // the socket does after is not the session's any more (it may be resumed on another one meanwhile).
  abort(): void {
    this.aborted = true;
    if (this.ws.readyState === CONNECTING) this.closeWanted = true;
    else this.ws.close(1000);
  }

  start(session: XmppSession): void {
    this.session = session;
    const ws = this.ws;
    ws.onopen = this.onOpen;
    ws.onmessage = this.onMessage;
    ws.onerror = this.onError;
    ws.onclose = this.onClose;
  }

  // Each handler cannot throw (guarded): k6 would drop the connection and fail the iteration, and the session's
  // end would never be counted. A bug of ours ends the session as `client-error`, named in its message.

  private readonly onOpen = (): void => {
    if (this.aborted) return;
    try {
      if (this.closeWanted) this.ws.close(1000);
      else this.session!.transportOpened(this.ws.protocol);
    } catch (err) {
      this.failed(err);
    }
  };

  private readonly onMessage = (e: { data: unknown }): void => {
    if (this.aborted) return;
    try {
      const data = e.data;
      if (typeof data !== 'string') {
        this.session!.transportFailed(
          new XmppError(
            'transport-error',
            undefined,
            'binary WebSocket message: RFC 7395 requires text frames',
          ),
        );
      } else {
        countReceived(data);
        this.session!.transportFrame(data);
      }
    } catch (err) {
      this.failed(err);
    }
  };

  private readonly onError = (e: unknown): void => {
    if (this.aborted) return;
    try {
      const text = String((e as { error?: unknown }).error ?? 'WebSocket error');
      // Before open, the handshake failed (refused, TLS, bad status): no stream ever existed. After open, the
      // close event follows at once and says how the socket ended; the error only explains it.
      if (this.session!.timings.connected === undefined) this.session!.transportError(text);
      else this.lastError = text;
    } catch (err) {
      this.failed(err);
    }
  };

  private readonly onClose = (e: { code: number; reason: string }): void => {
    if (this.aborted) return;
    try {
      this.session!.transportClosed(e.code || undefined, e.reason, this.lastError);
    } catch (err) {
      this.failed(err);
    }
  };

  private failed(err: unknown): void {
    this.session!.transportFailed(
      new XmppError(
        'client-error',
        undefined,
        `starling failed handling a WebSocket event: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      ),
    );
  }
}
