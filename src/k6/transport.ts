/**
 * The transports' shared types, apart from the transports (websocket.ts, bosh.ts) and the session that uses
 * them (session.ts), so each of those imports these without importing the others.
 */
import type { XmppSession } from '../xmpp/session.ts';

export type TransportName = 'websocket' | 'bosh';

/** A transport as the session sees it, plus the hook that wires the transport's events into the session. */
export interface HostTransport {
  send(frame: string): void;
  close(code?: number, reason?: string): void;
  start(session: XmppSession): void;
}

export interface BoshSettings {
  /** XEP-0124 `wait` in seconds (BOSH_WAIT); the HTTP timeout is wait + 10 s, below k6's 60 s default. */
  wait?: number;
  /** Least gap between back-to-back requests (BOSH_ORDER_GAP, default auto), see BoshTransport. */
  orderGapMs?: number | 'auto';
  /** HTTP timeout of the session creation request: the XMPP connect timeout (BoshOptions.createTimeoutMs). */
  createTimeoutMs?: number;
}
