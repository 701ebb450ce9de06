/** Scenario configuration from `__ENV`, with defaults that fit a local `starling server up`. */
import { SharedArray } from 'k6/data';
import { discoverEndpoints } from './discovery.ts';
import { num, parseDuration, whole } from './env.ts';
import type { BoshSettings, TransportName } from './transport.ts';
import { discoveryDomain, domainWithoutPort, isDiscoveryTarget } from '../xmpp/discovery.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { parseFollowRedirects } from '../xmpp/redirect.ts';

export { num, parseDuration, positiveDuration, whole } from './env.ts';

export interface ScenarioConfig {
  /** XMPP_TRANSPORT, else from the URL scheme: ws:// wss:// → websocket, http:// https:// → bosh. */
  transport: TransportName;
  /** The endpoint; '' until setup() discovered it when `discover` is set (use withEndpoint(cfg, data)). */
  url: string;
  /** XEP-0156 discovery in setup(): XMPP_URL is `xmpp://<domain>` or a bare domain, or XMPP_DISCOVER=1. */
  discover: { domain: string; allowInsecure: boolean } | undefined;
  bosh: BoshSettings;
  domain: string;
  vus: number;
  sessionsPerVu: number;
  durationMs: number;
  /** Messages per session per second (chat). */
  messageRate: number;
  /** Presence updates per session per second (presence). */
  presenceRate: number;
  /** Session logins started per second across all VUs (a ramp: servers queue a burst of handshakes). */
  loginRate: number;
  /** Session closes started per second across all VUs where a scenario paces them (idle): CLOSE_RATE, default
   * LOGIN_RATE. */
  closeRate: number;
  /** Ping period per session (idle). */
  pingIntervalMs: number;
  mechanisms: string[] | undefined;
  /** Redirects (see-other-uri, see-other-host) one login may follow: XMPP_FOLLOW_REDIRECTS, default 0. */
  followRedirects: number;
  /** XMPP_STREAM_MANAGEMENT: enable stream management (XEP-0198) with resumption on each session. */
  streamManagement: boolean;
  /** First account number used by VU 1's first session. */
  accountOffset: number;
  account: (n: number) => { username: string; password: string };
}

/** VUS and SESSIONS_PER_VU: a run of zero sessions would measure nothing and pass every threshold. */
function atLeastOne(name: string, fallback: number): number {
  const n = whole(name, fallback);
  if (n < 1) throw new Error(`${name}=${n}: the run would open no session; use 1 or more`);
  return n;
}

/** Accounts from XMPP_ACCOUNTS_CSV (`user,password` lines), loaded once in the init context. */
const csvAccounts: readonly { username: string; password: string }[] | undefined = __ENV.XMPP_ACCOUNTS_CSV
  ? new SharedArray('xmpp-accounts', () =>
      parseAccountsCsv(open(__ENV.XMPP_ACCOUNTS_CSV!), __ENV.XMPP_ACCOUNTS_CSV!),
    )
  : undefined;

/**
 * `user,password` per line; blank lines and lines starting with `#` are skipped. The password is everything after
 * the first comma (it may hold commas). A line that is not `user,password` is refused with its number and never
 * echoed: it may be a password.
 */
export function parseAccountsCsv(text: string, file: string): { username: string; password: string }[] {
  const accounts: { username: string; password: string }[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const comma = line.indexOf(',');
    const where = `XMPP_ACCOUNTS_CSV ${file} line ${i + 1}`;
    if (comma < 0) throw new Error(`${where} has no comma: each line must be user,password`);
    const username = line.slice(0, comma).trim();
    const password = line.slice(comma + 1).trim();
    if (username === '')
      throw new Error(`${where} has no user before its comma: each line must be user,password`);
    if (password === '')
      throw new Error(`${where} has no password after its comma: each line must be user,password`);
    accounts.push({ username, password });
  });
  if (accounts.length === 0) {
    throw new Error(
      `XMPP_ACCOUNTS_CSV ${file} holds no account (${lines.length} lines, all blank or comments): ` +
        'write one user,password per line, or drop XMPP_ACCOUNTS_CSV to use XMPP_USER_PATTERN',
    );
  }
  return accounts;
}

/** The transport for `url`: XMPP_TRANSPORT when set (and consistent with the URL), else the URL's scheme. */
export function resolveTransport(url: string, requested: string | undefined): TransportName {
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  const fromUrl =
    scheme === 'ws' || scheme === 'wss'
      ? 'websocket'
      : scheme === 'http' || scheme === 'https'
        ? 'bosh'
        : undefined;
  if (requested !== undefined && requested !== '') {
    if (requested !== 'websocket' && requested !== 'bosh') {
      throw new Error(`XMPP_TRANSPORT='${requested}' is not a transport: use websocket or bosh`);
    }
    if (fromUrl !== undefined && fromUrl !== requested) {
      throw new Error(
        `XMPP_TRANSPORT=${requested} but XMPP_URL is ${url} (a ${fromUrl} URL): give a ${requested === 'bosh' ? 'http(s)://…/http-bind' : 'ws(s)://…/xmpp-websocket'} URL`,
      );
    }
    return requested;
  }
  if (!fromUrl) throw new Error(`XMPP_URL '${url}' is neither ws(s):// (WebSocket) nor http(s):// (BOSH)`);
  return fromUrl;
}

