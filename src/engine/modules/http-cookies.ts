/**
 * Cookies of `k6/http`: the request's params.cookies as Go writes them in the Cookie header, and the response's
 * Set-Cookie lines as Go's net/http reads them into k6's HTTPCookie (js/modules/k6/http/response.go). Cookie jars
 * (cookiejar.go) are not implemented.
 */

export interface RequestCookie {
  name: string;
  value: string;
  replace: boolean;
}

/** Go's sanitizeCookieValue: a value with a space or a comma is quoted. */
export function cookieValue(v: string): string {
  return /[ ,]/.test(v) ? `"${v}"` : v;
}

export interface HTTPCookie {
  name: string;
  value: string;
  domain: string;
  path: string;
  http_only: boolean;
  secure: boolean;
  max_age: number;
  expires: number;
}

/** What Go's zero time.Time gives for `UnixNano() / 1e6` (k6's `expires` of a cookie without one). */
const GO_ZERO_TIME_MS = -6795364578871;

/** Go's readSetCookies for one Set-Cookie line, with k6's HTTPCookie fields. */
export function parseSetCookie(line: string): HTTPCookie | null {
  const parts = line.trim().split(';');
  const first = parts.shift()!.trim();
  const eq = first.indexOf('=');
  if (eq < 0) return null;
  const name = first.slice(0, eq).trim();
  let value = first.slice(eq + 1).trim();
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return null;
  if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  const c: HTTPCookie = {
    name,
    value,
    domain: '',
    path: '',
    http_only: false,
    secure: false,
    max_age: 0,
    expires: GO_ZERO_TIME_MS,
  };
  for (const part of parts) {
    const p = part.trim();
    if (p === '') continue;
    const i = p.indexOf('=');
    const attr = (i < 0 ? p : p.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? '' : p.slice(i + 1).trim();
    switch (attr) {
      case 'secure':
        c.secure = true;
        break;
      case 'httponly':
        c.http_only = true;
        break;
      case 'domain':
        c.domain = val;
        break;
      case 'path':
        c.path = val;
        break;
      case 'max-age': {
        if (!/^-?\d+$/.test(val) || (val !== '0' && val.startsWith('0'))) break;
        const secs = Number(val);
        c.max_age = secs <= 0 ? -1 : secs;
        break;
      }
      case 'expires': {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) c.expires = t;
        break;
      }
    }
  }
  return c;
}
