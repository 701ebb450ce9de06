import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import { expandPattern, mucDomain, patternHasNumber } from './accounts.ts';
import { ServerStartError } from './errors.ts';
import { httpRequest, postJson, websocketHandshake } from './http.ts';
import { ensureEjabberd } from './install.ts';
import { freePorts, isPortOpen, LOOPBACK } from './ports.ts';
import { spawnServerProcess, stopProcessGroup, tailOfFiles } from './processes.ts';
import { credentialsSource, type ScramCredentials, type ScramHash } from './scram.ts';
import { waitForReady, type StartedServer, type StartPlan } from './startup.ts';
import { guardServerProcess } from './exit-guard.ts';
import type { LocalServerRecord, ServerLogLevel } from './types.ts';

/** Credentials derived at once while the PIEFXIS file is written: keeps every core busy. */
const DERIVE_CONCURRENCY = 32;

export interface EjabberdConfig {
  domain: string;
  c2sPort: number;
  httpPort: number;
  logLevel: ServerLogLevel;
  /** Stream management resumption timeout, seconds (mod_stream_mgmt resume_timeout). Default 300. */
  resumeTimeoutSec?: number;
}

/** Commands mod_http_api runs for anyone on loopback without credentials (provisioning and checks). */
export const EJABBERD_API_COMMANDS = [
  'status',
  'register',
  'unregister',
  'registered_users',
  'check_account',
  'check_password',
  'connected_users_number',
  'import_piefxis',
] as const;

const EJABBERD_LOG_LEVELS: Record<ServerLogLevel, string> = {
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
};

export function renderEjabberdConfig(config: EjabberdConfig): string {
  const commands = EJABBERD_API_COMMANDS.map((c) => `      - ${c}`).join('\n');
  return `# Throwaway ejabberd written by starling (src/targets/ejabberd.ts); deleted by \`starling server down\`.
# Loopback only, no TLS, no shapers, no s2s: a target for load tests, not a server for people.
hosts:
  - ${JSON.stringify(config.domain)}
loglevel: ${EJABBERD_LOG_LEVELS[config.logLevel]}
log_rotate_count: 0
auth_method: internal
auth_password_format: scram
auth_scram_hash: ${EJABBERD_SCRAM_HASH === 'sha1' ? 'sha' : EJABBERD_SCRAM_HASH}
disable_sasl_mechanisms:
  - "digest-md5"
  - "x-oauth2"
s2s_access: none
max_fsm_queue: 100000
listen:
  -
    port: ${config.c2sPort}
    ip: "${LOOPBACK}"
    module: ejabberd_c2s
    access: c2s
    shaper: none
    starttls: false
    max_stanza_size: 262144
    backlog: 4096
  -
    port: ${config.httpPort}
    ip: "${LOOPBACK}"
    module: ejabberd_http
    backlog: 4096
    request_handlers:
      /ws: ejabberd_http_ws
      /bosh: mod_bosh
      /api: mod_http_api
acl:
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128
access_rules:
  c2s:
    allow: all
  local:
    allow: local
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
  "starling provisioning from loopback":
    from:
      - mod_http_api
    who:
      ip: 127.0.0.1/8
    what:
${commands}
modules:
  mod_admin_extra: {}
  mod_bosh:
    max_inactivity: 300
  mod_disco: {}
  mod_http_api: {}
  mod_muc:
    host: ${JSON.stringify(mucDomain(config.domain))}
    access_create: all
    history_size: 0
    max_users: 10000
    max_users_presence: 10000
    max_user_conferences: 1000
    default_room_options:
      mam: false
      persistent: false
  mod_ping: {}
  mod_roster: {}
  mod_stream_mgmt:
    resume_timeout: ${config.resumeTimeoutSec ?? 300}
    max_resume_timeout: ${config.resumeTimeoutSec ?? 300}
`;
}

const b64 = (value: Buffer | string): string => Buffer.from(value).toString('base64');

/**
 * ejabberd stores one SCRAM hash per account and offers only that SCRAM mechanism. SHA-256 here (and
 * SHA-1 on Prosody) means both SCRAM variants are exercised against a real server.
 */
