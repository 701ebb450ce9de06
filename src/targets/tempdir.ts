import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SHM = '/dev/shm';

/** True when `dir` is a writable tmpfs mount (RAM-backed). */
function isWritableTmpfs(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((line) => {
        const [, mountPoint, type] = line.split(' ');
        return mountPoint === dir && type === 'tmpfs';
      });
  } catch {
    return false;
  }
}

/**
 * A fresh directory for one server. /dev/shm (tmpfs) when available: creating 10,000 account files
 * on this machine's ext4 takes 0.2–4.6 s depending on disk contention, on tmpfs 0.1 s; the server's
 * data is throwaway anyway. Otherwise os.tmpdir().
 */
export function makeServerDir(prefix: string): Promise<string> {
  return mkdtemp(join(isWritableTmpfs(SHM) ? SHM : tmpdir(), prefix));
}
