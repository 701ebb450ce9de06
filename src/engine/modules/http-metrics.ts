/**
 * The samples of `k6/http`: k6's built-in HTTP metrics (metrics/builtin.go) and transport.go
 * measureAndEmitMetrics, one set of http_req_* samples per round trip, tagged as the system tags say.
 */
import type { Tags } from '../runtime.ts';
import type { Client, ParsedRequest } from './http-request.ts';
import { cleanUrl } from './http-url.ts';
import type { WireResult } from './http-wire.ts';

/** k6's built-in HTTP metrics (metrics/builtin.go); data_* are k6's wire byte counters. */
export const HTTP_METRICS = {
  reqs: 'http_reqs',
  failed: 'http_req_failed',
  duration: 'http_req_duration',
  blocked: 'http_req_blocked',
  connecting: 'http_req_connecting',
  tlsHandshaking: 'http_req_tls_handshaking',
  sending: 'http_req_sending',
  waiting: 'http_req_waiting',
  receiving: 'http_req_receiving',
  dataSent: 'data_sent',
  dataReceived: 'data_received',
} as const;

/** k6's measureAndEmitMetrics for every round trip of a request. */
export function emitSamples(c: Client, parsed: ParsedRequest, result: WireResult): void {
  const enabled = c.options().systemTags;
  const set = (tags: Tags, key: string, value: string) => {
    if (enabled.has(key)) tags[key] = value;
  };
  const m = c.rt.metrics;
  for (const hop of result.hops) {
    const tags: Tags = { ...parsed.tags };
    const manualName = parsed.tags.name ?? (parsed.urlName !== '' ? parsed.urlName : undefined);
    if (manualName === undefined) {
      const clean = cleanUrl(hop.url);
      set(tags, 'name', clean);
      set(tags, 'url', clean);
    } else {
      tags.name = manualName;
      set(tags, 'url', manualName);
    }
    set(tags, 'method', hop.method);
    const failed = hop.errorMsg !== '' || hop.status === 0;
    if (failed) {
      set(tags, 'error', hop.errorMsg);
      set(tags, 'error_code', String(hop.errorCode));
      set(tags, 'status', '0');
    } else {
      set(tags, 'status', String(hop.status));
      if (hop.status >= 400) set(tags, 'error_code', String(hop.errorCode));
      set(tags, 'proto', hop.proto);
      if (hop.tlsVersion !== '') set(tags, 'tls_version', hop.tlsVersion);
    }
    if (enabled.has('ip') && hop.remoteIp !== '') tags.ip = hop.remoteIp;
    let expected: boolean | null = null;
    if (parsed.callback !== null) {
      expected = parsed.callback.match(failed ? 0 : hop.status);
      set(tags, 'expected_response', String(expected));
    }
    const t = hop.timings;
    const at = hop.endTime;
    m.push(HTTP_METRICS.reqs, 1, tags, at);
    m.push(HTTP_METRICS.duration, t.duration, tags, at);
    m.push(HTTP_METRICS.blocked, t.blocked, tags, at);
    m.push(HTTP_METRICS.connecting, t.connecting, tags, at);
    m.push(HTTP_METRICS.tlsHandshaking, t.tlsHandshaking, tags, at);
    m.push(HTTP_METRICS.sending, t.sending, tags, at);
    m.push(HTTP_METRICS.waiting, t.waiting, tags, at);
    m.push(HTTP_METRICS.receiving, t.receiving, tags, at);
    if (expected !== null) m.push(HTTP_METRICS.failed, expected ? 0 : 1, tags, at);
    if (hop.bytesSent > 0) m.push(HTTP_METRICS.dataSent, hop.bytesSent, parsed.vuTags, at);
    if (hop.bytesReceived > 0) m.push(HTTP_METRICS.dataReceived, hop.bytesReceived, parsed.vuTags, at);
  }
}
