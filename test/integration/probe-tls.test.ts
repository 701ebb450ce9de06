/**
 * `starling probe` against real Prosody on loopback with TLS (a throwaway CA, as `server up --tls`): https://
 * BOSH with --ca-file, without it (a named certificate error and both flags), with --insecure-skip-tls-verify;
 * XEP-0156 discovery from an HTTPS host-meta whose certificate the same CA signed (and from an http:// one with
 * --discovery-insecure); a bad --ca-file refused before anything connects; the local default over BOSH.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ProbeResult } from '../../src/node/probe.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { runStarling, type CliResult } from '../helpers/cli.ts';
import { startHostMetaServer, xrd, type HostMetaServer } from '../helpers/host-meta.ts';

const SESSIONS = 5;

/** Serves one XRD at /.well-known/host-meta; anything else is 404. */
function hostMeta(body: () => string): RequestListener {
  return (req, res) => {
    if (req.url !== '/.well-known/host-meta') res.writeHead(404).end('not found');
    else res.writeHead(200, { 'content-type': 'application/xrd+xml' }).end(body());
  };
}

/** `starling probe --sessions 5 …` as a child process, with no CA from the environment. */
function probe(args: string[]): Promise<CliResult> {
  return runStarling(['probe', '--sessions', String(SESSIONS), ...args], {
    env: { ...process.env, SSL_CERT_FILE: '', SSL_CERT_DIR: '', NODE_EXTRA_CA_CERTS: '' },
  });
}

/** Exit 0, and (--json) every session logged in, messaged and closed cleanly at `url` over `transport`. */
function assertAllPassed(r: CliResult, url: string, transport: string): void {
  assert.equal(r.code, 0, r.output);
  const j = JSON.parse(r.stdout) as ProbeResult;
  assert.deepEqual(
    [
      j.url,
      j.transport,
      j.sessions,
      j.loggedIn,
      j.messagesSent,
      j.messagesDelivered,
      j.cleanCloses,
      j.failures,
    ],
    [url, transport, SESSIONS, SESSIONS, SESSIONS, SESSIONS, SESSIONS, {}],
  );
}

/** The error for a certificate of the throwaway CA when it is not trusted. */
const untrusted = (url: string): string =>
  `${url}: the server's TLS certificate is not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE ` +
  `(unable to verify the first certificate). Pass the CA that signed it with --ca-file <pem>, or skip ` +
  `verification with --insecure-skip-tls-verify (testing only)`;

