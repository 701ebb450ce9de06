/**
 * k6's `--out json=<file>`: one JSON object per line, a `Metric` line the first time a metric gets a sample and a
 * `Point` line for every sample (k6 output/json). Lets a run's raw samples be checked against any summary of
 * them, e.g. the collector's merged histograms.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { MetricStore } from './metrics.ts';

export interface JsonOutput {
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/** Attaches to `store`; every sample from now on is written to `path`. */
export function attachJsonOutput(store: MetricStore, path: string): JsonOutput {
  const out: WriteStream = createWriteStream(path);
  const declared = new Set<string>();
  store.observe((metric, value, tags, time) => {
    if (!declared.has(metric.name)) {
      declared.add(metric.name);
      out.write(
        `${JSON.stringify({
          type: 'Metric',
          data: {
            name: metric.name,
            type: metric.type,
            contains: metric.contains,
            thresholds: [],
            submetrics: null,
          },
          metric: metric.name,
        })}\n`,
      );
    }
    out.write(
      `${JSON.stringify({
        type: 'Point',
        data: { time: new Date(time ?? Date.now()).toISOString(), value, tags: tags ?? {} },
        metric: metric.name,
      })}\n`,
    );
  });
  return { close: () => new Promise((resolve) => out.end(resolve)) };
}
