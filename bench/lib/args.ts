/**
 * The flags of a bench, from one table: parsed, checked (a bad value is a BenchArgError naming the flag and what
 * it takes) and listed by --help. `--name value` and `--name=value`; the last of a repeated flag wins; a flag the
 * table does not have is refused; with `passThrough`, what follows `--` is handed on untouched.
 *
 * No dependency beyond node: bench/raw-ws-flow.ts uses it and is bundled by esbuild to run under plain node.
 */
import { BENCHES, type BenchName } from './benches.ts';

/** A flag given a value it does not take, an unknown flag, a flag without its value. */
export class BenchArgError extends Error {
  override name = 'BenchArgError';
  /**
   * @param flag as typed: `--users`
   * @param fix what the flag takes: `must be a whole number ≥ 2`
   * @param got the value refused, if one was given
   */
  constructor(
    readonly flag: string,
    readonly fix: string,
    readonly got?: string,
  ) {
    super(`${flag} ${fix}${got === undefined ? '' : `, got '${got}'`}`);
  }
}

/** `raw` as a whole number ≥ min, else a BenchArgError for --name. */
export function whole(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min)
    throw new BenchArgError(`--${name}`, `must be a whole number ≥ ${min}`, raw);
  return n;
}

/** `raw` as a finite number > 0, else a BenchArgError for --name. */
export function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!(n > 0) || !Number.isFinite(n)) throw new BenchArgError(`--${name}`, 'must be a positive number', raw);
  return n;
}

/** `raw` as a finite number ≥ min, else a BenchArgError for --name. */
export function atLeast(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min)
    throw new BenchArgError(`--${name}`, `must be a number ≥ ${min}`, raw);
  return n;
}

/** `raw` as a comma-separated list of `allowed` (at least one), else a BenchArgError naming the first misfit. */
export function listOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T[] {
  const items = raw.split(',').map((s) => s.trim()) as T[];
  for (const i of items) {
    if (!allowed.includes(i))
      throw new BenchArgError(`--${name}`, `must be a comma-separated list of ${allowed.join(', ')}`, i);
  }
  return items;
}

/** `raw` as one of `allowed`, else a BenchArgError for --name. */
export function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!allowed.includes(raw as T))
    throw new BenchArgError(`--${name}`, `must be one of ${allowed.join(', ')}`, raw);
  return raw as T;
}

