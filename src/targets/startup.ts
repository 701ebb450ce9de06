import type { ChildProcess } from 'node:child_process';
import { ServerStartError } from './errors.ts';
import type { ExitGuard } from './exit-guard.ts';
import type { LocalCertificateKind } from './tls.ts';
import type { ProsodyAuth, ProsodyPlugins } from './types.ts';
import type { LocalServerRecord, ServerKind, ServerLogLevel } from './types.ts';

/** startLocalServer's options with every default applied, handed to the server-specific starter. */
export interface StartPlan {
  users: number;
  userPattern: string;
  passwordPattern: string;
  domain: string;
  dir: string;
  keepDir: boolean;
  logLevel: ServerLogLevel | undefined;
  startTimeoutMs: number;
  install: boolean;
  startedAt: Date;
  /** Serve TLS with a certificate of this kind; undefined: plain http/ws. */
  tls: LocalCertificateKind | undefined;
  plugins: ProsodyPlugins | undefined;
  /** Prosody's password store. */
  prosodyAuth: ProsodyAuth;
  /** Stream management resumption timeout, seconds. */
  resumeTimeoutSec: number;
  /** CPUs the server is pinned to (a `taskset -c` list); undefined: not pinned. */
  cpus: string | undefined;
}

/** A server that accepts logins, still guarded against outliving this process. */
export interface StartedServer {
  record: LocalServerRecord;
  guard: ExitGuard;
}

export interface ReadinessCheck {
  kind: ServerKind;
  child: ChildProcess;
  timeoutMs: number;
  logTail: () => string;
  /** Resolves true once the server serves what we need; may throw while it is still starting. */
  probe: () => Promise<boolean>;
  /** A log line saying the server could not listen on one of its ports (it keeps running without it). */
  portInUse?: RegExp;
}

const POLL_INTERVAL_MS = 100;

function exitDescription(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `the process exited with code ${child.exitCode}`;
  if (child.signalCode !== null) return `the process was killed by ${child.signalCode}`;
  return undefined;
}

/** Polls `probe` until it passes; fails fast, with the log tail, if the process dies or time runs out. */
export async function waitForReady(check: ReadinessCheck): Promise<void> {
  const deadline = Date.now() + check.timeoutMs;
  let lastProblem = 'no answer yet';
  for (;;) {
    const exited = exitDescription(check.child);
    if (exited) throw new ServerStartError(check.kind, exited, check.logTail());
    if (check.portInUse) {
      const tail = check.logTail();
      const line = tail.split('\n').find((l) => check.portInUse?.test(l));
      if (line !== undefined)
        throw new ServerStartError(check.kind, `a port is taken: ${line.trim()}`, tail, true);
    }
    try {
      if (await check.probe()) return;
    } catch (err) {
      lastProblem = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new ServerStartError(
        check.kind,
        `not ready after ${Math.round(check.timeoutMs / 1000)} s (last check: ${lastProblem})`,
        check.logTail(),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
