/**
 * `starling collect`: the fleet collector (HDR snapshots in, Prometheus /metrics and results/<run-id>/ out).
 * `starling gate` judges what it wrote (src/cli/gate.ts).
 */
import type { Argv, CommandModule } from 'yargs';
import { COLLECTOR_TOKEN_ENV, SNAPSHOT_PATH } from '../contract/snapshot.ts';
import {
  DEFAULT_FINISH_DELAY_MS,
  DEFAULT_RUN_IDLE_TIMEOUT_MS,
  startCollector,
  type Collector,
} from '../collector/server.ts';
import { DEFAULT_LIMITS } from '../collector/store.ts';
import { startTap } from '../collector/tap/index.ts';
import { parseK6Duration } from '../engine/thresholds.ts';
import { parseByteSize, RunInputError, utcStamp } from './run-target.ts';

interface CollectArgs {
  host: string;
  port: number;
  token?: string;
  resultsRoot: string;
  maxBody: string;
  interval: string;
  tap?: string[];
  runId?: string;
  finishDelay: string;
  runIdleTimeout: string;
  maxRuns: number;
  maxSeries: number;
  maxMemory: string;
}

/** A whole number of ms from a k6 duration (`5s`, `500ms`, `10m`); 0 only where `zero` says what it means. */
export function parseDurationFlag(s: string, flag: string, zero?: string): number {
  let ms: number;
  try {
    ms = parseK6Duration(s);
  } catch (err) {
    throw new RunInputError(`${flag} expects a duration such as 5s, 500ms or 10m: ${(err as Error).message}`);
  }
  if (!Number.isInteger(ms) || ms < 0 || (ms === 0 && zero === undefined)) {
    throw new RunInputError(
      `${flag} must be a whole number of milliseconds above 0${zero ? ` (or 0: ${zero})` : ''}, got '${s}'`,
    );
  }
  return ms;
}

/** A count flag (`--max-runs`, `--max-series`): a whole number above 0. */
export function parseCountFlag(n: number, flag: string): number {
  if (!(Number.isSafeInteger(n) && n > 0)) {
    throw new RunInputError(`${flag} must be a whole number above 0, got ${n}`);
  }
  return n;
}

