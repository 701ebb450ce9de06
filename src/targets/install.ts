import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ServerNotInstalledError } from './errors.ts';
import type { ServerKind } from './types.ts';

const PACKAGES: Record<ServerKind, string[]> = {
  prosody: ['prosody', 'lua-event'],
  ejabberd: ['ejabberd'],
};

// Non-login root shells and plain users often lack the sbin directories ejabberdctl lives in.
const EXTRA_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_PATH];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export interface ProsodyInstallation {
  prosody: string;
}

export interface EjabberdInstallation {
  /** The `erl` launcher ejabberdctl uses. */
  erl: string;
  /** ERL_LIBS from ejabberdctl: the directory holding ejabberd-<version>/ebin. */
  erlLibs: string;
  ejabberdctl: string;
}

function installCommand(kind: ServerKind): string {
  return `sudo apt-get install ${PACKAGES[kind].join(' ')}`;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    // apt's progress goes to our stderr: stdout is reserved for the CLI's results.
    const child = spawn(command, args, { env, stdio: ['ignore', 2, 2] });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

/** apt-get install as root, with a policy-rc.d so Debian does not start a system-wide daemon. */
async function aptInstall(kind: ServerKind): Promise<void> {
  const packages = PACKAGES[kind];
  process.stderr.write(
    `starling: ${kind} is not installed; running apt-get install -y ${packages.join(' ')}\n`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const args = ['install', '-y', '--no-install-recommends', ...packages];
    if ((await run('apt-get', args, env)) === 0) return;
    // A fresh machine may have no package lists yet.
    if ((await run('apt-get', ['update'], env)) === 0 && (await run('apt-get', args, env)) === 0) return;
    throw new ServerNotInstalledError(kind, installCommand(kind), 'apt-get install failed, see above');
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

function canInstall(allowed: boolean): boolean {
  return allowed && process.getuid?.() === 0 && findExecutable('apt-get') !== undefined;
}

export async function ensureProsody(allowInstall: boolean): Promise<ProsodyInstallation> {
  let prosody = findExecutable('prosody');
  if (!prosody && canInstall(allowInstall)) {
    await aptInstall('prosody');
    prosody = findExecutable('prosody');
  }
  if (!prosody) throw new ServerNotInstalledError('prosody', installCommand('prosody'), 'no prosody in PATH');
  return { prosody };
}

function locateEjabberd(): EjabberdInstallation | undefined {
  const ejabberdctl = findExecutable('ejabberdctl');
  if (!ejabberdctl) return undefined;
  // ejabberdctl knows where the package put erl and the ejabberd code; reuse its answers.
  const script = readFileSync(ejabberdctl, 'utf8');
  const erl = /^ERL="?'?([^"'\n]+)/m.exec(script)?.[1] ?? findExecutable('erl');
  const erlLibs = /^ERL_LIBS="?'?([^"'\n]+)/m.exec(script)?.[1];
  if (!erl || !erlLibs || !existsSync(erl)) return undefined;
  const hasEjabberd = existsSync(erlLibs) && readdirSync(erlLibs).some((d) => /^ejabberd-\d/.test(d));
  return hasEjabberd ? { erl, erlLibs, ejabberdctl } : undefined;
}

export async function ensureEjabberd(allowInstall: boolean): Promise<EjabberdInstallation> {
  let found = locateEjabberd();
  if (!found && canInstall(allowInstall)) {
    await aptInstall('ejabberd');
    found = locateEjabberd();
  }
  if (!found) {
    throw new ServerNotInstalledError(
      'ejabberd',
      installCommand('ejabberd'),
      'no usable ejabberdctl/erl found',
    );
  }
  return found;
}
