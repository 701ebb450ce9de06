import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expandPattern, mucDomain, patternHasNumber } from './accounts.ts';
import { forEachBounded } from './concurrency.ts';
import { ServerStartError } from './errors.ts';
import { httpRequest, websocketHandshake } from './http.ts';
import { ensureProsody } from './install.ts';
import { freePorts, isPortOpen, LOOPBACK } from './ports.ts';
import { spawnServerProcess, stopProcessGroup, tailOfFiles } from './processes.ts';
import { credentialsSource, type ScramCredentials } from './scram.ts';
import type { LocalServerRecord, ProsodyAuth, ProsodyPlugins, ServerLogLevel } from './types.ts';
import { createLocalTls } from './tls.ts';
import { waitForReady, type StartedServer, type StartPlan } from './startup.ts';
import { guardServerProcess } from './exit-guard.ts';

/** Account files in flight at once: enough to keep libuv's PBKDF2 threads busy on every core. */
const ACCOUNT_CONCURRENCY = 32;

export interface ProsodyConfig {
  domain: string;
  dir: string;
  dataDir: string;
  c2sPort: number;
  httpPort: number;
  logFile: string;
  logLevel: ServerLogLevel;
  runAsRoot: boolean;
  /** Serve https/wss on httpPort (instead of plain http/ws) with this certificate and key. */
  tls?: { certFile: string; keyFile: string };
  plugins?: ProsodyPlugins;
  /** The `authentication` provider. Default `internal_hashed`. */
  authentication?: ProsodyAuth;
  /** Stream management resumption timeout, seconds (smacks_hibernation_time). Default 300. */
  resumeTimeoutSec?: number;
}

/** Prosody's datamanager path encoding: every non-alphanumeric byte becomes %xx (lowercase hex). */
export function prosodyPathEncode(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return /[A-Za-z0-9]/.test(char) ? char : `%${byte.toString(16).padStart(2, '0')}`;
    })
    .join('');
}

export function accountFilePath(dataDir: string, domain: string, username: string): string {
  return join(dataDir, prosodyPathEncode(domain), 'accounts', `${prosodyPathEncode(username)}.dat`);
}

/** The Lua table mod_auth_internal_hashed stores: raw salt, hex keys (see mod_auth_internal_hashed.lua). */
export function accountFileContent(credentials: ScramCredentials): string {
  return (
    'return {\n' +
    `\t["iteration_count"] = ${credentials.iterationCount};\n` +
    `\t["salt"] = "${credentials.salt}";\n` +
    `\t["server_key"] = "${credentials.serverKey.toString('hex')}";\n` +
    `\t["stored_key"] = "${credentials.storedKey.toString('hex')}";\n` +
    '};\n'
  );
}

const lua = (value: string): string => JSON.stringify(value); // ASCII paths/domains: JSON escapes are Lua escapes

/**
 * The Lua table mod_auth_internal_plain reads: the password itself (see mod_auth_internal_plain.lua).
 * Passwords are printable ASCII (validateAccountOptions), so JSON's escapes (\\ and \") are Lua's.
 */
export function plainAccountFileContent(password: string): string {
  return `return {\n\t["password"] = ${lua(password)};\n};\n`;
}

