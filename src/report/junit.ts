/**
 * `--junit <file>`: a gate's verdicts as JUnit XML, the format CI systems (GitHub Actions reporters, Jenkins,
 * GitLab) show as test results. One testcase per threshold and per baseline comparison; a failing one carries
 * the numbers (value, bound, ratio) in its failure message. The document follows the Ant JUnit schema that
 * test/fixtures/junit/JUnit.xsd holds (the strictest in use: `<testsuites>` without attributes, each suite with
 * `package`, `id`, `timestamp` without a zone, `hostname`, `properties`, `system-out` and `system-err`), and the
 * tests validate it with xmllint.
 *
 * Built with the protocol core's XML builder and serializer (src/xmpp/xml), which escape text and attributes.
 */
import { hostname } from 'node:os';
import {
  baselineCell,
  boundCell,
  changeCell,
  formatRegressionTable,
  formatStat,
  type GateOutcome,
  type RegressionResult,
  type RegressionRow,
  type SkippedRule,
} from '../collector/baseline.ts';
import { formatGateTable } from '../collector/gate.ts';
import { serialize, x, type XmlElement, type XmlNode } from '../xmpp/xml/element.ts';

// XML 1.0 allows tab, newline, carriage return and these ranges; anything else (other control characters, lone
// surrogates) cannot appear in a document, escaped or not. Run ids and metric names come from files we read.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** `s` with every character XML cannot hold replaced by U+FFFD. */
export function xmlChars(s: string): string {
  return s.replace(NOT_XML_CHAR, '\uFFFD');
}

interface TestCase {
  classname: string;
  name: string;
  failure?: { type: string; message: string; details: string };
  /** Why it was not judged (a default rule the baselines hold too few samples for). */
  skipped?: string;
}

interface TestSuite {
  name: string;
  cases: TestCase[];
  systemOut: string;
}

export interface JUnitOptions {
  /** Default: this machine's host name. */
  hostname?: string;
  /** When the run was judged, for suites of a run without a span (default: now). */
  now?: Date;
  /** `name`/`value` pairs for each suite's `<properties>` besides the run ids. */
  properties?: readonly [string, string][];
}

/** The classnames CI reporters group testcases by. */
export const JUNIT_CLASSNAMES = { thresholds: 'starling.thresholds', baseline: 'starling.baseline' } as const;

function thresholdSuite(o: GateOutcome): TestSuite | undefined {
  if (o.thresholds === undefined) return undefined;
  return {
    name: 'thresholds',
    systemOut: formatGateTable(o.thresholds, o.runId),
    cases: o.thresholds.rows.map((r) => {
      const name = `${r.metric}: ${r.threshold}`;
      if (r.ok) return { classname: JUNIT_CLASSNAMES.thresholds, name };
      const message =
        r.value === undefined
          ? `${name} failed: ${r.display}`
          : `${name} failed: the value is ${r.display}, the threshold ${r.threshold}`;
      return {
        classname: JUNIT_CLASSNAMES.thresholds,
        name,
        failure: { type: 'threshold', message, details: r.note ?? message },
      };
    }),
  };
}

function baselineSuite(o: GateOutcome): TestSuite | undefined {
  const result = o.regressions;
  if (result === undefined) return undefined;
  return {
    name: 'baseline',
    systemOut: formatRegressionTable(result),
    cases: [...result.rows.map((r) => regressionCase(result, r)), ...result.skipped.map(skippedCase)],
  };
}

function skippedCase(s: SkippedRule): TestCase {
  return {
    classname: JUNIT_CLASSNAMES.baseline,
    name: `${s.rule.key} ${s.rule.stat} ${s.rule.allowance}`,
    skipped: s.reason,
  };
}

function regressionCase(result: RegressionResult, r: RegressionRow): TestCase {
  const name = `${r.rule.key} ${r.rule.stat} ${r.rule.allowance}`;
  if (r.ok) return { classname: JUNIT_CLASSNAMES.baseline, name };
  const perRun = result.baselineRunIds.map((id, i) => {
    const v = r.baselines[i];
    return `${id}: ${v === undefined ? 'no samples' : formatStat(r.rule.kind, v)}`;
  });
  const details = [
    `this run (${result.runId}): ${r.value === undefined ? 'no samples' : formatStat(r.rule.kind, r.value)}`,
    `baseline: ${baselineCell(r)}; ${perRun.join(', ')}`,
    `change: ${changeCell(r)}`,
    `bound: ${boundCell(r)} (${r.rule.allowance} ${r.rule.tolerance.worse === 'rise' ? 'over' : 'under'} the worst baseline)`,
  ].join('\n');
  return {
    classname: JUNIT_CLASSNAMES.baseline,
    name,
    failure: { type: 'regression', message: r.note ?? name, details },
  };
}

/** `YYYY-MM-DDTHH:MM:SS` in UTC: the schema's timestamp has no zone. */
function timestamp(at: Date): string {
  return at.toISOString().slice(0, 19);
}

/** `children` one per line, so the file reads well in a CI artifact (whitespace between elements is ignored). */
function onLines(children: readonly XmlElement[], indent: string): XmlNode[] {
  return [...children.flatMap((c): XmlNode[] => [`\n${indent}  `, c]), `\n${indent}`];
}

/** The gate's outcome as a JUnit XML document: a `thresholds` suite and a `baseline` suite, each when judged. */
export function gateJUnit(o: GateOutcome, opts: JUnitOptions = {}): string {
  const host = opts.hostname ?? (hostname() || 'localhost');
  const at = o.startMs === null ? (opts.now ?? new Date()) : new Date(o.startMs);
  const seconds = o.startMs !== null && o.endMs !== null ? Math.max(0, (o.endMs - o.startMs) / 1000) : 0;
  const properties: [string, string][] = [
    ['run', o.runId],
    ...(o.regressions?.baselineRunIds ?? []).map((id): [string, string] => ['baseline', id]),
    ...(opts.properties ?? []),
  ];
  const suites = [thresholdSuite(o), baselineSuite(o)].filter((s): s is TestSuite => s !== undefined);
  const suiteElements = suites.map((suite, id) => {
    const cases = suite.cases.map((c) =>
      x(
        'testcase',
        { name: xmlChars(c.name), classname: c.classname, time: '0' },
        ...(c.failure === undefined
          ? []
          : [
              x(
                'failure',
                { type: c.failure.type, message: xmlChars(c.failure.message) },
                xmlChars(c.failure.details),
              ),
            ]),
        ...(c.skipped === undefined ? [] : [x('skipped', { message: xmlChars(c.skipped) })]),
      ),
    );
    return x(
      'testsuite',
      {
        name: suite.name,
        package: 'starling',
        id: String(id),
        timestamp: timestamp(at),
        hostname: xmlChars(host),
        tests: String(suite.cases.length),
        failures: String(suite.cases.filter((c) => c.failure !== undefined).length),
        errors: '0',
        skipped: String(suite.cases.filter((c) => c.skipped !== undefined).length),
        time: String(seconds),
      },
      ...onLines(
        [
          x(
            'properties',
            {},
            ...onLines(
              properties.map(([name, value]) => x('property', { name, value: xmlChars(value) })),
              '    ',
            ),
          ),
          ...cases,
          x('system-out', {}, xmlChars(suite.systemOut)),
          x('system-err'),
        ],
        '  ',
      ),
    );
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${serialize(x('testsuites', {}, ...onLines(suiteElements, '')))}\n`;
}
