import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LocalServerRecord } from '../targets/index.ts';

/** Where `server up` records what it started, for `server down` (relative to the working directory). */
export const STATE_FILE = join('.starling', 'servers.json');

interface StateFileContent {
  servers: LocalServerRecord[];
}

export async function readServerState(file: string): Promise<LocalServerRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const content = JSON.parse(text) as Partial<StateFileContent>;
  return Array.isArray(content.servers) ? content.servers : [];
}

/** Writes atomically (temp + rename); removes the file when no server is left. */
export async function writeServerState(file: string, servers: LocalServerRecord[]): Promise<void> {
  if (servers.length === 0) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  const content: StateFileContent = { servers };
  await writeFile(temp, `${JSON.stringify(content, null, 2)}\n`);
  await rename(temp, file);
}
