/** Shared by the tests that run Debian's Prometheus: its path, its API's sample shape, and stopping it. */
import type { ChildProcess } from 'node:child_process';

export const PROMETHEUS = '/usr/bin/prometheus';

/** One element of an instant query's `data.result`. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(timer);
}
