import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './temp-dir.ts';

/** A k6 script written to a fresh temp directory as script.js, with `extra` files (name → content) beside it. */
export async function scriptFile(code: string, extra: Record<string, string> = {}): Promise<string> {
  const dir = await tempDir('starling-loader-');
  for (const [name, content] of Object.entries(extra)) await writeFile(join(dir, name), content);
  const file = join(dir, 'script.js');
  await writeFile(file, code);
  return file;
}
