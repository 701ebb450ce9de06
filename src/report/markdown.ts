/**
 * `--markdown <file>`: a gate's (or a comparison's) verdicts as GitHub-flavoured Markdown, for a pull request
 * comment or a job's summary page (`--markdown "$GITHUB_STEP_SUMMARY"`): a headline that says passed or failed,
 * a table per kind of check, and the failures in words.
 */
import {
  baselineCell,
  boundCell,
  changeCell,
  compareChangeCell,
  formatStat,
  regressionVerdict,
  type CompareRow,
  type GateOutcome,
  type RegressionResult,
} from '../collector/baseline.ts';

/** A table cell: `|` escaped (also inside code spans, as GFM tables require), no line breaks. */
export function markdownCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A code span that holds `s` whatever backticks it contains. */
function code(s: string): string {
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return longest === 0 ? `${fence}${s}${fence}` : `${fence} ${s} ${fence}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)];
}

const mark = (ok: boolean): string => (ok ? '✅' : '❌');

function regressionSection(result: RegressionResult): string[] {
  const rows = result.rows.map((r) => [
    code(markdownCell(r.rule.key)),
    code(markdownCell(r.rule.stat)),
    markdownCell(r.rule.allowance),
    markdownCell(baselineCell(r)),
    r.value === undefined ? 'no samples' : markdownCell(formatStat(r.rule.kind, r.value)),
    markdownCell(changeCell(r)),
    markdownCell(boundCell(r)),
    mark(r.ok),
  ]);
  const runs = result.baselineRunIds.map(code).join(', ');
  return [
    `**Against baseline run${result.baselineRunIds.length === 1 ? '' : 's'}** ${runs} ` +
      '(bound: the worst baseline plus the tolerance; change: against the median baseline)',
    '',
    ...table(['metric', 'stat', 'allowed', 'baseline', 'this run', 'change', 'bound', ''], rows),
    '',
  ];
}

function failures(notes: readonly string[]): string[] {
  return notes.length === 0 ? [] : [...notes.map((n) => `- ${n}`), ''];
}

/** The gate's outcome as Markdown (ends with a blank line, so summaries appended one after another stay apart). */
export function gateMarkdown(o: GateOutcome): string {
  const checks = (o.thresholds?.rows.length ?? 0) + (o.regressions?.rows.length ?? 0);
  const failed =
    (o.thresholds?.rows.filter((r) => !r.ok).length ?? 0) +
    (o.regressions?.rows.filter((r) => !r.ok).length ?? 0);
  const out = [
    `### ${mark(o.ok)} starling gate: run ${code(o.runId)} ${o.ok ? 'passed' : 'failed'}`,
    '',
    o.ok ? `All ${checks} checks passed.` : `${failed} of ${checks} checks failed.`,
    '',
  ];
  if (o.thresholds !== undefined) {
    const rows = o.thresholds.rows.map((r) => [
      code(markdownCell(r.metric)),
      code(markdownCell(r.threshold)),
      markdownCell(r.display),
      mark(r.ok),
    ]);
    out.push('**Thresholds** (on the merged data of every generator)', '');
    out.push(...table(['metric', 'threshold', 'value', ''], rows), '');
  }
  if (o.regressions !== undefined) out.push(...regressionSection(o.regressions));
  const notes = [
    ...new Set(o.thresholds?.rows.flatMap((r) => (r.note === undefined ? [] : [r.note])) ?? []),
    ...(o.regressions?.rows.flatMap((r) => (r.note === undefined ? [] : [r.note])) ?? []),
    ...(o.regressions?.skipped.map((s) => s.reason) ?? []),
  ];
  out.push(...failures(notes));
  return out.join('\n');
}

/** `starling compare`'s table as Markdown, and its verdict when it judged rules. */
export function compareMarkdown(
  rows: readonly CompareRow[],
  aRunId: string,
  bRunId: string,
  regressions: RegressionResult | undefined,
): string {
  const out = [
    regressions === undefined
      ? `### starling compare: ${code(bRunId)} against ${code(aRunId)}`
      : `### ${mark(regressions.ok)} starling compare: ${code(bRunId)} against ${code(aRunId)}`,
    '',
    ...table(
      ['metric', 'stat', code(markdownCell(aRunId)), code(markdownCell(bRunId)), 'change'],
      rows.map((r) => [
        code(markdownCell(r.metric)),
        r.stat,
        markdownCell(r.a),
        markdownCell(r.b),
        markdownCell(compareChangeCell(r)),
      ]),
    ),
    '',
  ];
  if (regressions !== undefined) {
    out.push(...regressionSection(regressions));
    out.push(...failures(regressions.rows.flatMap((r) => (r.note === undefined ? [] : [r.note]))));
    out.push(regressionVerdict(regressions), '');
  }
  return out.join('\n');
}
