import type { Argv, CommandModule } from 'yargs';
import { runProbe } from '../node/probe.ts';
import { formatProbe, probePassed } from '../report/probe.ts';
import {
  accountFor,
  DEFAULT_DOMAIN,
  DEFAULT_PASSWORD_PATTERN,
  DEFAULT_USER_PATTERN,
  SERVER_KINDS,
  startLocalServer,
  type LocalServer,
  type ServerKind,
} from '../targets/index.ts';

interface ProbeArgs {
  target?: string;
  kind: ServerKind;
  domain?: string;
  userPattern?: string;
  passwordPattern?: string;
  sessions: number;
  mechanism?: string[];
  transcript: boolean;
  json: boolean;
}

/** Exit code when any session failed, a message was lost or a close was not clean. */
export const PROBE_FAILED_EXIT = 2;

export const probeCommand: CommandModule<object, ProbeArgs> = {
  command: 'probe',
  describe:
    'Log N sessions in over WebSocket, send one message each, close cleanly, print latencies (a throwaway local server unless --target)',
  builder: (y: Argv) =>
    y
      .option('target', {
        type: 'string',
        describe: 'ws:// or wss:// endpoint of your server (default: start a local one)',
      })
      .option('kind', {
        choices: SERVER_KINDS,
        default: 'prosody' as ServerKind,
        describe: 'local server to start',
      })
      .option('domain', { type: 'string', describe: `XMPP domain (default ${DEFAULT_DOMAIN})` })
      .option('user-pattern', {
        type: 'string',
        describe: `account names, {n} = 1..sessions (default ${DEFAULT_USER_PATTERN})`,
      })
      .option('password-pattern', {
        type: 'string',
        describe: `passwords (default ${DEFAULT_PASSWORD_PATTERN})`,
      })
      .option('sessions', { type: 'number', default: 100, describe: 'concurrent sessions' })
      .option('mechanism', {
        type: 'string',
        array: true,
        describe: 'allowed SASL mechanisms, preferred first',
      })
      .option('transcript', {
        type: 'boolean',
        default: false,
        describe: "print session 1's frames (credentials redacted)",
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print the result as JSON',
      }) as Argv<ProbeArgs>,
  handler: async (argv) => {
    let local: LocalServer | undefined;
    try {
      if (!argv.target) {
        local = await startLocalServer({
          kind: argv.kind,
          users: argv.sessions,
          domain: argv.domain,
          userPattern: argv.userPattern,
          passwordPattern: argv.passwordPattern,
        });
        process.stderr.write(
          `started ${local.kind} at ${local.websocketUrl} in ${(local.readyMs / 1000).toFixed(1)} s\n`,
        );
      }
      const domain = local?.domain ?? argv.domain ?? DEFAULT_DOMAIN;
      const userPattern = argv.userPattern ?? DEFAULT_USER_PATTERN;
      const passwordPattern = argv.passwordPattern ?? DEFAULT_PASSWORD_PATTERN;
      const result = await runProbe({
        url: local?.websocketUrl ?? argv.target!,
        domain,
        account: (n) => accountFor(n, userPattern, passwordPattern, domain),
        sessions: argv.sessions,
        mechanisms: argv.mechanism,
      });
      process.stdout.write(
        `${argv.json ? JSON.stringify(result, null, 2) : formatProbe(result, argv.transcript)}\n`,
      );
      if (!probePassed(result)) process.exitCode = PROBE_FAILED_EXIT;
    } finally {
      await local?.stop();
    }
  },
};
