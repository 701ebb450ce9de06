/**
 * The collector's HTTP service (node:http, no framework):
 *
 * - `POST /v1/snapshots`: one Snapshot as JSON → 202 (`{"status":"accepted"|"duplicate"}`); 401 without the
 *   bearer token when one is configured; 415 unless `Content-Type: application/json`; 413 over `maxBodyBytes`
 *   (the body is not read further and the connection is closed); 400 `{"error","field"}` for a body that is
 *   not a valid Snapshot.
 * - `GET /metrics`: Prometheus text format (see prometheus.ts). `GET /healthz`. `GET /v1/runs`: runs as JSON.
 *
 * Outputs go to `<resultsRoot>/<runId>/` (HDR logs, collector-summary.json, merged.json): on `finish()`, on
 * `close()`, and by themselves `autoFinishMs` after every producer of a run has sent its final snapshot (a
 * long-lived collector, e.g. in Kubernetes, sees many runs and is never stopped between them).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SNAPSHOT_PATH } from './contract.ts';
import { writeHlogs } from './hlog.ts';
import { CONTENT_TYPE, renderMetrics } from './prometheus.ts';
import { CollectorStore, SnapshotError } from './store.ts';
import { COLLECTOR_SUMMARY_FILE, collectorSummary, MERGED_FILE, mergedRun } from './summary.ts';

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

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
  /** Write a run's outputs this long after all its producers sent `final: true` (default 10 s; 0: never). */
  autoFinishMs?: number;
  log?: (line: string) => void;
}

export interface Collector {
  url: string;
  port: number;
  store: CollectorStore;
  /** Writes the HDR logs, collector-summary.json and merged.json of one run, or of every run. */
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
  const autoFinishMs = opts.autoFinishMs ?? 10_000;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const store = new CollectorStore({ intervalMs: opts.intervalMs ?? 5000 });
  const expectedAuth = opts.token ? sha256(`Bearer ${opts.token}`) : undefined;
  const autoFinish = new Map<string, NodeJS.Timeout>();
  const writing = new Map<string, Promise<void>>();
  let invalidLogged = 0;

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
      const result = store.ingest(parsed);
      json(res, 202, { status: result.status });
      scheduleAutoFinish(result.runId);
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err;
      if (invalidLogged++ < 20) log(`starling: collector: refused a snapshot: ${err.message}`);
      json(res, 400, { error: err.message, field: err.field });
    }
  };

  const scheduleAutoFinish = (runId: string): void => {
    if (autoFinishMs <= 0) return;
    const pending = autoFinish.get(runId);
    if (pending) clearTimeout(pending);
    autoFinish.delete(runId);
    if (!store.run(runId)?.allFinal()) return;
    const timer = setTimeout(() => {
      autoFinish.delete(runId);
      finish(runId).catch((err: unknown) => log(`starling: collector: writing ${runId}: ${String(err)}`));
    }, autoFinishMs);
    timer.unref();
    autoFinish.set(runId, timer);
  };

  const writeRun = async (runId: string): Promise<void> => {
    const run = store.run(runId);
    if (!run) return;
    const dir = join(resultsRoot, runId);
    await mkdir(dir, { recursive: true });
    const hlogs = await writeHlogs(run, dir);
    await writeFile(join(dir, COLLECTOR_SUMMARY_FILE), `${JSON.stringify(collectorSummary(run), null, 2)}\n`);
    await writeFile(join(dir, MERGED_FILE), `${JSON.stringify(mergedRun(run))}\n`);
    log(
      `starling: collector: wrote ${dir}/ (${run.snapshots} snapshots from ${run.instances().length} instances, ` +
        `${hlogs.length} HDR logs, ${COLLECTOR_SUMMARY_FILE}, ${MERGED_FILE})`,
    );
  };

  /** One write at a time per run: the latest call's data wins. */
  const finish = async (runId?: string): Promise<void> => {
    const ids = runId === undefined ? store.runs().map((r) => r.runId) : [runId];
    await Promise.all(
      ids.map((id) => {
        const next = (writing.get(id) ?? Promise.resolve()).then(() => writeRun(id));
        const settled = next.catch(() => undefined);
        writing.set(id, settled);
        void settled.then(() => {
          if (writing.get(id) === settled) writing.delete(id);
        });
        return next;
      }),
    );
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
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      await stopped;
      clearTimeout(force);
      await finish();
    })();
    return closing;
  };

  return { url, port, store, finish, close };
}
