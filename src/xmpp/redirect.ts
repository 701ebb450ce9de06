/**
 * Where a server's redirect points, host-neutral: `<close see-other-uri='…'/>` (RFC 7395 §3.6.1), BOSH's
 * `condition='see-other-uri'` (XEP-0124 §17) and the `<see-other-host/>` stream error (RFC 6120 §4.9.3.19)
 * resolved against the endpoint the session used, with the rules a client must keep: no move from TLS to
 * plain text, no credentials or garbage in the URL, a bounded number of hops. Following is the host's job
 * (src/k6/session.ts). URLs are parsed by hand because k6's JavaScript runtime has no `URL`.
 */

export type RedirectKind = 'see-other-uri' | 'see-other-host';

/** What the server said: the kind and its value (a URI, or `host[:port]`). */
export interface Redirect {
  kind: RedirectKind;
  to: string;
}

export type RedirectTransport = 'websocket' | 'bosh';

export interface RedirectTarget {
  url: string;
  transport: RedirectTransport;
}

/** Why a redirect was not followed; also the `outcome` tag of xmpp_redirects (with `followed`). */
export type RedirectRefusal =
  | 'off' // following is off (XMPP_FOLLOW_REDIRECTS=0, the default)
  | 'limit' // the session already moved XMPP_FOLLOW_REDIRECTS times
  | 'downgrade' // from wss:// or https:// to ws:// or http://
  | 'invalid' // not a ws(s)/http(s) URL, or not a host[:port]
  | 'stopping'; // a session moved while the Node engine winds the run down (Ctrl+C): no new logins

export class RedirectError extends Error {
  readonly refusal: RedirectRefusal;

  constructor(refusal: RedirectRefusal, message: string) {
    super(message);
    this.name = 'RedirectError';
    this.refusal = refusal;
  }
}

/** The setting that allows following, by number of hops per login. */
export const FOLLOW_REDIRECTS_ENV = 'XMPP_FOLLOW_REDIRECTS';

interface ParsedUrl {
  scheme: 'ws' | 'wss' | 'http' | 'https';
  host: string; // brackets kept for IPv6
  port: string | undefined;
  rest: string; // path, query and fragment, '' or starting with / ? #
}

