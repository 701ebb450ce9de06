/** Printing figures: what several benches print the same way. */

/** The median of `xs` (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** `v` to `digits` decimals; '–' for no figure. */
export const fixed = (v: number | undefined, digits: number): string =>
  v === undefined ? '–' : v.toFixed(digits);

/** 'lo–hi' of the finite values to `digits` decimals, one figure when they agree, '–' for none. */
export function spread(values: readonly (number | undefined)[], digits: number): string {
  const vs = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (vs.length === 0) return '–';
  const [lo, hi] = [Math.min(...vs).toFixed(digits), Math.max(...vs).toFixed(digits)];
  return lo === hi ? lo : `${lo}–${hi}`;
}

/** 'median (min–max)' to `digits` decimals; '' for none. */
export function medianRange(xs: readonly number[], digits: number): string {
  return xs.length === 0
    ? ''
    : `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

/** The p-th percentile (nearest rank) of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
