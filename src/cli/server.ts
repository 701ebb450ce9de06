import type { Argv, CommandModule } from 'yargs';
import {
  attachLocalServer,
  isLocalServerRunning,
  SERVER_KINDS,
  startLocalServer,
  type LocalServerRecord,
  type ServerKind,
  type ServerLogLevel,
} from '../targets/index.ts';
import { readServerState, STATE_FILE, writeServerState } from './server-state.ts';

export interface ServerUpOptions {
  kind: ServerKind;
  users: number;
  domain?: string;
  userPattern?: string;
  passwordPattern?: string;
  dir?: string;
  keepDir?: boolean;
  logLevel?: ServerLogLevel;
  timeoutSeconds?: number;
  stateFile?: string;
  /** https/wss with a certificate from a throwaway CA (Prosody only). */
  tls?: boolean;
}

export interface ServerDownOptions {
  kind?: ServerKind;
  stateFile?: string;
}

/** Starts a server that outlives this process and records it in the state file. */
export async function serverUp(options: ServerUpOptions): Promise<LocalServerRecord> {
  const stateFile = options.stateFile ?? STATE_FILE;
  // Ctrl-C while provisioning: exit normally so the exit guard kills the half-started server.
  const onInterrupt = (): never => process.exit(130);
  process.once('SIGINT', onInterrupt);
  try {
    const server = await startLocalServer({
      kind: options.kind,
      users: options.users,
      domain: options.domain,
      userPattern: options.userPattern,
      passwordPattern: options.passwordPattern,
      dir: options.dir,
      keepDir: options.keepDir,
      logLevel: options.logLevel,
      startTimeoutMs: options.timeoutSeconds === undefined ? undefined : options.timeoutSeconds * 1000,
      persist: true,
      tls: options.tls,
    });
    const record = server.toRecord();
    const recorded = await readServerState(stateFile);
    // Servers that died since they were recorded: drop them, and their directories with them.
    for (const stale of recorded.filter((r) => !isLocalServerRunning(r))) {
      await attachLocalServer(stale)
        .stop()
        .catch(() => undefined);
    }
    await writeServerState(stateFile, [...recorded.filter(isLocalServerRunning), record]);
    return record;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

/** Stops every recorded server (or those of one kind) and checks none of their processes is left. */
export async function serverDown(options: ServerDownOptions): Promise<LocalServerRecord[]> {
  const stateFile = options.stateFile ?? STATE_FILE;
  const recorded = await readServerState(stateFile);
  const selected = recorded.filter((r) => options.kind === undefined || r.kind === options.kind);
  const stopped: LocalServerRecord[] = [];
  const remaining = recorded.filter((r) => !selected.includes(r));
  try {
    for (const record of selected) {
      await attachLocalServer(record).stop();
      stopped.push(record);
    }
  } finally {
    const notStopped = selected.filter((r) => !stopped.includes(r));
    await writeServerState(stateFile, [...remaining, ...notStopped]);
  }
  return stopped;
}

export function formatServerUp(record: LocalServerRecord): string {
  const accounts =
    record.users === 0
      ? 'none'
      : `${record.userPattern}@${record.domain} / ${record.passwordPattern}, n = 1..${record.users}`;
  return [
    `${record.kind} ready in ${(record.readyMs / 1000).toFixed(1)} s`,
    `  WebSocket  ${record.websocketUrl}`,
    `  BOSH       ${record.boshUrl}`,
    `  domain     ${record.domain}`,
    `  accounts   ${accounts}`,
    `  c2s        127.0.0.1:${record.c2sPort} (plain TCP, no TLS)`,
    `  pid        ${record.pid}`,
    `  log        ${record.logFile}`,
    ...(record.caFile
      ? [
          `  TLS CA     ${record.caFile} (throwaway; the certificate names 127.0.0.1 and localhost)`,
          `Trust it with: starling run <scenario> --ca-file ${record.caFile} --target ${record.websocketUrl}`,
          `  (real k6, curl and Go tools: SSL_CERT_FILE=${record.caFile})`,
        ]
      : []),
    `Stop it with: starling server down${record.kind === 'prosody' ? '' : ` --kind ${record.kind}`}`,
  ].join('\n');
}

export function formatServerDown(stopped: LocalServerRecord[], stateFile: string): string {
  if (stopped.length === 0) return `no running servers recorded in ${stateFile}`;
  return stopped
    .map((record) => {
      const epmd = record.kind === 'ejabberd' ? ', no epmd (it ran without one)' : '';
      const dir = record.keepDir ? `kept ${record.dir}` : `removed ${record.dir}`;
      return `stopped ${record.kind} (pid ${record.pid}): no process left${epmd}; ${dir}`;
    })
    .join('\n');
}

const kindOption = { choices: SERVER_KINDS, describe: 'which server' } as const;

const upCommand: CommandModule<object, ServerUpOptions & { json: boolean }> = {
  command: 'up',
  describe: 'Start a throwaway local XMPP server on 127.0.0.1 with provisioned accounts',
  builder: (y: Argv) =>
    y
      .option('kind', { ...kindOption, default: 'prosody' as ServerKind })
      .option('users', { type: 'number', default: 100, describe: 'accounts to provision, numbered 1..N' })
      .option('domain', { type: 'string', describe: 'XMPP domain (default localhost)' })
      .option('user-pattern', {
        type: 'string',
        describe: 'account names; {n} is the number (default user{n})',
      })
      .option('password-pattern', {
        type: 'string',
        describe: 'passwords; {n} is the number (default pass{n})',
      })
      .option('dir', { type: 'string', describe: 'server directory (default: a fresh temp dir)' })
      .option('keep-dir', {
        type: 'boolean',
        describe: 'keep the directory after down (default: only when --dir is given)',
      })
      .option('log-level', {
        choices: ['debug', 'info', 'warn', 'error'] as const,
        describe: 'server log level',
      })
      .option('timeout-seconds', { type: 'number', describe: 'how long to wait for the server (default 60)' })
      .option('tls', {
        type: 'boolean',
        default: false,
        describe:
          'serve wss:// and https:// BOSH with a certificate from a throwaway CA (prosody only); prints the CA file to trust',
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print the server record as JSON',
      }) as Argv<ServerUpOptions & { json: boolean }>,
  handler: async (argv) => {
    const record = await serverUp(argv);
    process.stdout.write(`${argv.json ? JSON.stringify(record, null, 2) : formatServerUp(record)}\n`);
  },
};

const downCommand: CommandModule<object, ServerDownOptions> = {
  command: 'down',
  describe: 'Stop the servers started by `server up` in this directory',
  builder: (y: Argv) => y.option('kind', kindOption) as Argv<ServerDownOptions>,
  handler: async (argv) => {
    const stopped = await serverDown(argv);
    process.stdout.write(`${formatServerDown(stopped, STATE_FILE)}\n`);
  },
};

export const serverCommand: CommandModule = {
  builder: (y: Argv) =>
    y.command(upCommand).command(downCommand).demandCommand(1, 'Use `server up` or `server down`.'),
  handler: () => {},
};