export const EJABBERD_SCRAM_HASH: ScramHash = 'sha256';

const SCRAM_MECHANISM: Record<ScramHash, string> = { sha1: 'SCRAM-SHA-1', sha256: 'SCRAM-SHA-256' };

/**
 * One XEP-0227 <user/> with SCRAM credentials for `import_piefxis`. ejabberd 23.01 keeps
 * #scram{} fields base64-encoded in mnesia and its importer base64-decodes each field once
 * (ejabberd_piefxis:parse_scram_password/1, the inverse of its exporter), so each field here is
 * base64 of that base64. Verified by logging in after the import (check_password in startEjabberd).
 */
export function piefxisUser(username: string, credentials: ScramCredentials): string {
  return (
    `<user name='${username}'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='${SCRAM_MECHANISM[credentials.hash]}'>` +
    `<iter-count>${credentials.iterationCount}</iter-count>` +
    `<salt>${b64(b64(credentials.salt))}</salt>` +
    `<server-key>${b64(b64(credentials.serverKey))}</server-key>` +
    `<stored-key>${b64(b64(credentials.storedKey))}</stored-key>` +
    '</scram-credentials></user>\n'
  );
}

/**
 * Writes accounts 1..users as a PIEFXIS file. The SCRAM keys are derived here with native PBKDF2
 * on every core: ejabberd's own (Erlang) PBKDF2 manages ~200 registrations/s via /api/register,
 * the import of precomputed keys thousands per second.
 */
async function writePiefxis(file: string, plan: StartPlan): Promise<void> {
  const credentialsOf = credentialsSource(
    EJABBERD_SCRAM_HASH,
    (n) => expandPattern(plan.passwordPattern, n),
    !patternHasNumber(plan.passwordPattern),
  );
  const out = createWriteStream(file);
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  try {
    await write(`<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'>\n`);
    await write(`<host jid='${plan.domain}'>\n`);
    // Derive a window ahead of the writer so the file stays in account order.
    const pending = new Map<number, Promise<ScramCredentials>>();
    let nextToDerive = 1;
    for (let n = 1; n <= plan.users; n++) {
      while (nextToDerive <= plan.users && nextToDerive < n + DERIVE_CONCURRENCY) {
        pending.set(nextToDerive, credentialsOf(nextToDerive));
        nextToDerive++;
      }
      const credentials = await (pending.get(n) as Promise<ScramCredentials>);
      pending.delete(n);
      await write(piefxisUser(expandPattern(plan.userPattern, n), credentials));
    }
    await write('</host>\n</server-data>\n');
  } finally {
    out.end();
    await once(out, 'close');
  }
}

/** `+S N:N`: N schedulers, all online. */
const schedulers = (n: number): string => `${n}:${n}`;

