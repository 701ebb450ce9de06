/**
 * Sends this VU's HDR latencies, counter deltas and gauges to the starling collector as Snapshots
 * (src/contract/snapshot.ts) over `k6/http`, when STARLING_COLLECTOR_URL is set; otherwise every function here
 * is a no-op and no request is ever made.
 *
 * - Every STARLING_FLUSH_INTERVAL (default 5s) while the VU has sessions open (the timer stops when its last
 *   session closes, so it never holds an iteration open), and once more with `final: true` from flushFinal() at
 *   the end of the scenario's default function. `seq` counts from 0 per VU; intervals run from one flush's
 *   Date.now() to the next (the first from the VU's first recording).
 * - A POST that fails (network error, 5xx, or 429 after its Retry-After, up to 10 s) is retried once; one the
 *   collector refused for what it is (another 4xx) is not. Each failed POST adds 1 to the k6 Counter
 *   `starling_collector_errors`, each snapshot still undelivered adds 1 to `starling_collector_lost` and is logged
 *   once per VU. The scenarios fail a run that lost snapshots (its merged figures are incomplete); a script of
 *   your own decides with its thresholds.
 * - Source labels: runId from STARLING_RUN_ID; instance from STARLING_INSTANCE (k6-operator: the pod name);
 *   scenario from exec.scenario.name; transport from the sessions' transport. Without STARLING_RUN_ID or
 *   STARLING_INSTANCE, one random id is drawn per k6 process (a SharedArray is built once per process and
 *   shared by its VUs), giving instance `k6-<id>` and run id `k6-<start time>-<id>`: every VU of the process
 *   reports the same names, and separate processes never collide. Distributed runs should set both.
 */
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import {
  COLLECTOR_TOKEN_ENV,
  COLLECTOR_URL_ENV,
  RUN_ID_ENV,
  SNAPSHOT_PATH,
  type Snapshot,
  type SnapshotSource,
} from '../contract/snapshot.ts';
import { positiveDuration } from './env.ts';
import type { Labels } from './hdr.ts';
import { SnapshotRecorder } from './snapshot.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';

/** This generator's name in the collector (k6-operator: the pod name). */
export const INSTANCE_ENV = 'STARLING_INSTANCE';
/** How often a VU with open sessions sends a snapshot (a duration: 5s, 500ms, …). */
export const FLUSH_INTERVAL_ENV = 'STARLING_FLUSH_INTERVAL';
/** k6 Counter of failed snapshot POSTs (retries included). */
export const COLLECTOR_ERRORS = 'starling_collector_errors';
/** k6 Counter of snapshots the collector never got (the retry failed too): its merged figures miss them. */
export const COLLECTOR_LOST = 'starling_collector_lost';

const DEFAULT_FLUSH_MS = 5000;
/** A 429's Retry-After is honoured up to this long before the one retry (the final flush waits for it). */
const MAX_RETRY_AFTER_MS = 10_000;
const POST_TIMEOUT = '10s';

const baseUrl = __ENV[COLLECTOR_URL_ENV] ?? '';
/** True when this run sends snapshots. */
export const collectorEnabled = baseUrl !== '';

/** Run id and instance name, the same in every VU of this process. */
function identity(): { runId: string; instance: string } {
  const drawn = new SharedArray('starling-collector-identity', () => [
    {
      id: Math.floor(Math.random() * 2 ** 32)
        .toString(16)
        .padStart(8, '0'),
      startedMs: Date.now(),
    },
  ])[0]!;
  const started = new Date(drawn.startedMs).toISOString().replace(/[-:]|\.\d+/g, '');
  return {
    runId: __ENV[RUN_ID_ENV] || `k6-${started}-${drawn.id}`,
    instance: __ENV[INSTANCE_ENV] || `k6-${drawn.id}`,
  };
}

// Per VU (a k6 VU is its own JS runtime): module state is this VU's.
const flushMs = collectorEnabled ? positiveDuration(FLUSH_INTERVAL_ENV, DEFAULT_FLUSH_MS) : DEFAULT_FLUSH_MS;
const ids = collectorEnabled ? identity() : { runId: '', instance: '' };
const errors = collectorEnabled ? new Counter(COLLECTOR_ERRORS) : undefined;
const lostSnapshots = collectorEnabled ? new Counter(COLLECTOR_LOST) : undefined;
const endpoint = `${baseUrl.replace(/\/+$/, '')}${SNAPSHOT_PATH}`;
const token = __ENV[COLLECTOR_TOKEN_ENV];
const headers: Record<string, string> = { 'Content-Type': 'application/json' };
if (token) headers.Authorization = `Bearer ${token}`;

