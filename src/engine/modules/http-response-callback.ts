/** k6/http's response callback (grafana/k6 js/modules/k6/http/response_callback.go): http.expectedStatuses(). */
import { goError } from '../go.ts';

/** What http.expectedStatuses() returns (response_callback.go). */
export class ExpectedStatuses {
  constructor(
    readonly exact: readonly number[],
    readonly ranges: readonly (readonly [number, number])[],
  ) {}

  match(status: number): boolean {
    return this.exact.includes(status) || this.ranges.some(([min, max]) => min <= status && status <= max);
  }
}

export const DEFAULT_EXPECTED = new ExpectedStatuses([], [[200, 399]]);

/** http.expectedStatuses(...args), throwing in the VU context's constructors. */
export function expectedStatuses(
  E: ErrorConstructor,
  TypeErrorCtor: TypeErrorConstructor,
  args: unknown[],
): ExpectedStatuses {
  if (args.length === 0) throw goError(E, 'no arguments');
  const exact: number[] = [];
  const ranges: [number, number][] = [];
  args.forEach((arg, i) => {
    if (arg === undefined || arg === null) {
      throw new TypeErrorCtor('Cannot convert undefined or null to object');
    }
    if (Number.isInteger(arg)) {
      exact.push(arg as number);
      return;
    }
    const o = Object(arg) as Record<string, unknown>;
    if (!('min' in o) || !('max' in o)) {
      throw goError(
        E,
        `argument number ${i + 1} to expectedStatuses was neither an integer nor an object like {min:100, max:329}`,
      );
    }
    if (!Number.isInteger(o.min) || !Number.isInteger(o.max)) {
      throw goError(E, `both min and max need to be integers for argument number ${i + 1}`);
    }
    ranges.push([o.min as number, o.max as number]);
  });
  return new ExpectedStatuses(exact, ranges);
}
