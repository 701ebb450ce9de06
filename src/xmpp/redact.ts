/**
 * Removes credentials from a frame before it is logged: the payload of SASL `<auth>` and `<response>`
 * (PLAIN carries the password in base64; SCRAM's proof is derived from it). Works on the raw text, so it
 * also redacts frames that do not parse.
 */
const SASL_PAYLOAD = /(<(auth|response)\b[^>]*urn:ietf:params:xml:ns:xmpp-sasl[^>]*>)([^<]+)(<\/\2>)/g;

export function redactFrame(frame: string): string {
  return frame.replace(SASL_PAYLOAD, (_m, open: string, _n: string, _payload: string, close: string) => {
    return `${open}[redacted]${close}`;
  });
}

/**
 * `scheme://user:password@host` → `scheme://user:***@host`, everywhere in `text` (Go's net/http writes URLs in its
 * errors this way, so k6's messages read the same). A password can sit in any URL a user gives (a BOSH endpoint
 * behind basic auth); every URL starling prints or stores goes through here first. The password runs to the last
 * `@` before the path, as URL parsers read it, so an unescaped `@` in it is masked too. Userinfo without a password
 * (`user@host`) is left as it is: it is a name, not a secret.
 */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:'"<>]*):([^\s/?#'"<>]*)@/gi;

export function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, (_m, scheme: string, user: string) => `${scheme}${user}:***@`);
}

/** Names of variables whose values are secrets, whatever they hold. */
const SECRET_NAME = /pass|secret|token/i;

/**
 * Passwords never reach results: a variable whose name mentions a password, secret or token is masked whole, and a
 * password inside any URL value (`http://user:pw@host`) as Go masks it (`user:***@`).
 */
export function redactEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, SECRET_NAME.test(k) ? '[redacted]' : maskUrlPasswords(v)]),
  );
}