export function renderProsodyConfig(config: ProsodyConfig): string {
  return `-- Throwaway Prosody written by starling (src/targets/prosody.ts); deleted by \`starling server down\`.
-- Loopback only, ${config.tls ? 'TLS from a throwaway CA on the HTTP port' : 'no TLS'}, no rate limits: a target for load tests, not a server for people.
${config.runAsRoot ? 'run_as_root = true\n' : ''}pidfile = ${lua(join(config.dir, 'prosody.pid'))}
data_path = ${lua(config.dataDir)}
certificates = ${lua(join(config.dir, 'certs'))} -- empty: ${config.tls ? 'https_ssl names the certificate' : 'no TLS'}
log = { { levels = { min = ${lua(config.logLevel)} }, to = "file", filename = ${lua(config.logFile)} } }

network_backend = "epoll"
-- Lua 5.4's generational collector. Prosody 0.12's default (incremental, pause 105 %) costs about twice the CPU
-- per stanza, and that cost varied by 40 % between fresh servers under the same load (see README, Capacity).
gc = { mode = "generational" }
network_settings = { tcp_backlog = 4096 }
use_ipv6 = false
interfaces = { "${LOOPBACK}" }
local_interfaces = { "${LOOPBACK}" }
c2s_ports = { ${config.c2sPort} }
c2s_interfaces = { "${LOOPBACK}" }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
${
  config.tls
    ? `http_ports = { }
https_ports = { ${config.httpPort} }
https_interfaces = { "${LOOPBACK}" }
https_ssl = { certificate = ${lua(config.tls.certFile)}, key = ${lua(config.tls.keyFile)} }`
    : `http_ports = { ${config.httpPort} }
http_interfaces = { "${LOOPBACK}" }
https_ports = { }`
}
http_default_host = ${lua(config.domain)}

authentication = ${lua(config.authentication ?? 'internal_hashed')}
storage = "internal"
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
consider_websocket_secure = true
consider_bosh_secure = true
bosh_max_inactivity = 300
${
  config.plugins
    ? `plugin_paths = { ${lua(config.plugins.dir)} }
${Object.entries(config.plugins.options ?? {})
  .map(([k, v]) => `${k} = ${v}\n`)
  .join('')}`
    : ''
}
-- No mod_limits (its c2s rate limit would throttle the load), no registration, no offline storage, no s2s.
-- Stream management (XEP-0198) with resumption: any number of sessions may wait to be resumed at once (a
-- reconnect storm), for resumeTimeoutSec.
smacks_hibernation_time = ${config.resumeTimeoutSec ?? 300}
smacks_max_hibernated_sessions = 100000
smacks_max_old_sessions = 100000
modules_enabled = { "roster", "saslauth", "disco", "ping", "presence", "websocket", "bosh", "time", "version", "smacks"${(config.plugins?.modules ?? []).map((m) => `, ${lua(m)}`).join('')} }
modules_disabled = { "offline", "s2s", "s2s_auth_certs", "dialback", "tls", "limits", "register" }

VirtualHost ${lua(config.domain)}

-- Multi-user chat at conference.<domain> (XEP-0045): anyone may create a room, and a new room is open at once
-- (no locking until configured), keeps no history and is not left behind as a tombstone once empty.
Component ${lua(mucDomain(config.domain))} "muc"
restrict_room_creation = false
muc_room_locking = false
muc_tombstones = false
muc_room_default_history_length = 0
`;
}

/** Starts on fresh ports when Prosody could not listen on the ones it was given (taken in between). */
const PORT_ATTEMPTS = 3;
/** What Prosody's portmanager logs when a listener fails; Prosody keeps running without that port. */
const PORT_IN_USE = /Failed to open server port/;

