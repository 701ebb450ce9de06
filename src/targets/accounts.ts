import { LocalServerOptionError } from './errors.ts';
import type { Account } from './types.ts';

export const DEFAULT_USER_PATTERN = 'user{n}';
export const DEFAULT_PASSWORD_PATTERN = 'pass{n}';
export const DEFAULT_DOMAIN = 'localhost';

/** Where the throwaway servers serve multi-user chat (XEP-0045): `conference.<domain>`, on Prosody and ejabberd. */
export function mucDomain(domain: string): string {
  return `conference.${domain}`;
}

const NUMBER_PLACEHOLDER = /\{n\}/g;

// Names that nodeprep leaves unchanged, so the files/records we write are exactly what a login looks up.
const USERNAME_CHARS = /^[a-z0-9._+=-]+$/;
// Printable ASCII: SASLprep leaves it unchanged, so our SCRAM derivation matches the server's.
const PASSWORD_CHARS = /^[\x20-\x7e]+$/;
const DOMAIN_SYNTAX = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

export function expandPattern(pattern: string, n: number): string {
  return pattern.replace(NUMBER_PLACEHOLDER, String(n));
}

export function patternHasNumber(pattern: string): boolean {
  return pattern.includes('{n}');
}

export function accountFor(n: number, userPattern: string, passwordPattern: string, domain: string): Account {
  const username = expandPattern(userPattern, n);
  return { jid: `${username}@${domain}`, username, password: expandPattern(passwordPattern, n) };
}

/** Throws a LocalServerOptionError naming the bad option and what would be accepted. */
export function validateAccountOptions(
  users: number,
  userPattern: string,
  passwordPattern: string,
  domain: string,
): void {
  if (!Number.isInteger(users) || users < 0) {
    throw new LocalServerOptionError(`users must be a whole number >= 0, got ${users}`);
  }
  if (users > 1 && !patternHasNumber(userPattern)) {
    throw new LocalServerOptionError(
      `user pattern '${userPattern}' has no {n}: all ${users} accounts would share one name (try 'user{n}')`,
    );
  }
  if (!USERNAME_CHARS.test(expandPattern(userPattern, 1))) {
    throw new LocalServerOptionError(
      `user pattern '${userPattern}' may only contain lowercase a-z, 0-9, '.', '_', '+', '=', '-' and {n}`,
    );
  }
  if (!PASSWORD_CHARS.test(expandPattern(passwordPattern, 1))) {
    throw new LocalServerOptionError(
      `password pattern '${passwordPattern}' must be non-empty printable ASCII (space to '~') with optional {n}`,
    );
  }
  if (!DOMAIN_SYNTAX.test(domain)) {
    throw new LocalServerOptionError(
      `domain '${domain}' must be a lowercase DNS name such as 'localhost' or 'xmpp.test'`,
    );
  }
}
