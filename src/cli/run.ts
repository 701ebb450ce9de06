/**
 * `starling run <scenario>`: compile if needed, then run with real k6 (when chosen or found) or the Node
 * engine; results go to results/<run-id>/.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as ChildProcess from 'node:child_process';
import { createRequire } from 'node:module';
import type { Argv, CommandModule } from 'yargs';
import { MetricStore } from '../engine/metrics.ts';
import { COLLECTOR_URL_ENV, RUN_ID_ENV } from '../contract/snapshot.ts';
import type { Collector } from '../collector/server.ts';
import { attachJsonOutput } from '../engine/json-output.ts';
import { DEFAULT_ENGINE_LIMITS, LIMIT_FLAGS, MAX_LIMIT_BYTES, type EngineLimits } from '../engine/limits.ts';
import {
  EXIT_GENERATOR_SATURATED,
  generatorText,
  type GeneratorHealth,
  type SaturationRule,
} from '../engine/health.ts';
import { CERT_FILE_ENV } from '../engine/modules/tls.ts';
import { parseDuration } from '../engine/options.ts';
import { EXIT, runScript, type RunOutcome, type RunProgress } from '../engine/run.ts';
import { addDefaultSubmetrics, buildSummaryData, type SummaryData } from '../engine/summary.ts';
import {
  buildSummaryReport,
  defaultSummaryText,
  InvalidSummaryModeError,
  resolveSummaryMode,
  summaryColors,
  SummaryOutput,
  type SummaryMode,
} from '../engine/summary-compact.ts';
import { ThresholdConfigError, ThresholdSet, type ThresholdResult } from '../engine/thresholds.ts';
import { XMPP_COUNTERS } from '../contract/metric-names.ts';
import { xmppSummary, xmppTable, type XmppSummary } from '../report/xmpp-summary.ts';
import { maskUrlPasswords, redactEnv } from '../xmpp/redact.ts';
import {
  checkCaFile,
  chooseEngine,
  includeSystemEnv,
  newResultsDir,
  parseByteSize,
  parseEnvPairs,
  resolveScript,
  RunInputError,
  systemEnv,
  type EngineChoice,
} from './run-target.ts';

interface RunArgs {
  scenario: string;
  target?: string;
  engine: EngineChoice;
  env?: string[];
  quiet: boolean;
  resultsRoot: string;
  out?: string[];
  collect: boolean;
  caFile?: string;
  includeSystemEnvVars?: boolean;
  maxWsMessage?: string;
  maxResponseBody?: string;
  allowSaturation: boolean;
  saturationWindow?: string;
  report: boolean;
  summaryMode?: string;
}

export const runCommand: CommandModule<object, RunArgs> = {
  builder: (y: Argv) =>
    y
      .positional('scenario', {
        type: 'string',
        demandOption: true,
        describe: 'scenario name or script path',
      })
      .option('target', {
        type: 'string',
        describe:
          'ws(s):// or http(s):// endpoint, or xmpp://<domain> / a bare domain for XEP-0156 discovery (sets XMPP_URL)',
      })
      .option('engine', {
        choices: ['auto', 'k6', 'node'] as const,
        default: 'auto' as EngineChoice,
        describe: 'auto: k6 when on PATH, else the Node engine',
      })
      .option('env', {
        alias: 'e',
        type: 'string',
        array: true,
        describe: 'KEY=VALUE for __ENV (repeatable)',
      })
      .option('quiet', {
        alias: 'q',
        type: 'boolean',
        default: false,
        describe: 'no progress line, no console.log',
      })
      .option('out', {
        alias: 'o',
        type: 'string',
        array: true,
        describe: "k6's outputs: json=<file> writes every sample as k6 does (the Node engine supports json)",
      })
      .option('collect', {
        type: 'boolean',
        default: false,
        describe:
          'host a collector in this process: VUs send HDR snapshots to it; HDR logs, merged.json and collector-summary.json go beside summary.json',
      })
      .option('include-system-env-vars', {
        type: 'boolean',
        describe:
          "pass the shell's environment to __ENV under the -e pairs, as `k6 run` does (default true, or K6_INCLUDE_SYSTEM_ENV_VARS); run.json records only -e",
      })
      .option(LIMIT_FLAGS.maxWsMessageBytes, {
        type: 'string',
        describe: `Node engine: largest WebSocket message, e.g. 4MiB (default ${DEFAULT_ENGINE_LIMITS.maxWsMessageBytes}); a larger one closes its socket with 1009. A safety limit: k6 has none`,
      })
      .option(LIMIT_FLAGS.maxResponseBodyBytes, {
        type: 'string',
        describe: `Node engine: largest HTTP response body, e.g. 4MiB (default ${DEFAULT_ENGINE_LIMITS.maxResponseBodyBytes}); a larger one fails its request. A safety limit: k6 has none`,
      })
      .option('allow-saturation', {
        type: 'boolean',
        default: false,
        describe: `Node engine: a run whose generator was saturated exits 0 when its thresholds pass, not ${EXIT_GENERATOR_SATURATED} (the verdict is still printed)`,
      })
      .option('saturation-window', {
        type: 'string',
        describe:
          'Node engine: how long the generator must be saturated for the verdict, e.g. 30s (default 10s; see README, Generator saturation)',
      })
      .option('ca-file', {
        type: 'string',
        describe:
          'PEM of CA certificates to trust for wss:// and https:// besides the system roots (sets SSL_CERT_FILE, which k6 and the Node engine both read); e.g. the CA `server up --tls` prints',
      })
      .option('results-root', {
        type: 'string',
        default: 'results',
        describe: 'where run directories go',
      })
      .option('report', {
        type: 'boolean',
        default: true,
        describe:
          'write report.html (tables and charts of the results, one self-contained page) at the end; --no-report skips it',
      })
      .option('summary-mode', {
        type: 'string',
        describe:
          "k6's end-of-test summary: compact (default), full (adds groups and scenarios), legacy (k6 0.x's layout) or disabled; else K6_SUMMARY_MODE",
      }) as unknown as Argv<RunArgs>,
  handler: async (argv) => {
    try {
      await run(argv);
    } catch (e) {
      // main.ts prints the message: a URL given on the command line keeps its password out of it.
      if (e instanceof Error) e.message = maskUrlPasswords(e.message);
      throw e;
    }
  },
};

/** One `starling run`: the script, its environment and limits, the engine, then the run itself. */
async function run(argv: RunArgs): Promise<void> {
  const script = await resolveScript(argv.scenario);
  // What starling passes explicitly (and records in run.json); the shell's environment goes under it.
  const env = parseEnvPairs(argv.env);
  if (argv.target) env.XMPP_URL = argv.target;
  const withSystemEnv = includeSystemEnv(argv.includeSystemEnvVars);
  const limits: Partial<EngineLimits> = {
    maxWsMessageBytes: parseByteLimit(LIMIT_FLAGS.maxWsMessageBytes, argv.maxWsMessage),
    maxResponseBodyBytes: parseByteLimit(LIMIT_FLAGS.maxResponseBodyBytes, argv.maxResponseBody),
  };
  const engine = chooseEngine(argv.engine);
  // The Node engine checks --summary-mode / K6_SUMMARY_MODE before the run as k6 does; real k6 checks its own.
  const summaryMode = engine === 'k6' ? undefined : nodeSummaryMode(argv.summaryMode);
  if (engine === 'k6' && (argv.maxWsMessage !== undefined || argv.maxResponseBody !== undefined)) {
    process.stderr.write(
      `starling: --${LIMIT_FLAGS.maxWsMessageBytes} and --${LIMIT_FLAGS.maxResponseBodyBytes} limit the Node engine only; k6 has no such limits\n`,
    );
  }
  // Go (k6) reads SSL_CERT_FILE for its roots; the Node engine reads it the same way (src/engine/modules/tls.ts).
  if (argv.caFile !== undefined) process.env[CERT_FILE_ENV] = await checkCaFile(argv.caFile);
  const { runId, dir } = await newResultsDir(script, argv.resultsRoot);
  process.stderr.write(`starling: ${engine === 'k6' ? 'k6' : 'Node engine'} running ${script} → ${dir}\n`);
  const outs = argv.out ?? [];
  // Real k6 takes any of its outputs (experimental-prometheus-rw, …); the Node engine writes json only.
  const jsonOut = engine === 'k6' ? undefined : parseOutputs(outs);
  const collector = argv.collect ? await startRunCollector(argv.resultsRoot) : undefined;
  if (collector) {
    env[COLLECTOR_URL_ENV] = collector.url;
    env[RUN_ID_ENV] = runId;
    process.stderr.write(`starling: collector in this process at ${collector.url} (run ${runId})\n`);
  }
  try {
    process.exitCode =
      engine === 'k6'
        ? await runWithK6(script, env, dir, runId, outs, withSystemEnv, argv.summaryMode)
        : await runWithNode(script, env, dir, runId, argv.quiet, {
            jsonOut,
            limits,
            systemEnv: withSystemEnv ? systemEnv() : undefined,
            allowSaturation: argv.allowSaturation,
            health: saturationRule(argv.saturationWindow),
            summaryMode,
          });
  } finally {
    // The collector writes merged.json and the interval logs as it closes: the report reads them.
    await collector?.close();
  }
  if (argv.report) await writeRunReport(dir);
}

