/**
 * XEP-0156 discovery of alternative connection methods, host-neutral: where to look
 * (`https://<domain>/.well-known/host-meta[.json]`), parsing XRD and JSON host-meta into the WebSocket
 * and BOSH endpoints they list, and choosing one per transport. Fetching is the host's job
 * (src/k6/discovery.ts uses k6/http).
 */
import { XmlParseError, parseFrame } from './xml/parser.ts';

export type DiscoveryTransport = 'websocket' | 'bosh';

/** The link relations XEP-0156 defines for each transport. */
export const ALT_CONNECTIONS: Readonly<Record<DiscoveryTransport, string>> = Object.freeze({
  websocket: 'urn:xmpp:alt-connections:websocket',
  bosh: 'urn:xmpp:alt-connections:xbosh',
});

export const XRD_NS = 'http://docs.oasis-open.org/ns/xri/xrd-1.0';

/** What a host-meta document lists, in document order. */
export interface HostMetaLinks {
  websocket?: string[];
  bosh?: string[];
}

export type DiscoveryErrorKind =
  | 'bad-domain' // not something to look up: a URL with a path, an empty name, …
  | 'not-host-meta' // the answer is neither an XRD nor a JSON host-meta document
  | 'no-link' // host-meta has no link for the transport
  | 'insecure' // http:// host-meta or a non-TLS endpoint without the explicit flag
  | 'fetch-failed'; // no host-meta could be fetched

/** A discovery failure, with a message that says what was looked at and what to do. */
export class DiscoveryError extends Error {
  readonly kind: DiscoveryErrorKind;

  constructor(kind: DiscoveryErrorKind, message: string) {
    super(message);
    this.name = 'DiscoveryError';
    this.kind = kind;
  }

  get reason(): string {
    return `discovery:${this.kind}`;
  }
}

/** The setting that accepts http:// host-meta (named in errors and warnings). */
export const DISCOVERY_INSECURE_ENV = 'XMPP_DISCOVERY_INSECURE';

/** True for a target that asks for discovery: `xmpp://example.org` or a bare domain (an optional port). */
export function isDiscoveryTarget(target: string): boolean {
  return /^xmpp:\/\//i.test(target) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(target);
}

/**
 * The host (and optional port) to look host-meta up on, from `xmpp://example.org`, `example.org`,
 * `localhost:8443` or any `scheme://host[:port]/…` URL (its host). Throws DiscoveryError when there is none.
 */
export function discoveryDomain(target: string): string {
  const raw = target.trim();
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)(.*)$/i.exec(raw);
  const host = (m?.[1] ?? '').replace(/^[^@]*@/, '').toLowerCase();
  const rest = m?.[2] ?? '';
  if (isDiscoveryTarget(raw) && rest !== '' && rest !== '/') {
    throw new DiscoveryError(
      'bad-domain',
      `'${target}' is not a domain to discover: give xmpp://example.org or example.org (a port is allowed), no path`,
    );
  }
  if (!/^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/.test(host)) {
    throw new DiscoveryError(
      'bad-domain',
      `'${target}' is not a domain to discover: give xmpp://example.org or example.org (a port is allowed)`,
    );
  }
  return host;
}

/** The domain without a port: what XMPP_DOMAIN defaults to. */
export function domainWithoutPort(domain: string): string {
  return domain.startsWith('[') ? domain.slice(0, domain.indexOf(']') + 1) : domain.replace(/:\d+$/, '');
}

export interface HostMetaLocation {
  url: string;
  format: 'xrd' | 'json';
}

/** Where host-meta lives: the XRD first (XEP-0156 requires it), then the JSON form, over HTTPS (or HTTP). */
export function hostMetaLocations(domain: string, scheme: 'https' | 'http' = 'https'): HostMetaLocation[] {
  const base = `${scheme}://${domain}/.well-known/host-meta`;
  return [
    { url: base, format: 'xrd' },
    { url: `${base}.json`, format: 'json' },
  ];
}

function add(links: HostMetaLinks, rel: string | undefined, href: string | undefined): void {
  if (typeof href !== 'string' || href === '') return;
  for (const t of ['websocket', 'bosh'] as const) {
    if (rel === ALT_CONNECTIONS[t]) links[t] = [...(links[t] ?? []), href];
  }
}

