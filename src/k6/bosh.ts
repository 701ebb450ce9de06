/**
 * BOSH (XEP-0124/0206) XMPP over `k6/http` `asyncRequest`: the held request and the sending request are
 * ordinary k6 HTTP requests, so k6's http_req_* and data_* metrics count every byte and request they cost.
 */
import http from 'k6/http';
import { BoshTransport } from '../xmpp/bosh.ts';
import { k6Clock } from './clock.ts';
import { k6Crypto } from './crypto.ts';
import { xmpp } from './metrics.ts';
import type { BoshSettings, HostTransport } from './transport.ts';
import { countReceived, countRequest, countSent } from './wire.ts';

/**
 * The error starling's Node engine gives a response body over its size limit (src/engine/limits.ts; k6 has no
 * limit, so real k6 never says it).
 */
const BODY_TOO_LARGE = /^response body larger than \d+ bytes/;

export function boshTransport(
  url: string,
  domain: string,
  settings: BoshSettings,
  tags?: Record<string, string>,
): HostTransport {
  const bosh = new BoshTransport({
    domain,
    clock: k6Clock,
    crypto: k6Crypto,
    wait: settings.wait,
    orderGapMs: settings.orderGapMs,
    createTimeoutMs: settings.createTimeoutMs,
    onRetry: () => xmpp.boshRetries.add(1, tags),
    post: (body, timeoutMs) => {
      countRequest();
      countSent(body);
      return http
        .asyncRequest('POST', url, body, {
          headers: { 'Content-Type': 'text/xml; charset=utf-8' },
          timeout: `${timeoutMs}ms`,
          responseType: 'text',
          tags,
        })
        .then((res) => {
          const text = typeof res.body === 'string' ? res.body : '';
          countReceived(text);
          // Above 0 only on a request that opened a TLS connection (k6 reuses them per VU).
          if (res.timings.tls_handshaking > 0) xmpp.tlsHandshake.add(res.timings.tls_handshaking, tags);
          return {
            status: res.status,
            body: text,
            error: res.error || undefined,
            bodyTooLarge: res.status === 0 && BODY_TOO_LARGE.test(res.error),
          };
        });
    },
  });
  return {
    send: (f) => bosh.send(f),
    close: () => bosh.close(),
    start: (session) => bosh.start(session),
  };
}
