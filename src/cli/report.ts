/**
 * `starling report <run-dir>`: (re)writes report.html for a results directory: one run, a transport comparison
 * (compare.json) or a capacity search (capacity.json). `starling run` writes it by itself at the end of a run.
 */
import type { Argv, CommandModule } from 'yargs';
import { writeReport } from '../report/html.ts';

interface ReportArgs {
  runDir: string;
  out?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  builder: (y: Argv) =>
    y
      .positional('runDir', {
        type: 'string',
        demandOption: true,
        describe: 'a results directory: results/<run-id>/ of a run, a compare-transports or a capacity run',
      })
      .option('out', {
        alias: 'o',
        type: 'string',
        describe: 'where to write the page (default <run-dir>/report.html)',
      }) as unknown as Argv<ReportArgs>,
  handler: async (argv) => {
    const file = await writeReport(argv.runDir, argv.out);
    process.stdout.write(`${file}\n`);
  },
};