/** The links of an XRD host-meta document (RFC 6415); throws DiscoveryError when it is not one. */
export function parseHostMetaXrd(text: string, source = 'host-meta'): HostMetaLinks {
  let root;
  try {
    root = parseFrame(text);
  } catch (e) {
    const why = e instanceof XmlParseError ? e.message : String(e);
    throw new DiscoveryError('not-host-meta', `${source} is not an XRD host-meta document: ${why}`);
  }
  if (!root.is('XRD', XRD_NS)) {
    throw new DiscoveryError(
      'not-host-meta',
      `${source} is not an XRD host-meta document: its root is <${root.name}>, not <XRD xmlns='${XRD_NS}'>`,
    );
  }
  const links: HostMetaLinks = {};
  for (const link of root.getChildren('Link', XRD_NS)) add(links, link.attr('rel'), link.attr('href'));
  return links;
}

/** The links of a JSON host-meta document (RFC 6415 appendix A); throws DiscoveryError when it is not one. */
export function parseHostMetaJson(text: string, source = 'host-meta.json'): HostMetaLinks {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DiscoveryError(
      'not-host-meta',
      `${source} is not a JSON host-meta document: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new DiscoveryError(
      'not-host-meta',
      `${source} is not a JSON host-meta document: not a JSON object`,
    );
  }
  const rawLinks = (doc as { links?: unknown }).links;
  if (rawLinks !== undefined && !Array.isArray(rawLinks)) {
    throw new DiscoveryError(
      'not-host-meta',
      `${source} is not a JSON host-meta document: "links" is not an array`,
    );
  }
  const links: HostMetaLinks = {};
  for (const l of (rawLinks ?? []) as unknown[]) {
    if (l !== null && typeof l === 'object') {
      const { rel, href } = l as { rel?: unknown; href?: unknown };
      add(links, typeof rel === 'string' ? rel : undefined, typeof href === 'string' ? href : undefined);
    }
  }
  return links;
}

/** Either form, told apart by the first character (`{` JSON, `<` XRD), whatever the Content-Type says. */
export function parseHostMeta(text: string, source = 'host-meta'): HostMetaLinks {
  const start = text.trimStart();
  if (start.startsWith('{')) return parseHostMetaJson(text, source);
  if (start.startsWith('<')) return parseHostMetaXrd(text, source);
  throw new DiscoveryError(
    'not-host-meta',
    `${source} is neither an XRD nor a JSON host-meta document (it starts with '${start.slice(0, 20)}')`,
  );
}

/** Refuses an http:// host-meta unless allowed: only HTTPS answers are trusted for the endpoints they name. */
export function checkHostMetaSource(url: string, allowInsecure: boolean): void {
  if (/^https:\/\//i.test(url)) return;
  if (!allowInsecure) {
    throw new DiscoveryError(
      'insecure',
      `refusing host-meta from ${url}: only HTTPS answers are trusted for XMPP endpoints; set ${DISCOVERY_INSECURE_ENV}=true to accept an http:// host-meta`,
    );
  }
}

function secureEndpoint(url: string, transport: DiscoveryTransport): boolean {
  return transport === 'websocket' ? /^wss:\/\//i.test(url) : /^https:\/\//i.test(url);
}

function usableEndpoint(url: string, transport: DiscoveryTransport): boolean {
  return transport === 'websocket' ? /^wss?:\/\//i.test(url) : /^https?:\/\//i.test(url);
}

/**
 * The endpoint to use for `transport`: the first TLS one (wss:// or https://), else — only when
 * `allowInsecure` — the first ws:// or http:// one. Throws DiscoveryError('no-link' or 'insecure').
 */
export function chooseEndpoint(
  links: HostMetaLinks,
  transport: DiscoveryTransport,
  source: string,
  allowInsecure = false,
): string {
  const all = (links[transport] ?? []).filter((u) => usableEndpoint(u, transport));
  const secure = all.find((u) => secureEndpoint(u, transport));
  if (secure !== undefined) return secure;
  const plain = all[0];
  if (plain !== undefined) {
    if (allowInsecure) return plain;
    throw new DiscoveryError(
      'insecure',
      `${source} lists only ${plain} for ${transport}, which is not TLS; set ${DISCOVERY_INSECURE_ENV}=true to use it`,
    );
  }
  const other = transport === 'websocket' ? 'bosh' : 'websocket';
  const hint = (links[other] ?? []).length > 0 ? ` (it lists ${other}: use XMPP_TRANSPORT=${other})` : '';
  throw new DiscoveryError(
    'no-link',
    `no ${transport} endpoint discovered: ${source} has no ${ALT_CONNECTIONS[transport]} link${hint}`,
  );
}

