/** A JID split into its parts (RFC 7622), without stringprep: the server is the authority on normalisation. */
export interface Jid {
  local: string;
  domain: string;
  resource: string;
}

export function parseJid(s: string): Jid {
  const slash = s.indexOf('/');
  const bare = slash < 0 ? s : s.slice(0, slash);
  const resource = slash < 0 ? '' : s.slice(slash + 1);
  const at = bare.indexOf('@');
  return at < 0
    ? { local: '', domain: bare, resource }
    : { local: bare.slice(0, at), domain: bare.slice(at + 1), resource };
}

export function bareJid(s: string): string {
  const slash = s.indexOf('/');
  return slash < 0 ? s : s.slice(0, slash);
}

export function formatJid(j: Jid): string {
  return (j.local ? `${j.local}@` : '') + j.domain + (j.resource ? `/${j.resource}` : '');
}
