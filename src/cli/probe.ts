import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import {
  discoverEndpoint,
  PROBE_TRANSPORTS,
  ProbeInputError,
  probeTransport,
  runProbe,
  type ProbeTls,
  type ProbeTransport,
} from '../node/probe.ts';
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
import { discoveryDomain, domainWithoutPort, isDiscoveryTarget } from '../xmpp/discovery.ts';
import { checkCaFile } from './run-target.ts';

interface ProbeArgs {
  target?: string;
  kind: ServerKind;
  transport?: ProbeTransport;
  domain?: string;
  userPattern?: string;
  passwordPattern?: string;
  sessions: number;
  mechanism?: string[];
  caFile?: string;
  insecureSkipTlsVerify: boolean;
  discoveryInsecure: boolean;
  transcript: boolean;
  json: boolean;
}

/** Exit code when any session failed, a message was lost or a close was not clean. */
export const PROBE_FAILED_EXIT = 2;

/** `--ca-file`: checked as `starling run` checks it, then read (the probe's clients take the PEM itself). */
export async function readCaFile(file: string): Promise<string> {
  return readFile(await checkCaFile(file), 'utf8');
}

export const probeCommand: CommandModule<object, ProbeArgs> = {
  builder: (y: Argv) =>
    y
      .option('target', {
        type: 'string',
        describe:
          'ws(s):// (WebSocket) or http(s):// (BOSH) endpoint of your server, or xmpp://<domain> / a bare domain for XEP-0156 discovery (default: start a local server)',
      })
      .option('kind', {
        choices: SERVER_KINDS,
        default: 'prosody' as ServerKind,
        describe: 'local server to start',
      })
      .option('transport', {
        choices: PROBE_TRANSPORTS,
        describe:
          'local server and discovery: which endpoint (default websocket); with a ws(s)/http(s) --target the scheme decides',
      })
      .option('domain', {
        type: 'string',
        describe: `XMPP domain (default: the discovered domain, else ${DEFAULT_DOMAIN})`,
      })
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
      .option('ca-file', {
        type: 'string',
        describe:
          'PEM of CA certificates to trust for wss:// and https:// (and host-meta), besides the system roots',
      })
      .option('insecure-skip-tls-verify', {
        type: 'boolean',
        default: false,
        describe: 'do not verify TLS certificates (testing only)',
      })
      .option('discovery-insecure', {
        type: 'boolean',
        default: false,
        describe: 'discovery: accept an http:// host-meta and a ws:// or http:// endpoint (with a warning)',
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
      }) as unknown as Argv<ProbeArgs>,
  handler: async (argv) => {
    if (!Number.isInteger(argv.sessions) || argv.sessions < 1) {
      throw new ProbeInputError(`--sessions ${argv.sessions}: give a whole number, 1 or more`);
    }
    // Before anything connects (or starts): a CA file that cannot be used is an error, not a TLS failure later.
    const tls: ProbeTls = {
      ...(argv.caFile !== undefined ? { ca: await readCaFile(argv.caFile) } : {}),
      ...(argv.insecureSkipTlsVerify ? { verify: false } : {}),
    };
    let local: LocalServer | undefined;
    try {
      let url: string;
      let transport: ProbeTransport;
      let defaultDomain = DEFAULT_DOMAIN;
      if (!argv.target) {
        transport = argv.transport ?? 'websocket';
        local = await startLocalServer({
          kind: argv.kind,
          users: argv.sessions,
          domain: argv.domain,
          userPattern: argv.userPattern,
          passwordPattern: argv.passwordPattern,
        });
        url = transport === 'bosh' ? local.boshUrl : local.websocketUrl;
        defaultDomain = local.domain;
        process.stderr.write(`started ${local.kind} at ${url} in ${(local.readyMs / 1000).toFixed(1)} s\n`);
      } else if (isDiscoveryTarget(argv.target)) {
        const host = discoveryDomain(argv.target);
        transport = argv.transport ?? 'websocket';
        const found = await discoverEndpoint(host, transport, {
          tls,
          allowInsecure: argv.discoveryInsecure,
        });
        process.stderr.write(`discovered ${found.url} for ${found.transport} from ${found.source}\n`);
        url = found.url;
        defaultDomain = domainWithoutPort(host);
      } else {
        url = argv.target;
        transport = probeTransport(url, argv.transport);
      }
      const domain = argv.domain ?? defaultDomain;
      const userPattern = argv.userPattern ?? DEFAULT_USER_PATTERN;
      const passwordPattern = argv.passwordPattern ?? DEFAULT_PASSWORD_PATTERN;
      const result = await runProbe({
        url,
        transport,
        tls,
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
