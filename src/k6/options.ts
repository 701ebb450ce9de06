/** k6 options shared by the scenarios: one iteration per VU that holds its sessions for the whole test. */
import { COLLECTOR_URL_ENV } from '../contract/snapshot.ts';
import { COLLECTOR_LOST } from './collector.ts';
import type { ScenarioConfig } from './config.ts';

/**
 * Thresholds every scenario starts from: logins succeed, sessions close cleanly, and at least one session opened.
 * A Rate with no samples passes in k6, so a run in which no session ever got ready would pass on the two rates
 * alone; the count of opened sessions cannot be empty-and-passing (an empty Counter's count is 0 at the end).
 */
export const BASE_THRESHOLDS: Record<string, string[]> = {
  xmpp_login_success: ['rate>0.99'],
  xmpp_clean_close: ['rate>0.99'],
  xmpp_sessions_opened: ['count>0'],
};

export function sessionScenarioOptions(
  name: string,
  cfg: ScenarioConfig,
  thresholds: Record<string, string[]>,
  /** The most sessions one VU holds at once (churn's arrivals differ from SESSIONS_PER_VU). */
  concurrentPerVu = cfg.sessionsPerVu,
) {
  return {
    scenarios: {
      [name]: {
        executor: 'per-vu-iterations',
        vus: cfg.vus,
        iterations: 1,
        // The login ramp, the timed part, then the close (paced like the logins in idle): generous room, so a slow
        // close is measured, not cut.
        maxDuration: `${Math.ceil(2 * loginRampMs(cfg) + cfg.durationMs + 120_000)}ms`,
      },
    },
    thresholds: { ...BASE_THRESHOLDS, ...collectorThresholds(), ...thresholds, ...extraThresholds() },
    // k6 keeps batchPerHost (default 6) idle connections per host per VU. One VU plays many BOSH users, each with up
    // to two requests open (XEP-0124 requests=2); with 6 the rest were closed after each answer and every next
    // request dialled a new TCP connection, on both sides (a browser per user keeps its own). Also bounds
    // http.batch's parallelism, which the scenarios do not use.
    batchPerHost: Math.max(DEFAULT_BATCH_PER_HOST, 2 * concurrentPerVu),
    // k6's own option (also K6_INSECURE_SKIP_TLS_VERIFY / --insecure-skip-tls-verify with real k6).
    ...(insecureSkipTlsVerify() ? { insecureSkipTLSVerify: true } : {}),
  };
}

/** k6's default batchPerHost. */
const DEFAULT_BATCH_PER_HOST = 6;

/**
 * With a collector, the fleet-wide figures (and `starling gate` on them) are only true if every snapshot got
 * there: a run whose snapshots were lost (a wrong token, a collector down) fails instead of passing on partial data.
 */
function collectorThresholds(): Record<string, string[]> {
  return __ENV[COLLECTOR_URL_ENV] ? { [COLLECTOR_LOST]: ['count==0'] } : {};
}

/**
 * How long the logins of the whole test take to start at `loginRate` (all VUs share one ramp): a VU's timed part
 * begins after its last login, so 19,000 sessions at 150/s need their 127 s on top of DURATION.
 */
function loginRampMs(cfg: ScenarioConfig): number {
  return cfg.loginRate > 0 ? (cfg.vus * cfg.sessionsPerVu * 1000) / cfg.loginRate : 0;
}

/** `INSECURE_SKIP_TLS_VERIFY=true`: wss:// and https:// without certificate verification (k6's insecureSkipTLSVerify). */
function insecureSkipTlsVerify(): boolean {
  const raw = (__ENV.INSECURE_SKIP_TLS_VERIFY ?? '').toLowerCase();
  return raw === 'true' || raw === '1';
}

/** `THRESHOLDS='{"xmpp_close":["p(99)<500"]}'` adds or replaces thresholds without editing the scenario. */
function extraThresholds(): Record<string, string[]> {
  const raw = __ENV.THRESHOLDS;
  if (!raw) return {};
  try {
    return JSON.parse(raw) as Record<string, string[]>;
  } catch (e) {
    // eslint-disable-next-line preserve-caught-error -- k6 scripts target ES2020, which has no Error cause
    throw new Error(`THRESHOLDS is not JSON (${String(e)}): use e.g. '{"xmpp_close":["p(99)<500"]}'`);
  }
}
