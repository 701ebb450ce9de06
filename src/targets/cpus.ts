/** CPU lists for pinning a local server (`taskset -c`): parsed and checked against the CPUs this process may use. */
import { readFileSync } from 'node:fs';
import { LocalServerOptionError } from './errors.ts';

/** Linux numbers CPUs below its NR_CPUS, at most 8192: a bound before a range is expanded CPU by CPU. */
const MAX_CPU = 8191;

/** `0-2,5` → [0, 1, 2, 5]; undefined when the text is not such a list (or names a CPU above MAX_CPU). */
function parseList(text: string): number[] | undefined {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to > MAX_CPU) return undefined;
    for (let c = from; c <= to; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** The CPUs this process may run on (its affinity, from /proc), or undefined where /proc does not say. */
export function allowedCpus(): number[] | undefined {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? parseList(m[1]!) : undefined;
  } catch {
    return undefined;
  }
}

/** A `taskset -c` list, checked: every CPU in it must be one this process may use. */
export function cpuList(text: string): { text: string; cpus: number[] } {
  const cpus = parseList(text);
  if (cpus === undefined || cpus.length === 0)
    throw new LocalServerOptionError(
      `cpus '${text}' is not a CPU list: use e.g. 1, 0-1 or 0,2 (CPUs 0–${MAX_CPU})`,
    );
  const allowed = allowedCpus();
  const missing = allowed === undefined ? [] : cpus.filter((c) => !allowed.includes(c));
  if (missing.length > 0)
    throw new LocalServerOptionError(
      `cpus '${text}': CPU ${missing.join(', ')} is not one this machine lets starling use (${allowed!.join(', ')})`,
    );
  return { text: cpus.join(','), cpus };
}
