/**
 * Round-trip timings as k6 measures them (grafana/k6 lib/netext/httpext/tracer.go Tracer and Trail): the connect
 * and TLS stamps of the connections a pool dials (Go's httptrace hooks) and a round trip's durations from them.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';

/** k6's Trail durations, in milliseconds. */
export interface WireTimings {
  blocked: number;
  connecting: number;
  tlsHandshaking: number;
  sending: number;
  waiting: number;
  receiving: number;
  /** sending + waiting + receiving, as k6. */
  duration: number;
}

/** What the pool recorded about a connection it dialed (Go's httptrace connect/TLS hooks). */
export interface ConnTrace {
  /** The TCP socket: its byte counters are the wire's, TLS included. */
  raw: net.Socket;
  tls: boolean;
  /** performance.now() stamps; 0 until the event happened. */
  created: number;
  connectStart: number;
  connectDone: number;
  tlsDone: number;
  /** Handed to a request already (a later request on it is a reuse). */
  used: boolean;
}

export const traces = new WeakMap<net.Socket, ConnTrace>();

export function traceConnection(socket: net.Socket, raw: net.Socket, isTls: boolean): void {
  const t: ConnTrace = {
    raw,
    tls: isTls,
    created: performance.now(),
    connectStart: 0,
    connectDone: 0,
    tlsDone: 0,
    used: false,
  };
  traces.set(socket, t);
  // Go's ConnectStart comes right before the dial (after the DNS lookup; an IP literal has none), and only the
  // first attempt's counts (tracer.go ConnectStart): Node's connectionAttempt (20.12+) is emitted just before its
  // connect(2), a tick after net.connect() returned, once the rest of the request was prepared; 'lookup' is the
  // fallback (as close as older Nodes come).
  raw.once('lookup', () => {
    if (t.connectStart === 0) t.connectStart = performance.now();
  });
  raw.prependOnceListener('connectionAttempt', () => (t.connectStart = performance.now()));
  raw.once('connect', () => {
    t.connectDone = performance.now();
    if (t.connectStart === 0) t.connectStart = t.created;
  });
  if (isTls) socket.once('secureConnect', () => (t.tlsDone = performance.now()));
}

/** Go's httptrace stamps for one round trip (performance.now(); 0 = did not happen). */
export interface Stamps {
  getConn: number;
  connectStart: number;
  connectDone: number;
  tlsStart: number;
  tlsDone: number;
  gotConn: number;
  wrote: number;
  firstByte: number;
}

/** k6's Tracer.Done(). */
export function trail(t: Stamps, done: number): WireTimings {
  const blocked = t.gotConn !== 0 && t.getConn !== 0 && t.gotConn > t.getConn ? t.gotConn - t.getConn : 0;
  const connecting = t.connectDone !== 0 && t.connectStart !== 0 ? t.connectDone - t.connectStart : 0;
  const tlsHandshaking = t.tlsDone !== 0 && t.tlsStart !== 0 ? t.tlsDone - t.tlsStart : 0;
  let sending = 0;
  let waiting = 0;
  let receiving = 0;
  if (t.wrote !== 0) {
    sending = t.wrote - (t.tlsDone !== 0 ? t.tlsDone : t.connectDone !== 0 ? t.connectDone : t.gotConn);
    if (t.firstByte !== 0) {
      if (t.firstByte > t.wrote) waiting = t.firstByte - t.wrote;
    } else {
      waiting = done - t.wrote;
    }
  }
  if (t.firstByte !== 0) receiving = done - t.firstByte;
  return {
    blocked,
    connecting,
    tlsHandshaking,
    sending,
    waiting,
    receiving,
    duration: sending + waiting + receiving,
  };
}
