import type { CommandModule } from 'yargs';
import { SCENARIO_OUT_DIR } from '../build/scenarios.ts';

/** A top-level `starling` command: named and described here, its options and work in its own module. */
export interface StarlingCommand {
  /** As yargs reads it: the name, then any positionals (`run <scenario>`). */
  command: string;
  describe: string;
  /** The command's module, imported only when it is the command being run (start-up loads nothing else). */
  load: () => Promise<CommandModule>;
}

/**
 * Every top-level `starling` command. Add new ones here; main.ts only wires this list into yargs. A command with
 * subcommands types its own argv in them (see server.ts) and exports a plain CommandModule.
 */
export const commands: readonly StarlingCommand[] = [
  {
    command: 'build',
    describe: `Compile scenarios/*.ts into k6 scripts in ${SCENARIO_OUT_DIR}/`,
    load: async () => (await import('./build.ts')).buildCommand as CommandModule,
  },
  {
    command: 'server',
    describe: 'Throwaway local Prosody/ejabberd servers for demos, tests and CI',
    load: async () => (await import('./server.ts')).serverCommand,
  },
  {
    command: 'probe',
    describe:
      'Log N sessions in over WebSocket or BOSH, send one message each, close cleanly, print latencies (a throwaway local server unless --target)',
    load: async () => (await import('./probe.ts')).probeCommand as CommandModule,
  },
  {
    command: 'run <scenario>',
    describe:
      'Run a scenario (login, chat, presence, idle, or a .ts/.js k6 script) with k6 or the Node engine',
    load: async () => (await import('./run.ts')).runCommand as CommandModule,
  },
  {
    command: 'demo',
    describe: 'Start a local Prosody, run the chat scenario through the Node engine, print the summary, stop',
    load: async () => (await import('./demo.ts')).demoCommand as CommandModule,
  },
  {
    command: 'compare-transports',
    describe:
      'Run the same flow (login, presence, N messages per session, close) over WebSocket and BOSH; compare them',
    load: async () => (await import('./compare-transports.ts')).compareTransportsCommand as CommandModule,
  },
  {
    command: 'capacity <dimension>',
    describe:
      'Find the highest load (login-rate, sessions or messages) a server holds at an SLO, step by step, and who was the limit',
    load: async () => (await import('./capacity.ts')).capacityCommand as CommandModule,
  },
  {
    command: 'collect',
    describe:
      'Merge HDR snapshots from every generator; serve Prometheus /metrics; write results/<run-id>/ (HDR logs, collector-summary.json, merged.json)',
    load: async () => (await import('./collect.ts')).collectCommand as CommandModule,
  },
  {
    command: 'gate <runDir>',
    describe:
      "Evaluate k6 thresholds on a run's fleet-wide merged histograms (results/<run-id>), and with --baseline compare it with earlier runs; exit 0, or 99",
    load: async () => (await import('./gate.ts')).gateCommand as CommandModule,
  },
  {
    command: 'compare <a> <b>',
    describe:
      'Two runs of the same scenario side by side (merged percentiles, rates, counts; b against a); with --max-regression, exit 99 when b regressed',
    load: async () => (await import('./compare.ts')).compareCommand as CommandModule,
  },
  {
    command: 'report <runDir>',
    describe:
      'Write report.html for a results directory (a run, compare-transports or capacity): one self-contained page with tables and charts',
    load: async () => (await import('./report.ts')).reportCommand as CommandModule,
  },
];

/** The command `args` (the CLI's arguments) names: the first that is not an option (the top level has no valued options). */
export function chosenCommand(args: readonly string[]): StarlingCommand | undefined {
  const name = args.find((a) => !a.startsWith('-'));
  return commands.find((c) => c.command.split(' ')[0] === name);
}
