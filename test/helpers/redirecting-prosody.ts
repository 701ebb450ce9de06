/** A Prosody that redirects its clients, through test/fixtures/prosody/mod_starling_redirect.lua. */
import { resolve } from 'node:path';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';

export interface RedirectingOptions {
  users: number;
  kind: 'see-other-host' | 'see-other-uri';
  /** host[:port], a URI, or 'self' (this server's own port: a loop). */
  to: string;
  /** 'auth': in answer to SASL <auth/>; 'bound': `afterS` seconds after resource binding. */
  when?: 'auth' | 'bound';
  afterS?: number;
  tls?: boolean;
}

export function startRedirectingProsody(o: RedirectingOptions): Promise<LocalServer> {
  return startLocalServer({
    kind: 'prosody',
    users: o.users,
    tls: o.tls ?? false,
    prosodyPlugins: {
      dir: resolve('test/fixtures/prosody'),
      modules: ['starling_redirect'],
      options: {
        starling_redirect: JSON.stringify(o.kind),
        starling_redirect_to: JSON.stringify(o.to),
        starling_redirect_when: JSON.stringify(o.when ?? 'auth'),
        starling_redirect_after: String(o.afterS ?? 1),
      },
    },
  });
}

/** The `host:port` a see-other-host names for `s`. */
export const hostPort = (s: LocalServer): string => `127.0.0.1:${s.httpPort}`;
