/**
 * `starling capacity <login-rate|sessions|messages>`: raise the load in steps until the SLO fails, refine between
 * the last pass and the first failure, and say who was the limit. See src/capacity/.
 */
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { evaluateGate, thresholdsFromFlags } from '../collector/gate.ts';
import { HDR_CONFIG } from '../contract/snapshot.ts';
import { MERGED_VERSION } from '../collector/summary.ts';
import { parseDuration } from '../engine/options.ts';
import { PLANS } from '../capacity/plan.ts';
import { runCapacity } from '../capacity/runner.ts';
import type { Dimension } from '../capacity/types.ts';
import { cpuList } from '../targets/cpus.ts';
import type { ServerKind } from '../targets/index.ts';
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { parseEnvPairs, resolveScript, RunInputError, utcStamp } from './run-target.ts';

interface CapacityArgs {
  dimension: Dimension;
  server: ServerKind;
  transport: 'websocket' | 'bosh';
  target?: string;
  domain: string;
  slo?: string[];
  start?: number;
  max?: number;
  fixed?: number;
  factor: number;
  resolution: number;
  step: string;
  warmup: string;
  generators: number;
  repeat: number;
  verify: boolean;
  verifyOver: number;
  loginRate: number;
  population: number;
  pingInterval: string;
  think: string;
  accounts?: number;
  freshServer: boolean;
  serverCpus?: string;
  env?: string[];
  resultsRoot: string;
}

const DIMENSIONS = ['login-rate', 'sessions', 'messages'] as const;
/** --verify: the search's figure and at most two loads below it. */
const VERIFY_TRIES = 3;

function seconds(flag: string, v: string): number {
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch {
    throw new RunInputError(`--${flag} ${v}: not a duration; use e.g. 20s, 1m`);
  }
  return ms / 1000;
}

function positive(flag: string, v: number | undefined, { whole = false, min = 0 } = {}): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v <= min || (whole && !Number.isInteger(v))) {
    throw new RunInputError(`--${flag} ${v}: give a ${whole ? 'whole ' : ''}number above ${min}`);
  }
}

/** Checks the SLO's grammar and metrics up front (the gate's own check), before any server starts. */
function checkSlo(slo: Record<string, string[]>): void {
  evaluateGate(
    {
      version: MERGED_VERSION,
      runId: 'slo-check',
      startMs: null,
      endMs: null,
      intervalMs: 1000,
      hdrConfig: HDR_CONFIG,
      histograms: [],
      counters: [],
      gauges: [],
    },
    slo,
  );
}

