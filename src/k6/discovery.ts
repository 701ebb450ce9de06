/**
 * XEP-0156 discovery in a k6 script: fetch `https://<domain>/.well-known/host-meta` (XRD) and, when that
 * gives no endpoint, `host-meta.json`, with k6/http's synchronous http.get — call it from `setup()`.
 */
import http from 'k6/http';
import {
  checkHostMetaSource,
  chooseEndpoint,
  DiscoveryError,
  DISCOVERY_INSECURE_ENV,
  hostMetaLocations,
  parseHostMetaJson,
  parseHostMetaXrd,
  type DiscoveryTransport,
  type HostMetaLinks,
} from '../xmpp/discovery.ts';

export interface DiscoveredEndpoint {
  url: string;
  transport: DiscoveryTransport;
  /** The host-meta URL the endpoint came from. */
  source: string;
  links: HostMetaLinks;
}

/**
 * The endpoint `domain` (`example.org`, `localhost:8443`) advertises for `transport`. Only https:// host-meta
 * is fetched unless `allowInsecure`, which adds http:// as a fallback (with a console.warn when used).
 * Throws DiscoveryError with a message naming every URL tried and what it answered.
 */
export function discoverEndpoints(
  domain: string,
  transport: DiscoveryTransport,
  allowInsecure = false,
): DiscoveredEndpoint {
  const tried: string[] = [];
  let noLink: DiscoveryError | undefined;
  const locations = [
    ...hostMetaLocations(domain, 'https'),
    ...(allowInsecure ? hostMetaLocations(domain, 'http') : []),
  ];
  for (const loc of locations) {
    const res = http.get(loc.url, {
      headers: { Accept: loc.format === 'json' ? 'application/json' : 'application/xrd+xml' },
      tags: { name: `host-meta${loc.format === 'json' ? '.json' : ''}` },
      responseType: 'text',
    });
    if (res.status !== 200 || typeof res.body !== 'string') {
      tried.push(`${loc.url}: ${res.status === 0 ? res.error || 'no answer' : `HTTP ${res.status}`}`);
      continue;
    }
    // A redirect may have left HTTPS: what counts is where the answer came from.
    const source = res.url || loc.url;
    checkHostMetaSource(source, allowInsecure);
    if (!/^https:/i.test(source)) {
      console.warn(
        `starling: host-meta from ${source} over plain HTTP (${DISCOVERY_INSECURE_ENV}=true): the endpoint it names is not authenticated`,
      );
    }
    const links =
      loc.format === 'json' ? parseHostMetaJson(res.body, source) : parseHostMetaXrd(res.body, source);
    try {
      return { url: chooseEndpoint(links, transport, source, allowInsecure), transport, source, links };
    } catch (e) {
      if (!(e instanceof DiscoveryError) || e.kind !== 'no-link') throw e;
      if (!noLink) noLink = e;
      tried.push(`${source}: no ${transport} link`);
    }
  }
  if (noLink) {
    if (tried.length > 1) {
      throw new DiscoveryError('no-link', `${noLink.message} (looked at: ${tried.join('; ')})`);
    }
    throw noLink;
  }
  const hint = allowInsecure
    ? ''
    : ` (http:// host-meta is not tried: ${DISCOVERY_INSECURE_ENV}=true allows it)`;
  throw new DiscoveryError('fetch-failed', `no host-meta found for ${domain}: ${tried.join('; ')}${hint}`);
}
