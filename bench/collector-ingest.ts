/**
 * The collector's ingest rate. `starling collect` runs in its own process (as deployed); this process plays a
 * fleet of generators: many producers (instance × VU) each POSTing realistic snapshots (8 XMPP latency
 * histograms of a few hundred values plus 2 labelled tap histograms, 6 counters, a gauge; ~10 KB of JSON) with
 * increasing seqs, `--concurrency` requests in flight over keep-alive connections, for `--seconds`. It prints
 * snapshots/s, histograms merged/s and the ingest latency (POST to 202) percentiles, then checks the
 * collector counted every snapshot.
 *
 *   npm run bench -- collector-ingest [--seconds 5] [--concurrency 32] [--producers 2000]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { HDR_CONFIG, SNAPSHOT_PATH } from '../src/contract/snapshot.ts';
import { XMPP_COUNTERS, XMPP_GAUGES, XMPP_TRENDS } from '../src/contract/metric-names.ts';
import { benchArgs, flag } from './lib/args.ts';
import { percentile } from './lib/figures.ts';
import { startCollector } from './lib/processes.ts';

const args = benchArgs({
  name: 'collector-ingest',
  flags: {
    seconds: flag.positive({ help: 'seconds measured, after 1 s of warm-up', default: '5' }),
    concurrency: flag.whole({ help: 'requests in flight (keep-alive connections)', default: '32' }),
    producers: flag.whole({ help: 'producers (instance × VU), each with its own seqs', default: '2000' }),
  },
});

const SECONDS = args.seconds;
const CONCURRENCY = args.concurrency;
const PRODUCERS = args.producers;
const RUN_ID = 'bench-ingest';

let seed = 12345;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
}

/** A log-normal latency around `medianUs` µs. */
function latency(medianUs: number): number {
  const g = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
  return Math.min(Math.round(medianUs * Math.exp(0.8 * g)), HDR_CONFIG.highestTrackableValue);
}

function encoded(medianUs: number, n: number): string {
  const h = hdr.build({ ...HDR_CONFIG, useWebAssembly: false });
  for (let i = 0; i < n; i++) h.recordValue(latency(medianUs));
  return hdr.encodeIntoCompressedBase64(h);
}

/** The part of a snapshot after `seq`: 64 variants, so the collector merges different data each time. */
function payloadVariants(): string[] {
  const out: string[] = [];
  for (let v = 0; v < 64; v++) {
    const histograms = [
      ...Object.values(XMPP_TRENDS).map((name, i) => ({
        name,
        hdr: encoded(2000 * (i + 1), 100 + (v % 5) * 50),
      })),
      { name: 'tap_frame_parse', labels: { direction: 'c2s', element: 'message' }, hdr: encoded(40, 300) },
      { name: 'tap_frame_size', labels: { direction: 's2c' }, hdr: encoded(250, 300) },
    ];
    const counters = [
      { name: XMPP_COUNTERS.stanzasSent, labels: { kind: 'message' }, delta: 50 + v },
      { name: XMPP_COUNTERS.stanzasReceived, labels: { kind: 'message' }, delta: 49 + v },
      { name: XMPP_COUNTERS.stanzasSent, labels: { kind: 'presence' }, delta: 5 },
      { name: XMPP_COUNTERS.sessionsOpened, delta: 2 },
      { name: XMPP_COUNTERS.sessionsClosed, delta: 1 },
      { name: XMPP_COUNTERS.streamErrors, labels: { condition: 'conflict' }, delta: v % 2 },
    ];
    const gauges = [{ name: XMPP_GAUGES.sessionsOpen, value: 10 + v }];
    const body = JSON.stringify({
      final: false,
      intervalStartMs: 0,
      intervalEndMs: 0,
      histograms,
      counters,
      gauges,
    });
    out.push(body.slice(1));
  }
  return out;
}

async function main(): Promise<void> {
  const results = await mkdtemp(join(tmpdir(), 'starling-bench-collector-'));
  const { child, url } = await startCollector(results);

  const variants = payloadVariants();
  const producers = Array.from({ length: PRODUCERS }, (_, i) => ({
    prefix:
      `{"version":1,"runId":"${RUN_ID}","instance":"gen-${i % 20}","scenario":"chat",` +
      `"transport":"websocket","vu":${Math.floor(i / 20) + 1},"seq":`,
    seq: 0,
  }));
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const endpoint = new URL(SNAPSHOT_PATH, url);
  const latencies: number[] = [];
  let bytes = 0;
  let errors = 0;
  let next = 0;

  const postOne = (): Promise<void> => {
    const p = producers[next++ % producers.length]!;
    const t = Date.now();
    const body =
      `${p.prefix}${p.seq++},` +
      variants[next % variants.length]!.replace(
        '"intervalStartMs":0,"intervalEndMs":0',
        `"intervalStartMs":${t - 5000},"intervalEndMs":${t}`,
      );
    bytes += body.length;
    const started = performance.now();
    return new Promise((resolve) => {
      const req = request(
        endpoint,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 202) latencies.push(performance.now() - started);
            else errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  };

  // Warm-up (JIT, connections), not measured.
  const warmupUntil = Date.now() + 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < warmupUntil) await postOne();
    }),
  );
  latencies.length = 0;
  bytes = 0;
  errors = 0;
  const sentBefore = next;

  const started = performance.now();
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) await postOne();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sent = next - sentBefore;

  const runs = (await (await fetch(`${url}/v1/runs`)).json()) as { runId: string; snapshots: number }[];
  const counted = runs.find((r) => r.runId === RUN_ID)?.snapshots ?? 0;
  const pid = child.pid;
  const rss = pid ? /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] : undefined;
  const scrapeStart = performance.now();
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const scrapeMs = performance.now() - scrapeStart;
  agent.destroy();
  child.kill('SIGKILL');
  await rm(results, { recursive: true, force: true });

  const sorted = Float64Array.from(latencies).sort();
  const ok = latencies.length;
  console.log(
    `collector ingest: ${PRODUCERS} producers, ${CONCURRENCY} in flight over keep-alive, ${elapsed.toFixed(1)} s`,
  );
  console.log(`  snapshots/s        ${(ok / elapsed).toFixed(0)}  (${ok} accepted, ${errors} errors)`);
  console.log(`  histograms/s       ${((ok * 10) / elapsed).toFixed(0)}  (10 per snapshot)`);
  console.log(`  body               ${(bytes / Math.max(1, sent) / 1024).toFixed(1)} KiB per snapshot`);
  console.log(
    `  ingest latency ms  p50 ${percentile(sorted, 50).toFixed(2)}  p90 ${percentile(sorted, 90).toFixed(2)}  ` +
      `p99 ${percentile(sorted, 99).toFixed(2)}  max ${percentile(sorted, 100).toFixed(2)}`,
  );
  console.log(`  collector peak RSS ${rss ? `${(Number(rss) / 1024).toFixed(0)} MiB` : '?'}`);
  console.log(`  /metrics scrape    ${scrapeMs.toFixed(1)} ms, ${(metrics.length / 1024).toFixed(0)} KiB`);
  if (counted < ok) throw new Error(`the collector counted ${counted} snapshots, ${ok} were accepted`);
}

await main();
