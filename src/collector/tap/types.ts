import type { Snapshot } from '../../contract/snapshot.ts';

export type Direction = 'c2s' | 's2c';

/** One breach of RFC 7395 framing (or of BOSH body syntax) seen by the tap. */
export interface FramingViolation {
  /**
   * An XmlParseError code ('multiple-roots', 'truncated', …) when the frame is not one standalone XML document,
   * else one of VIOLATION_KINDS.
   */
  kind: string;
  direction: Direction;
  /** The tap's number for the WebSocket connection or BOSH session, from 1. */
  connection: number;
  /** The offending frame, truncated to 2 KiB (UTF-8). */
  frame: string;
  message: string;
  /** Epoch ms. */
  at: number;
}

/** Violation kinds other than the parser's error codes. */
export const VIOLATION_KINDS = {
  /** `<open>` outside urn:ietf:params:xml:ns:xmpp-framing (RFC 7395 §3.3.2). */
  openNamespace: 'open-namespace',
  /** `<close>` outside urn:ietf:params:xml:ns:xmpp-framing. */
  closeNamespace: 'close-namespace',
  /** A pre-RFC `<stream:stream>` header (or `</stream:stream>`) instead of `<open/>`/`<close/>`. */
  legacyStreamHeader: 'legacy-stream-header',
  /** The first frame in a direction is not `<open/>` (RFC 7395 §3.4, §3.5). */
  firstFrameNotOpen: 'first-frame-not-open',
  /** A server `<stream:error>` not followed by the server's `<close/>` (RFC 7395 §3.5, §3.6). */
  streamErrorWithoutClose: 'stream-error-without-close',
  /** A frame after that direction's `<close/>`. */
  frameAfterClose: 'frame-after-close',
  /** A binary WebSocket message: XMPP frames are text (RFC 7395 §3.2). */
  binaryMessage: 'binary-message',
  /** A text message whose payload is not valid UTF-8 (forwarded unchanged all the same). */
  invalidUtf8: 'invalid-utf8',
  /** BOSH: a POST body whose root is not `<body xmlns='http://jabber.org/protocol/httpbind'/>`. */
  boshNotBody: 'bosh-not-body',
  /** parseFrame threw something other than an XmlParseError (a parser bug, not the peer's fault). */
  parserException: 'parser-exception',
} as const;

export interface TapOptions {
  /** ws:// or wss:// (RFC 7395), or http:// or https:// (BOSH). */
  upstream: string;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  runId: string;
  /** The snapshots' instance, default 'tap'; two taps feeding one collector need different ones. */
  instance?: string;
  /** Snapshot interval, default 5000 ms. */
  intervalMs?: number;
  onSnapshot: (s: Snapshot) => void;
  onViolation?: (v: FramingViolation) => void;
  /** One line per violation and per proxy error; default stderr. */
  log?: (line: string) => void;
}

export interface Tap {
  /** ws://host:port/<upstream path> (WebSocket upstream) or http://host:port/<upstream path> (BOSH upstream). */
  url: string;
  port: number;
  /** Every violation so far, oldest first (the first 10 000; later ones are only counted and logged). */
  violations: FramingViolation[];
  /** Emits a final snapshot (final: true) and closes the listener and every socket. */
  close(): Promise<void>;
}
