/**
 * Go-compatibility helpers: how k6 (Go, through grafana/sobek) formats values, errors, URLs, times and strings,
 * for the texts the Node engine must reproduce byte for byte. Pure functions; this module imports nothing, so
 * every part of starling (engine, collector) can use it without pulling anything else in.
 */

/** k6 throws Go errors: sobek turns them into `GoError` objects whose message is the Go text. */
export function goError(E: ErrorConstructor, message: string): Error {
  const err = new E(message);
  err.name = 'GoError';
  return err;
}

/** Go's `%v` of what sobek exports a JS number as: int64 when integral, else float64 (strconv 'g', shortest). */
export function goNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 2 ** 63) return BigInt(v).toString();
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  const [mantissa, exp] = v.toExponential().split('e') as [string, string];
  const e = Number(exp);
  // %e when the exponent is < -4 or >= 6 (the shortest form's precision for this decision)
  if (e < -4 || e >= 6) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  return String(v);
}

/** The Go element type of the slice sobek exports a typed array as (typedarrays.go `export`). */
const TYPED_ARRAY_ELEMENTS: Record<string, string> = {
  Uint8Array: 'uint8',
  Uint8ClampedArray: 'uint8',
  Int8Array: 'int8',
  Int16Array: 'int16',
  Uint16Array: 'uint16',
  Int32Array: 'int32',
  Uint32Array: 'uint32',
  Float32Array: 'float32',
  Float64Array: 'float64',
  BigInt64Array: 'int64',
  BigUint64Array: 'uint64',
};

/**
 * Go's `%T` of what sobek's `Value.Export()` gives for a JS value, as k6 prints it in "unknown request body type
 * %T", "unsupported send type %T" and "unable to use type %T as a duration value". Cross-realm safe (VU contexts).
 * Per sobek: a symbol exports as its string, a BigInt as *big.Int, a typed array as a Go slice of its element type
 * (Uint8Array and Uint8ClampedArray as []uint8, printed `[]uint8`), an ArrayBuffer as the sobek.ArrayBuffer value,
 * a Date as time.Time (<nil> when invalid), a Map as [][2]interface {}, a Set as []interface {}, a boxed number,
 * boolean, symbol or BigInt as its primitive, any other object (String objects and DataViews included) as
 * map[string]interface {}. A Proxy (sobek.Proxy) cannot be told apart without node:util, and shows as the map.
 */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  switch (typeof v) {
    case 'string':
    case 'symbol':
      return 'string';
    case 'number':
      return Number.isInteger(v) ? 'int64' : 'float64';
    case 'boolean':
      return 'bool';
    case 'bigint':
      return '*big.Int';
    case 'function':
      return 'func(sobek.FunctionCall) sobek.Value';
  }
  if (Array.isArray(v)) return '[]interface {}';
  const tag = Object.prototype.toString.call(v).slice(8, -1);
  if (ArrayBuffer.isView(v)) {
    const elem = TYPED_ARRAY_ELEMENTS[tag];
    return elem === undefined ? 'map[string]interface {}' : `[]${elem}`;
  }
  switch (tag) {
    case 'ArrayBuffer':
      return 'sobek.ArrayBuffer';
    case 'Date':
      return Number.isNaN(Date.prototype.getTime.call(v)) ? '<nil>' : 'time.Time';
    case 'Map':
      return '[][2]interface {}';
    case 'Set':
      return '[]interface {}';
    case 'Promise':
      return '*sobek.Promise';
    case 'Number':
      return goTypeName(Number.prototype.valueOf.call(v));
    case 'Boolean':
      return 'bool';
    case 'Symbol':
      return 'string';
    case 'BigInt':
      return '*big.Int';
  }
  return 'map[string]interface {}';
}

