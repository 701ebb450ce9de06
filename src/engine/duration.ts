/** k6's duration values (lib/types): option values parsed to milliseconds, and Go's formatting for messages. */
import { parseGoDuration } from './thresholds.ts';

/** k6 types.ParseExtendedDuration / Duration.UnmarshalJSON: numbers and unit-less strings are milliseconds. */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`'${v}' is not a valid duration value`);
    return v;
  }
  if (typeof v !== 'string') throw new Error(`'${JSON.stringify(v)}' is not a valid duration value`);
  const trimmed = v.trim();
  if (trimmed !== '' && !Number.isNaN(Number(trimmed))) return Number(trimmed);
  const d = v.indexOf('d');
  if (d < 0) return parseGoDuration(v);
  const hours = d + 1 < v.length ? parseGoDuration(v.slice(d + 1)) : 0;
  if (hours < 0) throw new Error(`invalid time format '${v.slice(d + 1)}'`);
  const days = Number(v.slice(0, d));
  if (!/^[-+]?\d+$/.test(v.slice(0, d)))
    throw new Error(`strconv.ParseInt: parsing "${v.slice(0, d)}": invalid syntax`);
  return days * 86_400_000 + (days < 0 ? -hours : hours);
}

/** Go's time.Duration.String(), for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${+rest.toFixed(6)}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = +(rest / 1000).toFixed(9);
  return `${neg ? '-' : ''}${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}
