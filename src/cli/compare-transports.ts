/**
 * `starling compare-transports`: the transport-compare flow over WebSocket and over BOSH against the same
 * server, each as a baseline run (no messages) and a full run, then one side-by-side table, compare.json and
 * report.html (the comparison and each run).
 * A local server is started fresh for each transport, so neither inherits the other's memory or warm caches.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import {
  compareTransport,
  formatComparison,
  type ComparisonReport,
  type MeasuredRun,
  type RunSummary,
  type ServerUsage,
  type Transport,
} from '../report/compare-transports.ts';
import { startLocalServer, type LocalServer, type ServerKind } from '../targets/index.ts';
import { processGroupUsage } from '../targets/processes.ts';
import { newResultsDir, parseEnvPairs, resolveScript, RunInputError } from './run-target.ts';
import { runWithNode, writeRunReport } from './run.ts';

interface CompareArgs {
  server: ServerKind;
  sessions: number;
  messages: number;
  messageRate: number;
  loginRate: number;
  sessionsPerVu: number;
  websocketUrl?: string;
  boshUrl?: string;
  domain: string;
  resultsRoot: string;
  env?: string[];
}

const TRANSPORTS: readonly Transport[] = ['websocket', 'bosh'];

export const compareTransportsCommand: CommandModule<object, CompareArgs> = {
  builder: (y: Argv) =>
    y
      .option('server', {
        choices: ['prosody', 'ejabberd'] as const,
        default: 'prosody' as ServerKind,
        describe: 'local server to start (ignored with --websocket-url/--bosh-url)',
      })
      .option('sessions', { type: 'number', default: 1000, describe: 'sessions per transport' })
      .option('messages', { type: 'number', default: 10, describe: 'messages each session sends' })
      .option('message-rate', { type: 'number', default: 1, describe: 'messages per second per session' })
      .option('login-rate', { type: 'number', default: 200, describe: 'logins started per second' })
      .option('sessions-per-vu', { type: 'number', default: 50 })
      .option('websocket-url', { type: 'string', describe: 'an existing server: its WebSocket endpoint' })
      .option('bosh-url', { type: 'string', describe: 'an existing server: its BOSH endpoint' })
      .option('domain', {
        type: 'string',
        default: 'localhost',
        describe: 'XMPP domain of an existing server',
      })
      .option('results-root', { type: 'string', default: 'results' })
      .option('env', {
        alias: 'e',
        type: 'string',
        array: true,
        describe: 'extra KEY=VALUE for __ENV (accounts, BOSH_WAIT, …)',
      }) as unknown as Argv<CompareArgs>,
  handler: async (argv) => {
    if (!Number.isInteger(argv.sessions) || argv.sessions < 2) {
      throw new RunInputError(`--sessions ${argv.sessions}: give at least 2 (sessions message each other)`);
    }
    if ((argv.websocketUrl === undefined) !== (argv.boshUrl === undefined)) {
      throw new RunInputError('give both --websocket-url and --bosh-url for an existing server, or neither');
    }
    const script = await resolveScript('transport-compare');
    const { runId, dir } = await newResultsDir(script, argv.resultsRoot);
    const perVu = Math.min(argv.sessionsPerVu, argv.sessions);
    const vus = Math.ceil(argv.sessions / perVu);
    const sessions = vus * perVu;
    const extra = parseEnvPairs(argv.env);
    const report: ComparisonReport = {
      generatedAt: new Date().toISOString(),
      server: argv.websocketUrl ? `${argv.domain} (existing server)` : `local ${argv.server}`,
      flow: {
        sessions,
        messagesPerSession: argv.messages,
        messageRatePerSession: argv.messageRate,
        loginRate: argv.loginRate,
      },
      notes: [
        'wire bytes are TCP payload counted by the engine (HTTP headers and WebSocket framing included)',
        "per-message figures are (full run − baseline run) ÷ messages delivered; per-session ones are the baseline's; – where the difference is not above zero (too few messages to resolve)",
        `BOSH wait ${extra.BOSH_WAIT ?? '30'} s, order gap ${extra.BOSH_ORDER_GAP ?? 'auto (20 ms for ejabberd-family connection managers, else 0)'}`,
      ],
      transports: [],
    };
    let worst = 0;
    for (const transport of TRANSPORTS) {
      const local = argv.websocketUrl
        ? undefined
        : await startLocalServer({ kind: argv.server, users: sessions });
      try {
        const url = local
          ? transport === 'bosh'
            ? local.boshUrl
            : local.websocketUrl
          : transport === 'bosh'
            ? argv.boshUrl!
            : argv.websocketUrl!;
        const env: Record<string, string> = {
          XMPP_URL: url,
          XMPP_TRANSPORT: transport,
          XMPP_DOMAIN: local?.domain ?? argv.domain,
          VUS: String(vus),
          SESSIONS_PER_VU: String(perVu),
          MESSAGE_RATE: String(argv.messageRate),
          LOGIN_RATE: String(argv.loginRate),
          DURATION: `${Math.ceil(argv.messages / argv.messageRate) + 5}s`,
          ...extra,
        };
        const runs: MeasuredRun[] = [];
        for (const phase of ['baseline', 'full'] as const) {
          process.stderr.write(`starling: ${transport} ${phase} run, ${sessions} sessions…\n`);
          const runDir = join(dir, `${transport}-${phase}`);
          await mkdir(runDir, { recursive: true });
          const run = await measuredRun(
            script,
            { ...env, MESSAGES: phase === 'baseline' ? '0' : String(argv.messages) },
            runDir,
            `${runId}/${transport}-${phase}`,
            local,
          );
          worst = Math.max(worst, run.exitCode);
          runs.push(run);
        }
        report.transports.push(
          compareTransport(
            { transport, url, sessions, messageRatePerSession: argv.messageRate },
            runs[0]!,
            runs[1]!,
          ),
        );
      } finally {
        await local?.stop();
      }
    }
    await writeFile(join(dir, 'compare.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${formatComparison(report)}\n`);
    await writeRunReport(dir);
    process.stderr.write(`starling: results in ${dir} (compare.json, report.html, one directory per run)\n`);
    process.exitCode = worst;
  },
};

/** One run through the Node engine with the generator's CPU and, for a local server, its CPU and peak RSS. */
async function measuredRun(
  script: string,
  env: Record<string, string>,
  dir: string,
  runId: string,
  server: LocalServer | undefined,
): Promise<MeasuredRun> {
  const before = server ? processGroupUsage(server.pid) : undefined;
  let peak = before?.rssKiB ?? 0;
  // VmHWM is the peak since the server started (it includes the runs before this one): sample RSS instead.
  const sampler = server
    ? setInterval(() => (peak = Math.max(peak, processGroupUsage(server.pid).rssKiB)), 200)
    : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let exitCode: number;
  try {
    exitCode = await runWithNode(script, env, dir, runId, true, { print: false });
  } finally {
    if (sampler) clearInterval(sampler);
  }
  const cpu = process.cpuUsage(cpu0);
  const after = server ? processGroupUsage(server.pid) : undefined;
  const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as RunSummary;
  let usage: ServerUsage | undefined;
  if (before && after) {
    usage = {
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      peakRssKiB: Math.max(peak, after.rssKiB),
      idleRssKiB: before.rssKiB,
    };
  }
  return {
    summary,
    exitCode,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: (Date.now() - t0) / 1000,
    server: usage,
  };
}
