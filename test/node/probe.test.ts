/**
 * The probe's reach, in process against node:https servers on loopback (certificates from a throwaway CA):
 * transport from the URL, the TLS check before any session and its typed errors (untrusted, wrong host,
 * expired), and XEP-0156 discovery over node:https (redirects, the JSON fallback, --discovery-insecure).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  certificateError,
  checkTlsCertificate,
  discoverEndpoint,
  probeTransport,
  ProbeInputError,
  ProbeTlsError,
  transportOfUrl,
} from '../../src/node/probe.ts';
import {
  createCertificateAuthority,
  createExpiredCertificate,
  createServerCertificate,
  createWrongHostnameCertificate,
  LOCAL_SERVER_NAMES,
  type ServerCertificate,
} from '../../src/targets/tls.ts';
import { DiscoveryError } from '../../src/xmpp/discovery.ts';

const WS = 'urn:xmpp:alt-connections:websocket';
const BOSH = 'urn:xmpp:alt-connections:xbosh';

function xrd(links: [string, string][]): string {
  return `<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>${links
    .map(([rel, href]) => `<Link rel='${rel}' href='${href}'/>`)
    .join('')}</XRD>`;
}

type Route = { status: number; type?: string; body?: string; location?: string };

/** Answers each path from `routes` (404 otherwise). */
function router(routes: () => Record<string, Route>): RequestListener {
  return (req, res) => {
    const r = routes()[req.url ?? ''];
    if (!r) res.writeHead(404).end();
    else
      res
        .writeHead(r.status, {
          ...(r.type ? { 'content-type': r.type } : {}),
          ...(r.location ? { location: r.location } : {}),
        })
        .end(r.body ?? '');
  };
}

async function listen(server: Server | HttpServer): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('transport from the URL', () => {
  test('the scheme chooses websocket or bosh', () => {
    assert.deepEqual(
      ['ws://h/x', 'WSS://h/x', 'http://h/http-bind', 'https://h/http-bind', 'xmpp://h', 'h'].map(
        transportOfUrl,
      ),
      ['websocket', 'websocket', 'bosh', 'bosh', undefined, undefined],
    );
  });

  test('--transport that contradicts the URL, or a URL of neither kind, is a ProbeInputError', () => {
    assert.equal(probeTransport('https://h/http-bind', 'bosh'), 'bosh');
    assert.throws(
      () => probeTransport('wss://h/xmpp-websocket', 'bosh'),
      new ProbeInputError(
        '--transport bosh but wss://h/xmpp-websocket is a websocket URL: give a http(s)://…/http-bind URL, or drop --transport (the scheme chooses it)',
      ),
    );
    assert.throws(
      () => probeTransport('ftp://h/x'),
      new ProbeInputError(
        "'ftp://h/x' is not an endpoint: give ws(s)://…/xmpp-websocket (WebSocket), http(s)://…/http-bind (BOSH), or xmpp://<domain> / a bare domain for XEP-0156 discovery",
      ),
    );
  });
});

