/**
 * The collector's HTTP service (node:http, no framework):
 *
 * - `POST /v1/snapshots`: one Snapshot as JSON → 202 (`{"status":"accepted"|"duplicate"}`); 401 without the
 *   bearer token when one is configured; 415 unless `Content-Type: application/json`; 413 over `maxBodyBytes`
 *   (the body is not read further and the connection is closed); 400 `{"error","field"}` for a body that is
 *   not a valid Snapshot; 400 `{"error","field","cap":"max-series","limit"}` past a run's series limit; 409
 *   `{"error","field":"runId"}` for a run already finished; 429 `{"error","field","cap","limit"}` with
 *   Retry-After when the run or memory limit is reached and no run can be finished to make room.
 * - `GET /metrics`: Prometheus text format (see prometheus.ts). `GET /healthz`. `GET /v1/runs`: runs as JSON.
 *
 * A run is finished — written to `<resultsRoot>/<runId>/` (HDR logs, collector-summary.json, merged.json), then
 * dropped from memory — `autoFinishMs` after every producer sent its final snapshot with nothing since, after
 * `runIdleTimeoutMs` without any snapshot, early when a new run needs its room and every producer of it sent
 * its final snapshot, on `finish()` and on `close()`. A long-lived collector (in Kubernetes, say) sees many runs
 * and is never stopped between them: this is what keeps its memory flat.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SNAPSHOT_PATH } from '../contract/snapshot.ts';
import { writeHlogs } from './hlog.ts';
import { CONTENT_TYPE, renderMetrics } from './prometheus.ts';
import {
  CapacityError,
  CollectorStore,
  DEFAULT_LIMITS,
  RunFinishedError,
  SnapshotError,
  type FinishReason,
  type IngestResult,
  type RunState,
} from './store.ts';
import { COLLECTOR_SUMMARY_FILE, collectorSummary, MERGED_FILE, mergedRun } from './summary.ts';

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** A run is finished this long after every producer sent its final snapshot (nothing since). */
export const DEFAULT_FINISH_DELAY_MS = 10_000;
/** A run with no snapshot for this long is finished: a generator that died never sends its final one. */
export const DEFAULT_RUN_IDLE_TIMEOUT_MS = 10 * 60_000;

export interface CollectorOptions {
  /** Default 127.0.0.1: only this machine can send snapshots unless you say otherwise. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Bearer token producers must send (`Authorization: Bearer <token>`); none required when unset. */
  token?: string;
  /** Largest snapshot body accepted, bytes (default 4 MiB). */
  maxBodyBytes?: number;
  /** Where `<runId>/` directories go (default `results`). */
  resultsRoot?: string;
  /** Per-interval histogram width, ms (default 5000). */
  intervalMs?: number;
  /**
   * Finish a run this long after all its producers sent `final: true` and nothing came since (default 10 s;
   * 0: never by itself, the owner calls finish() or close(), as `starling run --collect` does).
   */
  autoFinishMs?: number;
  /**
   * Finish a run that got no snapshot for this long (default 10 min; 0: never). When autoFinishMs is 0 the
   * owner finishes runs, and this defaults to 0 too.
   */
  runIdleTimeoutMs?: number;
  /** Runs held in memory at once (default 100). */
  maxRuns?: number;
  /** Series one run may have (default 10,000). */
  maxSeriesPerRun?: number;
  /** Estimated bytes of run data held at once (default 512 MiB). */
  maxBytes?: number;
  log?: (line: string) => void;
}

export interface Collector {
  url: string;
  port: number;
  store: CollectorStore;
  /**
   * Merges a snapshot from this process (the tap) as a POST would be: when a limit is reached it first
   * finishes runs that can be, and throws the store's errors otherwise.
   */
  ingest(snapshot: unknown): Promise<IngestResult>;
  /** Finishes one run, or every run: writes its HDR logs, collector-summary.json and merged.json, then drops it. */
  finish(runId?: string): Promise<void>;
  /** Stops listening, then finishes every run. */
  close(): Promise<void>;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

type BodyResult = { ok: true; body: Buffer } | { ok: false };

/** Reads the body up to `max` bytes; past that it stops reading and reports failure. */
function readBody(req: IncomingMessage, max: number, keep: boolean): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult): void => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        req.pause();
        finish({ ok: false });
        return;
      }
      if (keep) chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => finish({ ok: true, body: Buffer.concat(chunks, keep ? size : 0) }));
    req.on('error', () => finish({ ok: false }));
    req.on('aborted', () => finish({ ok: false }));
  });
}

