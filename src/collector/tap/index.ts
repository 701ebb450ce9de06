/**
 * Tap mode (`starling collect --tap <upstream>`): a loopback proxy in front of an XMPP server that forwards
 * WebSocket (RFC 7395) or BOSH (XEP-0124/0206) traffic unchanged while it parses and times every frame in both
 * directions, checks RFC 7395 framing, and measures IQ response and message transit times. Results go out as
 * collector Snapshots (instance 'tap' unless named, vu 0) every `intervalMs` and once more, final, at close().
 *
 * Forwarding never waits for analysis: a frame is sent on first, then parsed from a setImmediate queue; its
 * arrival time is taken before it is forwarded, so response and transit times do not include the tap's parsing.
 */
import { Analyzer } from './analyzer.ts';
import { startBoshProxy } from './bosh.ts';
import { DeferredQueue, type Proxy, type ProxyContext } from './context.ts';
import { hostPort } from './http.ts';
import { TapMetrics } from './metrics.ts';
import type { FramingViolation, Tap, TapOptions } from './types.ts';
import { startWebSocketProxy } from './websocket.ts';

export { TAP_METRICS } from '../../contract/tap-metric-names.ts';
export { MAX_VIOLATION_FRAME_BYTES } from './analyzer.ts';
export {
  VIOLATION_KINDS,
  type Direction,
  type FramingViolation,
  type Tap,
  type TapOptions,
} from './types.ts';

/** Violations kept in `Tap.violations`; later ones are still counted, logged and passed to onViolation. */
const MAX_KEPT_VIOLATIONS = 10_000;
const DEFAULT_INTERVAL_MS = 5000;

export async function startTap(o: TapOptions): Promise<Tap> {
  let upstream: URL;
  try {
    upstream = new URL(o.upstream);
  } catch {
    throw new Error(`tap: upstream '${o.upstream}' is not a URL (ws://…, wss://…, http://… or https://…)`);
  }
  const websocket = upstream.protocol === 'ws:' || upstream.protocol === 'wss:';
  const bosh = upstream.protocol === 'http:' || upstream.protocol === 'https:';
  if (!websocket && !bosh) {
    throw new Error(
      `tap: upstream '${o.upstream}' must be ws:// or wss:// (RFC 7395) or http:// or https:// (BOSH)`,
    );
  }
  if (upstream.hash) throw new Error(`tap: upstream '${o.upstream}' must not have a #fragment`);
  const intervalMs = o.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!(intervalMs > 0)) throw new Error(`tap: intervalMs must be positive, got ${intervalMs}`);
  const host = o.host ?? '127.0.0.1';
  const log = o.log ?? ((line: string) => void process.stderr.write(line + '\n'));

  const metrics = new TapMetrics({
    runId: o.runId,
    instance: o.instance ?? 'tap',
    transport: websocket ? 'websocket' : 'bosh',
  });
  const violations: FramingViolation[] = [];
  const report = (v: FramingViolation): void => {
    if (violations.length < MAX_KEPT_VIOLATIONS) violations.push(v);
    log(
      `tap: framing violation ${v.kind} (${v.direction}, connection ${v.connection}): ${v.message}; frame: ${JSON.stringify(v.frame)}`,
    );
    try {
      o.onViolation?.(v);
    } catch (e) {
      log(`tap: onViolation threw: ${(e as Error).message}`);
    }
  };
  const analyzer = new Analyzer(metrics, report);
  const queue = new DeferredQueue(log);
  let connectionIds = 0;
  const ctx: ProxyContext = {
    analyzer,
    metrics,
    log,
    nextConnectionId: () => ++connectionIds,
    defer: (fn) => queue.push(fn),
  };
  const proxy: Proxy = websocket
    ? await startWebSocketProxy(upstream, host, o.port ?? 0, ctx)
    : await startBoshProxy(upstream, host, o.port ?? 0, ctx);

  const emit = (final: boolean): void => {
    queue.drain();
    analyzer.sweep(process.hrtime.bigint());
    proxy.sweep();
    const snapshot = metrics.flush(final);
    try {
      o.onSnapshot(snapshot);
    } catch (e) {
      log(`tap: onSnapshot threw: ${(e as Error).message}`);
    }
  };
  const timer = setInterval(() => emit(false), intervalMs);
  timer.unref();

  let closing: Promise<void> | undefined;
  const scheme = websocket ? 'ws' : 'http';
  return {
    url: `${scheme}://${hostPort(host, proxy.port)}${upstream.pathname}${upstream.search}`,
    port: proxy.port,
    violations,
    close: () =>
      (closing ??= (async () => {
        clearInterval(timer);
        try {
          await proxy.close();
        } finally {
          emit(true);
        }
      })()),
  };
}