function flag(name: string): boolean {
  const raw = (__ENV[name] ?? '').toLowerCase();
  return raw === 'true' || raw === '1' || raw === 'yes';
}

/**
 * What setup() hands every VU: the endpoint discovered, or XMPP_URL as given. setup() data is printed in k6's
 * summary (data.setup_data), so a URL's password never goes in it: a configured URL travels masked for the
 * record, and the VUs keep their own from __ENV.
 */
export interface EndpointData {
  url: string;
  transport: TransportName;
  discovered: boolean;
}

/**
 * For a scenario's setup(): when cfg.discover is set, XEP-0156 discovery over k6/http (printing what it
 * found); else XMPP_URL as configured.
 */
export function setupEndpoint(cfg: ScenarioConfig): EndpointData {
  if (!cfg.discover) return { url: maskUrlPasswords(cfg.url), transport: cfg.transport, discovered: false };
  const found = discoverEndpoints(cfg.discover.domain, cfg.transport, cfg.discover.allowInsecure);
  console.log(`discovered ${maskUrlPasswords(found.url)} for ${found.transport} from ${found.source}`);
  return { url: found.url, transport: found.transport, discovered: true };
}

/** cfg with the endpoint setup() discovered (k6 gives the default function setup's return value). */
export function withEndpoint(cfg: ScenarioConfig, data: EndpointData | undefined): ScenarioConfig {
  if (!data?.discovered) {
    if (cfg.discover)
      throw new Error('XMPP endpoint discovery needs setup() data: export setup() from the scenario');
    return cfg;
  }
  return { ...cfg, url: data.url, transport: data.transport };
}

/** With discovery, XMPP_TRANSPORT picks the link (websocket by default). */
function discoveryTransport(requested: string | undefined): TransportName {
  if (requested === undefined || requested === '' || requested === 'websocket') return 'websocket';
  if (requested === 'bosh') return 'bosh';
  throw new Error(`XMPP_TRANSPORT='${requested}' is not a transport: use websocket or bosh`);
}

export function loadConfig(): ScenarioConfig {
  const url = __ENV.XMPP_URL || 'ws://127.0.0.1:5280/xmpp-websocket';
  const discovering = isDiscoveryTarget(url) || flag('XMPP_DISCOVER');
  const discoverFrom = discovering ? discoveryDomain(__ENV.XMPP_URL || __ENV.XMPP_DOMAIN || url) : undefined;
  const userPattern = __ENV.XMPP_USER_PATTERN || 'user{n}';
  const passwordPattern = __ENV.XMPP_PASSWORD_PATTERN || 'pass{n}';
  const csv = csvAccounts;
  // XMPP_ACCOUNT_POOL=k: account numbers wrap onto 1..k (several sessions share an account, each with its own
  // resource), so a long open-model run needs k accounts on the server, not one per arrival.
  const pool = whole('XMPP_ACCOUNT_POOL', 0);
  const number = (n: number): number => (pool > 0 ? ((n - 1) % pool) + 1 : n);
  return {
    transport: discoverFrom
      ? discoveryTransport(__ENV.XMPP_TRANSPORT)
      : resolveTransport(url, __ENV.XMPP_TRANSPORT),
    url: discoverFrom ? '' : url,
    discover: discoverFrom
      ? { domain: discoverFrom, allowInsecure: flag('XMPP_DISCOVERY_INSECURE') }
      : undefined,
    bosh: {
      wait: num('BOSH_WAIT', 30),
      orderGapMs:
        !__ENV.BOSH_ORDER_GAP || __ENV.BOSH_ORDER_GAP === 'auto'
          ? 'auto'
          : parseDuration(__ENV.BOSH_ORDER_GAP),
    },
    domain: __ENV.XMPP_DOMAIN || (discoverFrom ? domainWithoutPort(discoverFrom) : 'localhost'),
    vus: atLeastOne('VUS', 10),
    sessionsPerVu: atLeastOne('SESSIONS_PER_VU', 10),
    durationMs: parseDuration(__ENV.DURATION || '30s'),
    messageRate: num('MESSAGE_RATE', 0.2),
    presenceRate: num('PRESENCE_RATE', 0.1),
    loginRate: num('LOGIN_RATE', 300),
    closeRate: num('CLOSE_RATE', num('LOGIN_RATE', 300)),
    pingIntervalMs: parseDuration(__ENV.PING_INTERVAL || '30s'),
    mechanisms: __ENV.XMPP_MECHANISMS ? __ENV.XMPP_MECHANISMS.split(',').map((m) => m.trim()) : undefined,
    followRedirects: parseFollowRedirects(__ENV.XMPP_FOLLOW_REDIRECTS),
    streamManagement: flag('XMPP_STREAM_MANAGEMENT'),
    accountOffset: whole('ACCOUNT_OFFSET', 0),
    account: csv
      ? (n) => csv[(n - 1) % csv.length]!
      : (n) => ({
          username: userPattern.replace('{n}', String(number(n))),
          password: passwordPattern.replace('{n}', String(number(n))),
        }),
  };
}