/**
 * report.html in the run directory. Its module is imported only now: vega, which draws the charts, would cost every
 * start-up. A report that cannot be written is said, and leaves the run's exit code alone.
 */
export async function writeRunReport(dir: string): Promise<void> {
  try {
    const { writeReport } = await import('../report/html.ts');
    process.stderr.write(`starling: report: ${await writeReport(dir)}\n`);
  } catch (e) {
    process.stderr.write(
      `starling: report.html not written: ${maskUrlPasswords(e instanceof Error ? e.message : String(e))}\n`,
    );
  }
}

/** `--collect`'s collector, imported only then: its HDR library would cost every other run ~16 MB and 50 ms at start-up. */
async function startRunCollector(resultsRoot: string): Promise<Collector> {
  const { startCollector } = await import('../collector/server.ts');
  return startCollector({ port: 0, resultsRoot, autoFinishMs: 0 });
}

/** A `--max-…` limit: a size as the collector's --max-body takes it (1048576, 512KiB, 4MiB), up to 2 GiB − 1 B. */
export function parseByteLimit(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = parseByteSize(value, `--${flag}`);
  if (bytes > MAX_LIMIT_BYTES) {
    throw new RunInputError(`--${flag} ${value}: at most ${MAX_LIMIT_BYTES} bytes (2 GiB − 1)`);
  }
  return bytes;
}

