/**
 * XEP-0156 discovery in a k6 script: fetch `https://<domain>/.well-known/host-meta` (XRD) and, when that
 * gives no endpoint, `host-meta.json`, with k6/http's synchronous http.get — call it from `setup()`. The
 * checks and choices are src/xmpp/discovery.ts's HostMetaSearch, shared with the probe.
 */
import http from 'k6/http';
import {
  DISCOVERY_INSECURE_ENV,
  HostMetaSearch,
  type DiscoveredEndpoint,
  type DiscoveryTransport,
} from '../xmpp/discovery.ts';

export type { DiscoveredEndpoint };

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
  const search = new HostMetaSearch(
    domain,
    transport,
    allowInsecure,
    `${DISCOVERY_INSECURE_ENV}=true`,
    (line) => console.warn(line),
  );
  for (const loc of search.locations) {
    const res = http.get(loc.url, {
      headers: { Accept: loc.format === 'json' ? 'application/json' : 'application/xrd+xml' },
      tags: { name: `host-meta${loc.format === 'json' ? '.json' : ''}` },
      responseType: 'text',
    });
    if (res.status === 0 || typeof res.body !== 'string') {
      search.unanswered(loc, res.error || 'no answer');
      continue;
    }
    const found = search.answer(loc, { status: res.status, body: res.body, url: res.url || loc.url });
    if (found) return found;
  }
  throw search.failure();
}
