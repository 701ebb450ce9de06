#!/usr/bin/env node
// The CLI runs as plain JavaScript built into dist/cli/ (src/build/cli.js; `npm ci` and `npm run build` build it).
import { buildCli, loadCli, staleReason } from '../src/build/cli.js';

// STARLING_FROM_SOURCE=1 runs the TypeScript through tsx instead (stack traces in src/, no build).
const fromSource = process.env.STARLING_FROM_SOURCE === '1';
let stale = fromSource ? undefined : staleReason();
if (stale !== undefined) {
  // Stale: rebuilt in place (~0.4 s once) rather than run by tsx (~0.75 s each start), so edits run as users get them.
  try {
    await buildCli();
    stale = undefined;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    process.stderr.write(
      `starling: dist/cli is stale (${stale}) and could not be rebuilt (${why}); running src/ with tsx\n`,
    );
  }
}
if (fromSource || stale !== undefined) {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  await main();
} else {
  // The bundle's own import() fails once its code comes from V8's cache (src/build/import-external.ts): it
  // imports through this module's.
  const command = process.argv.slice(2).find((a) => !a.startsWith('-')) ?? 'none';
  await loadCli(command).main((specifier) => import(specifier));
}
