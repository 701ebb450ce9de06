import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { ServerStopError } from './errors.ts';

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stdout and stderr go here, so the server outlives our pipes. */
  outputFile: string;
  /** Start it pinned to these CPUs (`taskset -c`, which execs the command: the pid stays the server's). */
  cpus?: string | undefined;
}

/**
 * Starts a server as the leader of its own process group (detached), with stdio in a file: it
 * survives the CLI exiting and a Ctrl-C in the terminal, and `stopProcessGroup` can reach every
 * process it forks.
 */
export function spawnServerProcess(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const output = openSync(options.outputFile, 'a');
  try {
    const [file, argv] =
      options.cpus === undefined ? [command, args] : ['taskset', ['-c', options.cpus, command, ...args]];
    const child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', output, output],
    });
    child.unref();
    // A spawn failure (ENOENT…) leaves child.pid undefined, which the caller reports; do not crash on it.
    child.on('error', () => {});
    return child;
  } finally {
    closeSync(output);
  }
}

interface ProcStat {
  pid: number;
  state: string;
  pgid: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: fields[0] ?? '?', pgid: Number(fields[2]) };
}

/** Running (not exited, not a zombie waiting to be reaped). */
export function isProcessAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

export function processCommandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Live processes whose process group is `pgid` (the leader included while it runs). */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.pgid === pgid && stat.state !== 'Z' && stat.state !== 'X') members.push(stat.pid);
  }
  return members;
}

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return true;
}

/**
 * SIGTERM to the group leader (Prosody and the Erlang VM both shut down cleanly on it), then
 * SIGKILL to the whole group after `graceMs`. Resolves once no process of the group is left.
 */
export async function stopProcessGroup(leader: number, graceMs: number): Promise<void> {
  if (processGroupMembers(leader).length === 0) return;
  signal(leader, 'SIGTERM');
  if (await waitUntil(() => processGroupMembers(leader).length === 0, graceMs)) return;
  signal(-leader, 'SIGKILL');
  if (await waitUntil(() => processGroupMembers(leader).length === 0, 5000)) return;
  const left = processGroupMembers(leader);
  throw new ServerStopError(`processes ${left.join(', ')} of group ${leader} survived SIGKILL`, left);
}

/** The last lines of each non-empty file, under `==> name <==` headers like tail(1) prints. */
export function tailOfFiles(files: string[], lines = 20): string {
  const sections: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trimEnd();
    } catch {
      continue;
    }
    if (text) sections.push(`==> ${file} <==\n${text.split('\n').slice(-lines).join('\n')}`);
  }
  return sections.join('\n');
}

/** CPU and memory of a process group, from /proc: what a server costs while a run drives it. */
export interface GroupUsage {
  /** user + system CPU seconds of the live members, since each started. */
  cpuSeconds: number;
  /** Resident set size now, summed over the members, in KiB. */
  rssKiB: number;
  /** Peak resident set size (VmHWM) summed over the members, in KiB. */
  peakRssKiB: number;
}

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ): 100 on every Linux ABI Node runs on. */
const USER_HZ = 100;

/**
 * The process of a group with the most open files (sockets included), as a share of its own open-files limit:
 * `{ open, limit }` of that process, or undefined when /proc shows none (an exited group, another user's).
 */
export function processGroupFiles(leader: number): { open: number; limit: number } | undefined {
  let best: { open: number; limit: number } | undefined;
  for (const pid of processGroupMembers(leader)) {
    try {
      const open = readdirSync(`/proc/${pid}/fd`).length;
      const limit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1]);
      if (!(limit > 0)) continue;
      if (best === undefined || open / limit > best.open / best.limit) best = { open, limit };
    } catch {
      // Exited between the listing and the read.
    }
  }
  return best;
}

export function processGroupUsage(leader: number): GroupUsage {
  const usage: GroupUsage = { cpuSeconds: 0, rssKiB: 0, peakRssKiB: 0 };
  for (const pid of processGroupMembers(leader)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After "pid (comm) ", field 0 is state; utime and stime are fields 11 and 12 (stat fields 14 and 15).
      usage.cpuSeconds += (Number(fields[11]) + Number(fields[12])) / USER_HZ;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      usage.rssKiB += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      usage.peakRssKiB += Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // The member exited between the listing and the read: it no longer costs anything.
    }
  }
  return usage;
}
