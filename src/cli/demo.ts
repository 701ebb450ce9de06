/**
 * `starling demo` (npm run demo): a throwaway Prosody, the chat scenario at 2,000 sessions on the Node engine.
 *
 * The load is sized to leave the server a margin on a 2-core machine that also runs the generator: Prosody is
 * single-threaded, and a SCRAM login (with its close) costs it about 4.5 ms of CPU here, so 200 logins/s alone
 * would hold its one core at ~90 % and queue the handshakes (the demo used to fail its own thresholds 3 runs in 4).
 * At 80 logins/s and 0.2 messages/s per session it stays below half a core; the demo measures and prints how far
 * below, so the margin is a figure from this run, not a promise.
 */
import type { Argv, CommandModule } from 'yargs';
import { startLocalServer } from '../targets/index.ts';
import { processGroupUsage } from '../targets/processes.ts';
import { newResultsDir, resolveScript } from './run-target.ts';
import { runWithNode, writeRunReport } from './run.ts';

interface DemoArgs {
  sessions: number;
  duration: string;
  'login-rate': number;
}

/** A few VUs with many sessions each: one JS context per VU is the engine's largest fixed cost. */
const VUS = 4;
const MESSAGE_RATE = 0.2;
/** Window over which the server's busiest CPU share is reported. */
const WINDOW_S = 5;

export const demoCommand: CommandModule<object, DemoArgs> = {
  builder: (y: Argv) =>
    y
      .option('sessions', {
        type: 'number',
        default: 2000,
        describe: `sessions (a multiple of ${VUS})`,
      })
      .option('duration', {
        type: 'string',
        default: '20s',
        describe: 'chat time once logged in',
      })
      .option('login-rate', {
        type: 'number',
        default: 80,
        describe: 'logins started per second',
      }) as Argv<DemoArgs>,
  handler: async (argv) => {
    if (!(argv.sessions >= VUS) || argv.sessions % VUS !== 0) {
      throw new Error(`--sessions ${argv.sessions} must be a multiple of ${VUS} (the demo's VUs)`);
    }
    if (!(argv['login-rate'] > 0)) throw new Error(`--login-rate must be positive, e.g. 80`);
    const perVu = argv.sessions / VUS;
    const server = await startLocalServer({ kind: 'prosody', users: argv.sessions });
    process.stderr.write(`starling demo: Prosody at ${server.websocketUrl} with ${server.users} accounts\n`);
    const cpu = serverCpuWindows(server.pid);
    try {
      const script = await resolveScript('chat');
      const { runId, dir } = await newResultsDir(script);
      const env = {
        XMPP_URL: server.websocketUrl,
        XMPP_DOMAIN: server.domain,
        VUS: String(VUS),
        SESSIONS_PER_VU: String(perVu),
        DURATION: argv.duration,
        MESSAGE_RATE: String(MESSAGE_RATE),
        LOGIN_RATE: String(argv['login-rate']),
      };
      process.exitCode = await runWithNode(script, env, dir, runId, false);
      const { total, busiest } = cpu.stop();
      process.stderr.write(
        `starling demo: Prosody used ${total.toFixed(1)} s of CPU; its busiest ${WINDOW_S} s ran at ` +
          `${(100 * busiest).toFixed(0)} % of the one core it can use` +
          (busiest > 0 ? ` (load ${(1 / busiest).toFixed(1)}× below that limit)\n` : '\n'),
      );
      await writeRunReport(dir);
      process.stderr.write(`starling demo: results in ${dir}\n`);
    } finally {
      cpu.stop();
      await server.stop();
    }
  },
};

/** Samples the server's CPU seconds every second; stop() gives the total and the busiest WINDOW_S-second share. */
function serverCpuWindows(pid: number): { stop(): { total: number; busiest: number } } {
  const samples: number[] = [processGroupUsage(pid).cpuSeconds];
  const timer = setInterval(() => samples.push(processGroupUsage(pid).cpuSeconds), 1000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      let busiest = 0;
      for (let i = WINDOW_S; i < samples.length; i++) {
        busiest = Math.max(busiest, (samples[i]! - samples[i - WINDOW_S]!) / WINDOW_S);
      }
      return { total: samples[samples.length - 1]! - samples[0]!, busiest };
    },
  };
}
