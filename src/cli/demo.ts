/** `starling demo` (npm run demo): a throwaway Prosody, the chat scenario at 2,000 sessions on the Node engine. */
import type { Argv, CommandModule } from 'yargs';
import { startLocalServer } from '../targets/index.ts';
import { newResultsDir, resolveScript } from './run-target.ts';
import { runWithNode } from './run.ts';

interface DemoArgs {
  sessions: number;
  duration: string;
}

const SESSIONS_PER_VU = 20;

export const demoCommand: CommandModule<object, DemoArgs> = {
  builder: (y: Argv) =>
    y
      .option('sessions', {
        type: 'number',
        default: 2000,
        describe: `sessions (multiple of ${SESSIONS_PER_VU})`,
      })
      .option('duration', {
        type: 'string',
        default: '20s',
        describe: 'chat time once logged in',
      }) as Argv<DemoArgs>,
  handler: async (argv) => {
    const vus = Math.max(1, Math.ceil(argv.sessions / SESSIONS_PER_VU));
    const server = await startLocalServer({ kind: 'prosody', users: vus * SESSIONS_PER_VU });
    process.stderr.write(`starling demo: Prosody at ${server.websocketUrl} with ${server.users} accounts\n`);
    try {
      const script = await resolveScript('chat');
      const { runId, dir } = await newResultsDir(script);
      const env = {
        XMPP_URL: server.websocketUrl,
        XMPP_DOMAIN: server.domain,
        VUS: String(vus),
        SESSIONS_PER_VU: String(SESSIONS_PER_VU),
        DURATION: argv.duration,
        MESSAGE_RATE: '0.5',
        LOGIN_RATE: '200',
      };
      process.exitCode = await runWithNode(script, env, dir, runId, false);
      process.stderr.write(`starling demo: results in ${dir}\n`);
    } finally {
      await server.stop();
    }
  },
};
