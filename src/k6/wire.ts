/**
 * The payload bytes and HTTP requests each transport costs, recorded for the collector only
 * (XMPP_TRANSPORT_COUNTERS).
 */
import { collectorEnabled, recordCount } from './collector.ts';
import { XMPP_TRANSPORT_COUNTERS } from '../contract/metric-names.ts';
import { utf8Length } from './utf8.ts';

const SENT = { direction: 'sent' };
const RECEIVED = { direction: 'received' };

// Without a collector nothing is recorded, and the payloads are not even measured.

/** A payload this session sent (a WebSocket message, a BOSH request body). */
export function countSent(payload: string): void {
  if (collectorEnabled) recordCount(XMPP_TRANSPORT_COUNTERS.payloadBytes, utf8Length(payload), SENT);
}

/** A payload this session received (a WebSocket message, a BOSH response body). */
export function countReceived(payload: string): void {
  if (collectorEnabled) recordCount(XMPP_TRANSPORT_COUNTERS.payloadBytes, utf8Length(payload), RECEIVED);
}

/** One HTTP request: a BOSH POST, or a WebSocket opening handshake. */
export function countRequest(): void {
  recordCount(XMPP_TRANSPORT_COUNTERS.requests, 1);
}
