/**
 * The one launcher of bench/: `npm run bench -- <name> [flags]` runs bench/<name>.ts in this process with the
 * flags after the name (`npm run bench -- <name> --help` lists them); `npm run bench -- --list` lists the
 * benches, one line each. Unknown names are refused with the list (exit 2).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BENCHES } from './lib/benches.ts';

const DIR = fileURLToPath(new URL('.', import.meta.url));

/** Every bench file (bench/*.ts but this one), by name. */
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();

const width = Math.max(...names.map((n) => n.length)) + 2;
const listing = names
  .map(
    (n) =>
      `  ${n.padEnd(width)}${(BENCHES as Record<string, string>)[n] ?? '(no line in bench/lib/benches.ts)'}`,
  )
  .join('\n');
const usage =
  'usage: npm run bench -- <name> [flags]    (npm run bench -- <name> --help lists its flags)\n' +
  '       npm run bench -- --list\n';

const [name, ...flags] = process.argv.slice(2);
if (name === '--list') {
  process.stdout.write(`${listing}\n`);
} else if (name === undefined || name === '--help' || name === '-h') {
  const out = name === undefined ? process.stderr : process.stdout;
  out.write(`${usage}\nbenches:\n${listing}\n`);
  if (name === undefined) process.exitCode = 2;
} else if (!names.includes(name)) {
  process.stderr.write(`unknown bench '${name}'; the benches:\n${listing}\n`);
  process.exitCode = 2;
} else {
  const file = join(DIR, `${name}.ts`);
  // The bench reads its flags from process.argv as if started on its own.
  process.argv = [process.argv[0]!, file, ...flags];
  await import(pathToFileURL(file).href);
}
