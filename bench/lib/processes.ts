/** Processes the benches start and measure: a throwaway server, `starling collect`, the CPU of reaped children. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startLocalServer, type LocalServer, type LocalServerOptions } from '../../src/targets/index.ts';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** user + system seconds of this process's reaped children and all they waited for (cutime + cstime). */
export function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // cutime and cstime are stat fields 16 and 17: 13 and 14 after "pid (comm) ".
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** Runs `fn` against a throwaway local server, stopped afterwards whatever happens. */
export async function withLocalServer<T>(
  options: LocalServerOptions,
  fn: (server: LocalServer) => Promise<T>,
): Promise<T> {
  const server = await startLocalServer(options);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

export interface Collector {
  child: ChildProcessByStdio<null, null, Readable>;
  url: string;
  /** Its stderr so far. */
  stderr: () => string;
}

/**
 * `starling collect --port 0 --results-root <resultsRoot> …flags` in its own process, as deployed; resolved once
 * it has said where it listens and `ready(stderr)` holds.
 */
export async function startCollector(
  resultsRoot: string,
  flags: readonly string[] = [],
  ready: (stderr: string) => boolean = () => true,
): Promise<Collector> {
  const child = spawn(
    process.execPath,
    ['bin/starling.js', 'collect', '--port', '0', '--results-root', resultsRoot, ...flags],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /collector on (http:\/\/[^:]+:\d+)/.exec(stderr);
      if (m && ready(stderr)) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`collect exited: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}