/** `pickPorts` gives the c2s and HTTP ports of each attempt (tests hand it a taken port). */
export async function startProsody(
  plan: StartPlan,
  pickPorts: () => Promise<number[]> = () => freePorts(2),
): Promise<StartedServer> {
  const { prosody } = await ensureProsody(plan.install);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startProsodyOnce(plan, prosody, (await pickPorts()) as [number, number]);
    } catch (err) {
      if (!(err instanceof ServerStartError && err.portInUse) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

async function startProsodyOnce(
  plan: StartPlan,
  prosody: string,
  [c2sPort, httpPort]: [number, number],
): Promise<StartedServer> {
  const dataDir = join(plan.dir, 'data');
  const logFile = join(plan.dir, 'prosody.log');
  const outputFile = join(plan.dir, 'prosody.stdout.log');
  const configFile = join(plan.dir, 'prosody.cfg.lua');
  const accountsDir = join(dataDir, prosodyPathEncode(plan.domain), 'accounts');
  await mkdir(accountsDir, { recursive: true });
  await mkdir(join(plan.dir, 'certs'), { recursive: true });
  // A previous attempt's logs would read as this attempt's failure.
  await Promise.all([rm(logFile, { force: true }), rm(outputFile, { force: true })]);
  // The server's certificate names 127.0.0.1 (the URLs below) and localhost; the CA is what a run trusts.
  const tls = plan.tls ? await createLocalTls(join(plan.dir, 'tls'), plan.tls) : undefined;
  await writeFile(
    configFile,
    renderProsodyConfig({
      domain: plan.domain,
      dir: plan.dir,
      dataDir,
      c2sPort,
      httpPort,
      logFile,
      logLevel: plan.logLevel ?? 'warn', // info logs 3+ lines per connection: at 300 logins/s that alone saturates Prosody,
      runAsRoot: process.getuid?.() === 0,
      tls,
      plugins: plan.plugins,
      authentication: plan.prosodyAuth,
      resumeTimeoutSec: plan.resumeTimeoutSec,
    }),
  );

  const child = spawnServerProcess(prosody, ['-F', '--config', configFile], {
    cwd: plan.dir,
    env: process.env,
    outputFile,
    cpus: plan.cpus,
  });
  const pid = child.pid;
  if (pid === undefined) throw new ServerStartError('prosody', `could not run ${prosody}`, '');
  const guard = guardServerProcess(pid, plan.keepDir ? undefined : plan.dir);
  const logTail = (): string => tailOfFiles([outputFile, logFile]);
  const websocketUrl = `${tls ? 'wss' : 'ws'}://${LOOPBACK}:${httpPort}/xmpp-websocket`;
  const boshUrl = `${tls ? 'https' : 'http'}://${LOOPBACK}:${httpPort}/http-bind`;
  // Readiness checks the certificate too, unless it is broken on purpose.
  const probeTls = tls ? { ca: await readFile(tls.caFile), verify: plan.tls === 'valid' } : undefined;

  try {
    // Prosody reads account files on each login, so they can be written while it boots.
    const credentialsOf = credentialsSource(
      'sha1', // Prosody 0.12 stores and offers SCRAM-SHA-1 only
      (n) => expandPattern(plan.passwordPattern, n),
      !patternHasNumber(plan.passwordPattern),
    );
    const contentOf = async (n: number): Promise<string> =>
      plan.prosodyAuth === 'internal_plain'
        ? plainAccountFileContent(expandPattern(plan.passwordPattern, n))
        : accountFileContent(await credentialsOf(n));
    const accountsWritten = forEachBounded(plan.users, ACCOUNT_CONCURRENCY, async (n) => {
      const file = accountFilePath(dataDir, plan.domain, expandPattern(plan.userPattern, n));
      await writeFile(file, await contentOf(n));
    });
    const ready = waitForReady({
      kind: 'prosody',
      child,
      timeoutMs: plan.startTimeoutMs,
      logTail,
      portInUse: PORT_IN_USE,
      probe: async () =>
        (await isPortOpen(c2sPort)) &&
        (await httpRequest(boshUrl, { tls: probeTls })).status === 200 &&
        (await websocketHandshake(websocketUrl, undefined, probeTls)) === 'xmpp',
    });
    await Promise.all([accountsWritten, ready]);
  } catch (err) {
    await stopProcessGroup(pid, 2000);
    guard.release();
    throw err;
  }

  const record: LocalServerRecord = {
    kind: 'prosody',
    domain: plan.domain,
    websocketUrl,
    boshUrl,
    c2sPort,
    httpPort,
    pid,
    dir: plan.dir,
    keepDir: plan.keepDir,
    logFile,
    users: plan.users,
    userPattern: plan.userPattern,
    passwordPattern: plan.passwordPattern,
    startedAt: plan.startedAt.toISOString(),
    readyMs: Date.now() - plan.startedAt.getTime(),
    ...(tls && plan.tls ? { caFile: tls.caFile, tlsCertificate: plan.tls } : {}),
  };
  return { record, guard };
}
