/**
 * Request URLs of `k6/http` (grafana/k6 lib/netext/httpext/url.go): what http.url`…` returns, NewURL's checks with
 * Go's url.Parse errors, and Clean(), the URL as tags and output show it.
 */
import { maskUrlPasswords } from '../../xmpp/redact.ts';
import { goUrlParseError } from '../go.ts';
import { ERROR_CODES, ParseError } from './http-error-codes.ts';

/**
 * httpext.URL.Clean(): the userinfo masked for tags and output, `****:****@` with a password and `****@` without.
 * The userinfo runs to the last `@` of the authority, as Go's url.Parse reads it. Clean() cuts the raw URL by the
 * lengths of the unescaped name and password, so with %-escapes in them k6 shows part of the password; the engine
 * masks the whole userinfo instead.
 */
export function cleanUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)@/, (_m, scheme: string, user: string) =>
    user.includes(':') ? `${scheme}****:****@` : `${scheme}****@`,
  );
}

/** What http.url`…` returns: the URL and its template (the `name` tag). */
export class HttpURL {
  constructor(
    readonly name: string,
    readonly url: string,
    readonly clean_url: string,
  ) {}
}

/** Checked request URLs given as strings, by their text (bounded, cleared when full; the objects stay internal). */
const STRING_URLS = new Map<string, HttpURL>();
const STRING_URLS_MAX = 1024;

/** newUrl for a URL given as a string (name = url), remembered: one BOSH session requests one URL throughout. */
export function stringUrl(url: string): HttpURL {
  let known = STRING_URLS.get(url);
  if (known === undefined) {
    known = newUrl(url, url);
    if (STRING_URLS.size >= STRING_URLS_MAX) STRING_URLS.clear();
    STRING_URLS.set(url, known);
  }
  return known;
}

/** httpext.NewURL. */
export function newUrl(url: string, name: string): HttpURL {
  const reason = goUrlParseError(url);
  if (reason !== null) {
    // Go's url.Parse quotes the URL as given, password included; the engine stores and prints none.
    throw new ParseError(
      `invalid URL: parse ${JSON.stringify(maskUrlPasswords(url))}: ${reason}`,
      ERROR_CODES.invalidUrl,
    );
  }
  const clean = cleanUrl(url);
  return new HttpURL(url === name ? clean : name, url, clean);
}
