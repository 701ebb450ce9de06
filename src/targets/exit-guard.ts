import { rmSync } from 'node:fs';
import { isProcessAlive } from './processes.ts';

export interface ExitGuard {
  /** Stop guarding: the server is stopped, or meant to outlive us (`starling server up`). */
  release(): void;
}

/**
 * Kills a server's process group (and removes its dir) if this Node process exits while the server
 * still runs: a test that throws before stop(), or a Ctrl-C during `server up` provisioning
 * (the CLI turns SIGINT into process.exit so this runs). The server leads its own process group,
 * so nothing else would stop it.
 */
export function guardServerProcess(pid: number, dir: string | undefined): ExitGuard {
  const onExit = (): void => {
    if (isProcessAlive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return { release: () => process.removeListener('exit', onExit) };
}