const URL_RE = /^(wss?|https?):\/\/(\[[0-9a-f:.]+\]|[a-z0-9._~%!$&'()*+,;=-]+)(?::(\d{1,5}))?([/?#]\S*)?$/i;

function parseUrl(url: string): ParsedUrl | undefined {
  const m = URL_RE.exec(url.trim());
  if (!m) return undefined;
  return {
    scheme: m[1]!.toLowerCase() as ParsedUrl['scheme'],
    host: m[2]!,
    port: m[3],
    rest: m[4] ?? '',
  };
}

function transportOf(scheme: ParsedUrl['scheme']): RedirectTransport {
  return scheme === 'ws' || scheme === 'wss' ? 'websocket' : 'bosh';
}

function isSecure(scheme: ParsedUrl['scheme']): boolean {
  return scheme === 'wss' || scheme === 'https';
}

function validPort(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

/**
 * The `host[:port]` of a `<see-other-host/>`: a DNS name, an IPv4 address, or an IPv6 address (in brackets
 * when a port follows, RFC 6120 §4.9.3.19). Returns the authority to put in a URL, or undefined.
 */
export function parseSeeOtherHost(value: string): { host: string; port: string | undefined } | undefined {
  const v = value.trim();
  const bracketed = /^(\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i.exec(v);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] };
  if (/^[0-9a-f:.]+$/i.test(v) && (v.match(/:/g) ?? []).length >= 2)
    return { host: `[${v}]`, port: undefined };
  const named = /^([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/i.exec(v);
  if (named) return { host: named[1]!, port: named[2] };
  return undefined;
}

/**
 * The endpoint a redirect leads to from `current`, or a RedirectError saying why it must not be followed.
 * - see-other-uri: the URI as given (ws/wss = WebSocket, http/https = BOSH: RFC 7395 allows a change of
 *   transport).
 * - see-other-host: the current URL with its host (and port, when one is given) replaced; the scheme, path
 *   and query stay, so a cluster's nodes are expected to serve the same path.
 * Never from TLS to plain text: the new host would get the credentials in the clear.
 */
export function resolveRedirect(current: string, redirect: Redirect): RedirectTarget {
  const from = parseUrl(current);
  if (!from)
    throw new RedirectError('invalid', `the current endpoint ${current} is not a ws(s):// or http(s):// URL`);
  let to: ParsedUrl;
  if (redirect.kind === 'see-other-uri') {
    const parsed = parseUrl(redirect.to);
    if (!parsed || !validPort(parsed.port)) {
      throw new RedirectError(
        'invalid',
        `see-other-uri '${redirect.to}' is not a ws(s):// or http(s):// URL without credentials: not followed`,
      );
    }
    to = parsed;
  } else {
    const hostPort = parseSeeOtherHost(redirect.to);
    if (!hostPort || !validPort(hostPort.port)) {
      throw new RedirectError(
        'invalid',
        `see-other-host '${redirect.to}' is not a host, host:port or [IPv6]:port: not followed`,
      );
    }
    to = { ...from, host: hostPort.host, port: hostPort.port ?? from.port };
  }
  if (isSecure(from.scheme) && !isSecure(to.scheme)) {
    throw new RedirectError(
      'downgrade',
      `${redirect.kind} leads from ${from.scheme}:// to ${to.scheme}:// (${redirect.to}): a redirect never drops TLS, not followed`,
    );
  }
  const url = `${to.scheme}://${to.host}${to.port !== undefined ? `:${to.port}` : ''}${to.rest}`;
  return { url, transport: transportOf(to.scheme) };
}

/**
 * The hop budget from XMPP_FOLLOW_REDIRECTS: a whole number of redirects one login may follow; empty, 0 or
 * `false` = off. `true`/`yes` = 3 (a server that keeps redirecting is broken, and starling stops it there).
 */
export function parseFollowRedirects(raw: string | undefined): number {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '' || v === 'false' || v === 'no' || v === 'off') return 0;
  if (v === 'true' || v === 'yes' || v === 'on') return 3;
  if (!/^\d+$/.test(v)) {
    throw new Error(
      `${FOLLOW_REDIRECTS_ENV}='${raw}' is not a number of redirects: use 0 (off), true (3) or a number such as 1`,
    );
  }
  return Number(v);
}

/** What to do with a redirect: follow it to `target`, or not, and why (the xmpp_redirects `outcome` tag). */
export type RedirectDecision =
  | { outcome: 'followed'; target: RedirectTarget; message: string }
  | { outcome: RedirectRefusal; message: string };

/**
 * Whether a login that already followed `hopsUsed` redirects follows this one, with `budget` hops allowed
 * (XMPP_FOLLOW_REDIRECTS). The message says what happened, and with `off` and `limit` what to set.
 */
export function decideRedirect(
  current: string,
  redirect: Redirect,
  hopsUsed: number,
  budget: number,
): RedirectDecision {
  const said = `${redirect.kind} ${redirect.to}`;
  if (budget <= 0) {
    return {
      outcome: 'off',
      message: `the server redirected the session (${said}); set ${FOLLOW_REDIRECTS_ENV}=1 (or more hops) to follow`,
    };
  }
  if (hopsUsed >= budget) {
    return {
      outcome: 'limit',
      message: `the server redirected the session again (${said}) after ${hopsUsed} redirect${hopsUsed === 1 ? '' : 's'}: ${FOLLOW_REDIRECTS_ENV}=${budget} allows no more (a redirect loop?)`,
    };
  }
  try {
    const target = resolveRedirect(current, redirect);
    return { outcome: 'followed', target, message: `following ${said} from ${current} to ${target.url}` };
  } catch (e) {
    if (e instanceof RedirectError) return { outcome: e.refusal, message: e.message };
    throw e;
  }
}