describe('certificate errors name the cause and the fix', () => {
  const err = (code: string, message: string): Error => Object.assign(new Error(message), { code });

  test('each kind of certificate failure, and what is not one', () => {
    const skip = 'skip verification with --insecure-skip-tls-verify (testing only)';
    assert.equal(
      certificateError(
        'wss://h/x',
        err('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
      )?.message,
      `wss://h/x: the server's TLS certificate is not trusted: SELF_SIGNED_CERT_IN_CHAIN (self-signed certificate in certificate chain). Pass the CA that signed it with --ca-file <pem>, or ${skip}`,
    );
    assert.equal(
      certificateError('wss://h/x', err('ERR_TLS_CERT_ALTNAME_INVALID', 'Hostname/IP does not match'))
        ?.message,
      `wss://h/x: the server's TLS certificate does not name this host: ERR_TLS_CERT_ALTNAME_INVALID (Hostname/IP does not match). Connect by a name it lists, or ${skip}; --ca-file cannot fix a name mismatch`,
    );
    assert.equal(
      certificateError('https://h/b', err('CERT_HAS_EXPIRED', 'certificate has expired'))?.message,
      `https://h/b: the server's TLS certificate has expired or is not yet valid: CERT_HAS_EXPIRED (certificate has expired). Renew it (or check the clock), or ${skip}; --ca-file cannot fix its dates`,
    );
    const typed = certificateError('https://h/b', err('CERT_REVOKED', 'certificate revoked'));
    assert.ok(typed instanceof ProbeTlsError);
    assert.deepEqual(
      [typed.url, typed.code, typed.reason],
      ['https://h/b', 'CERT_REVOKED', 'tls:CERT_REVOKED'],
    );
    assert.equal(certificateError('https://h/b', err('ECONNREFUSED', 'connect ECONNREFUSED')), undefined);
    assert.equal(certificateError('https://h/b', new Error('no code')), undefined);
  });
});

describe('TLS check and discovery against node:https on loopback', () => {
  let dir: string;
  let ca: string;
  const servers: (Server | HttpServer)[] = [];
  const certs: Record<'valid' | 'expired' | 'wrong', ServerCertificate> = {} as never;
  let routes: Record<string, Route> = {};
  let valid: string;
  let plain: string;

  const httpsWith = async (c: ServerCertificate): Promise<string> => {
    const s = createServer(
      { cert: await readFile(c.certFile), key: await readFile(c.keyFile) },
      router(() => routes),
    );
    servers.push(s);
    return listen(s);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-probe-node-'));
    const authority = await createCertificateAuthority(dir);
    ca = await readFile(authority.caFile, 'utf8');
    certs.valid = await createServerCertificate(authority, { name: 'valid', ...LOCAL_SERVER_NAMES });
    certs.expired = await createExpiredCertificate(authority);
    certs.wrong = await createWrongHostnameCertificate(authority);
    valid = await httpsWith(certs.valid);
    const s = createHttpServer(router(() => routes));
    servers.push(s);
    plain = await listen(s);
  });
  after(async () => {
    for (const s of servers) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('checkTlsCertificate: passes with the CA or without verification; typed errors otherwise', async () => {
    const url = `wss://${valid}/xmpp-websocket`;
    await checkTlsCertificate(url, { ca });
    await checkTlsCertificate(url, { verify: false });
    await assert.rejects(checkTlsCertificate(url, {}), (e: unknown) => {
      assert.ok(e instanceof ProbeTlsError);
      assert.equal(e.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.ok(e.message.startsWith(`${url}: the server's TLS certificate is not trusted:`), e.message);
      return true;
    });
    const expired = `https://${await httpsWith(certs.expired)}/http-bind`;
    await assert.rejects(checkTlsCertificate(expired, { ca }), {
      name: 'ProbeTlsError',
      code: 'CERT_HAS_EXPIRED',
    });
    const wrong = `https://${await httpsWith(certs.wrong)}/http-bind`;
    await assert.rejects(checkTlsCertificate(wrong, { ca }), {
      name: 'ProbeTlsError',
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    // Not a certificate problem (nothing listens, a plain port, a plain URL): left to the sessions to report.
    const closed = createHttpServer();
    const freePort = (await listen(closed)).split(':')[1];
    closed.close();
    await checkTlsCertificate(`wss://127.0.0.1:${freePort}/x`, { ca });
    await checkTlsCertificate(`https://${plain}/http-bind`, { ca });
    await checkTlsCertificate(`ws://${valid}/x`, {});
  });

  test('discovery follows a redirect and reports the URL that answered', async () => {
    routes = {
      '/.well-known/host-meta': { status: 301, location: '/meta/xrd' },
      '/meta/xrd': { status: 200, body: xrd([[WS, 'wss://ws.example/xmpp-websocket']]) },
    };
    const found = await discoverEndpoint(valid, 'websocket', { tls: { ca } });
    assert.deepEqual(
      [found.url, found.transport, found.source],
      ['wss://ws.example/xmpp-websocket', 'websocket', `https://${valid}/meta/xrd`],
    );
  });

  test('discovery falls back to host-meta.json; the BOSH link is chosen with transport bosh', async () => {
    routes = {
      '/.well-known/host-meta.json': {
        status: 200,
        type: 'application/json',
        body: JSON.stringify({ links: [{ rel: BOSH, href: 'https://b.example/http-bind' }] }),
      },
    };
    const found = await discoverEndpoint(valid, 'bosh', { tls: { ca } });
    assert.deepEqual(
      [found.url, found.source],
      ['https://b.example/http-bind', `https://${valid}/.well-known/host-meta.json`],
    );
  });

  test('discovery errors name the probe flags, not the scenarios’ settings', async () => {
    routes = {
      '/.well-known/host-meta': { status: 200, body: xrd([[BOSH, 'https://b.example/http-bind']]) },
    };
    await assert.rejects(
      discoverEndpoint(valid, 'websocket', { tls: { ca } }),
      new DiscoveryError(
        'no-link',
        `no websocket endpoint discovered: https://${valid}/.well-known/host-meta has no ${WS} link (it lists bosh: use --transport bosh) (looked at: https://${valid}/.well-known/host-meta: no websocket link; https://${valid}/.well-known/host-meta.json: HTTP 404)`,
      ),
    );
    routes = {
      '/.well-known/host-meta': { status: 200, body: xrd([[WS, 'ws://w.example/xmpp-websocket']]) },
    };
    await assert.rejects(
      discoverEndpoint(valid, 'websocket', { tls: { ca } }),
      new DiscoveryError(
        'insecure',
        `https://${valid}/.well-known/host-meta lists only ws://w.example/xmpp-websocket for websocket, which is not TLS; pass --discovery-insecure to use it`,
      ),
    );
    routes = { '/.well-known/host-meta': { status: 302, location: `http://${plain}/.well-known/host-meta` } };
    await assert.rejects(
      discoverEndpoint(valid, 'websocket', { tls: { ca } }),
      new DiscoveryError(
        'insecure',
        `refusing host-meta from http://${plain}/.well-known/host-meta: only HTTPS answers are trusted for XMPP endpoints; pass --discovery-insecure to accept an http:// host-meta`,
      ),
    );
    routes = {};
    await assert.rejects(
      discoverEndpoint(valid, 'websocket', { tls: { ca } }),
      new DiscoveryError(
        'fetch-failed',
        `no host-meta found for ${valid}: https://${valid}/.well-known/host-meta: HTTP 404; https://${valid}/.well-known/host-meta.json: HTTP 404 (http:// host-meta is not tried: --discovery-insecure allows it)`,
      ),
    );
  });

  test('--discovery-insecure: a plain host-meta and a ws:// endpoint are used, each with a warning', async () => {
    routes = {
      '/.well-known/host-meta': { status: 200, body: xrd([[WS, 'ws://w.example/xmpp-websocket']]) },
    };
    const warnings: string[] = [];
    const found = await discoverEndpoint(plain, 'websocket', {
      allowInsecure: true,
      warn: (l) => warnings.push(l),
    });
    assert.deepEqual(
      [found.url, found.source],
      ['ws://w.example/xmpp-websocket', `http://${plain}/.well-known/host-meta`],
    );
    assert.deepEqual(warnings, [
      `starling: warning: host-meta from http://${plain}/.well-known/host-meta over plain HTTP (--discovery-insecure): the endpoint it names is not authenticated`,
      `starling: warning: ws://w.example/xmpp-websocket (for websocket from http://${plain}/.well-known/host-meta) is not TLS (--discovery-insecure): credentials go in the clear`,
    ]);
  });
});
