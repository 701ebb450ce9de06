/**
 * `k6/encoding` (internal/js/modules/k6/encoding): b64encode / b64decode with Go's encoding/base64 variants
 * `std` (default), `rawstd`, `url`, `rawurl`; decoding is as strict as Go's (padding, alphabet).
 */
import { UnsupportedK6ApiError, type ModuleFactory, type VuRuntime } from '../runtime.ts';
import { realmArrayBuffer } from '../globals.ts';
import { jsError } from './k6.ts';
import { toBytes } from './crypto.ts';

type Variant = 'std' | 'rawstd' | 'url' | 'rawurl';

function variant(enc: unknown): Variant {
  return enc === 'rawstd' || enc === 'url' || enc === 'rawurl' ? enc : 'std';
}

export function b64encode(bytes: Uint8Array, enc: Variant): string {
  const url = enc === 'url' || enc === 'rawurl';
  let s = Buffer.from(bytes).toString(url ? 'base64url' : 'base64');
  if (url && enc === 'url') s += '='.repeat((4 - (s.length % 4)) % 4);
  if (enc === 'rawstd') s = s.replace(/=+$/, '');
  return s;
}

/** Go's base64 decoding: skips \r and \n, else any byte outside the alphabet or misplaced padding is an error. */
export function b64decode(rt: VuRuntime, input: string, enc: Variant): Uint8Array {
  const url = enc === 'url' || enc === 'rawurl';
  const padded = enc === 'std' || enc === 'url';
  const alphabet = url ? /[A-Za-z0-9_-]/ : /[A-Za-z0-9+/]/;
  const chars: string[] = [];
  let padAt = -1;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '\r' || c === '\n') continue;
    const bad = () => jsError(rt, `illegal base64 data at input byte ${i}`);
    if (c === '=') {
      if (!padded) throw bad();
      if (padAt < 0) padAt = chars.length;
      chars.push(c);
      continue;
    }
    if (padAt >= 0 || !alphabet.test(c)) throw bad();
    chars.push(c);
  }
  const s = chars.join('');
  const data = padAt < 0 ? s : s.slice(0, padAt);
  const pad = s.length - data.length;
  const rem = data.length % 4;
  if (rem === 1 || (padded && (s.length % 4 !== 0 || pad !== (rem === 0 ? 0 : 4 - rem)))) {
    throw jsError(
      rt,
      `illegal base64 data at input byte ${Math.max(0, padAt < 0 ? input.length - rem : padAt)}`,
    );
  }
  return new Uint8Array(Buffer.from(data, url ? 'base64url' : 'base64'));
}

export const encodingModule: ModuleFactory = (rt) => {
  if (rt.realm === undefined) throw new UnsupportedK6ApiError('k6/encoding without a VU context');
  const realm = rt.realm;
  return {
    b64encode: (input: unknown, encoding?: unknown) => b64encode(toBytes(rt, input), variant(encoding)),
    b64decode: (input: unknown, encoding?: unknown, format?: unknown) => {
      const bytes = b64decode(rt, String(input), variant(encoding));
      return format === 's' ? Buffer.from(bytes).toString('utf8') : realmArrayBuffer(realm, bytes);
    },
  };
};