/** `--saturation-window`: a duration of at least one sample (1 s). */
export function saturationRule(window: string | undefined): Partial<SaturationRule> | undefined {
  if (window === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(window);
  } catch {
    ms = Number.NaN;
  }
  if (!(ms >= 1000) || !Number.isFinite(ms))
    throw new RunInputError(`--saturation-window ${window}: a duration of at least 1s, e.g. 10s`);
  return { sustainMs: ms };
}

/** `--summary-mode`, else K6_SUMMARY_MODE, else compact; k6's error for any other value than its four. */
export function nodeSummaryMode(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): SummaryMode {
  try {
    return resolveSummaryMode(flag, env);
  } catch (e) {
    if (!(e instanceof InvalidSummaryModeError)) throw e;
    const from = flag !== undefined ? '--summary-mode' : 'K6_SUMMARY_MODE';
    throw new RunInputError(
      `${e.message}: ${from} ${JSON.stringify(e.value)} (compact, full, legacy or disabled)`,
    );
  }
}

/** `--out json=<file>` (k6's syntax); other k6 outputs exist only in real k6. */
function parseOutputs(outs: readonly string[]): string | undefined {
  let json: string | undefined;
  for (const o of outs) {
    const m = /^json=(.+)$/.exec(o);
    if (!m) {
      throw new RunInputError(
        `--out ${o}: the Node engine writes only json=<file>; other outputs need real k6 (--engine k6)`,
      );
    }
    json = m[1];
  }
  return json;
}

