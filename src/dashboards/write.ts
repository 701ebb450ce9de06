/**
 * Writes dashboards/*.json from the generator (src/dashboards/dashboards.ts); `--check` writes nothing and
 * exits 1 when a committed file differs from what the generator builds.
 *
 *   node --import tsx src/dashboards/write.ts [--check]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDashboards, dashboardText } from './dashboards.ts';

export const DASHBOARDS_DIR = 'dashboards';

export async function writeDashboards(dir = DASHBOARDS_DIR, check = false): Promise<string[]> {
  const stale: string[] = [];
  for (const { file, dashboard } of buildDashboards()) {
    const path = join(dir, file);
    const text = await dashboardText(dashboard, path);
    if (check) {
      const current = await readFile(path, 'utf8').catch(() => '');
      if (current !== text) stale.push(path);
    } else await writeFile(path, text);
  }
  return stale;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const stale = await writeDashboards(DASHBOARDS_DIR, check);
  if (check && stale.length > 0) {
    process.stderr.write(
      `out of date (run node --import tsx src/dashboards/write.ts): ${stale.join(', ')}\n`,
    );
    process.exitCode = 1;
  } else if (!check)
    process.stdout.write(`wrote ${buildDashboards().length} dashboards to ${DASHBOARDS_DIR}/\n`);
}
