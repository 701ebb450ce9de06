/** The Node engine's TLS: Go's (k6's) error texts for verification failures, SSL_CERT_FILE roots, wss:// dials. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import {
  expiryErrorText,
  hostnameErrorText,
  tlsVerifyFailure,
  trustedCertificates,
} from '../../src/engine/modules/tls.ts';
import { goRfc3339 } from '../../src/engine/go.ts';
import { DEFAULT_ENGINE_LIMITS } from '../../src/engine/limits.ts';
import { dialErrorText, dialLenient } from '../../src/engine/modules/ws-client.ts';
import {
  createCertificateAuthority,
  createExpiredCertificate,
  createServerCertificate,
  createWrongHostnameCertificate,
} from '../../src/targets/tls.ts';

const cert = (subjectaltname: string, extra: Partial<tls.PeerCertificate> = {}): tls.PeerCertificate =>
  ({ subjectaltname, subject: { CN: 'x' }, ...extra }) as unknown as tls.PeerCertificate;

describe('Go x509 error texts', () => {
  test('hostname: valid names listed, IP or DNS by what was dialed', () => {
    const c = cert('DNS:wrong.example, IP Address:192.0.2.1');
    assert.equal(
      hostnameErrorText('127.0.0.1', c),
      'x509: certificate is valid for 192.0.2.1, not 127.0.0.1',
    );
    assert.equal(
      hostnameErrorText('localhost', c),
      'x509: certificate is valid for wrong.example, not localhost',
    );
    assert.equal(
      hostnameErrorText('127.0.0.1', cert('DNS:a.example')),
      "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
    );
    assert.equal(
      hostnameErrorText('b.example', cert('IP Address:192.0.2.1')),
      'x509: certificate is not valid for any names, but wanted to match b.example',
    );
    assert.equal(
      hostnameErrorText('b.example', cert('', { subject: { CN: 'b.example' } as tls.Certificate })),
      'x509: certificate relies on legacy Common Name field, use SANs instead',
    );
  });

  test("expiry: Go's CertificateInvalidError with RFC 3339 times", () => {
    const c = cert('', { valid_from: 'Jan  1 00:00:00 2020 GMT', valid_to: 'Jan  2 00:00:00 2020 GMT' });
    const now = new Date('2021-03-04T05:06:07Z');
    const text = expiryErrorText(c, 'CERT_HAS_EXPIRED', now);
    assert.equal(
      text,
      `x509: certificate has expired or is not yet valid: current time ${goRfc3339(now)} is after 2020-01-02T00:00:00Z`,
    );
    assert.match(
      expiryErrorText(c, 'CERT_NOT_YET_VALID', new Date('2019-01-01T00:00:00Z')),
      /is before 2020-01-01T00:00:00Z$/,
    );
    assert.equal(goRfc3339(new Date('2021-03-04T05:06:07.890Z'), true), '2021-03-04T05:06:07Z');
  });

  test('k6 codes and texts: 1310 unknown authority, 1311 hostname, 1000 expiry; others are not TLS failures', () => {
    assert.deepEqual(tlsVerifyFailure('SELF_SIGNED_CERT_IN_CHAIN', 'h', undefined), {
      code: 1310,
      message: 'x509: unknown authority',
      detail: 'tls: failed to verify certificate: x509: certificate signed by unknown authority',
    });
    assert.equal(tlsVerifyFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'h', undefined)?.code, 1310);
    const host = tlsVerifyFailure('ERR_TLS_CERT_ALTNAME_INVALID', '127.0.0.1', cert('IP Address:192.0.2.1'));
    assert.equal(host?.code, 1311);
    assert.equal(host?.message, "x509: certificate doesn't match hostname");
    assert.equal(
      host?.detail,
      'tls: failed to verify certificate: x509: certificate is valid for 192.0.2.1, not 127.0.0.1',
    );
    const c = cert('', { valid_from: 'Jan  1 00:00:00 2020 GMT', valid_to: 'Jan  2 00:00:00 2020 GMT' });
    const exp = tlsVerifyFailure('CERT_HAS_EXPIRED', 'h', c);
    assert.equal(exp?.code, 1000);
    assert.match(
      exp!.message,
      /^x509: certificate has expired or is not yet valid: current time .* is after/,
    );
    assert.equal(exp?.detail, `tls: failed to verify certificate: ${exp!.message}`);
    assert.equal(tlsVerifyFailure('ECONNREFUSED', 'h', undefined), null);
    assert.equal(tlsVerifyFailure(undefined, 'h', undefined), null);
  });
});

describe('roots and wss:// dials against a TLS server with throwaway certificates', () => {
  let dir: string;
  let caFile: string;
  const servers: Server[] = [];
  const ports: Record<'good' | 'expired' | 'wrong', number> = { good: 0, expired: 0, wrong: 0 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-tls-unit-'));
    const ca = await createCertificateAuthority(dir);
    caFile = ca.caFile;
    const certs = {
      good: await createServerCertificate(ca, { name: 'good', dns: ['localhost'], ip: ['127.0.0.1'] }),
      expired: await createExpiredCertificate(ca),
      wrong: await createWrongHostnameCertificate(ca),
    };
    for (const [name, c] of Object.entries(certs) as [keyof typeof ports, (typeof certs)['good']][]) {
      const server = createServer({ cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) });
      new WebSocketServer({ server });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      ports[name] = (server.address() as AddressInfo).port;
      servers.push(server);
    }
  });
  after(async () => {
    for (const s of servers) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('SSL_CERT_FILE adds its certificates to the default roots; unset: default roots', () => {
    assert.equal(trustedCertificates({}), undefined);
    const ca = trustedCertificates({ SSL_CERT_FILE: caFile })!;
    assert.equal(ca.length, tls.rootCertificates.length + 1);
    assert.ok(ca.at(-1)!.startsWith('-----BEGIN CERTIFICATE-----'));
    // Every file in the dir: ca.pem, the three server certificates and openssl ca's <serial>.pem copies.
    assert.ok(trustedCertificates({ SSL_CERT_DIR: dir })!.length >= tls.rootCertificates.length + 4);
  });

  /** Dials like k6/websockets and resolves with 'open' or the error event's text. */
  function dial(port: number, opts: { insecure?: boolean; certFile?: string } = {}): Promise<string> {
    const saved = process.env.SSL_CERT_FILE;
    if (opts.certFile) process.env.SSL_CERT_FILE = opts.certFile;
    else delete process.env.SSL_CERT_FILE;
    const url = `wss://127.0.0.1:${port}/`;
    try {
      const { ws, hs } = dialLenient(url, {
        protocols: [],
        headers: {},
        compression: false,
        handshakeTimeoutMs: 5000,
        insecureSkipTLSVerify: opts.insecure,
        maxMessageBytes: DEFAULT_ENGINE_LIMITS.maxWsMessageBytes,
      });
      return new Promise((resolve) => {
        ws.on('open', () => {
          ws.terminate();
          resolve('open');
        });
        ws.on('error', (err) => resolve(dialErrorText(err, hs, url)));
      });
    } finally {
      if (saved === undefined) delete process.env.SSL_CERT_FILE;
      else process.env.SSL_CERT_FILE = saved;
    }
  }

  test('unknown authority without the CA; open with it, or with insecureSkipTLSVerify', async () => {
    assert.equal(
      await dial(ports.good),
      'tls: failed to verify certificate: x509: certificate signed by unknown authority',
    );
    assert.equal(await dial(ports.good, { certFile: caFile }), 'open');
    assert.equal(await dial(ports.good, { insecure: true }), 'open');
  });

  test('hostname mismatch and expiry are named', async () => {
    assert.equal(
      await dial(ports.wrong, { certFile: caFile }),
      'tls: failed to verify certificate: x509: certificate is valid for 192.0.2.1, not 127.0.0.1',
    );
    assert.match(
      await dial(ports.expired, { certFile: caFile }),
      /^tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time \S+ is after \S+Z$/,
    );
    assert.equal(await dial(ports.expired, { insecure: true }), 'open');
  });
});
