import { rm } from 'node:fs/promises';
import { accountFor } from './accounts.ts';
import { ServerStopError } from './errors.ts';
import { isPortOpen } from './ports.ts';
import { isProcessAlive, processCommandLine, processGroupMembers, stopProcessGroup } from './processes.ts';
import type { ExitGuard } from './exit-guard.ts';
import type { Account, LocalServer, LocalServerRecord } from './types.ts';

/** How long each server gets to shut down on SIGTERM before SIGKILL. */
const STOP_GRACE_MS: Record<LocalServerRecord['kind'], number> = { prosody: 10_000, ejabberd: 15_000 };

function localServer(record: LocalServerRecord, guard: ExitGuard | undefined): LocalServer {
  const own = { ...record };
  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    await stopServerProcesses(own);
    guard?.release();
    if (!own.keepDir) await rm(own.dir, { recursive: true, force: true });
  };
  return {
    ...own,
    account(n: number): Account {
      if (!Number.isInteger(n) || n < 1 || n > own.users) {
        throw new RangeError(`account ${n} does not exist: accounts are numbered 1..${own.users}`);
      }
      return accountFor(n, own.userPattern, own.passwordPattern, own.domain);
    },
    stop: () => (stopping ??= stop()),
    toRecord: () => ({ ...own }),
  };
}

/** The leader still runs and is the process we started (its command line names our dir), not a reused pid. */
function leaderIsOurs(record: LocalServerRecord): boolean {
  return isProcessAlive(record.pid) && (processCommandLine(record.pid) ?? '').includes(record.dir);
}

async function stopServerProcesses(record: LocalServerRecord): Promise<void> {
  if (leaderIsOurs(record)) {
    await stopProcessGroup(record.pid, STOP_GRACE_MS[record.kind]);
  } else if (!isProcessAlive(record.pid) && processGroupMembers(record.pid).length > 0) {
    // Leader gone but helpers left (e.g. erl_child_setup): a dead leader's pid cannot be reused
    // while its group still exists, so these are ours.
    await stopProcessGroup(record.pid, 0);
  }
  const ports = [record.c2sPort, record.httpPort, record.distributionPort].filter((p) => p !== undefined);
  const stillOpen: number[] = [];
  for (const port of ports) if (await isPortOpen(port)) stillOpen.push(port);
  if (stillOpen.length > 0) {
    throw new ServerStopError(
      `${record.kind} (pid ${record.pid}) is stopped but 127.0.0.1 ports ${stillOpen.join(', ')} still accept connections`,
      [],
    );
  }
}

/**
 * Wraps a freshly started server. With `persist` the exit guard is released so the server outlives
 * this process; otherwise it stays armed until stop().
 */
export function createLocalServer(
  record: LocalServerRecord,
  guard: ExitGuard,
  persist: boolean,
): LocalServer {
  if (persist) guard.release();
  return localServer(record, persist ? undefined : guard);
}

/** A handle on a server started by another process (e.g. `starling server up`), from its record. */
export function attachLocalServer(record: LocalServerRecord): LocalServer {
  return localServer(record, undefined);
}

/** True while the server's lead process runs (and is really ours). */
export function isLocalServerRunning(record: LocalServerRecord): boolean {
  return leaderIsOurs(record);
}
