/**
 * Synchronous `k6/http` requests for the Node engine. k6 blocks the VU's goroutine on http.get(); here every VU
 * shares the main thread, so a blocking request runs in a worker thread (http-wire.ts `perform`, with a
 * connection pool per VU kept there) while the main thread waits on Atomics.wait for its answer.
 *
 * The caller (http.ts) only blocks where nothing else can run meanwhile: setup(), teardown(), handleSummary(),
 * or a test with exactly one VU. A server living in this same process cannot answer while the thread waits.
 */
import { createRequire } from 'node:module';
import type { MessagePort, Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import { ConnectionPool, type PoolOptions } from './http-transport.ts';
import { perform, type WireRequest, type WireResult } from './http-wire.ts';

/** One synchronous request, as posted to the worker. */
interface SyncCall {
  /** An Int32Array over it: 0 while pending, 1 once the answer was posted. */
  flag: SharedArrayBuffer;
  port: MessagePort;
  client: number;
  pool: PoolOptions;
  closeIdle: boolean;
  req: WireRequest;
}

type Answer = { ok: WireResult } | { crash: string };

/** How long past the request's own timeout the main thread waits before it gives the worker up. */
const WORKER_SLACK_MS = 60_000;

let worker: Worker | null = null;
let nextClient = 1;
const released = new FinalizationRegistry<number>((client) => worker?.postMessage({ release: client }));

let threads: typeof WorkerThreads | undefined;

/** node:worker_threads, required with the first synchronous request: most runs make none, and it costs a start. */
function workerThreads(): typeof WorkerThreads {
  return (threads ??= createRequire(import.meta.url)('node:worker_threads') as typeof WorkerThreads);
}

function startWorker(): Worker {
  const { Worker } = workerThreads();
  const self = import.meta.url;
  // Run from source (tests, tsx), the worker registers tsx itself: the CLI registers it programmatically, which
  // workers do not inherit. Run from the built CLI, this module is JavaScript and needs no loader.
  const loader = self.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.register())`
    : 'Promise.resolve()';
  // A worker that cannot load answers every call with the reason, rather than leaving the caller blocked.
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
    ${loader}
      .then(() => import(${JSON.stringify(self)}))
      .then(
        (m) => m.serveSyncRequests(parentPort),
        (e) => parentPort.on('message', (call) => {
          if (!call.port) return;
          call.port.postMessage({ crash: String((e && e.stack) || e) });
          call.port.close();
          const flag = new Int32Array(call.flag);
          Atomics.store(flag, 0, 1);
          Atomics.notify(flag, 0);
        }),
      );`,
    { eval: true, execArgv: [], name: 'starling k6/http sync requests' },
  );
  w.unref();
  w.on('error', (e) => {
    process.stderr.write(`starling: the k6/http request thread failed: ${String(e)}\n`);
    worker = null;
  });
  return w;
}

/** A VU's handle on the worker: its own connection pool there, released when the handle is collected. */
export class SyncClient {
  readonly id = nextClient++;
  constructor() {
    released.register(this, this.id);
  }

  /** Runs the request in the worker and blocks this thread until it answered. */
  perform(pool: PoolOptions, closeIdle: boolean, req: WireRequest): WireResult {
    worker ??= startWorker();
    const flag = new SharedArrayBuffer(4);
    const { MessageChannel, receiveMessageOnPort } = workerThreads();
    const { port1, port2 } = new MessageChannel();
    try {
      const call: SyncCall = { flag, port: port2, client: this.id, pool, closeIdle, req };
      worker.postMessage(call, [port2]);
      const outcome = Atomics.wait(new Int32Array(flag), 0, 0, Math.max(0, req.timeoutMs) + WORKER_SLACK_MS);
      const answer = receiveMessageOnPort(port1)?.message as Answer | undefined;
      if (answer === undefined) {
        throw new Error(
          `starling's k6/http request thread did not answer (${outcome}) for ${req.method} ${req.url}`,
        );
      }
      if ('crash' in answer) throw new Error(`starling's k6/http request thread failed: ${answer.crash}`);
      return answer.ok;
    } finally {
      port1.close();
    }
  }
}

/** The worker's side: one connection pool per client, requests run as they come. */
export function serveSyncRequests(parent: MessagePort): void {
  const pools = new Map<number, ConnectionPool>();
  parent.on('message', (msg: SyncCall | { release: number }) => {
    if ('release' in msg) {
      pools.get(msg.release)?.destroy();
      pools.delete(msg.release);
      return;
    }
    const { flag, port, client, req } = msg;
    let pool = pools.get(client);
    if (pool === undefined) {
      pool = new ConnectionPool(msg.pool);
      pools.set(client, pool);
    } else if (msg.closeIdle) {
      pool.closeIdle();
    }
    const answer = (a: Answer) => {
      // An exact copy of the body is transferred: the decoded body may be a view on a larger (pooled) buffer.
      const body = 'ok' in a && a.ok.body !== null ? new Uint8Array(a.ok.body) : null;
      if (body !== null && 'ok' in a) a.ok.body = body;
      port.postMessage(a, body !== null ? [body.buffer] : []);
      port.close();
      const f = new Int32Array(flag);
      Atomics.store(f, 0, 1);
      Atomics.notify(f, 0);
    };
    perform(pool, req).then(
      (ok) => answer({ ok }),
      (e: unknown) => answer({ crash: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
}
