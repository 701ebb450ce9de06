/**
 * Reading `__ENV`: durations and numbers, with the error a user sees for a bad value. A leaf: config.ts,
 * collector.ts and delivery.ts read their settings through it (config.ts re-exports it for scenarios).
 */
/** `30s`, `2m`, `500ms`, `1h`, or a number of seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`invalid duration '${s}': use e.g. 500ms, 30s, 2m, 1h`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

/** A positive duration from `__ENV[name]` (`fallbackMs` when unset), e.g. STARLING_FLUSH_INTERVAL=5s. */
export function positiveDuration(name: string, fallbackMs: number): number {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallbackMs;
  const ms = parseDuration(raw);
  if (!(ms > 0)) throw new Error(`${name}='${raw}' must be a positive duration, e.g. ${fallbackMs / 1000}s`);
  return ms;
}

/** A non-negative number from `__ENV[name]` (`fallback` when unset). */
export function num(name: string, fallback: number): number {
  const v = __ENV[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}='${v}' is not a non-negative number`);
  return n;
}

/** A count (VUS, SESSIONS_PER_VU, ACCOUNT_OFFSET): a whole number; 2.5 sessions would log in as user3.5. */
export function whole(name: string, fallback: number): number {
  const n = num(name, fallback);
  if (!Number.isInteger(n))
    throw new Error(`${name}='${__ENV[name]}' is not a whole number: use e.g. ${Math.round(n)}`);
  return n;
}
