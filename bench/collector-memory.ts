/**
 * The collector's memory under a long stream of runs (issue 12 item 5). `starling collect` runs in its own
 * process, as deployed; this process streams `--runs` run ids through it, `--concurrency` runs at a time. Each
 * run has `--producers` generators sending `--snapshots` snapshots each, the last one final, every snapshot
 * holding the 9 XMPP latency histograms (a few hundred log-normal values each), 2 labelled tap histograms,
 * 6 counters and a gauge: the shape bench/collector-ingest.ts sends. The collector finishes each run by its own
 * policy (written to a temp results root, then dropped from memory).
 *
 * It prints the collector's RSS at start and every 500 runs with the runs it holds, the RSS slope over the
 * second half of the stream (bytes per run: ~0 when memory is bounded), the steady-state RSS and the peak.
 * Flags after `--` go to `starling collect` (default here: its own defaults), e.g. to see the unbounded
 * behaviour: `-- --finish-delay 0 --run-idle-timeout 0 --max-runs 1000000 --max-memory 64GiB`.
 *
 *   npm run bench -- collector-memory [--runs 3000] [--concurrency 8] [--producers 4] [--snapshots 3] [-- …]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SNAPSHOT_PATH, type CounterEntry, type HistogramEntry } from '../src/contract/snapshot.ts';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_TRENDS } from '../src/contract/metric-names.ts';
import { encode, latencies, rng, snapshot } from '../test/collector/fixtures.ts';
import { benchArgs, flag } from './lib/args.ts';
import { startCollector } from './lib/processes.ts';

const args = benchArgs({
  name: 'collector-memory',
  flags: {
    runs: flag.whole({ help: 'run ids streamed through the collector', default: '3000' }),
    concurrency: flag.whole({ help: 'runs streamed at a time', default: '8' }),
    producers: flag.whole({ help: 'generators per run', default: '4' }),
    snapshots: flag.whole({ help: 'snapshots per generator, the last one final', default: '3' }),
  },
  passThrough: 'flags of `starling collect`, e.g. -- --max-memory 128MiB (default: its own defaults)',
});
const collectFlags = args.rest;

const RUNS = args.runs;
const CONCURRENCY = args.concurrency;
const PRODUCERS = args.producers;
const SNAPSHOTS = args.snapshots;
const REPORT_EVERY = 500;
const MiB = 1024 * 1024;

const random = rng(42);
/** Encoded histograms to draw from: 64 variants per metric, so merges see different data. */
const TRENDS = Object.values(XMPP_TRENDS).map((name, i) => ({
  name,
  variants: Array.from({ length: 64 }, () =>
    encode(latencies(random, 100 + Math.floor(random() * 300)).map((v) => v * (i + 1))),
  ),
}));
const TAP: HistogramEntry[] = [
  {
    name: 'tap_frame_parse',
    labels: { direction: 'c2s', element: 'message' },
    hdr: encode([40, 45, 60, 90]),
  },
  { name: 'tap_frame_size', labels: { direction: 's2c' }, hdr: encode([250, 260, 900]) },
];

function body(runId: string, producer: number, seq: number, startMs: number): string {
  const v = (producer * 7 + seq) % 64;
  return JSON.stringify(
    snapshot({
      runId,
      instance: `gen-${producer}`,
      vu: 1,
      seq,
      final: seq === SNAPSHOTS - 1,
      intervalStartMs: startMs + seq * 5000,
      intervalEndMs: startMs + (seq + 1) * 5000,
      histograms: [...TRENDS.map((t): HistogramEntry => ({ name: t.name, hdr: t.variants[v]! })), ...TAP],
      counters: (<CounterEntry[]>[
        { name: XMPP_COUNTERS.stanzasSent, labels: { kind: 'message' }, delta: 50 + v },
        { name: XMPP_COUNTERS.stanzasReceived, labels: { kind: 'message' }, delta: 49 + v },
        { name: XMPP_COUNTERS.sessionsOpened, delta: 2 },
        { name: XMPP_COUNTERS.sessionsClosed, delta: 2 },
        { name: 'xmpp_login_success', labels: { outcome: 'true' }, delta: 2 },
        { name: XMPP_COUNTERS.streamErrors, labels: { condition: 'conflict' }, delta: v % 2 },
      ]).filter((c) => c.delta > 0),
      gauges: [{ name: XMPP_GAUGES.sessionsOpen, value: seq === SNAPSHOTS - 1 ? 0 : 2 }],
    }),
  );
}

