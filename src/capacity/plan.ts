/**
 * What each capacity dimension runs: the scenario, its environment for one of G generator processes at a total
 * load, when its measured window lies, what "achieved" means, and the defaults a planner starts from.
 *
 * - login-rate: scenarios/churn.ts, open model: users arrive at the load (Poisson) for the step, each logs in,
 *   waits for its own presence, thinks and leaves. Achieved: sessions ready per second in the window.
 * - sessions: scenarios/idle.ts: the load is a number of sessions, logged in at a fixed rate, held with pings.
 *   Achieved: sessions that got ready.
 * - messages: scenarios/chat.ts: a fixed population sends the load in messages/s. Achieved: messages
 *   delivered per second in the window.
 */
import { XMPP_RATES, XMPP_TRENDS } from '../contract/metric-names.ts';
import type { Dimension } from './types.ts';

export interface DimensionSettings {
  stepSeconds: number;
  warmupSeconds: number;
  /** sessions, messages: logins started per second (all generators together) while the population logs in. */
  loginRate: number;
  /** messages: sessions sending. */
  population: number;
  /** sessions: ping period, s. */
  pingSeconds: number;
  /** login-rate: how long a user stays after its login, s. */
  thinkSeconds: number;
}

export interface DimensionPlan {
  scenario: 'churn' | 'idle' | 'chat';
  defaults: { start: number; max: number; slo: Record<string, string[]>; granularity: number };
  /** The latency metrics a step reports percentiles of (the SLO's first). */
  latencyMetrics: string[];
  /** Metrics judged over the whole step, not the window (their samples come before it). */
  wholeStep: string[];
  /** __ENV for generator `g` (0-based) of `generators`, at total `load`. */
  env(load: number, g: number, generators: number, s: DimensionSettings): Record<string, string>;
  /** The measured window, seconds from the step's start. */
  window(load: number, s: DimensionSettings): { from: number; to: number };
  /** Accounts (a pool: XMPP_ACCOUNT_POOL) the server needs for loads up to `max`. */
  accounts(max: number, s: DimensionSettings): number;
  /** How the achieved load is computed, from the window's counts. */
  achieved(
    counts: { ready: number; readyInWindow: number; deliveredInWindow: number },
    windowSeconds: number,
  ): number;
}

/** Splits `total` into `parts` whole shares that sum to it (the first ones get the remainder). */
export function share(total: number, g: number, parts: number): number {
  const base = Math.floor(total / parts);
  return base + (g < total - base * parts ? 1 : 0);
}

/** sessions: closes per second as a multiple of the login rate. */
export const CLOSE_SPEEDUP = 4;

const rateText = (r: number): string => String(Number(r.toFixed(6)));

export const PLANS: Record<Dimension, DimensionPlan> = {
  'login-rate': {
    scenario: 'churn',
    defaults: {
      start: 20,
      max: 2000,
      granularity: 1,
      slo: {
        [XMPP_TRENDS.sessionReady]: ['p(99)<1000'],
        [XMPP_RATES.loginSuccess]: ['rate>0.999'],
      },
    },
    latencyMetrics: [XMPP_TRENDS.sessionReady],
    wholeStep: [],
    env(load, g, generators, s) {
      const users = Math.max(1, Math.round((load / generators) * s.stepSeconds));
      return {
        VUS: '1',
        USERS: String(users),
        ARRIVAL_RATE: rateText(load / generators),
        MESSAGES: '0',
        THINK: `${Math.round(s.thinkSeconds * 1000)}ms`,
        ACCOUNT_OFFSET: String(g * users),
      };
    },
    window: (_load, s) => ({ from: s.warmupSeconds, to: s.stepSeconds }),
    // Sessions last about the think time plus a login: the pool wraps (XMPP_ACCOUNT_POOL), so a few per session
    // alive at once is plenty.
    accounts: (max, s) => Math.min(2000, Math.max(100, Math.ceil(max * (s.thinkSeconds + 1)))),
    achieved: (c, seconds) => c.readyInWindow / seconds,
  },
  sessions: {
    scenario: 'idle',
    defaults: {
      start: 500,
      max: 50_000,
      granularity: 10,
      slo: {
        [XMPP_TRENDS.iqRtt]: ['p(99)<1000'],
        [XMPP_TRENDS.sessionReady]: ['p(99)<3000'],
        [XMPP_RATES.loginSuccess]: ['rate>0.999'],
      },
    },
    latencyMetrics: [XMPP_TRENDS.iqRtt, XMPP_TRENDS.sessionReady],
    // Every login of the population happens in the ramp: readiness is judged over all of them.
    wholeStep: [XMPP_TRENDS.sessionReady],
    env(load, g, generators, s) {
      const sessions = Math.max(1, share(load, g, generators));
      return {
        VUS: '1',
        SESSIONS_PER_VU: String(sessions),
        LOGIN_RATE: rateText(s.loginRate / generators),
        // Closes are cheaper than logins and come after the window: four times the login rate shortens a step
        // of N sessions from 2N/rate + hold to 1.25N/rate + hold.
        CLOSE_RATE: rateText((CLOSE_SPEEDUP * s.loginRate) / generators),
        DURATION: `${s.stepSeconds}s`,
        PING_INTERVAL: `${s.pingSeconds}s`,
        ACCOUNT_OFFSET: String(g * Math.ceil(load / generators)),
      };
    },
    // The hold after the login ramp (pings), less the warm-up.
    window: (load, s) => {
      const ramp = load / s.loginRate;
      return { from: ramp + s.warmupSeconds, to: ramp + s.stepSeconds };
    },
    // Beyond 10,000 the pool wraps and sessions share accounts (each with its own resource).
    accounts: (max) => Math.min(max, 10_000),
    achieved: (c) => c.ready,
  },
  messages: {
    scenario: 'chat',
    defaults: {
      start: 50,
      max: 20_000,
      granularity: 1,
      slo: {
        [XMPP_TRENDS.messageDelivery]: ['p(99)<200'],
        [XMPP_RATES.messageLoss]: ['rate==0'],
        [XMPP_RATES.loginSuccess]: ['rate>0.999'],
      },
    },
    latencyMetrics: [XMPP_TRENDS.messageDelivery],
    wholeStep: [],
    env(load, g, generators, s) {
      const sessions = Math.max(2, share(s.population, g, generators));
      return {
        VUS: '1',
        SESSIONS_PER_VU: String(sessions),
        MESSAGE_RATE: rateText(load / s.population),
        LOGIN_RATE: rateText(s.loginRate / generators),
        DURATION: `${s.stepSeconds}s`,
        ACCOUNT_OFFSET: String(g * Math.ceil(s.population / generators)),
      };
    },
    window: (_load, s) => {
      const ramp = s.population / s.loginRate;
      return { from: ramp + s.warmupSeconds, to: ramp + s.stepSeconds };
    },
    accounts: (_max, s) => s.population,
    achieved: (c, seconds) => c.deliveredInWindow / seconds,
  },
};
