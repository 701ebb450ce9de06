/** What both proxies share: the analyzer, metrics, the log, connection numbering and the deferred-work queue. */
import type { Analyzer } from './analyzer.ts';
import type { TapMetrics } from './metrics.ts';

export interface ProxyContext {
  analyzer: Analyzer;
  metrics: TapMetrics;
  log: (line: string) => void;
  /** The next connection (WebSocket) or session (BOSH) number, from 1. */
  nextConnectionId(): number;
  /** Runs `fn` after the current I/O callbacks, in order: analysis never delays forwarding. */
  defer(fn: () => void): void;
}

export interface Proxy {
  port: number;
  /** Periodic housekeeping (called at every snapshot). */
  sweep(): void;
  /** Stops listening and closes every socket; resolves when they are closed. */
  close(): Promise<void>;
}

/**
 * FIFO of analysis work, run from setImmediate so every frame that arrived in one I/O turn is forwarded
 * before any of them is parsed. Order is kept across connections and directions.
 */
export class DeferredQueue {
  private queue: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly log: (line: string) => void) {}

  push(fn: () => void): void {
    this.queue.push(fn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Runs everything queued now (also called before each snapshot, so it covers every frame seen so far). */
  drain(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const q = this.queue;
      this.queue = [];
      for (const fn of q) {
        try {
          fn();
        } catch (e) {
          this.log(`tap: analysis failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
      }
    }
  }
}