/** The collector's resident set and its peak, bytes (Linux /proc). */
function rss(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

async function main(): Promise<void> {
  const results = await mkdtemp(join(tmpdir(), 'starling-bench-collector-memory-'));
  const collector = await startCollector(results, collectFlags, (stderr) => stderr.includes('limits: '));
  const { child, url } = collector;
  const pid = child.pid!;
  const endpoint = `${url}${SNAPSHOT_PATH}`;
  const statuses = new Map<number, number>();
  const held = async (): Promise<{ runs: number; writing: number; bytes: number }> => {
    const runs = (await (await fetch(`${url}/v1/runs`)).json()) as {
      estimatedBytes: number;
      finishing: string | null;
    }[];
    return {
      runs: runs.length,
      writing: runs.filter((r) => r.finishing !== null).length,
      bytes: runs.reduce((n, r) => n + r.estimatedBytes, 0),
    };
  };
  const line = async (label: string): Promise<number> => {
    const now = rss(pid).now;
    const h = await held();
    console.log(
      `  ${label.padEnd(22)} RSS ${mib(now).padStart(8)}   runs in memory ${String(h.runs).padStart(4)} ` +
        `(${h.writing} being written; estimated ${mib(h.bytes)})`,
    );
    return now;
  };

  console.log(
    `collector memory: ${RUNS} runs × ${PRODUCERS} producers × ${SNAPSHOTS} snapshots ` +
      `(${TRENDS.length + TAP.length} histograms each), ${CONCURRENCY} runs at a time; ` +
      `starling ${collectFlags.join(' ') || 'collect (defaults)'}`,
  );
  console.log(collector.stderr().trim().split('\n').at(-1));
  const start = await line('start');

  const samples: [number, number][] = [];
  const started = performance.now();
  const base = Date.now() - 3_600_000;
  let next = 0;
  let done = 0;
  const streamRun = async (n: number): Promise<void> => {
    const runId = `bench-${n}`;
    for (let seq = 0; seq < SNAPSHOTS; seq++) {
      await Promise.all(
        Array.from({ length: PRODUCERS }, async (_, p) => {
          const res = await fetch(endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: body(runId, p, seq, base + n * 1000),
          });
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }),
      );
    }
  };
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < RUNS) {
        await streamRun(next++);
        done++;
        if (done % REPORT_EVERY === 0 || done === RUNS) {
          const at = await line(`after ${done} runs`);
          samples.push([done, at]);
        } else if (done % 50 === 0) samples.push([done, rss(pid).now]);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const secondHalf = samples.filter(([n]) => n > RUNS / 2);
  const perRun = slope(secondHalf);
  const steady = secondHalf.reduce((s, [, y]) => s + y, 0) / Math.max(1, secondHalf.length);

  // Let the runs still held finish by the collector's own policy (up to a minute), then sample again.
  for (let i = 0; i < 120 && (await held()).runs > 0; i++) await new Promise((r) => setTimeout(r, 500));
  const drained = await line('drained');
  const { peak } = rss(pid);
  const written = (await readdir(results)).length;
  child.kill('SIGKILL');
  await rm(results, { recursive: true, force: true });

  console.log(
    `  ${seconds.toFixed(1)} s, ${((RUNS * PRODUCERS * SNAPSHOTS) / seconds).toFixed(0)} snapshots/s; ` +
      `HTTP ${[...statuses].map(([s, n]) => `${s}×${n}`).join(' ')}; ${written} run directories written`,
  );
  console.log(
    `  steady state (mean RSS over runs ${Math.ceil(RUNS / 2)}–${RUNS}) ${mib(steady)}, ` +
      `slope ${(perRun / 1024).toFixed(1)} KiB per run; start ${mib(start)}, drained ${mib(drained)}, peak ${mib(peak)}`,
  );
}

await main();
