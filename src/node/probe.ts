/**
 * A quick load probe on the Node session helpers: N sessions log in over WebSocket or BOSH, each sends one
 * chat message to the next, all close cleanly. It checks a server end to end and records one session's frames
 * (credentials redacted). The k6 scenarios are the real load tests; this is the smoke test before them, so it
 * reaches a deployment as they do: wss:// and https:// verified (a private CA on top of the system roots, or
 * no verification), and XEP-0156 discovery of the endpoint from a domain.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { UNKNOWN_AUTHORITY_CODES } from '../engine/modules/tls.ts';
import {
  checkHostMetaSource,
  DiscoveryError,
  DISCOVERY_INSECURE_ENV,
  HostMetaSearch,
  type DiscoveredEndpoint,
} from '../xmpp/discovery.ts';
import { XmppError } from '../xmpp/errors.ts';
import { redactFrame } from '../xmpp/redact.ts';
import { ScramCache } from '../xmpp/sasl/scram.ts';
import type { SessionTimeouts, XmppSession } from '../xmpp/session.ts';
import { openBoshSession } from './bosh-session.ts';
import { openWebSocketSession, withDefaultRoots } from './websocket-session.ts';

export type { DiscoveredEndpoint };

export type ProbeTransport = 'websocket' | 'bosh';

export const PROBE_TRANSPORTS: readonly ProbeTransport[] = ['websocket', 'bosh'];

/** How wss:// and https:// servers are verified: Node's roots plus `ca` when given; none with `verify: false`. */
export interface ProbeTls {
  /** Extra CA certificates (PEM), trusted besides Node's roots. */
  ca?: string | Buffer;
  /** false: no certificate verification. Default true. */
  verify?: boolean;
}

/** The flags the probe's errors tell people to use (the CLI defines them). */
export const PROBE_FLAGS = {
  caFile: '--ca-file',
  insecureSkipTlsVerify: '--insecure-skip-tls-verify',
  discoveryInsecure: '--discovery-insecure',
  transport: '--transport',
} as const;

/** Options that cannot work together, or a target that is not one; nothing was connected. */
export class ProbeInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProbeInputError';
  }
}

/** A wss:// or https:// server (or a host-meta) whose certificate did not verify: Node's code names the cause. */
export class ProbeTlsError extends Error {
  /** Node's (OpenSSL's) error code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID. */
  readonly code: string;
  /** The URL whose TLS handshake failed. */
  readonly url: string;

  constructor(url: string, code: string, message: string) {
    super(message);
    this.name = 'ProbeTlsError';
    this.url = url;
    this.code = code;
  }

  get reason(): string {
    return `tls:${this.code}`;
  }
}

/** The transport a URL's scheme means: ws:// wss:// → websocket, http:// https:// → bosh; else undefined. */
export function transportOfUrl(url: string): ProbeTransport | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'ws' || scheme === 'wss') return 'websocket';
  if (scheme === 'http' || scheme === 'https') return 'bosh';
  return undefined;
}

/** The transport for an endpoint URL, checked against an explicit choice; ProbeInputError when they disagree. */
export function probeTransport(url: string, requested?: ProbeTransport): ProbeTransport {
  const fromUrl = transportOfUrl(url);
  if (fromUrl === undefined) {
    throw new ProbeInputError(
      `'${url}' is not an endpoint: give ws(s)://…/xmpp-websocket (WebSocket), http(s)://…/http-bind (BOSH), or xmpp://<domain> / a bare domain for XEP-0156 discovery`,
    );
  }
  if (requested !== undefined && requested !== fromUrl) {
    throw new ProbeInputError(
      `${PROBE_FLAGS.transport} ${requested} but ${url} is a ${fromUrl} URL: give a ${requested === 'bosh' ? 'http(s)://…/http-bind' : 'ws(s)://…/xmpp-websocket'} URL, or drop ${PROBE_FLAGS.transport} (the scheme chooses it)`,
    );
  }
  return fromUrl;
}

/** True for wss:// and https:// URLs. */
export function isTlsUrl(url: string): boolean {
  return /^(?:wss|https):\/\//i.test(url);
}