/** One row of a bench's table of flags. `Defaulted`: whether it has a default, so always a value. */
export interface Flag<T, Defaulted extends boolean = boolean> {
  /** What the value looks like in --help: `N`, `S`, `a,b,…`. */
  value: string;
  help: string;
  /** The default as it would be typed (parsed like a given value); undefined: none, the value may be undefined. */
  default: Defaulted extends true ? string : undefined;
  /** The value from its text; `name` is the flag without its dashes. Throws BenchArgError. */
  parse: (name: string, raw: string) => T;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Flags = Record<string, Flag<any>>;

/** The parsed values of a table of flags. */
export type Values<F extends Flags> = {
  [K in keyof F]: F[K] extends Flag<infer T, infer D> ? (D extends true ? T : T | undefined) : never;
};

type Defaulted<D> = D extends string ? true : false;
interface Common<D extends string | undefined> {
  help: string;
  default?: D;
  /** Overrides the value's look in --help. */
  value?: string;
}

function row<T, D extends string | undefined>(
  o: Common<D>,
  value: string,
  parse: (name: string, raw: string) => T,
): Flag<T, Defaulted<D>> {
  return { value: o.value ?? value, help: o.help, default: o.default as never, parse };
}

/** Builders of table rows, over the checks above. */
export const flag = {
  whole: <D extends string | undefined = undefined>(o: Common<D> & { min?: number }) =>
    row(o, 'N', (name, raw) => whole(name, raw, o.min ?? 1)),
  positive: <D extends string | undefined = undefined>(o: Common<D>) => row(o, 'X', positive),
  atLeast: <D extends string | undefined = undefined>(o: Common<D> & { min: number }) =>
    row(o, 'X', (name, raw) => atLeast(name, raw, o.min)),
  list: <A extends string, D extends string | undefined = undefined>(o: Common<D> & { of: readonly A[] }) =>
    row(o, o.of.join(','), (name, raw) => listOf(name, raw, o.of)),
  oneOf: <A extends string, D extends string | undefined = undefined>(o: Common<D> & { of: readonly A[] }) =>
    row(o, o.of.join('|'), (name, raw) => oneOf(name, raw, o.of)),
  string: <D extends string | undefined = undefined>(o: Common<D>) => row(o, 'S', (_name, raw) => raw),
  /** Any other check: `parse` throws BenchArgError (e.g. through the checks above). */
  custom: <T, D extends string | undefined = undefined>(
    o: Common<D> & { value: string; parse: (name: string, raw: string) => T },
  ) => row(o, o.value, o.parse),
};

export interface BenchSpec<F extends Flags> {
  name: BenchName;
  flags: F;
  /** What arguments after `--` are for (shown in --help); without it, `--` is refused. */
  passThrough?: string;
  /** Lines after the flags in --help: environment variables, what it needs. */
  notes?: readonly string[];
  /** Checks across flags, after each was parsed: throws BenchArgError. */
  check?: (values: Values<F>) => void;
}

/** How to start a bench: the one launcher. */
export const launch = (name: string): string => `npm run bench -- ${name}`;

/** The widest flag (with its value) that --help puts beside its help. */
const HELP_COLUMN = 34;

/** The --help text of a bench: its line from bench/lib/benches.ts, usage, then one line per flag. */
export function helpText<F extends Flags>(spec: BenchSpec<F>): string {
  const rows: [string, string][] = Object.entries(spec.flags).map(([name, f]) => [
    `--${name} ${f.value}`,
    f.help + (f.default === undefined ? '' : ` (default ${f.default})`),
  ]);
  rows.push(['--help', 'this text']);
  // A flag too long for the column (a long list of values) has its help on the next line.
  const width = Math.max(...rows.map(([l]) => l.length).filter((n) => n <= HELP_COLUMN)) + 2;
  const line = ([l, h]: [string, string]): string =>
    l.length + 2 > width ? `  ${l}\n  ${' '.repeat(width)}${h}` : `  ${l.padEnd(width)}${h}`;
  const usage = `${launch(spec.name)} [flags]` + (spec.passThrough ? ' [-- …]' : '');
  return [
    `${spec.name}: ${BENCHES[spec.name]}`,
    '',
    `  ${usage}`,
    '',
    ...rows.map(line),
    ...(spec.passThrough ? ['', `  after --: ${spec.passThrough}`] : []),
    ...(spec.notes?.length ? ['', ...spec.notes.map((n) => `  ${n}`)] : []),
    '',
  ].join('\n');
}

export interface Parsed<F extends Flags> {
  values: Values<F>;
  /** What followed `--` (with `passThrough`). */
  rest: string[];
  /** --help or -h was given. */
  help: boolean;
}

/** Parses `argv` (the arguments after the bench's name) against the table. Throws BenchArgError. */
export function parseFlags<F extends Flags>(spec: BenchSpec<F>, argv: readonly string[]): Parsed<F> {
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  const rest = split < 0 ? [] : argv.slice(split + 1);
  const seeHelp = `(${launch(spec.name)} --help lists them)`;
  if (split >= 0 && !spec.passThrough)
    throw new BenchArgError('--', `is not taken by ${spec.name}: it passes nothing on ${seeHelp}`);
  const given = new Map<string, string>();
  let help = false;
  for (let i = 0; i < own.length; i++) {
    const token = own[i]!;
    if (token === '--help' || token === '-h') {
      help = true;
      continue;
    }
    const m = /^--([^=]+)(?:=([\s\S]*))?$/.exec(token);
    const name = m?.[1];
    if (name === undefined || !Object.hasOwn(spec.flags, name))
      throw new BenchArgError(token, `is not a flag of ${spec.name} ${seeHelp}`);
    const raw = m![2] ?? own[i + 1];
    if (m![2] === undefined) i++;
    if (raw === undefined || (m![2] === undefined && raw.startsWith('--')))
      throw new BenchArgError(`--${name}`, `needs a value: --${name} ${spec.flags[name]!.value}`);
    given.set(name, raw);
  }
  const values: Record<string, unknown> = {};
  if (!help) {
    for (const [name, f] of Object.entries(spec.flags)) {
      const raw = given.get(name) ?? f.default;
      values[name] = raw === undefined ? undefined : f.parse(name, raw);
    }
    spec.check?.(values as Values<F>);
  }
  return { values: values as Values<F>, rest, help };
}

/**
 * The bench's flags from process.argv: --help prints the help text and exits 0; a bad flag prints its
 * BenchArgError and exits 2.
 */
export function benchArgs<F extends Flags>(
  spec: BenchSpec<F>,
  argv: readonly string[] = process.argv.slice(2),
): Values<F> & { rest: string[] } {
  try {
    const { values, rest, help } = parseFlags(spec, argv);
    if (help) {
      process.stdout.write(helpText(spec));
      process.exit(0);
    }
    return { ...values, rest };
  } catch (e) {
    if (!(e instanceof BenchArgError)) throw e;
    process.stderr.write(`${spec.name}: ${e.message}\n`);
    process.exit(2);
  }
}