export async function startCollector(opts: CollectorOptions = {}): Promise<Collector> {
  const host = opts.host ?? '127.0.0.1';
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const resultsRoot = opts.resultsRoot ?? 'results';
  const autoFinishMs = opts.autoFinishMs ?? DEFAULT_FINISH_DELAY_MS;
  const idleMs = opts.runIdleTimeoutMs ?? (autoFinishMs > 0 ? DEFAULT_RUN_IDLE_TIMEOUT_MS : 0);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const store = new CollectorStore({
    intervalMs: opts.intervalMs ?? 5000,
    maxRuns: opts.maxRuns ?? DEFAULT_LIMITS.maxRuns,
    maxSeriesPerRun: opts.maxSeriesPerRun ?? DEFAULT_LIMITS.maxSeriesPerRun,
    maxBytes: opts.maxBytes ?? DEFAULT_LIMITS.maxBytes,
    // Merging into a run whose results are on disk would overwrite them with part of the data.
    finishedOnDisk: (runId) => existsSync(join(resultsRoot, runId, MERGED_FILE)),
  });
  const expectedAuth = opts.token ? sha256(`Bearer ${opts.token}`) : undefined;
  const autoFinish = new Map<string, NodeJS.Timeout>();
  /** Runs being written out, by id: one write per run. */
  const finishing = new Map<string, Promise<void>>();
  let refusalsLogged = 0;

  const authorized = (header: string | undefined): boolean =>
    expectedAuth === undefined || (header !== undefined && timingSafeEqual(sha256(header), expectedAuth));

  /** Answers without having read the whole body: the connection closes, so nothing more is read from it. */
  const refuseAndClose = (req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void => {
    res.shouldKeepAlive = false;
    json(res, status, body, { Connection: 'close' });
    res.on('finish', () => {
      // FIN after the response; whatever the client still sends is dropped when the socket goes.
      req.socket.end();
      setTimeout(() => req.socket.destroy(), 1000).unref();
    });
  };

  const tooLarge = { error: `body larger than ${maxBody} bytes`, field: 'body' };

  const logRefusal = (message: string): void => {
    if (refusalsLogged > 20) return;
    refusalsLogged++;
    log(
      refusalsLogged <= 20
        ? `starling: collector: refused a snapshot: ${message}`
        : 'starling: collector: further refusals are only counted (starling_collector_rejected_snapshots_total)',
    );
  };

  const writeRun = async (run: RunState): Promise<void> => {
    const dir = join(resultsRoot, run.runId);
    await mkdir(dir, { recursive: true });
    const [hlogs] = await Promise.all([
      writeHlogs(run, dir),
      writeFile(join(dir, COLLECTOR_SUMMARY_FILE), `${JSON.stringify(collectorSummary(run), null, 2)}\n`),
    ]);
    // Last: merged.json on disk is what marks the run finished (finishedOnDisk).
    await writeFile(join(dir, MERGED_FILE), `${JSON.stringify(mergedRun(run))}\n`);
    log(
      `starling: collector: wrote ${dir}/ (${run.snapshots} snapshots from ${run.instances().length} instances, ` +
        `${hlogs.length} HDR logs, ${COLLECTOR_SUMMARY_FILE}, ${MERGED_FILE}); run finished (${run.finishing}), ` +
        'dropped from memory',
    );
  };

  /**
   * Writes a run out, then drops it from memory. It takes no new data from the start, so nothing merged while
   * writing is lost. If writing fails the run stays in memory, still finished, and the next try writes it.
   */
  const finishRun = (runId: string, reason: FinishReason): Promise<void> => {
    const inFlight = finishing.get(runId);
    if (inFlight) return inFlight;
    const run = store.beginFinish(runId, reason);
    if (!run) return Promise.resolve();
    const timer = autoFinish.get(runId);
    if (timer) clearTimeout(timer);
    autoFinish.delete(runId);
    const done = writeRun(run)
      .then(() => store.evict(runId))
      .finally(() => finishing.delete(runId));
    finishing.set(runId, done);
    return done;
  };

  const writeFailed =
    (runId: string) =>
    (err: unknown): void =>
      log(
        `starling: collector: writing ${join(resultsRoot, runId)}/: ${String(err)} (kept in memory, retried)`,
      );

  const finishInBackground = (runId: string, reason: FinishReason): void => {
    finishRun(runId, reason).catch(writeFailed(runId));
  };

  const scheduleAutoFinish = (runId: string): void => {
    if (autoFinishMs <= 0) return;
    const pending = autoFinish.get(runId);
    if (pending) clearTimeout(pending);
    autoFinish.delete(runId);
    const run = store.run(runId);
    if (!run?.allFinal() || run.finishing) return;
    const timer = setTimeout(() => {
      autoFinish.delete(runId);
      finishInBackground(runId, 'final');
    }, autoFinishMs);
    timer.unref();
    autoFinish.set(runId, timer);
  };

  const idle = (run: RunState, now: number): boolean => idleMs > 0 && now - run.lastSnapshotAt >= idleMs;

  /** Finishes idle runs, and retries runs whose write failed. */
  const sweep = (): void => {
    const now = Date.now();
    for (const run of store.runs()) {
      if (finishing.has(run.runId)) continue;
      if (run.finishing) finishInBackground(run.runId, run.finishing);
      else if (idle(run, now)) finishInBackground(run.runId, 'idle');
    }
  };
  const sweeper = idleMs > 0 ? setInterval(sweep, Math.min(30_000, Math.max(50, idleMs / 4))) : undefined;
  sweeper?.unref();

  /**
   * A limit is reached: finishes the run that went quiet first among those that are done (every producer
   * final, its finish delay cut short), idle, or already finishing, skipping `tried`. One at a time, so a new
   * run waits for one write rather than for every done run to be written. False when there is none left.
   */
  const finishOneDone = async (tried: Set<string>): Promise<boolean> => {
    const now = Date.now();
    let oldest: RunState | undefined;
    for (const r of store.runs()) {
      if (tried.has(r.runId) || !(r.finishing !== undefined || r.allFinal() || idle(r, now))) continue;
      if (!oldest || r.lastSnapshotAt < oldest.lastSnapshotAt) oldest = r;
    }
    if (!oldest) return false;
    tried.add(oldest.runId);
    const reason = oldest.finishing ?? (oldest.allFinal() ? 'room' : 'idle');
    await finishRun(oldest.runId, reason).catch(writeFailed(oldest.runId));
    return true;
  };

  /** Seconds until a run may be finished by itself (at least 1; 60 when none will be). */
  const retryAfter = (): number => {
    const now = Date.now();
    let soonest = Number.POSITIVE_INFINITY;
    for (const run of store.runs()) {
      if (run.allFinal() && autoFinishMs > 0)
        soonest = Math.min(soonest, run.lastSnapshotAt + autoFinishMs - now);
      if (idleMs > 0) soonest = Math.min(soonest, run.lastSnapshotAt + idleMs - now);
    }
    return Number.isFinite(soonest) ? Math.min(3600, Math.max(1, Math.ceil(soonest / 1000))) : 60;
  };

  const ingest = async (snapshot: unknown): Promise<IngestResult> => {
    const tried = new Set<string>();
    for (;;) {
      try {
        const result = store.ingest(snapshot);
        scheduleAutoFinish(result.runId);
        return result;
      } catch (err) {
        if (err instanceof CapacityError && err.retryable && (await finishOneDone(tried))) continue;
        if (err instanceof CapacityError) store.reject(err.cap);
        throw err;
      }
    }
  };

  const postSnapshot = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let early:
      { status: number; reason: string; body: unknown; headers?: Record<string, string> } | undefined;
    const contentType = req.headers['content-type'] ?? '';
    const encoding = req.headers['content-encoding'];
    if (!authorized(req.headers.authorization)) {
      early = {
        status: 401,
        reason: 'unauthorized',
        body: { error: 'missing or wrong bearer token (Authorization: Bearer <token>)' },
        headers: { 'WWW-Authenticate': 'Bearer' },
      };
    } else if (!/^application\/json\s*(;|$)/i.test(contentType) || (encoding && encoding !== 'identity')) {
      early = {
        status: 415,
        reason: 'unsupported-media-type',
        body: { error: `expected an uncompressed application/json body, got '${contentType}'` },
      };
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > maxBody) {
      store.reject(early?.reason ?? 'too-large');
      refuseAndClose(req, res, early?.status ?? 413, early?.body ?? tooLarge);
      return;
    }
    const read = await readBody(req, maxBody, early === undefined);
    if (!read.ok) {
      store.reject(early?.reason ?? 'too-large');
      if (!res.headersSent) refuseAndClose(req, res, early?.status ?? 413, early?.body ?? tooLarge);
      return;
    }
    if (early) {
      store.reject(early.reason);
      json(res, early.status, early.body, early.headers);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(read.body.toString('utf8'));
    } catch (err) {
      store.reject('invalid');
      json(res, 400, { error: `body is not JSON: ${(err as Error).message}`, field: 'body' });
      return;
    }
    try {
      const result = await ingest(parsed);
      json(res, 202, { status: result.status });
    } catch (err) {
      if (err instanceof SnapshotError) {
        logRefusal(err.message);
        json(res, 400, { error: err.message, field: err.field });
      } else if (err instanceof RunFinishedError) {
        logRefusal(err.message);
        json(res, 409, { error: err.message, field: err.field });
      } else if (err instanceof CapacityError) {
        logRefusal(err.message);
        const body = { error: err.message, field: err.field, cap: err.cap, limit: err.limit };
        if (err.retryable) json(res, 429, body, { 'Retry-After': String(retryAfter()) });
        else json(res, 400, body);
      } else throw err;
    }
  };

  const finish = async (runId?: string): Promise<void> => {
    const ids = runId === undefined ? store.runs().map((r) => r.runId) : [runId];
    await Promise.all(ids.map((id) => finishRun(id, store.run(id)?.finishing ?? 'requested')));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    const only = (method: string): boolean => {
      if (req.method === method) return true;
      json(res, 405, { error: `${path} takes ${method}` }, { Allow: method });
      return false;
    };
    switch (path) {
      case SNAPSHOT_PATH:
        if (only('POST')) await postSnapshot(req, res);
        return;
      case '/metrics':
        if (only('GET')) {
          const text = renderMetrics(store);
          res.writeHead(200, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
          res.end(text);
        }
        return;
      case '/healthz':
        if (only('GET')) {
          res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('ok\n');
        }
        return;
      case '/v1/runs':
        if (only('GET')) {
          json(
            res,
            200,
            store.runs().map((r) => ({
              runId: r.runId,
              startMs: Number.isFinite(r.startMs) ? r.startMs : null,
              endMs: Number.isFinite(r.endMs) ? r.endMs : null,
              instances: r.instances(),
              producers: r.producers.size,
              finalProducers: r.finalProducers(),
              snapshots: r.snapshots,
              duplicates: r.duplicates,
              rejected: r.rejected,
              series: r.seriesCount,
              estimatedBytes: r.estimatedBytes,
              finishing: r.finishing ?? null,
            })),
          );
        }
        return;
      default:
        json(res, 404, {
          error: `no ${path} here (POST ${SNAPSHOT_PATH}, GET /metrics, /healthz, /v1/runs)`,
        });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`starling: collector: ${req.method} ${req.url}: ${String(err)}`);
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // Producers flush every few seconds over keep-alive: keep their connections across flushes.
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const t of autoFinish.values()) clearTimeout(t);
      autoFinish.clear();
      if (sweeper) clearInterval(sweeper);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      await stopped;
      clearTimeout(force);
      await finish();
    })();
    return closing;
  };

  return { url, port, store, ingest, finish, close };
}