/** Go's url.QueryEscape. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** Go's url.Parse, as far as it refuses (it accepts far more than WHATWG URL does). */
export function goUrlParseError(s: string): string | null {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(s)) return 'net/url: invalid control character in URL';
  const beforeQuery = s.split(/[?#]/, 1)[0]!;
  const badEscape = /%(?![0-9a-fA-F]{2})/.exec(beforeQuery);
  if (badEscape)
    return `invalid URL escape ${JSON.stringify(beforeQuery.slice(badEscape.index, badEscape.index + 3))}`;
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(s)?.[1];
  if (authority === undefined) return null;
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) return "missing ']' in host";
    const rest = host.slice(close + 1);
    if (rest !== '' && !/^:\d*$/.test(rest)) return `invalid port ${JSON.stringify(rest)} after host`;
    return null;
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !/^\d*$/.test(host.slice(colon + 1))) {
    return `invalid port ${JSON.stringify(host.slice(colon))} after host`;
  }
  if (/[\s<>"{}|\\^`]/.test(host)) {
    const c = /[\s<>"{}|\\^`]/.exec(host)![0];
    return `invalid character ${JSON.stringify(c)} in host name`;
  }
  return null;
}

/** Go's time.RFC3339 in the local zone: 2006-01-02T15:04:05Z07:00. */
export function goRfc3339(d: Date, utc = false): string {
  const offsetMin = utc ? 0 : -d.getTimezoneOffset();
  const local = new Date(d.getTime() + offsetMin * 60_000);
  const base = local.toISOString().slice(0, 19);
  if (offsetMin === 0) return `${base}Z`;
  const sign = offsetMin > 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  return `${base}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** Go strings.TrimSpace's set (unicode.IsSpace). */
const GO_SPACE =
  '\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

export function goTrimSpace(s: string): string {
  return goTrim(s, GO_SPACE);
}

/** Go strings.Trim: removes leading and trailing characters found in `cutset`. */
export function goTrim(s: string, cutset: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && cutset.includes(s[a] as string)) a++;
  while (b > a && cutset.includes(s[b - 1] as string)) b--;
  return s.slice(a, b);
}

// ---- Go strconv.ParseFloat, which k6 uses for threshold values, percentiles and trend stats ------------------

export type GoFloat =
  { ok: true; value: number } | { ok: false; reason: 'invalid syntax' | 'value out of range' };

const DEC_RE = /^[+-]?(?:[0-9_]+(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][+-]?[0-9][0-9_]*)?$/;
const HEX_RE = /^([+-]?)0[xX]((?:[0-9a-fA-F_]+(?:\.[0-9a-fA-F_]*)?|\.[0-9a-fA-F_]+))[pP]([+-]?[0-9][0-9_]*)$/;

/** Go strconv underscoreOK: underscores only between digits (a base prefix counts as a digit). */
function underscoreOK(s0: string): boolean {
  let s = s0;
  let saw = '^';
  let i = 0;
  if (s.length >= 1 && (s[0] === '-' || s[0] === '+')) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === '0' && 'bBoOxX'.includes(s[1] as string)) {
    i = 2;
    saw = '0';
    hex = s[1] === 'x' || s[1] === 'X';
  }
  for (; i < s.length; i++) {
    const c = s[i] as string;
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

/** Go's strconv.ParseFloat(s, 64): decimal and hex float literals, `inf`/`infinity`/`nan` (any case). */
export function parseGoFloat(s: string): GoFloat {
  const special = /^([+-]?)(inf|infinity)$/i.exec(s);
  if (special !== null) return { ok: true, value: special[1] === '-' ? -Infinity : Infinity };
  if (/^nan$/i.test(s)) return { ok: true, value: NaN };
  const hex = HEX_RE.exec(s);
  let value: number;
  if (hex !== null) {
    if (s.includes('_') && !underscoreOK(s)) return { ok: false, reason: 'invalid syntax' };
    const mant = (hex[2] as string).replaceAll('_', '');
    const [intPart = '', frac = ''] = mant.split('.');
    const digits = intPart + frac;
    if (digits.length === 0) return { ok: false, reason: 'invalid syntax' };
    const exp = Number((hex[3] as string).replaceAll('_', ''));
    let m = 0;
    for (const d of digits) m = m * 16 + parseInt(d, 16);
    value = m * 2 ** (exp - 4 * frac.length);
    if (hex[1] === '-') value = -value;
  } else {
    if (!DEC_RE.test(s)) return { ok: false, reason: 'invalid syntax' };
    if (s.includes('_') && !underscoreOK(s)) return { ok: false, reason: 'invalid syntax' };
    const clean = s.replaceAll('_', '');
    if (!/[0-9]/.test(clean.split(/[eE]/)[0] as string)) return { ok: false, reason: 'invalid syntax' };
    value = Number(clean);
  }
  if (!Number.isFinite(value)) return { ok: false, reason: 'value out of range' };
  return { ok: true, value };
}
