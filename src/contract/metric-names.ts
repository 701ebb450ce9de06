/**
 * The XMPP metrics, named once: scenarios (through src/k6/metrics.ts), the Node engine's summary table,
 * the collector and the dashboards all import these names. Pure data, no k6 import.
 */
export const XMPP_TRENDS = {
  connect: 'xmpp_connect',
  auth: 'xmpp_auth',
  bind: 'xmpp_bind',
  sessionReady: 'xmpp_session_ready',
  messageDelivery: 'xmpp_message_delivery',
  presenceDelivery: 'xmpp_presence_delivery',
  iqRtt: 'xmpp_iq_rtt',
  close: 'xmpp_close',
  /**
   * TLS handshake of each new BOSH connection (k6's Response.timings.tls_handshaking, when above 0), so the
   * collector merges it across the fleet. None for WebSocket: k6/websockets does not expose the handshake
   * (it is inside k6's ws_connecting).
   */
  tlsHandshake: 'xmpp_tls_handshake',
  /** Multi-user chat (XEP-0045): join presence sent → the room's self-presence (status 110) received. */
  mucJoin: 'xmpp_muc_join',
  /** A groupchat message, sender → each other occupant that received it (one sample per recipient). */
  mucMessageDelivery: 'xmpp_muc_message_delivery',
  /** An occupant's presence into the room, sender → each other occupant (one sample per recipient). */
  mucPresenceDelivery: 'xmpp_muc_presence_delivery',
  /**
   * Stream management (XEP-0198): a resumption, from its new transport starting to connect to `<resumed/>`
   * (connect, open, SASL and the resume exchange).
   */
  smResume: 'xmpp_sm_resume',
} as const;

export const XMPP_COUNTERS = {
  /** tag `kind`: message | presence | iq */
  stanzasSent: 'xmpp_stanzas_sent',
  stanzasReceived: 'xmpp_stanzas_received',
  /** tag `condition`: conflict, host-unknown, … */
  streamErrors: 'xmpp_stream_errors',
  /** tag `reason`: the typed failure, e.g. auth-failed:not-authorized, timeout:bind */
  sessionFailures: 'xmpp_session_failures',
  /** opened − closed = sessions open across every VU (a k6 Gauge only holds one VU's last value). */
  sessionsOpened: 'xmpp_sessions_opened',
  sessionsClosed: 'xmpp_sessions_closed',
  /** BOSH requests re-sent with the same rid after a network failure or a recoverable error */
  boshRetries: 'xmpp_bosh_retries',
  /**
   * Server redirects (see-other-uri, see-other-host), tags `kind` and `outcome`: followed, or why not — off
   * (XMPP_FOLLOW_REDIRECTS unset), limit (hops spent), downgrade (TLS to plain), invalid (not a URL or host),
   * stopping (a session moved during the Node engine's wind-down).
   */
  redirects: 'xmpp_redirects',
  /**
   * Room fan-out, tag `kind`: message | presence. Expected: for each timed broadcast, the other occupants its
   * sender saw in the room when it sent it; received: each timed broadcast an occupant got from another. Summed
   * over every VU and generator (occupants of a room may span them), received ÷ expected is what the rooms
   * delivered.
   */
  mucFanoutExpected: 'xmpp_muc_fanout_expected',
  mucFanoutReceived: 'xmpp_muc_fanout_received',
  /** Stanzas sent again after a resumption: the server had not acknowledged them when the transport broke. */
  smResent: 'xmpp_sm_resent',
  /**
   * Timed stanzas that arrived again after they had been delivered (a resumption that replays what was already
   * received): each is one redelivery, tag `kind`.
   */
  redelivered: 'xmpp_stanzas_redelivered',
} as const;

export const XMPP_RATES = {
  loginSuccess: 'xmpp_login_success',
  cleanClose: 'xmpp_clean_close',
  /**
   * One sample per timed chat message once its fate is known: 1 lost (not received by its addressee within
   * XMPP_LOSS_WINDOW, or its addressee's session ended first), 0 delivered. passes = lost, fails = delivered.
   */
  messageLoss: 'xmpp_message_loss',
  /** The same for timed directed presence. */
  presenceLoss: 'xmpp_presence_loss',
  /** One sample per room join: 1 joined (self-presence came), 0 refused (an error presence) or timed out. */
  mucJoinSuccess: 'xmpp_muc_join_success',
  /**
   * Per recipient of a timed groupchat message that is in the sender's VU: 1 lost (not received within
   * XMPP_LOSS_WINDOW, or the recipient's session ended first), 0 delivered. Recipients in other VUs or
   * generators are counted by xmpp_muc_fanout_received only.
   */
  mucMessageLoss: 'xmpp_muc_message_loss',
  /** The same for timed presence into a room. */
  mucPresenceLoss: 'xmpp_muc_presence_loss',
  /**
   * One sample per resumption attempt of a broken session: 1 resumed, 0 not (tag `reason`:
   * sm-resume-failed:item-not-found after the server's timeout, a failed login, a timeout).
   */
  smResumeSuccess: 'xmpp_sm_resume_success',
} as const;

/**
 * What each transport costs, sent to the collector only (no k6 metric: k6's own data_sent/data_received and
 * http_reqs count the same traffic on the wire, headers included, and a k6 sample per frame would double the
 * output's volume). Both are counted by the k6 transports (src/k6/websocket.ts, src/k6/bosh.ts).
 */
export const XMPP_TRANSPORT_COUNTERS = {
  /**
   * tag `direction`: sent | received. UTF-8 bytes of the XMPP payload: WebSocket message text, BOSH HTTP request
   * and response bodies (retries included); no HTTP headers, no WebSocket framing.
   */
  payloadBytes: 'xmpp_transport_bytes',
  /** HTTP requests the transport made: BOSH POSTs (retries included), one WebSocket opening handshake per session. */
  requests: 'xmpp_transport_requests',
} as const;

export const XMPP_GAUGES = {
  /** Sessions open in the reporting VU; fleet totals come from the opened/closed counters. */
  sessionsOpen: 'xmpp_sessions_open',
} as const;

/** Every XMPP metric with its k6 type, in summary order; trends are times in ms. */
export const XMPP_METRICS: readonly { name: string; type: 'trend' | 'counter' | 'rate' | 'gauge' }[] = [
  ...Object.values(XMPP_TRENDS).map((name) => ({ name, type: 'trend' as const })),
  ...Object.values(XMPP_RATES).map((name) => ({ name, type: 'rate' as const })),
  ...Object.values(XMPP_COUNTERS).map((name) => ({ name, type: 'counter' as const })),
  ...Object.values(XMPP_GAUGES).map((name) => ({ name, type: 'gauge' as const })),
];