/** An endpoint found in host-meta, and where. */
export interface DiscoveredEndpoint {
  url: string;
  transport: DiscoveryTransport;
  /** The host-meta URL the endpoint came from (after redirects). */
  source: string;
  links: HostMetaLinks;
}

/** What a host's fetch of one location gave: the status, the body, and the URL that answered. */
export interface HostMetaAnswer {
  status: number;
  body: string;
  url: string;
}

/**
 * One XEP-0156 lookup, with the fetching left to the host (k6/http in a scenario's setup(), node:https in
 * the probe): the host fetches `locations` in order and reports each outcome; the search checks, parses and
 * chooses, warns about what is not authenticated, and says what to throw when no location gave an endpoint.
 * `insecureSetting` names the setting that allows plain HTTP (XMPP_DISCOVERY_INSECURE=true, --discovery-insecure).
 */
export class HostMetaSearch {
  readonly locations: HostMetaLocation[];
  private readonly tried: string[] = [];
  private noLink: DiscoveryError | undefined;

  constructor(
    readonly domain: string,
    readonly transport: DiscoveryTransport,
    readonly allowInsecure: boolean,
    private readonly insecureSetting: string,
    private readonly warn: (line: string) => void,
  ) {
    this.locations = [
      ...hostMetaLocations(domain, 'https'),
      ...(allowInsecure ? hostMetaLocations(domain, 'http') : []),
    ];
  }

  /** `loc` gave no HTTP answer; `why` in the host's words (a TLS error, a refused connection…). */
  unanswered(loc: HostMetaLocation, why: string): void {
    this.tried.push(`${loc.url}: ${why}`);
  }

  /**
   * The answer to `loc`: the endpoint, or undefined to try the next location. Throws DiscoveryError for an
   * http:// answer without allowInsecure, a document that is not host-meta, or only a plain endpoint.
   */
  answer(loc: HostMetaLocation, res: HostMetaAnswer): DiscoveredEndpoint | undefined {
    if (res.status !== 200) {
      this.tried.push(`${res.url}: HTTP ${res.status}`);
      return undefined;
    }
    // A redirect may have left HTTPS: what counts is where the answer came from.
    const source = res.url;
    checkHostMetaSource(source, this.allowInsecure);
    if (!/^https:/i.test(source)) {
      this.warn(
        `starling: warning: host-meta from ${source} over plain HTTP (${this.insecureSetting}): the endpoint it names is not authenticated`,
      );
    }
    const links =
      loc.format === 'json' ? parseHostMetaJson(res.body, source) : parseHostMetaXrd(res.body, source);
    let url: string;
    try {
      url = chooseEndpoint(links, this.transport, source, this.allowInsecure);
    } catch (e) {
      if (!(e instanceof DiscoveryError) || e.kind !== 'no-link') throw e;
      this.noLink ??= e;
      this.tried.push(`${source}: no ${this.transport} link`);
      return undefined;
    }
    if (!secureEndpoint(url, this.transport)) {
      this.warn(
        `starling: warning: ${url} (for ${this.transport} from ${source}) is not TLS (${this.insecureSetting}): credentials go in the clear`,
      );
    }
    return { url, transport: this.transport, source, links };
  }

  /** What to throw when no location gave an endpoint: a missing link before a missing document. */
  failure(): DiscoveryError {
    if (this.noLink) {
      return this.tried.length > 1
        ? new DiscoveryError('no-link', `${this.noLink.message} (looked at: ${this.tried.join('; ')})`)
        : this.noLink;
    }
    const hint = this.allowInsecure
      ? ''
      : ` (http:// host-meta is not tried: ${this.insecureSetting} allows it)`;
    return new DiscoveryError(
      'fetch-failed',
      `no host-meta found for ${this.domain}: ${this.tried.join('; ')}${hint}`,
    );
  }
}
