/**
 * The Node engine's safety limits: how much memory one WebSocket message or one HTTP response body may take.
 * k6 has neither (gorilla's ReadMessage and k6's readResponseBody buffer whatever arrives), so a server that never
 * ends a message costs k6 unbounded memory; here it costs at most the limit and then fails loudly, naming the limit
 * and the `starling run` flag that raises it.
 */
import { DEFAULT_PARSE_LIMITS } from '../xmpp/xml/parser.ts';

export interface EngineLimits {
  /** Largest WebSocket message (bytes, decompressed) a socket takes; beyond it the socket closes with 1009. */
  maxWsMessageBytes: number;
  /** Largest HTTP response body (bytes, on the wire and decompressed) a request keeps; beyond it the request fails. */
  maxResponseBodyBytes: number;
}

/**
 * 1 MiB each: the XMPP frame parser's own limit. A WebSocket message is one XMPP frame and a BOSH body is parsed
 * whole, so anything larger would be refused by the protocol layer anyway; buffering it first only costs memory.
 */
export const DEFAULT_ENGINE_LIMITS: Readonly<EngineLimits> = Object.freeze({
  maxWsMessageBytes: DEFAULT_PARSE_LIMITS.maxBytes,
  maxResponseBodyBytes: DEFAULT_PARSE_LIMITS.maxBytes,
});

/** The `starling run` flags that set them (named in the engine's errors, defined in src/cli/run.ts). */
export const LIMIT_FLAGS = {
  maxWsMessageBytes: 'max-ws-message',
  maxResponseBodyBytes: 'max-response-body',
} as const satisfies Record<keyof EngineLimits, string>;

/** ws keeps its maxPayload in a 32-bit int: the largest limit either flag takes. */
export const MAX_LIMIT_BYTES = 2 ** 31 - 1;

/** The error event's text when a WebSocket message outgrows the limit. */
export function wsMessageTooBig(limit: number): string {
  return (
    `websocket: message larger than ${limit} bytes, the Node engine's limit for one WebSocket message ` +
    `(a safety limit, k6 has none): raise it with starling run --${LIMIT_FLAGS.maxWsMessageBytes} <bytes>`
  );
}

/** The Response's `error` when a body outgrows the limit; `how` says where it was seen (Content-Length, gzip…). */
export function responseBodyTooBig(limit: number, how?: string): string {
  return (
    `response body larger than ${limit} bytes${how ? ` (${how})` : ''}, the Node engine's limit for one response ` +
    `body (a safety limit, k6 has none): raise it with starling run --${LIMIT_FLAGS.maxResponseBodyBytes} <bytes>`
  );
}