const recorder = new SnapshotRecorder();
const inflight = new Set<Promise<void>>();
let transport = '';
let timer: number | undefined;
let lossLogged = false;

export function recordLatency(name: string, ms: number, labels?: Labels): void {
  if (collectorEnabled) recorder.latency(name, ms, labels);
}

export function recordCount(name: string, delta: number, labels?: Labels): void {
  if (collectorEnabled) recorder.count(name, delta, labels);
}

export function recordGauge(name: string, value: number, labels?: Labels): void {
  if (collectorEnabled) recorder.gauge(name, value, labels);
}

/** The transport this VU's sessions use ('websocket' | 'bosh'), for the snapshots' `transport` label. */
export function setTransport(name: string): void {
  transport = name;
}

/**
 * Periodic snapshots on (`true`: sessions are open) or off. Off when the VU's last session closes, so the
 * timer never keeps an iteration alive; on again if sessions open later.
 */
export function periodicFlush(on: boolean): void {
  if (!collectorEnabled) return;
  if (on && timer === undefined) {
    recorder.begin();
    timer = setInterval(() => track(send(false)), flushMs);
  } else if (!on && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/**
 * The VU's last snapshot (`final: true`), after the scenario closed its sessions: stops the timer, sends, and
 * resolves once every snapshot still in flight has been delivered or given up on. Never rejects.
 */
export async function flushFinal(): Promise<void> {
  if (!collectorEnabled) return;
  periodicFlush(false);
  track(send(true));
  while (inflight.size > 0) await Promise.all([...inflight]);
}

function track(p: Promise<void>): void {
  inflight.add(p);
  void p.finally(() => inflight.delete(p));
}

function source(): SnapshotSource {
  let scenario = '';
  try {
    scenario = exec.scenario.name;
  } catch {
    // outside an iteration (k6 throws there): no scenario
  }
  return { runId: ids.runId, instance: ids.instance, scenario, transport };
}

/** Takes a snapshot and POSTs it, retrying once; failures are counted and logged, never thrown. */
async function send(final: boolean): Promise<void> {
  let snapshot: Snapshot;
  try {
    snapshot = recorder.take(source(), __VU, final);
  } catch (e) {
    errors!.add(1);
    lost(`could not take a snapshot: ${String(e)}`);
    return;
  }
  const body = JSON.stringify(snapshot);
  let failure = '';
  let status = 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    let retryAfterMs = 0;
    try {
      // Params inline: the bundle is type-checked as JS against @types/k6, where only a literal keeps its type.
      const res = await http.asyncRequest('POST', endpoint, body, {
        headers,
        timeout: POST_TIMEOUT,
        responseType: 'text',
        tags: { name: 'starling-collector' },
      });
      if (res.status >= 200 && res.status < 300) return;
      status = res.status;
      const said = typeof res.body === 'string' && res.body !== '' ? `: ${res.body.slice(0, 300)}` : '';
      failure = res.error ? res.error : `HTTP ${res.status}${said}`;
      retryAfterMs = Math.min(MAX_RETRY_AFTER_MS, Number(res.headers['Retry-After'] ?? 0) * 1000 || 0);
    } catch (e) {
      failure = String(e);
    }
    errors!.add(1);
    // The collector refused this snapshot for what it is (400 bad field, 401 token, 409 run already written, 413
    // too big): the same POST would be refused again. Network failures, 5xx and 429 (full for now) are worth one more.
    if (status >= 400 && status < 500 && status !== 429) break;
    if (attempt === 0 && retryAfterMs > 0) await new Promise((r) => setTimeout(r, retryAfterMs));
  }
  lostSnapshots!.add(1);
  const hint =
    status === 401
      ? ` (the collector wants a token: set ${COLLECTOR_TOKEN_ENV} to the one its --token was given)`
      : '';
  lost(`snapshot seq ${snapshot.seq} not delivered to ${endpoint}: ${failure}${hint}`);
}

function lost(why: string): void {
  if (lossLogged) return;
  lossLogged = true;
  console.warn(
    `starling collector (VU ${__VU}): ${maskUrlPasswords(why)}; further losses in this VU are only counted`,
  );
}