export const capacityCommand: CommandModule<object, CapacityArgs> = {
  builder: (y: Argv) =>
    y
      .positional('dimension', {
        choices: DIMENSIONS,
        demandOption: true,
        describe:
          'login-rate: logins started per second (open model); sessions: concurrent sessions held with pings; messages: messages/s across a fixed population',
      })
      .option('server', {
        choices: ['prosody', 'ejabberd'] as const,
        default: 'prosody' as ServerKind,
        describe: 'the throwaway local server to measure (ignored with --target)',
      })
      .option('transport', {
        choices: ['websocket', 'bosh'] as const,
        default: 'websocket' as const,
        describe: "the local server's endpoint to load (a --target's own scheme decides for it)",
      })
      .option('target', {
        type: 'string',
        describe:
          "your server's ws(s):// (or http(s):// BOSH) endpoint; accounts from -e XMPP_USER_PATTERN etc.",
      })
      .option('domain', { type: 'string', default: 'localhost', describe: 'XMPP domain of --target' })
      .option('slo', {
        type: 'string',
        array: true,
        describe:
          "SLO terms as k6 thresholds, 'metric: expr' (repeatable), e.g. 'xmpp_session_ready: p(99)<1000'; default per dimension (see README)",
      })
      .option('start', {
        type: 'number',
        describe: 'first load (default: login-rate 20, sessions 500, messages 50)',
      })
      .option('max', {
        type: 'number',
        describe: 'highest load tried (default: login-rate 2000, sessions 50000, messages 20000)',
      })
      .option('fixed', {
        type: 'number',
        describe:
          'one step at exactly this load, no search: exit 0 when it meets the SLO, 99 when not (to check a capacity, e.g. at 1.0× and 1.3×)',
      })
      .option('factor', {
        type: 'number',
        default: 2,
        describe: 'coarse ramp: each step × this until one fails',
      })
      .option('resolution', {
        type: 'number',
        default: 0.1,
        describe: 'refine until (first failure − last pass) ÷ last pass ≤ this',
      })
      .option('step', {
        type: 'string',
        default: '20s',
        describe: 'how long each step holds its load (sessions: the hold after logging in)',
      })
      .option('warmup', {
        type: 'string',
        default: '5s',
        describe: "left out of each step's latency window (rates and counts include it)",
      })
      .option('generators', { type: 'number', default: 1, describe: 'generator processes per step' })
      .option('repeat', {
        type: 'number',
        default: 1,
        describe: 'run the whole search this many times (spread)',
      })
      .option('verify', {
        type: 'boolean',
        default: false,
        describe:
          'after the search, run its figure (the median over repeats) again on its own; when it fails, the next load down (÷ 1 + resolution, 3 loads at most); then --verify-over × the one that passed, which should fail (exit 123 when none passed)',
      })
      .option('verify-over', {
        type: 'number',
        default: 1.3,
        describe: '--verify: the load above the verified capacity to check, as a factor of it',
      })
      .option('login-rate', {
        type: 'number',
        default: 100,
        describe: 'sessions, messages: logins started per second while the population logs in',
      })
      .option('population', { type: 'number', default: 100, describe: 'messages: sessions sending' })
      .option('ping-interval', {
        type: 'string',
        default: '10s',
        describe: 'sessions: ping period per session',
      })
      .option('think', {
        type: 'string',
        default: '1s',
        describe: 'login-rate: how long a user stays logged in',
      })
      .option('accounts', {
        type: 'number',
        describe: 'accounts to use (a pool: sessions share them beyond it); default per dimension',
      })
      .option('fresh-server', {
        type: 'boolean',
        default: true,
        describe:
          'restart the local server before every step, so none inherits what an overloaded one left behind (--no-fresh-server: one server, each step waits for it to settle)',
      })
      .option('server-cpus', {
        type: 'string',
        describe:
          "pin the local server to these CPUs (taskset -c list, e.g. 1) so it cannot take the generators' cores; its CPU-bound test then counts only these (the generators are not pinned)",
      })
      .option('env', { alias: 'e', type: 'string', array: true, describe: 'extra KEY=VALUE for __ENV' })
      .option('results-root', { type: 'string', default: 'results' }) as unknown as Argv<CapacityArgs>,
  handler: async (argv) => {
    const plan = PLANS[argv.dimension];
    positive('factor', argv.factor, { min: 1 });
    positive('resolution', argv.resolution);
    positive('generators', argv.generators, { whole: true });
    positive('repeat', argv.repeat, { whole: true });
    positive('start', argv.start);
    positive('max', argv.max);
    positive('fixed', argv.fixed);
    if (argv.fixed !== undefined && (argv.start !== undefined || argv.max !== undefined)) {
      throw new RunInputError('--fixed runs one step at that load: drop --start and --max');
    }
    if (argv.fixed !== undefined && argv.verify) {
      throw new RunInputError('--verify checks what a search found: drop it with --fixed (or drop --fixed)');
    }
    positive('verify-over', argv.verifyOver, { min: 1 });
    positive('login-rate', argv.loginRate);
    positive('population', argv.population, { whole: true, min: 1 });
    positive('accounts', argv.accounts, { whole: true });
    const start = argv.fixed ?? argv.start ?? plan.defaults.start;
    const max = argv.fixed ?? argv.max ?? Math.max(start, plan.defaults.max);
    if (max < start) throw new RunInputError(`--max ${max} is below --start ${start}`);
    const settings = {
      stepSeconds: seconds('step', argv.step),
      warmupSeconds: seconds('warmup', argv.warmup),
      loginRate: argv.loginRate,
      population: argv.population,
      pingSeconds: seconds('ping-interval', argv.pingInterval),
      thinkSeconds: seconds('think', argv.think),
    };
    if (settings.warmupSeconds + 2 > settings.stepSeconds) {
      throw new RunInputError(
        `--warmup ${argv.warmup} leaves less than 2 s of --step ${argv.step} to measure: lengthen --step or shorten --warmup`,
      );
    }
    if (argv.serverCpus !== undefined) {
      if (argv.target) throw new RunInputError('--server-cpus pins the local server: drop it with --target');
      try {
        cpuList(argv.serverCpus);
      } catch (e) {
        throw new RunInputError(`--server-cpus: ${(e as Error).message}`);
      }
    }
    if (argv.dimension === 'messages' && argv.population < 2 * argv.generators) {
      throw new RunInputError(`--population ${argv.population}: give at least 2 sessions per generator`);
    }
    const slo = argv.slo && argv.slo.length > 0 ? thresholdsFromFlags(argv.slo) : plan.defaults.slo;
    checkSlo(slo);
    const script = await resolveScript(plan.scenario);
    const dir = join(argv.resultsRoot, `${utcStamp()}-capacity-${argv.dimension}`);
    const { report, exitCode } = await runCapacity({
      dimension: argv.dimension,
      script,
      server: argv.server,
      transport: argv.transport,
      ...(argv.target ? { target: { url: argv.target, domain: argv.domain } } : {}),
      start,
      max,
      factor: argv.factor,
      resolution: argv.resolution,
      ...(argv.fixed !== undefined ? { maxStepsDown: 0 } : {}),
      generators: argv.generators,
      repeats: argv.repeat,
      ...(argv.verify ? { verify: { tries: VERIFY_TRIES, overFactor: argv.verifyOver } } : {}),
      slo,
      settings,
      accounts: argv.accounts ?? plan.accounts(max, settings),
      freshServer: argv.freshServer,
      ...(argv.serverCpus !== undefined ? { serverCpus: argv.serverCpus } : {}),
      env: parseEnvPairs(argv.env),
      dir,
      log: (line) => process.stderr.write(`${maskUrlPasswords(line)}\n`),
      out: (line) => process.stdout.write(`${line}\n`),
      // Imported only when the search ends with steps to show, as before: the page's module loads on demand.
      renderPage: async (report, dir) => (await import('../report/html.ts')).capacityReportHtml(report, dir),
    });
    if (argv.fixed !== undefined) {
      const steps = report.repeats.flatMap((r) => r.steps);
      const met = steps.length > 0 && steps.every((s) => s.pass);
      process.stdout.write(
        `\nfixed load ${argv.fixed} ${report.unit}: the SLO was ${met ? 'met' : 'NOT met'} in ${steps.length} step(s)\n`,
      );
    }
    process.stderr.write(
      `starling: results in ${dir} (capacity.json, capacity.svg, one directory per step)\n`,
    );
    process.exitCode = exitCode;
  },
};
