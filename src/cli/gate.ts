/**
 * `starling gate <runDir>`: k6 thresholds on a run's merged data, and with `--baseline` a comparison with earlier
 * runs of the same load; exit 0, or 99 when a threshold or a comparison failed (104: an invalid one). `--junit`
 * and `--markdown` write the same verdicts for CI.
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import {
  assertSameScenario,
  defaultRegressionRules,
  evaluateRegressions,
  formatRegressionTable,
  parseRegressionRule,
  runMetricTypes,
  type GateOutcome,
  type RegressionResult,
  type RegressionRule,
  type SkippedRule,
} from '../collector/baseline.ts';
import {
  evaluateGate,
  formatGateTable,
  GATE_FAILED_EXIT_CODE,
  thresholdsFromFlags,
  type GateResult,
} from '../collector/gate.ts';
import { MergedRunError, readMergedRun, type MergedRun } from '../collector/summary.ts';
import { ThresholdConfigError } from '../engine/thresholds.ts';
import { gateJUnit } from '../report/junit.ts';
import { gateMarkdown } from '../report/markdown.ts';
import { RunInputError } from './run-target.ts';

export const THRESHOLDS_FILE = 'thresholds.json';

/** `<dir>/merged.json`, its run id defaulting to the directory's name; a missing or bad file is bad input. */
export async function readRun(dir: string): Promise<MergedRun> {
  try {
    const merged = await readMergedRun(dir);
    return { ...merged, runId: merged.runId || basename(dir) };
  } catch (e) {
    if (e instanceof MergedRunError) throw new RunInputError(e.message);
    throw e;
  }
}

/**
 * The thresholds to evaluate: the flags when given, else `<runDir>/thresholds.json`. Without either, a gate with
 * baselines judges the comparison alone (undefined); one without has nothing to judge.
 */
