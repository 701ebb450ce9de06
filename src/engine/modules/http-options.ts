/**
 * The test options `k6/http` reads (grafana/k6 lib/options.go, with the defaults of internal/cmd/options.go and
 * metrics/system_tag.go), once per VU; the options the Node engine does not implement fail loudly when set.
 */
import { UnsupportedK6ApiError, type VuRuntime } from '../runtime.ts';
import type { PoolOptions } from './http-transport.ts';

/** The k6 release whose behaviour this follows (internal/build/version.go); it names the default User-Agent. */
export const K6_VERSION = '2.2.0';
/** internal/cmd/options.go: the `user-agent` flag's default. */
export const DEFAULT_USER_AGENT = `Grafana k6/${K6_VERSION}`;
export const DEFAULT_TIMEOUT_MS = 60_000;
/** The `max-redirects` flag's default (not "valid", so k6 warns when it stops a chain). */
const DEFAULT_MAX_REDIRECTS = 10;
/** The `batch-per-host` flag's default, which is also the transport's MaxIdleConnsPerHost. */
const DEFAULT_BATCH_PER_HOST = 6;

/** metrics.DefaultSystemTagSet (metrics/system_tag.go). */
const DEFAULT_SYSTEM_TAGS: readonly string[] = [
  'proto',
  'subproto',
  'status',
  'method',
  'url',
  'name',
  'group',
  'check',
  'error',
  'error_code',
  'tls_version',
  'scenario',
  'service',
  'expected_response',
];

/** Options k6/http acts on that the Node engine does not implement: set, they fail loudly. */
const UNSUPPORTED_OPTIONS = [
  'hosts',
  'blacklistIPs',
  'blockHostnames',
  'rps',
  'localIPs',
  'tlsAuth',
  'tlsCipherSuites',
  'tlsVersion',
  'httpDebug',
] as const;

export interface HttpOptions {
  userAgent: string;
  throw: boolean;
  maxRedirects: number;
  maxRedirectsSet: boolean;
  discardResponseBodies: boolean;
  noVUConnectionReuse: boolean;
  pool: PoolOptions;
  systemTags: ReadonlySet<string>;
}

export function readOptions(rt: VuRuntime): HttpOptions {
  let o: Record<string, unknown>;
  try {
    o = rt.execution.test.options ?? {};
  } catch {
    o = {}; // a test double without execution state
  }
  for (const key of UNSUPPORTED_OPTIONS) {
    const v = o[key];
    const set =
      v !== undefined &&
      v !== null &&
      v !== false &&
      v !== '' &&
      v !== 0 &&
      !(Array.isArray(v) && v.length === 0) &&
      !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
    if (set) {
      throw new UnsupportedK6ApiError(
        `the '${key}' option with k6/http`,
        'the Node engine does not implement it; remove it or run this script with real k6',
      );
    }
  }
  const maxRedirectsSet = typeof o.maxRedirects === 'number';
  const batchPerHost = typeof o.batchPerHost === 'number' ? o.batchPerHost : DEFAULT_BATCH_PER_HOST;
  return {
    userAgent: typeof o.userAgent === 'string' ? o.userAgent : DEFAULT_USER_AGENT,
    throw: o.throw === true,
    maxRedirects: maxRedirectsSet ? Math.trunc(o.maxRedirects as number) : DEFAULT_MAX_REDIRECTS,
    maxRedirectsSet,
    discardResponseBodies: o.discardResponseBodies === true,
    noVUConnectionReuse: o.noVUConnectionReuse === true,
    pool: {
      keepAlive: o.noConnectionReuse !== true,
      insecureSkipTLSVerify: o.insecureSkipTLSVerify === true,
      maxIdlePerHost: batchPerHost > 0 ? batchPerHost : DEFAULT_BATCH_PER_HOST,
    },
    systemTags: new Set(Array.isArray(o.systemTags) ? o.systemTags.map(String) : DEFAULT_SYSTEM_TAGS),
  };
}
