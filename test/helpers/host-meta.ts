/** XEP-0156 host-meta for tests: documents, and an HTTPS server to serve them. */
import { readFile } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { LocalServer } from '../../src/targets/index.ts';
import { createServerCertificate, LOCAL_SERVER_NAMES } from '../../src/targets/tls.ts';

/** An XRD host-meta with one Link per `rel → href`. */
export function xrd(links: Record<string, string>): string {
  return [
    "<?xml version='1.0' encoding='utf-8'?>",
    "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>",
    ...Object.entries(links).map(([rel, href]) => `  <Link rel="${rel}" href="${href}"/>`),
    '</XRD>',
    '',
  ].join('\n');
}

/** An HTTPS server on 127.0.0.1 whose certificate the local server's throwaway CA signed. */
export interface HostMetaServer {
  /** `127.0.0.1:<port>`, the domain to discover. */
  origin: string;
  close(): void;
}

/**
 * Serves `handler` over HTTPS with a certificate from `server`'s CA (a TLS local server), so a run that trusts
 * that CA (`--ca-file server.caFile`) trusts the host-meta too.
 */
export async function startHostMetaServer(
  server: LocalServer,
  handler: RequestListener,
): Promise<HostMetaServer> {
  const caDir = dirname(server.caFile!);
  const cert = await createServerCertificate(
    { caFile: server.caFile!, caKeyFile: join(caDir, 'ca.key'), dir: caDir },
    { name: 'host-meta', ...LOCAL_SERVER_NAMES },
  );
  const https = createServer(
    { cert: await readFile(cert.certFile), key: await readFile(cert.keyFile) },
    handler,
  );
  await new Promise<void>((ok) => https.listen(0, '127.0.0.1', ok));
  return { origin: `127.0.0.1:${(https.address() as AddressInfo).port}`, close: () => void https.close() };
}
