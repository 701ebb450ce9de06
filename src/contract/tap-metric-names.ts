/**
 * The tap's metric names, named once: the tap (src/collector/tap/metrics.ts) records them, the collector's
 * Prometheus output, the run report and the dashboards read them. Pure data, no import.
 */
export const TAP_METRICS = {
  /** µs spent in parseFrame, labels {direction, element}. */
  frameParse: 'tap_frame_parse',
  /** Frame (WebSocket message, BOSH HTTP body) size in bytes, labels {direction}. */
  frameSize: 'tap_frame_size',
  /** µs from a client iq get/set to the server's result/error with the same id on the same connection. */
  iqResponse: 'tap_iq_response',
  /** µs from a client <message id> to the same id arriving from the server on any connection. */
  messageTransit: 'tap_message_transit',
  /** Frames seen, labels {direction}. */
  frames: 'tap_frames',
  /** Framing violations, labels {kind, direction}. */
  framingViolations: 'tap_framing_violations',
  /** Connections (WebSocket) or sessions (BOSH) open at the end of the interval. */
  connections: 'tap_connections',
} as const;
