import type { CommandModule } from 'yargs';
import { buildScenarios, SCENARIO_OUT_DIR } from '../build/scenarios.ts';

export const buildCommand: CommandModule<object, { out: string }> = {
  builder: (y) =>
    y.option('out', { type: 'string', default: SCENARIO_OUT_DIR, describe: 'output directory' }),
  handler: async (argv) => {
    for (const s of await buildScenarios(undefined, argv.out)) {
      const bad = s.imports.filter((i) => i !== 'k6' && !i.startsWith('k6/'));
      if (bad.length > 0)
        throw new Error(`${s.file} imports ${bad.join(', ')}: k6 can only load k6 and k6/* modules`);
      process.stdout.write(
        `${s.file}  ${(s.bytes / 1024).toFixed(1)} KiB  imports ${s.imports.join(', ')}\n`,
      );
    }
  },
};
