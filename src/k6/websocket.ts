/** RFC 7395 XMPP over `k6/websockets`: one WebSocket per session. */
import { WebSocket } from 'k6/websockets';
import type { HostTransport } from './session.ts';
import { countReceived, countRequest, countSent } from './wire.ts';

export function webSocketTransport(url: string, tags?: Record<string, string>): HostTransport {
  // k6 ignores the `protocols` argument (reserved, per its docs): the subprotocol goes in as a header.
  const ws = new WebSocket(url, null, { headers: { 'Sec-WebSocket-Protocol': 'xmpp' }, tags });
  countRequest();
  return {
    send: (f) => {
      ws.send(f);
      countSent(f);
    },
    close: (code, reason) => ws.close(code, reason),
    start(session) {
      ws.onopen = () => session.transportOpened(ws.protocol);
      ws.onmessage = (e) => {
        if (typeof e.data !== 'string')
          session.transportError('binary WebSocket message: RFC 7395 requires text frames');
        else {
          countReceived(e.data);
          session.transportFrame(e.data);
        }
      };
      ws.onerror = (e) =>
        session.transportError(String((e as { error?: unknown }).error ?? 'WebSocket error'));
      ws.onclose = (e) => session.transportClosed(e.code || undefined, e.reason);
    },
  };
}
