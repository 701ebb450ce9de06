/**
 * `starling compare <a> <b>`: two runs of the same scenario side by side (their merged, fleet-wide data), b against
 * a. It judges nothing and exits 0, unless given `--max-regression` rules: then it is a gate with one baseline (a),
 * and exits 99 when a rule failed.
 */
import type { Argv, CommandModule } from 'yargs';
import {
  assertSameScenario,
  compareRuns,
  evaluateRegressions,
  formatCompareTable,
  formatRegressionTable,
  type RegressionResult,
} from '../collector/baseline.ts';
import { GATE_FAILED_EXIT_CODE } from '../collector/gate.ts';
import { ThresholdConfigError } from '../engine/thresholds.ts';
import { compareMarkdown } from '../report/markdown.ts';
import { ciOptions, readRun, regressionRules, writeCiFile, writeCiOutputs, type CiOutputs } from './gate.ts';
import { RunInputError } from './run-target.ts';

export interface CompareOptions extends CiOutputs {
  maxRegressions?: readonly string[];
}

/** Prints the comparison (and the rules' verdicts); returns the exit code: 0, 99 (a rule failed) or 104. */
export async function runCompare(
  aDir: string,
  bDir: string,
  opts: CompareOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const ruleFlags = opts.maxRegressions ?? [];
  if (opts.junit !== undefined && ruleFlags.length === 0) {
    throw new RunInputError(
      '--junit records verdicts, and compare judges only with --max-regression: add rules, or use gate --baseline',
    );
  }
  const a = await readRun(aDir);
  const b = await readRun(bDir);
  assertSameScenario(b, [a]);
  let regressions: RegressionResult | undefined;
  try {
    regressions =
      ruleFlags.length === 0
        ? undefined
        : evaluateRegressions(b, [a], regressionRules(ruleFlags, b, [a]).rules);
  } catch (e) {
    if (e instanceof ThresholdConfigError) {
      err(`starling: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
  const rows = compareRuns(a, b);
  out(formatCompareTable(rows, a.runId, b.runId));
  if (regressions !== undefined) out(`\n${formatRegressionTable(regressions)}`);
  if (opts.markdown !== undefined) {
    await writeCiFile(
      opts.markdown,
      '--markdown',
      compareMarkdown(rows, a.runId, b.runId, regressions),
      true,
    );
  }
  if (regressions !== undefined && opts.junit !== undefined) {
    await writeCiOutputs(
      {
        runId: b.runId,
        startMs: b.startMs,
        endMs: b.endMs,
        thresholds: undefined,
        regressions,
        ok: regressions.ok,
      },
      { junit: opts.junit },
    );
  }
  return regressions === undefined || regressions.ok ? 0 : GATE_FAILED_EXIT_CODE;
}

interface CompareArgs {
  a: string;
  b: string;
  maxRegression?: string[];
  junit?: string;
  markdown?: string;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  builder: (y: Argv) =>
    ciOptions(
      y
        .positional('a', {
          type: 'string',
          demandOption: true,
          describe: 'the earlier run: results/<run-id>',
        })
        .positional('b', { type: 'string', demandOption: true, describe: 'the run compared with it' }),
    ) as unknown as Argv<CompareArgs>,
  handler: async (argv) => {
    process.exitCode = await runCompare(argv.a, argv.b, {
      maxRegressions: argv.maxRegression ?? [],
      junit: argv.junit,
      markdown: argv.markdown,
    });
  },
};
