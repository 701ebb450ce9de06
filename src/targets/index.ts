import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  DEFAULT_DOMAIN,
  DEFAULT_PASSWORD_PATTERN,
  DEFAULT_USER_PATTERN,
  validateAccountOptions,
} from './accounts.ts';
import { cpuList } from './cpus.ts';
import { startEjabberd } from './ejabberd.ts';
import { LocalServerOptionError } from './errors.ts';
import { createLocalServer } from './local-server.ts';
import { startProsody } from './prosody.ts';
import type { StartPlan } from './startup.ts';
import { makeServerDir } from './tempdir.ts';
import { LOCAL_CERTIFICATE_KINDS } from './tls.ts';
import { PROSODY_AUTHS, SERVER_KINDS, type LocalServer, type LocalServerOptions } from './types.ts';

export { attachLocalServer, isLocalServerRunning } from './local-server.ts';
export { accountFor, DEFAULT_DOMAIN, DEFAULT_PASSWORD_PATTERN, DEFAULT_USER_PATTERN } from './accounts.ts';
export {
  LocalServerOptionError,
  ServerNotInstalledError,
  ServerStartError,
  ServerStopError,
} from './errors.ts';
export { PROSODY_AUTHS, SERVER_KINDS } from './types.ts';
export {
  createCertificateAuthority,
  createExpiredCertificate,
  createLocalTls,
  createServerCertificate,
  createWrongHostnameCertificate,
  LOCAL_CERTIFICATE_KINDS,
  type CertificateAuthority,
  type LocalCertificateKind,
  type ServerCertificate,
} from './tls.ts';
export type {
  Account,
  LocalServer,
  LocalServerOptions,
  LocalServerRecord,
  ProsodyAuth,
  ServerKind,
  ServerLogLevel,
} from './types.ts';

const DEFAULT_START_TIMEOUT_MS = 60_000;

/** Stream management resumption timeout of the throwaway servers, seconds (ejabberd's default). */
const DEFAULT_RESUME_TIMEOUT_SEC = 300;

/**
 * Starts a throwaway Prosody or ejabberd on 127.0.0.1 (free ports, its own temp dir) with
 * accounts 1..users provisioned, and resolves once it accepts logins. Call stop() when done.
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const startedAt = new Date();
  if (!SERVER_KINDS.includes(options.kind)) {
    throw new LocalServerOptionError(
      `unknown server kind '${options.kind}' (use ${SERVER_KINDS.join(' or ')})`,
    );
  }
  const userPattern = options.userPattern ?? DEFAULT_USER_PATTERN;
  const passwordPattern = options.passwordPattern ?? DEFAULT_PASSWORD_PATTERN;
  const domain = options.domain ?? DEFAULT_DOMAIN;
  validateAccountOptions(options.users, userPattern, passwordPattern, domain);
  const pinned = options.cpus === undefined ? undefined : cpuList(options.cpus);
  if (options.prosodyAuth !== undefined && !PROSODY_AUTHS.includes(options.prosodyAuth)) {
    throw new LocalServerOptionError(
      `unknown prosodyAuth '${String(options.prosodyAuth)}' (use ${PROSODY_AUTHS.join(' or ')})`,
    );
  }
  if (options.prosodyAuth !== undefined && options.kind !== 'prosody') {
    throw new LocalServerOptionError(`prosodyAuth needs kind prosody, not ${options.kind}`);
  }

  const dir = options.dir ? resolve(options.dir) : await makeServerDir(`starling-${options.kind}-`);
  if (options.dir) await mkdir(dir, { recursive: true });
  // Never delete a directory the caller chose unless told to.
  const keepDir = options.keepDir ?? options.dir !== undefined;
  const tls = options.tls === true ? 'valid' : options.tls === false ? undefined : options.tls;
  if (tls !== undefined && !LOCAL_CERTIFICATE_KINDS.includes(tls)) {
    throw new LocalServerOptionError(
      `unknown tls certificate kind '${String(tls)}' (use ${LOCAL_CERTIFICATE_KINDS.join(', ')})`,
    );
  }
  if (tls !== undefined && options.kind !== 'prosody') {
    throw new LocalServerOptionError(`tls is implemented for prosody only, not ${options.kind}`);
  }
  if (options.prosodyPlugins && options.kind !== 'prosody') {
    throw new LocalServerOptionError(`prosodyPlugins needs kind prosody, not ${options.kind}`);
  }
  const plan: StartPlan = {
    users: options.users,
    userPattern,
    passwordPattern,
    domain,
    dir,
    keepDir,
    logLevel: options.logLevel,
    startTimeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    install: options.install ?? true,
    startedAt,
    tls,
    plugins: options.prosodyPlugins,
    prosodyAuth: options.prosodyAuth ?? 'internal_hashed',
    resumeTimeoutSec: options.resumeTimeoutSec ?? DEFAULT_RESUME_TIMEOUT_SEC,
    cpus: pinned?.text,
  };
  try {
    const started = options.kind === 'prosody' ? await startProsody(plan) : await startEjabberd(plan);
    return createLocalServer(started.record, started.guard, options.persist ?? false);
  } catch (err) {
    if (!keepDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