const EXPIRY_CODES = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** True when Node's error code says the peer's certificate did not verify (not a refused or reset connection). */
export function isCertificateError(code: string | undefined): code is string {
  return (
    code !== undefined &&
    (UNKNOWN_AUTHORITY_CODES.has(code) ||
      EXPIRY_CODES.has(code) ||
      code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
      /CERT/.test(code))
  );
}

/**
 * The typed error for a failed certificate verification at `url` (Node's `err.code` and message), saying what
 * to do about it; undefined when `err` is not a certificate problem.
 */
export function certificateError(url: string, err: unknown): ProbeTlsError | undefined {
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  if (!isCertificateError(code)) return undefined;
  const cause = `${code} (${message ?? 'no message'})`;
  const skip = `skip verification with ${PROBE_FLAGS.insecureSkipTlsVerify} (testing only)`;
  let text: string;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    text =
      `the server's TLS certificate does not name this host: ${cause}. Connect by a name it lists, or ` +
      `${skip}; ${PROBE_FLAGS.caFile} cannot fix a name mismatch`;
  } else if (EXPIRY_CODES.has(code)) {
    text =
      `the server's TLS certificate has expired or is not yet valid: ${cause}. Renew it (or check the ` +
      `clock), or ${skip}; ${PROBE_FLAGS.caFile} cannot fix its dates`;
  } else {
    text =
      `the server's TLS certificate is not trusted: ${cause}. Pass the CA that signed it with ` +
      `${PROBE_FLAGS.caFile} <pem>, or ${skip}`;
  }
  return new ProbeTlsError(url, code, `${url}: ${text}`);
}

function tlsOptions(tls: ProbeTls): { ca?: string[]; rejectUnauthorized: boolean } {
  return {
    ...(tls.ca !== undefined && tls.verify !== false ? { ca: withDefaultRoots(tls.ca) } : {}),
    rejectUnauthorized: tls.verify !== false,
  };
}

/**
 * One TLS handshake with a wss:// or https:// endpoint, verified as the sessions will be, so a certificate
 * problem is one clear ProbeTlsError before any session starts (the session helpers report only the message).
 * Other failures (refused, reset, timeout) are left to the sessions, which report them per session.
 */
export function checkTlsCertificate(url: string, tls: ProbeTls, timeoutMs = 10_000): Promise<void> {
  if (!isTlsUrl(url) || tls.verify === false) return Promise.resolve();
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(u.port || 443),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...tlsOptions(tls),
    });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve();
    });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (err) => {
      socket.destroy();
      const failure = certificateError(url, err);
      if (failure) reject(failure);
      else resolve();
    });
  });
}

// ---- XEP-0156 discovery over node:https ------------------------------------------------------------------

export interface DiscoveryOptions {
  tls?: ProbeTls;
  /** Accept an http:// host-meta and a ws:// or http:// endpoint (each with a warning). Default false. */
  allowInsecure?: boolean;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Where warnings go (default: stderr). */
  warn?: (line: string) => void;
}

const MAX_REDIRECTS = 5;
const MAX_HOST_META_BYTES = 1 << 20;

interface Fetched {
  status: number;
  body: string;
  /** The URL that answered, after redirects. */
  url: string;
}

