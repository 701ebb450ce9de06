/**
 * Throwaway TLS material for local servers and tests, made with the `openssl` CLI (Debian's `openssl`
 * package; Prosody's `ssl-cert` dependency pulls it in): a private CA and server certificates it signs.
 * Keys are EC P-256 (fast to make). Nothing here is meant to protect anything: the CA key sits beside
 * the certificates in the server's temp dir and dies with it.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const OPENSSL = process.env.STARLING_OPENSSL ?? 'openssl';

/** The names a local server's certificate is valid for: the loopback URLs use 127.0.0.1, people type localhost. */
export const LOCAL_SERVER_NAMES = { dns: ['localhost'], ip: ['127.0.0.1'] } as const;

export interface CertificateAuthority {
  /** PEM of the CA certificate: what a run must trust (`--ca-file`, SSL_CERT_FILE). */
  caFile: string;
  caKeyFile: string;
  dir: string;
}

export interface ServerCertificate {
  certFile: string;
  keyFile: string;
}

export interface ServerCertificateOptions {
  /** File name stem inside the CA's dir. */
  name: string;
  dns?: readonly string[];
  ip?: readonly string[];
  /** Validity window; default one hour ago to 30 days ahead. Dates in the past make an expired certificate. */
  notBefore?: Date;
  notAfter?: Date;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run(OPENSSL, args, { cwd });
  } catch (e) {
    const err = e as Error & { code?: string; stderr?: string };
    if (err.code === 'ENOENT') {
      throw new Error(
        `TLS needs the openssl command (not found as '${OPENSSL}'): install Debian's openssl package`,
        { cause: e },
      );
    }
    throw new Error(`openssl ${args[0]} failed: ${(err.stderr ?? err.message).trim()}`, { cause: e });
  }
}

/** openssl ca's date form: YYYYMMDDHHMMSSZ (UTC). */
function asn1Time(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A fresh CA in `dir` (created when missing): ca.pem / ca.key, plus the bookkeeping `openssl ca` needs. */
export async function createCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca.key');
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      caKeyFile,
      '-out',
      caFile,
      '-days',
      '30',
      '-subj',
      `/CN=starling throwaway CA ${new Date().toISOString()}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(
    join(dir, 'ca.cnf'),
    [
      '[ ca ]',
      'default_ca = starling',
      '[ starling ]',
      `database = ${join(dir, 'index.txt')}`,
      `new_certs_dir = ${dir}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'email_in_dn = no',
      'rand_serial = yes',
      '[ any ]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  return { caFile, caKeyFile, dir };
}

/** A server certificate signed by `ca`, for the given names and validity window. */
export async function createServerCertificate(
  ca: CertificateAuthority,
  o: ServerCertificateOptions,
): Promise<ServerCertificate> {
  const keyFile = join(ca.dir, `${o.name}.key`);
  const csrFile = join(ca.dir, `${o.name}.csr`);
  const certFile = join(ca.dir, `${o.name}.pem`);
  const extFile = join(ca.dir, `${o.name}.ext`);
  const dns = o.dns ?? [];
  const ip = o.ip ?? [];
  const san = [...dns.map((n) => `DNS:${n}`), ...ip.map((a) => `IP:${a}`)].join(',');
  await writeFile(
    extFile,
    [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      ...(san ? [`subjectAltName = ${san}`] : []),
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      csrFile,
      '-subj',
      `/CN=${dns[0] ?? ip[0] ?? o.name}`,
    ],
    ca.dir,
  );
  const notBefore = o.notBefore ?? new Date(Date.now() - 3600_000);
  const notAfter = o.notAfter ?? new Date(Date.now() + 30 * 86400_000);
  await openssl(
    [
      'ca',
      '-batch',
      '-notext',
      '-config',
      join(ca.dir, 'ca.cnf'),
      '-cert',
      ca.caFile,
      '-keyfile',
      ca.caKeyFile,
      '-startdate',
      asn1Time(notBefore),
      '-enddate',
      asn1Time(notAfter),
      '-extfile',
      extFile,
      '-in',
      csrFile,
      '-out',
      certFile,
    ],
    ca.dir,
  );
  return { certFile, keyFile };
}

/** What a local server's certificate is like: valid, or broken in one named way (for tests of the errors). */
export type LocalCertificateKind = 'valid' | 'expired' | 'wrong-hostname';

export const LOCAL_CERTIFICATE_KINDS: readonly LocalCertificateKind[] = [
  'valid',
  'expired',
  'wrong-hostname',
];

/** A server certificate for localhost / 127.0.0.1 that expired a day ago. */
export function createExpiredCertificate(
  ca: CertificateAuthority,
  name = 'expired',
): Promise<ServerCertificate> {
  const day = 86400_000;
  return createServerCertificate(ca, {
    name,
    ...LOCAL_SERVER_NAMES,
    notBefore: new Date(Date.now() - 30 * day),
    notAfter: new Date(Date.now() - day),
  });
}

/** A valid certificate for names that are not the loopback's: wrong.example and 192.0.2.1 (TEST-NET-1). */
export function createWrongHostnameCertificate(
  ca: CertificateAuthority,
  name = 'wrong-hostname',
): Promise<ServerCertificate> {
  return createServerCertificate(ca, { name, dns: ['wrong.example'], ip: ['192.0.2.1'] });
}

/** A CA in `dir` and a server certificate of the given kind for the loopback. */
export async function createLocalTls(
  dir: string,
  kind: LocalCertificateKind = 'valid',
): Promise<CertificateAuthority & ServerCertificate> {
  const ca = await createCertificateAuthority(dir);
  const cert =
    kind === 'expired'
      ? await createExpiredCertificate(ca, 'server')
      : kind === 'wrong-hostname'
        ? await createWrongHostnameCertificate(ca, 'server')
        : await createServerCertificate(ca, { name: 'server', ...LOCAL_SERVER_NAMES });
  return { ...ca, ...cert };
}
