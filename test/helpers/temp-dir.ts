import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/**
 * A fresh directory under the system's temp directory (named `prefix` + six characters), removed with everything
 * in it when the test process exits, whether its tests passed or not: a suite that leaves its scripts, results and
 * servers' files behind fills /tmp run after run.
 */
export async function tempDir(prefix: string): Promise<string> {
  if (made.length === 0) process.once('exit', removeAll);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

function removeAll(): void {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // still in use (a server's files): left for the system's temp cleaning, not a test failure
    }
  }
}