/** A GET with node:http(s), following redirects; rejects with Node's error (its `code` intact). */
function get(url: string, accept: string, o: DiscoveryOptions, redirects = 0): Promise<Fetched> {
  const send = /^https:/i.test(url) ? httpsRequest : httpRequest;
  return new Promise<Fetched>((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'GET',
        agent: false,
        headers: { Accept: accept },
        ...(/^https:/i.test(url) ? tlsOptions(o.tls ?? {}) : {}),
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) {
            reject(new Error(`more than ${MAX_REDIRECTS} redirects`));
            return;
          }
          const next = new URL(location, url).href;
          try {
            // A redirect may leave HTTPS: refuse it before asking, unless allowed.
            checkHostMetaSource(next, o.allowInsecure ?? false);
          } catch (e) {
            reject(e);
            return;
          }
          get(next, accept, o, redirects + 1).then(resolve, reject);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_HOST_META_BYTES)
            req.destroy(new Error(`answer larger than ${MAX_HOST_META_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8'), url }));
        res.on('error', reject);
      },
    );
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The shared module's messages name the scenarios' settings; the probe's name its flags. */
function withProbeFlags(e: DiscoveryError): DiscoveryError {
  const message = e.message
    .replaceAll(`set ${DISCOVERY_INSECURE_ENV}=true`, `pass ${PROBE_FLAGS.discoveryInsecure}`)
    .replaceAll(`${DISCOVERY_INSECURE_ENV}=true`, PROBE_FLAGS.discoveryInsecure)
    .replaceAll('use XMPP_TRANSPORT=', `use ${PROBE_FLAGS.transport} `);
  return message === e.message ? e : new DiscoveryError(e.kind, message);
}

/** Node's error in one line: its code, and its message without OpenSSL's source locations. */
function describeFailure(e: unknown): string {
  const { code, message = String(e) } = (e ?? {}) as { code?: string; message?: string };
  const ssl = /SSL routines:[^:]*:([^:]+):/.exec(message)?.[1];
  const text = ssl !== undefined ? `TLS handshake failed: ${ssl}` : message.split('\n')[0]!.trim();
  const hint = ssl === 'wrong version number' ? '; is it a plain-HTTP server?' : '';
  return code !== undefined ? `${code} (${text}${hint})` : text;
}

/**
 * The endpoint `domain` (`example.org`, `localhost:8443`) advertises for `transport`, as the scenarios find it
 * (src/k6/discovery.ts): `https://<domain>/.well-known/host-meta` (XRD), then `host-meta.json`, and with
 * `allowInsecure` the same over http://. Throws DiscoveryError naming every URL tried, or ProbeTlsError when
 * nothing answered and a certificate did not verify.
 */
export async function discoverEndpoint(
  domain: string,
  transport: ProbeTransport,
  o: DiscoveryOptions = {},
): Promise<DiscoveredEndpoint> {
  const warn = o.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const search = new HostMetaSearch(
    domain,
    transport,
    o.allowInsecure ?? false,
    PROBE_FLAGS.discoveryInsecure,
    warn,
  );
  let tlsFailure: ProbeTlsError | undefined;
  try {
    for (const loc of search.locations) {
      let res: Fetched;
      try {
        res = await get(loc.url, loc.format === 'json' ? 'application/json' : 'application/xrd+xml', o);
      } catch (e) {
        if (e instanceof DiscoveryError) throw e;
        tlsFailure ??= certificateError(loc.url, e);
        search.unanswered(loc, describeFailure(e));
        continue;
      }
      const found = search.answer(loc, res);
      if (found) return found;
    }
  } catch (e) {
    throw e instanceof DiscoveryError ? withProbeFlags(e) : e;
  }
  const failure = search.failure();
  // A missing link says more than an untrusted certificate elsewhere; the certificate, more than a 404.
  if (failure.kind !== 'no-link' && tlsFailure) {
    throw new ProbeTlsError(
      tlsFailure.url,
      tlsFailure.code,
      `no host-meta found for ${domain}: ${tlsFailure.message}`,
    );
  }
  throw withProbeFlags(failure);
}

// ---- the probe ---------------------------------------------------------------------------------------------

export interface ProbeAccount {
  username: string;
  password: string;
}

export interface ProbeOptions {
  /** ws(s):// or http(s):// endpoint. */
  url: string;
  /** Default: from the URL's scheme (ProbeInputError when it disagrees). */
  transport?: ProbeTransport;
  /** Verification of a wss:// or https:// endpoint (ignored for ws:// and http://). */
  tls?: ProbeTls;
  domain: string;
  /** Account for session n (1-based). */
  account: (n: number) => ProbeAccount;
  sessions: number;
  /** Sessions connecting at once (default 200). */
  concurrency?: number;
  mechanisms?: string[];
  timeouts?: Partial<SessionTimeouts>;
  /** How long to wait for every message to arrive (default 10 s). */
  deliveryTimeoutMs?: number;
}

export type Phase = 'connect' | 'open+auth' | 'bind' | 'login' | 'delivery' | 'close';

export interface PhaseStats {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ProbeResult {
  url: string;
  transport: ProbeTransport;
  sessions: number;
  loggedIn: number;
  messagesSent: number;
  messagesDelivered: number;
  cleanCloses: number;
  /** Failures by typed reason (`auth-failed:not-authorized`, `timeout:bind`, …). */
  failures: Record<string, number>;
  /** One example message per failure reason. */
  failureExamples: Record<string, string>;
  phases: Record<Phase, PhaseStats>;
  offeredMechanisms: string[];
  mechanism: string | undefined;
  /** Session 1's frames, `>>` out and `<<` in, SASL payloads redacted. */
  transcript: string[];
  wallMs: number;
}

/** Exact percentile (nearest rank) of sorted samples; the HDR collector replaces this for real runs. */
export function stats(samples: number[]): PhaseStats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number =>
    s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { count: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s.at(-1) ?? 0 };
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function runProbe(o: ProbeOptions): Promise<ProbeResult> {
  const transport = probeTransport(o.url, o.transport);
  // Only a TLS URL takes TLS settings (the BOSH helper would send an http:// URL through node:https).
  const tls = isTlsUrl(o.url) ? (o.tls ?? {}) : {};
  await checkTlsCertificate(o.url, tls);
  const t0 = Date.now();
  const cache = new ScramCache();
  const transcript: string[] = [];
  const failures: Record<string, number> = {};
  const failureExamples: Record<string, string> = {};
  const samples: Record<Phase, number[]> = {
    connect: [],
    'open+auth': [],
    bind: [],
    login: [],
    delivery: [],
    close: [],
  };
  const fail = (e: unknown): void => {
    const err = e instanceof XmppError ? e : new XmppError('transport-error', undefined, String(e));
    failures[err.reason] = (failures[err.reason] ?? 0) + 1;
    failureExamples[err.reason] ??= err.message;
  };

  const sessions: (XmppSession | undefined)[] = [];
  let delivered = 0;
  let allDelivered: () => void = () => {};
  const deliveredAll = new Promise<void>((r) => (allDelivered = r));
  const indices = Array.from({ length: o.sessions }, (_, i) => i);

  await pool(indices, o.concurrency ?? 200, async (i) => {
    const acct = o.account(i + 1);
    const options = {
      url: o.url,
      domain: o.domain,
      credentials: { username: acct.username, password: acct.password },
      mechanisms: o.mechanisms,
      timeouts: o.timeouts,
      scramCache: cache,
      onFrame:
        i === 0
          ? (dir: 'in' | 'out', f: string) =>
              transcript.push(`${dir === 'out' ? '>>' : '<<'} ${redactFrame(f)}`)
          : undefined,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.verify === false ? { verifyTls: false } : {}),
    };
    const { session } = transport === 'bosh' ? openBoshSession(options) : openWebSocketSession(options);
    session.onMessage((m) => {
      const sentAt = Number(m.getChildText('body')?.split(' ')[1]);
      if (Number.isFinite(sentAt)) samples.delivery.push(Date.now() - sentAt);
      if (++delivered === o.sessions) allDelivered();
    });
    try {
      await session.start();
      const t = session.timings;
      samples.connect.push(t.connected! - t.started!);
      samples['open+auth'].push(t.authenticated! - t.connected!);
      samples.bind.push(t.bound! - t.authenticated!);
      samples.login.push(t.ready! - t.started!);
      sessions[i] = session;
    } catch (e) {
      fail(e);
    }
  });

  const ready = sessions.filter((s): s is XmppSession => s !== undefined);
  let sent = 0;
  if (ready.length > 1) {
    ready.forEach((s, k) => {
      const peer = ready[(k + 1) % ready.length]!;
      s.sendMessage({ to: peer.jid!, body: `probe ${Date.now()}` });
      sent++;
    });
    const expected = ready.length;
    if (delivered < expected) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        deliveredAll,
        new Promise<void>((r) => (timer = setTimeout(r, o.deliveryTimeoutMs ?? 10_000))),
      ]);
      clearTimeout(timer);
    }
  }

  let clean = 0;
  await pool(ready, o.concurrency ?? 200, async (s) => {
    const end = await s.close();
    if (end.clean) clean++;
    else if (end.error) fail(end.error);
    samples.close.push(s.timings.closed! - s.timings.closeStarted!);
  });

  const first = ready[0];
  return {
    url: o.url,
    transport,
    sessions: o.sessions,
    loggedIn: ready.length,
    messagesSent: sent,
    messagesDelivered: delivered,
    cleanCloses: clean,
    failures,
    failureExamples,
    phases: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])) as Record<
      Phase,
      PhaseStats
    >,
    offeredMechanisms: first?.offeredMechanisms ?? [],
    mechanism: first?.mechanism,
    transcript,
    wallMs: Date.now() - t0,
  };
}