const erlString = (value: string): string => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export async function startEjabberd(plan: StartPlan): Promise<StartedServer> {
  const installation = await ensureEjabberd(plan.install);
  const [c2sPort, httpPort, distributionPort] = (await freePorts(3)) as [number, number, number];
  const spool = join(plan.dir, 'spool');
  const logs = join(plan.dir, 'logs');
  const logFile = join(logs, 'ejabberd.log');
  const outputFile = join(plan.dir, 'ejabberd.stdout.log');
  const configFile = join(plan.dir, 'ejabberd.yml');
  const accountsFile = join(plan.dir, 'accounts.xml');
  await mkdir(spool, { recursive: true });
  await mkdir(logs, { recursive: true });
  await writeFile(
    configFile,
    renderEjabberdConfig({
      domain: plan.domain,
      c2sPort,
      httpPort,
      logLevel: plan.logLevel ?? 'warn',
      resumeTimeoutSec: plan.resumeTimeoutSec,
    }),
  );

  // What `ejabberdctl foreground` runs, minus its `su ejabberd` (which drops the open-files limit
  // to 1024) and minus epmd: the node listens for distribution on its own loopback port
  // (-erl_epmd_port, -start_epmd false), so there is no shared epmd to start, find or kill.
  const node = `starling-ejabberd-${httpPort}@localhost`;
  const args = [
    '-sname',
    node,
    '-setcookie',
    randomBytes(16).toString('hex'),
    '-erl_epmd_port',
    String(distributionPort),
    '-start_epmd',
    'false',
    '-kernel',
    'inet_dist_use_interface',
    '{127,0,0,1}',
    '+K',
    'true',
    '+P',
    '250000',
    // Pinned: as many schedulers as CPUs (the VM would start one per configured CPU and keep the rest offline).
    ...(plan.cpus === undefined ? [] : ['+S', schedulers(plan.cpus.split(',').length)]),
    '-env',
    'ERL_CRASH_DUMP_BYTES',
    '0',
    '-mnesia',
    'dir',
    erlString(spool),
    '-s',
    'ejabberd',
    '-noinput',
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: plan.dir,
    EJABBERD_CONFIG_PATH: configFile,
    EJABBERD_LOG_PATH: logFile,
    ERL_LIBS: installation.erlLibs,
    ERL_MAX_PORTS: '32000',
    ERL_MAX_ETS_TABLES: '1400',
    ERL_CRASH_DUMP: join(logs, 'erl_crash.dump'),
    CONTRIB_MODULES_PATH: join(plan.dir, 'modules'),
  };
  const child = spawnServerProcess(installation.erl, args, {
    cwd: spool,
    env,
    outputFile,
    cpus: plan.cpus,
  });
  const pid = child.pid;
  if (pid === undefined) {
    throw new ServerStartError('ejabberd', `could not run ${installation.erl}`, '');
  }
  const guard = guardServerProcess(pid, plan.keepDir ? undefined : plan.dir);
  const logTail = (): string => tailOfFiles([outputFile, logFile]);
  const httpBase = `http://${LOOPBACK}:${httpPort}`;
  const websocketUrl = `ws://${LOOPBACK}:${httpPort}/ws`;
  const boshUrl = `${httpBase}/bosh`;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const api = (command: string, payload: unknown, timeoutMs = 5000) =>
    postJson(`${httpBase}/api/${command}`, payload, { agent, timeoutMs });
  const fail = (reason: string): ServerStartError => new ServerStartError('ejabberd', reason, logTail());

  try {
    const accountsWritten = plan.users > 0 ? writePiefxis(accountsFile, plan) : Promise.resolve();
    const ready = waitForReady({
      kind: 'ejabberd',
      child,
      timeoutMs: plan.startTimeoutMs,
      logTail,
      probe: async () =>
        (await isPortOpen(c2sPort)) &&
        (await api('status', {})).status === 200 &&
        (await websocketHandshake(websocketUrl)) === 'xmpp',
    });
    await Promise.all([accountsWritten, ready]);

    if (plan.users > 0) {
      const imported = await api('import_piefxis', { file: accountsFile }, 0);
      if (imported.status !== 200 || imported.body.trim() !== '0') {
        throw fail(`importing ${plan.users} accounts failed: HTTP ${imported.status} ${imported.body}`);
      }
      for (const n of new Set([1, plan.users])) {
        const user = expandPattern(plan.userPattern, n);
        const password = expandPattern(plan.passwordPattern, n);
        const checked = await api('check_password', { user, host: plan.domain, password });
        if (checked.status !== 200 || checked.body.trim() !== '0') {
          throw fail(
            `imported account ${user}@${plan.domain} does not accept its password (${checked.body})`,
          );
        }
      }
    }
    if ((await httpRequest(boshUrl)).status !== 200) throw fail(`BOSH endpoint ${boshUrl} does not answer`);
  } catch (err) {
    await stopProcessGroup(pid, 2000);
    guard.release();
    throw err;
  } finally {
    agent.destroy();
  }

  const record: LocalServerRecord = {
    kind: 'ejabberd',
    domain: plan.domain,
    websocketUrl,
    boshUrl,
    c2sPort,
    httpPort,
    pid,
    distributionPort,
    dir: plan.dir,
    keepDir: plan.keepDir,
    logFile,
    users: plan.users,
    userPattern: plan.userPattern,
    passwordPattern: plan.passwordPattern,
    startedAt: plan.startedAt.toISOString(),
    readyMs: Date.now() - plan.startedAt.getTime(),
  };
  return { record, guard };
}