describe('starling probe over TLS, BOSH and discovery (Prosody on loopback)', { concurrency: true }, () => {
  let prosody: LocalServer;
  let https: HostMetaServer;
  let http: HttpServer;
  /** 127.0.0.1:<port> of the HTTPS host-meta (XRD with both links), and of the plain-HTTP one (WebSocket). */
  let origin: string;
  let plainOrigin: string;
  let dir: string;

  before(async () => {
    prosody = await startLocalServer({ kind: 'prosody', users: SESSIONS, tls: true });
    https = await startHostMetaServer(
      prosody,
      hostMeta(() =>
        xrd({
          'urn:xmpp:alt-connections:xbosh': prosody.boshUrl,
          'urn:xmpp:alt-connections:websocket': prosody.websocketUrl,
        }),
      ),
    );
    http = createHttpServer(
      hostMeta(() => xrd({ 'urn:xmpp:alt-connections:websocket': prosody.websocketUrl })),
    );
    await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
    origin = https.origin;
    plainOrigin = `127.0.0.1:${(http.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'starling-probe-tls-'));
  });
  after(async () => {
    https?.close();
    http?.close();
    await prosody?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('https:// BOSH with --ca-file: 5 sessions log in, message and close cleanly (exit 0)', async () => {
    const r = await probe(['--target', prosody.boshUrl, '--ca-file', prosody.caFile!]);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.stderr, '');
    const [target, counts] = r.stdout.split('\n');
    assert.equal(target, `target ${prosody.boshUrl} (bosh)`);
    assert.match(
      counts!,
      /^sessions 5 {3}logged in 5 {3}messages 5\/5 delivered {3}clean closes 5\/5 {3}in \d+\.\d s$/,
    );
  });

  test('https:// BOSH without the CA: refused before any session, naming the cause and both flags', async () => {
    const r = await probe(['--target', prosody.boshUrl, '--json']);
    assert.equal(r.code, 1, r.output);
    assert.equal(r.stderr, `starling: ${untrusted(prosody.boshUrl)}\n`);
    assert.equal(r.stdout, '');
  });

  test('https:// BOSH with --insecure-skip-tls-verify passes without the CA (exit 0)', async () => {
    const r = await probe(['--target', prosody.boshUrl, '--insecure-skip-tls-verify', '--json']);
    assertAllPassed(r, prosody.boshUrl, 'bosh');
  });

  test('discovery by domain: the HTTPS host-meta names the wss:// endpoint; --domain defaults to the host', async () => {
    // localhost:<port>: the host-meta certificate names localhost, and the domain defaults to localhost (no port).
    const host = `localhost:${origin.split(':')[1]}`;
    const r = await probe(['--target', `xmpp://${host}`, '--ca-file', prosody.caFile!, '--json']);
    assert.equal(
      r.stderr,
      `discovered ${prosody.websocketUrl} for websocket from https://${host}/.well-known/host-meta\n`,
    );
    assertAllPassed(r, prosody.websocketUrl, 'websocket');
  });

  test('discovery without the CA: the host-meta is not trusted; the error names the cause and both flags', async () => {
    const r = await probe(['--target', origin, '--domain', prosody.domain]);
    assert.equal(r.code, 1, r.output);
    assert.equal(
      r.stderr,
      `starling: no host-meta found for ${origin}: ${untrusted(`https://${origin}/.well-known/host-meta`)}\n`,
    );
  });

  test('an http:// host-meta is used with --discovery-insecure, with a warning', async () => {
    const r = await probe([
      '--target',
      `xmpp://${plainOrigin}`,
      '--discovery-insecure',
      '--domain',
      prosody.domain,
      '--ca-file',
      prosody.caFile!,
      '--json',
    ]);
    assert.equal(
      r.stderr,
      `starling: warning: host-meta from http://${plainOrigin}/.well-known/host-meta over plain HTTP (--discovery-insecure): the endpoint it names is not authenticated\n` +
        `discovered ${prosody.websocketUrl} for websocket from http://${plainOrigin}/.well-known/host-meta\n`,
    );
    assertAllPassed(r, prosody.websocketUrl, 'websocket');
  });

  test('a bad --ca-file is refused before anything connects (endpoint or host-meta)', async () => {
    let connections = 0;
    const tcp: TcpServer = createTcpServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((ok) => tcp.listen(0, '127.0.0.1', ok));
    try {
      const port = (tcp.address() as AddressInfo).port;
      const missing = join(dir, 'missing.pem');
      const notPem = join(dir, 'key-only.pem');
      await writeFile(notPem, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
      const [r1, r2] = await Promise.all([
        probe(['--target', `wss://127.0.0.1:${port}/xmpp-websocket`, '--ca-file', missing]),
        probe(['--target', `127.0.0.1:${port}`, '--ca-file', notPem]),
      ]);
      assert.equal(r1.code, 1, r1.output);
      assert.equal(
        r1.stderr,
        `starling: --ca-file ${missing}: cannot read it (ENOENT: no such file or directory, open '${missing}')\n`,
      );
      assert.equal(r2.code, 1, r2.output);
      assert.equal(
        r2.stderr,
        `starling: --ca-file ${notPem}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it\n`,
      );
      assert.equal(connections, 0);
    } finally {
      tcp.close();
    }
  });

  test('the local default over BOSH: --transport bosh probes the local server at its boshUrl', async () => {
    const r = await probe(['--transport', 'bosh', '--json']);
    assert.equal(r.code, 0, r.output);
    const { url } = JSON.parse(r.stdout) as ProbeResult;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/http-bind$/);
    assert.match(
      r.stderr,
      new RegExp(`^started prosody at ${url.replaceAll('.', '\\.')} in \\d+\\.\\d s\n$`),
    );
    assertAllPassed(r, url, 'bosh');
  });
});