/** k6 reads the shell's environment itself (it inherits ours); only the explicit pairs go as -e. */
async function runWithK6(
  script: string,
  env: Record<string, string>,
  dir: string,
  runId: string,
  outs: readonly string[],
  withSystemEnv: boolean,
  summaryMode?: string,
): Promise<number> {
  const args = ['run', '--summary-export', join(dir, 'summary.json')];
  if (summaryMode !== undefined) args.push('--summary-mode', summaryMode);
  if (!withSystemEnv) args.push('--include-system-env-vars=false');
  for (const o of outs) args.push('--out', o);
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  args.push(script);
  // Required here, as run-target.ts's k6OnPath does: node:child_process (and the dgram it pulls in) is not needed
  // by Node-engine runs.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof ChildProcess;
  const exitCode = await new Promise<number>((resolve) => {
    const child = spawn('k6', args, { stdio: 'inherit' });
    child.on('close', (code) => resolve(code ?? EXIT.externalAbort));
  });
  await writeRunJson(dir, { runId, script, env, exitCode });
  return exitCode;
}

export async function runWithNode(
  script: string,
  env: Record<string, string>,
  dir: string,
  runId: string,
  quiet: boolean,
  /**
   * `print: false` writes the results without printing the summary (commands that report for themselves);
   * `jsonOut` writes every sample to that file as k6's `--out json` does; `systemEnv` goes to __ENV under `env`
   * (run.json records `env` only); `limits` are the engine's safety limits.
   */
  opts: {
    print?: boolean;
    jsonOut?: string;
    systemEnv?: Record<string, string>;
    limits?: Partial<EngineLimits>;
    /** A saturated generator does not turn a passing run into EXIT_GENERATOR_SATURATED. */
    allowSaturation?: boolean;
    /** The saturation rule over the default one (src/engine/health.ts). */
    health?: Partial<SaturationRule>;
    /** k6's `--summary-mode` (default compact); disabled also skips handleSummary() and the XMPP table. */
    summaryMode?: SummaryMode;
  } = {},
): Promise<number> {
  const print = opts.print ?? true;
  const summaryMode = opts.summaryMode ?? 'compact';
  const store = new MetricStore();
  // k6's summary output sees every sample: checks by name, and in full mode groups and scenarios.
  const summaryOut =
    print && (summaryMode === 'compact' || summaryMode === 'full')
      ? SummaryOutput.attach(store, summaryMode)
      : undefined;
  let finalResults: readonly ThresholdResult[] = [];
  if (print && summaryMode === 'legacy') {
    // k6 (internal/cmd/run.go) warns as the run starts.
    process.stderr.write(
      'starling: the "legacy" summary mode has been deprecated, and will be removed by k6 v2.0. Please, migrate to either "compact" or "full" as soon as possible.\n',
    );
  }
  const json = opts.jsonOut ? attachJsonOutput(store, opts.jsonOut) : undefined;
  const started = Date.now();
  let thresholds: ThresholdSet | undefined;
  const soft = new AbortController();
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    // 1st Ctrl+C: sessions wind down and close cleanly; 2nd: cut iterations as k6 does (teardown and summary
    // still run); 3rd: quit at once. Exit code 105 in every case.
    signals++;
    if (signals === 1) {
      process.stderr.write('\nstarling: stopping: closing sessions (Ctrl+C again to cut them)…\n');
      soft.abort();
    } else if (signals === 2) {
      process.stderr.write('\nstarling: cutting iterations (Ctrl+C again to quit at once)…\n');
      abort.abort();
    } else process.exit(EXIT.externalAbort);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tty = process.stderr.isTTY === true && !quiet;
  let data: SummaryData | undefined;
  let outcome: RunOutcome | undefined;
  let exitCode: number;
  let error: string | undefined;
  try {
    outcome = await runScript({
      scriptPath: script,
      env: { ...opts.systemEnv, ...env },
      quiet,
      metrics: store,
      signal: abort.signal,
      softStop: soft.signal,
      limits: opts.limits,
      health: opts.health,
      onOptions: (options) => {
        thresholds = ThresholdSet.create(options.thresholds ?? {}, store);
        addDefaultSubmetrics(store, options);
      },
      thresholdsCheck: () => ({
        abort: thresholds?.evaluate(store, Date.now() - started, false).abort ?? false,
      }),
      onProgress: tty ? (p) => process.stderr.write(`\r${progressLine(p, store)}`) : undefined,
      handleSummary: summaryMode !== 'disabled',
      buildSummaryData: (facts) => {
        const final = thresholds?.evaluate(store, facts.testRunDurationMs, true);
        finalResults = final?.results ?? [];
        data = buildSummaryData(store, finalResults, {
          options: facts.options,
          testRunDurationMs: facts.testRunDurationMs,
          setupData: facts.setupData,
          rootGroup: facts.rootGroup,
          isStdOutTTY: process.stdout.isTTY === true,
          isStdErrTTY: process.stderr.isTTY === true,
        });
        return data as unknown as Record<string, unknown>;
      },
    });
    if (tty) process.stderr.write('\n');
    await writeSummaryOutputs(outcome.summaryOutput, dir);
    if (data && summaryMode !== 'disabled') {
      if (print && (!outcome.hasHandleSummary || outcome.summaryError)) {
        const d = data;
        printDefaultSummary(summaryMode, d, () =>
          buildSummaryReport(store, summaryOut ?? new SummaryOutput(summaryMode), finalResults, {
            testRunDurationMs: d.state.testRunDurationMs,
            summaryTrendStats: d.options.summaryTrendStats,
          }),
        );
      }
      const table = print ? xmppTable(data, store) : undefined;
      if (table) process.stdout.write(`${table}\n`);
    }
    if (print && outcome.generator) process.stdout.write(`\n${generatorText(outcome.generator)}\n`);
    const crossed = crossedThresholds(data);
    // As k6: thresholds crossed at the end fail a run that had no other reason to fail.
    if (outcome.exitCode === EXIT.ok && crossed.length > 0) {
      exitCode = EXIT.thresholdsFailed;
      error = `thresholds on metrics '${crossed.join(', ')}' have been crossed`;
    } else if (outcome.exitCode === EXIT.ok && outcome.generator?.saturated && !opts.allowSaturation) {
      // A pass measured by a saturated generator is not a pass (README: Generator saturation).
      exitCode = EXIT_GENERATOR_SATURATED;
      error = `the generator was saturated: its latencies are not the server's (exit ${EXIT_GENERATOR_SATURATED}; --allow-saturation accepts the run)`;
    } else {
      exitCode = outcome.exitCode;
      error = outcome.scriptError;
    }
  } catch (e) {
    if (!(e instanceof ThresholdConfigError)) throw e;
    exitCode = e.exitCode;
    error = e.message;
  } finally {
    await json?.close();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  if (outcome?.generator?.verdict) process.stderr.write(`starling: ${outcome.generator.verdict}\n`);
  if (error !== undefined) process.stderr.write(`starling: ${maskUrlPasswords(error)}\n`);
  // A run that failed before its first iteration (init, options, setup) still leaves what it knows.
  data ??= buildSummaryData(store, [], {
    options: outcome?.options,
    testRunDurationMs: outcome ? outcome.endTime - outcome.startTime : 0,
    setupData: outcome?.setupData,
    isStdOutTTY: process.stdout.isTTY === true,
    isStdErrTTY: process.stderr.isTTY === true,
  });
  // setup_data is the script's own data, written as it is; `generator` and `xmpp` are starling's, beside k6's fields.
  const xmpp = xmppSummary(store);
  const written: SummaryData & { generator?: GeneratorHealth; xmpp?: XmppSummary } = {
    ...data,
    ...(outcome?.generator ? { generator: outcome.generator } : {}),
    ...(xmpp ? { xmpp } : {}),
  };
  await writeFile(join(dir, 'summary.json'), `${JSON.stringify(written, null, 2)}\n`);
  await writeRunJson(dir, { runId, script, env, exitCode, error });
  return exitCode;
}

/** The default end-of-test summary on stdout; one that cannot be rendered is logged, as k6 does. */
function printDefaultSummary(
  mode: SummaryMode,
  data: SummaryData,
  report: Parameters<typeof defaultSummaryText>[2],
): void {
  try {
    process.stdout.write(
      defaultSummaryText(mode, data, report, summaryColors(process.stdout.isTTY === true)),
    );
  } catch (e) {
    process.stderr.write(`starling: failed to handle the end-of-test summary: ${(e as Error).message}\n`);
  }
}

/** The metrics with a threshold that failed at the end of the test, as k6 names them. */
function crossedThresholds(data: SummaryData | undefined): string[] {
  return Object.entries(data?.metrics ?? {})
    .filter(([, m]) => Object.values(m.thresholds ?? {}).some((t) => !t.ok))
    .map(([name]) => name);
}

/** run.json: what ran, with which explicit variables (masked), how it ended and why (URL passwords masked). */
async function writeRunJson(
  dir: string,
  run: { runId: string; script: string; env: Record<string, string>; exitCode: number; error?: string },
): Promise<void> {
  const record = {
    runId: run.runId,
    script: run.script,
    env: redactEnv(run.env),
    exitCode: run.exitCode,
    ...(run.error !== undefined ? { error: maskUrlPasswords(run.error) } : {}),
  };
  await writeFile(join(dir, 'run.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * handleSummary() output as k6 writes it (internal/cmd/run.go handleSummaryResult): `stdout`/`stderr` printed, any
 * other key a file path opened for writing (created or truncated; no directories made), a relative one against the
 * working directory; a file that cannot be written is logged, and the run's exit code stays as it is. Which file
 * wins: the script's file wherever it points (k6 writes it there), except `<run dir>/summary.json`, which stays
 * starling's own summary because `starling report` and compare read it there; a script path that resolves to it
 * is refused with an error. Prints where each file went.
 */
export async function writeSummaryOutputs(
  out: Record<string, string | Uint8Array> | undefined,
  dir: string,
): Promise<void> {
  const own = resolve(dir, 'summary.json');
  const failed = (name: string, why: string): void => {
    process.stderr.write(
      `starling: failed to handle the end-of-test summary: could not open '${name}': ${why}\n`,
    );
  };
  let wrote = false;
  for (const [name, content] of Object.entries(out ?? {})) {
    if (name === 'stdout') process.stdout.write(content);
    else if (name === 'stderr') process.stderr.write(content);
    else {
      const path = resolve(name);
      if (path === own) {
        failed(name, "that is starling's own summary of this run");
        continue;
      }
      try {
        await writeFile(path, content);
        process.stderr.write(`starling: handleSummary() wrote ${path}\n`);
        wrote = true;
      } catch (e) {
        failed(name, (e as Error).message);
      }
    }
  }
  if (wrote) process.stderr.write(`starling: starling's own summary of the run is ${own}\n`);
}

function progressLine(p: RunProgress, store: MetricStore): string {
  const count = (name: string): number => {
    const m = store.get(name);
    return m && m.sink.type === 'counter' ? m.sink.value : 0;
  };
  const open = count(XMPP_COUNTERS.sessionsOpened) - count(XMPP_COUNTERS.sessionsClosed);
  const secs = Math.max(1, p.elapsedMs / 1000);
  return (
    `${(p.elapsedMs / 1000).toFixed(0).padStart(4)}s  VUs ${p.vus}/${p.vusMax}  sessions open ${open}  ` +
    `logins/s ${(count(XMPP_COUNTERS.sessionsOpened) / secs).toFixed(0)}  ` +
    `stanzas sent ${count(XMPP_COUNTERS.stanzasSent)}  failures ${count(XMPP_COUNTERS.sessionFailures)}   `
  );
}