async function gateConfig(runDir: string, flags: readonly string[], baselines: boolean): Promise<unknown> {
  if (flags.length > 0) return thresholdsFromFlags(flags);
  const file = join(runDir, THRESHOLDS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    if (baselines) return undefined;
    throw new RunInputError(
      `no thresholds: give --threshold 'metric: expression', write ${file} (k6's options.thresholds object), ` +
        'or compare with earlier runs (--baseline <run-dir>)',
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RunInputError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

/** `--max-regression` rules, or the defaults for what every baseline holds (and those it holds too little of). */
export function regressionRules(
  flags: readonly string[],
  candidate: MergedRun,
  baselines: readonly MergedRun[],
): { rules: RegressionRule[]; skipped: SkippedRule[] } {
  if (flags.length === 0) return defaultRegressionRules(baselines);
  const types = runMetricTypes([candidate, ...baselines]);
  return { rules: flags.map((f) => parseRegressionRule(f, types)), skipped: [] };
}

/** Where the CI formats go: JUnit XML (written anew) and Markdown (appended, as $GITHUB_STEP_SUMMARY expects). */
export interface CiOutputs {
  junit?: string;
  markdown?: string;
}

/** Writes (or appends to) a CI output file; a file that cannot be written is bad input naming the flag. */
export async function writeCiFile(file: string, flag: string, text: string, append: boolean): Promise<void> {
  try {
    await (append ? appendFile(file, text) : writeFile(file, text));
  } catch (e) {
    throw new RunInputError(
      `${flag} ${file}: cannot write it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}

export async function writeCiOutputs(outcome: GateOutcome, outputs: CiOutputs): Promise<void> {
  if (outputs.junit !== undefined) await writeCiFile(outputs.junit, '--junit', gateJUnit(outcome), false);
  if (outputs.markdown !== undefined) {
    await writeCiFile(outputs.markdown, '--markdown', gateMarkdown(outcome), true);
  }
}

export interface GateOptions extends CiOutputs {
  /** `--threshold 'metric: expression'` flags. */
  thresholds: readonly string[];
  /** `--baseline` run directories: repeats of the baseline load. */
  baselines?: readonly string[];
  /** `--max-regression` rules (default: the built-in set, when there are baselines). */
  maxRegressions?: readonly string[];
}

/**
 * Runs the gate, prints its tables and writes the CI outputs; returns the exit code: 0, 99 when a threshold or a
 * comparison failed, 104 for an invalid threshold or rule (nothing is written then). Bad input (no merged.json,
 * runs of another scenario, `--max-regression` without `--baseline`) throws RunInputError or BaselineMismatchError.
 */
export async function runGate(
  runDir: string,
  opts: GateOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const baselineDirs = opts.baselines ?? [];
  const ruleFlags = opts.maxRegressions ?? [];
  if (ruleFlags.length > 0 && baselineDirs.length === 0) {
    throw new RunInputError(
      '--max-regression compares with earlier runs: give them with --baseline <run-dir> (repeat it for repeats of the baseline load)',
    );
  }
  const merged = await readRun(runDir);
  const baselines = await Promise.all(baselineDirs.map(readRun));
  if (baselines.length > 0) assertSameScenario(merged, baselines);
  const config = await gateConfig(runDir, opts.thresholds, baselines.length > 0);
  let thresholds: GateResult | undefined;
  let regressions: RegressionResult | undefined;
  try {
    thresholds = config === undefined ? undefined : evaluateGate(merged, config);
    if (baselines.length > 0) {
      const { rules, skipped } = regressionRules(ruleFlags, merged, baselines);
      regressions = evaluateRegressions(merged, baselines, rules, skipped);
    }
  } catch (e) {
    if (e instanceof ThresholdConfigError) {
      err(`starling: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
  const outcome: GateOutcome = {
    runId: merged.runId,
    startMs: merged.startMs,
    endMs: merged.endMs,
    thresholds,
    regressions,
    ok: (thresholds?.ok ?? true) && (regressions?.ok ?? true),
  };
  if (thresholds !== undefined) out(formatGateTable(thresholds, merged.runId));
  if (thresholds !== undefined && regressions !== undefined) out('\n');
  if (regressions !== undefined) out(formatRegressionTable(regressions));
  await writeCiOutputs(outcome, opts);
  return outcome.ok ? 0 : GATE_FAILED_EXIT_CODE;
}

interface GateArgs {
  runDir: string;
  threshold?: string[];
  baseline?: string[];
  maxRegression?: string[];
  junit?: string;
  markdown?: string;
}

/** The flags `gate` and `compare` share: rules against a baseline, and the CI formats. */
export function ciOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('max-regression', {
      type: 'string',
      array: true,
      describe:
        "'metric:stat=tolerance' against the baseline, e.g. 'xmpp_session_ready:p(99)=+10%,+5ms' (the larger applies), " +
        "'xmpp_login_success:rate=-1pt', 'xmpp_message_loss:count=+0' (repeatable; + a rise is worse, - a drop)",
    })
    .option('junit', {
      type: 'string',
      describe:
        'also write the verdicts as JUnit XML to this file (one testcase per threshold and comparison)',
    })
    .option('markdown', {
      type: 'string',
      describe: 'also append the verdicts as Markdown to this file, e.g. "$GITHUB_STEP_SUMMARY"',
    }) as unknown as Argv<T>;
}

export const gateCommand: CommandModule<object, GateArgs> = {
  builder: (y: Argv) =>
    ciOptions(
      y
        .positional('runDir', { type: 'string', demandOption: true, describe: 'results/<run-id>' })
        .option('threshold', {
          alias: 't',
          type: 'string',
          array: true,
          describe: `'metric: expression', e.g. 'xmpp_session_ready: p(99)<500' (repeatable; default: <runDir>/${THRESHOLDS_FILE})`,
        })
        .option('baseline', {
          alias: 'b',
          type: 'string',
          array: true,
          describe:
            'an earlier run of the same scenario and load to compare with (results/<run-id>; repeat for repeats: ' +
            'their spread widens the band); without --max-regression, the default rules (see README)',
        }),
    ) as unknown as Argv<GateArgs>,
  handler: async (argv) => {
    process.exitCode = await runGate(argv.runDir, {
      thresholds: argv.threshold ?? [],
      baselines: argv.baseline ?? [],
      maxRegressions: argv.maxRegression ?? [],
      junit: argv.junit,
      markdown: argv.markdown,
    });
  },
};