/** `10m`, `90s`: how a default in ms reads as a flag value. */
function durationText(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

export const collectCommand: CommandModule<object, CollectArgs> = {
  builder: (y: Argv) =>
    y
      .option('host', {
        type: 'string',
        default: '127.0.0.1',
        describe: 'address to listen on (0.0.0.0 to take snapshots from other machines)',
      })
      .option('port', { type: 'number', default: 9464, describe: 'port (0: any free one)' })
      .option('token', {
        type: 'string',
        describe: `bearer token producers must send (default: $${COLLECTOR_TOKEN_ENV}; none when both unset)`,
      })
      .option('results-root', { type: 'string', default: 'results', describe: 'where run directories go' })
      .option('max-body', {
        type: 'string',
        default: '4MiB',
        describe: 'largest snapshot accepted (bytes, KiB, MiB)',
      })
      .option('interval', {
        type: 'string',
        default: '5s',
        describe: 'width of the per-interval histograms in the HDR logs',
      })
      .option('tap', {
        type: 'string',
        array: true,
        describe:
          'also proxy this ws:// (WebSocket) or http:// (BOSH) endpoint on loopback, timing and checking every frame ' +
          '(repeat for several: their instances are tap-<transport>[-n])',
      })
      .option('run-id', {
        type: 'string',
        describe: "run id the tap's snapshots belong to (default: tap-<UTC timestamp>)",
      })
      .option('finish-delay', {
        type: 'string',
        default: durationText(DEFAULT_FINISH_DELAY_MS),
        describe:
          'write a run out and drop it from memory this long after every producer sent its final snapshot ' +
          '(0: only on idle timeout or stop)',
      })
      .option('run-idle-timeout', {
        type: 'string',
        default: durationText(DEFAULT_RUN_IDLE_TIMEOUT_MS),
        describe: 'write a run out and drop it from memory after this long without a snapshot (0: never)',
      })
      .option('max-runs', {
        type: 'number',
        default: DEFAULT_LIMITS.maxRuns,
        describe:
          'runs held in memory at once; past it a new run gets 429 unless a finished one can make room',
      })
      .option('max-series', {
        type: 'number',
        default: DEFAULT_LIMITS.maxSeriesPerRun,
        describe: 'series (metric × labels) one run may have; past it a snapshot adding more gets 400',
      })
      .option('max-memory', {
        type: 'string',
        default: `${DEFAULT_LIMITS.maxBytes / 1024 ** 2}MiB`,
        describe:
          'estimated run data held at once (MiB, GiB); past it new runs, producers and series get 429 until a run finishes',
      }) as unknown as Argv<CollectArgs>,
  handler: async (argv) => {
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) {
      throw new RunInputError(`--port must be 0–65535, got ${argv.port}`);
    }
    const token = argv.token || process.env[COLLECTOR_TOKEN_ENV] || undefined;
    const maxBodyBytes = parseByteSize(argv.maxBody);
    const intervalMs = parseDurationFlag(argv.interval, '--interval');
    const autoFinishMs = parseDurationFlag(
      argv.finishDelay,
      '--finish-delay',
      'only on idle timeout or stop',
    );
    const runIdleTimeoutMs = parseDurationFlag(argv.runIdleTimeout, '--run-idle-timeout', 'never');
    const maxRuns = parseCountFlag(argv.maxRuns, '--max-runs');
    const maxSeriesPerRun = parseCountFlag(argv.maxSeries, '--max-series');
    const maxBytes = parseByteSize(argv.maxMemory, '--max-memory');
    const log = (line: string): void => {
      process.stderr.write(`${line}\n`);
    };
    let collector: Collector;
    try {
      collector = await startCollector({
        host: argv.host,
        port: argv.port,
        token,
        maxBodyBytes,
        resultsRoot: argv.resultsRoot,
        intervalMs,
        autoFinishMs,
        runIdleTimeoutMs,
        maxRuns,
        maxSeriesPerRun,
        maxBytes,
        log,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new RunInputError(
        `cannot listen on ${argv.host}:${argv.port}: ${code ?? (err as Error).message}` +
          (code === 'EADDRINUSE' ? ' (another collector running? choose --port)' : ''),
      );
    }
    const taps: Awaited<ReturnType<typeof startTap>>[] = [];
    const upstreams = argv.tap ?? [];
    const bad = upstreams.find((u) => !/^(wss?|https?):\/\//.test(u));
    if (bad !== undefined) {
      await collector.close();
      throw new RunInputError(
        `--tap ${bad}: give the upstream endpoint as ws(s)://…/xmpp-websocket or http(s)://…/http-bind`,
      );
    }
    const runId = argv.runId ?? `tap-${utcStamp()}`;
    const instances = tapInstances(upstreams);
    for (const [i, upstream] of upstreams.entries()) {
      const tap = await startTap({
        upstream,
        host: argv.host,
        runId,
        instance: instances[i],
        intervalMs,
        log,
        // The tap's snapshots go straight into this collector: same merge, same limits, same outputs.
        onSnapshot: (snap) => {
          collector.ingest(snap).catch((err: unknown) => {
            log(`starling: tap snapshot rejected: ${(err as Error).message}`);
          });
        },
      });
      taps.push(tap);
      log(
        `starling: tap on ${tap.url} → ${upstream} (run ${runId}, instance ${instances[i]}): point clients at the tap`,
      );
    }
    log(
      `starling: collector on ${collector.url}: POST ${SNAPSHOT_PATH}, GET /metrics; ` +
        `${token ? 'bearer token required' : `no token required (set --token or ${COLLECTOR_TOKEN_ENV})`}; ` +
        `results → ${argv.resultsRoot}/<run-id>/. Ctrl+C writes them and stops.`,
    );
    const finishes = [
      ...(autoFinishMs > 0 ? [`${argv.finishDelay} after its final snapshots`] : []),
      ...(runIdleTimeoutMs > 0 ? [`after ${argv.runIdleTimeout} without a snapshot`] : []),
      'at stop',
    ];
    log(
      `starling: collector: a run is written and dropped from memory ${finishes.join(', or ')}; ` +
        `limits: --max-runs ${maxRuns}, --max-series ${maxSeriesPerRun} (a run), --max-memory ${argv.maxMemory}`,
    );
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        // A second signal while writing quits at once.
        const quit = (): void => {
          log('starling: collector: quitting without finishing the results');
          process.exit(1);
        };
        process.once('SIGINT', quit);
        process.once('SIGTERM', quit);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    log('starling: collector stopping: writing results…');
    for (const tap of taps) await tap.close();
    await collector.close();
    process.exitCode = 0;
  },
};

/**
 * Instance names for the taps' snapshots: 'tap' for one; for several, tap-websocket / tap-bosh, numbered
 * when a transport repeats (one collector keeps producers apart by instance).
 */
export function tapInstances(upstreams: readonly string[]): string[] {
  if (upstreams.length === 1) return ['tap'];
  const transport = (u: string): string => (/^wss?:/.test(u) ? 'websocket' : 'bosh');
  const total = new Map<string, number>();
  for (const u of upstreams) total.set(transport(u), (total.get(transport(u)) ?? 0) + 1);
  const seen = new Map<string, number>();
  return upstreams.map((u) => {
    const t = transport(u);
    const n = (seen.get(t) ?? 0) + 1;
    seen.set(t, n);
    return total.get(t)! > 1 ? `tap-${t}-${n}` : `tap-${t}`;
  });
}
