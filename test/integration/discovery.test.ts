/**
 * XEP-0156 discovery end to end: a node:https server on 127.0.0.1 (certificate from the Prosody's throwaway
 * CA) serves host-meta naming a real Prosody's wss:// and https:// endpoints; `starling run login --target
 * xmpp://127.0.0.1:<port>` discovers them in setup() (k6/http) and logs in over them.
 */
import assert from 'node:assert/strict';

import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { envArgs, runStarling, type CliResult } from '../helpers/cli.ts';
import { startHostMetaServer, xrd, type HostMetaServer } from '../helpers/host-meta.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function runLogin(args: string[], cwd: string): Promise<CliResult> {
  return runStarling(
    [
      'run',
      resolve('scenarios/login.ts'),
      '--engine',
      'node',
      ...envArgs({ VUS: '2', SESSIONS_PER_VU: '2', DURATION: '1s' }),
      ...args,
    ],
    { cwd, env: { ...process.env, SSL_CERT_FILE: '', SSL_CERT_DIR: '' } },
  );
}

describe('XEP-0156 discovery against Prosody (TLS) and an HTTPS host-meta', () => {
  let prosody: LocalServer;
  let https: HostMetaServer;
  let origin: string;
  let cwd: string;
  /** What the host-meta server answers, by path; other paths are 404. */
  let docs: Record<string, { type: string; body: string }> = {};

  before(async () => {
    prosody = await startLocalServer({ kind: 'prosody', users: 10, tls: true });
    https = await startHostMetaServer(prosody, (req, res) => {
      const doc = docs[req.url ?? ''];
      if (!doc) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': doc.type }).end(doc.body);
    });
    origin = https.origin;
    cwd = await tempDir('starling-discovery-');
  });
  after(async () => {
    https?.close();
    await prosody?.stop();
  });

  const common = (): string[] => [
    '--ca-file',
    prosody.caFile!,
    '--target',
    `xmpp://${origin}`,
    '-e',
    `XMPP_DOMAIN=${prosody.domain}`,
  ];

  test('websocket: the XRD host-meta names the wss:// endpoint; login over it exits 0', async () => {
    docs = {
      '/.well-known/host-meta': {
        type: 'application/xrd+xml',
        body: xrd({
          'urn:xmpp:alt-connections:xbosh': prosody.boshUrl,
          'urn:xmpp:alt-connections:websocket': prosody.websocketUrl,
        }),
      },
    };
    const r = await runLogin(common(), cwd);
    assert.equal(r.code, 0, r.output);
    assert.ok(
      r.output.includes(
        `discovered ${prosody.websocketUrl} for websocket from https://${origin}/.well-known/host-meta`,
      ),
      r.output,
    );
  });

  test('bosh (XMPP_TRANSPORT=bosh): the JSON host-meta names the https:// endpoint; login exits 0', async () => {
    docs = {
      '/.well-known/host-meta.json': {
        type: 'application/json',
        body: JSON.stringify({ links: [{ rel: 'urn:xmpp:alt-connections:xbosh', href: prosody.boshUrl }] }),
      },
    };
    const r = await runLogin([...common(), '-e', 'XMPP_TRANSPORT=bosh'], cwd);
    assert.equal(r.code, 0, r.output);
    assert.ok(
      r.output.includes(
        `discovered ${prosody.boshUrl} for bosh from https://${origin}/.well-known/host-meta.json`,
      ),
      r.output,
    );
  });

  test('a host-meta without a WebSocket link fails with a clear error', async () => {
    docs = {
      '/.well-known/host-meta': {
        type: 'application/xrd+xml',
        body: xrd({ 'urn:xmpp:alt-connections:xbosh': prosody.boshUrl }),
      },
    };
    const r = await runLogin(common(), cwd);
    assert.notEqual(r.code, 0, r.output);
    assert.ok(
      r.output.includes(
        `no websocket endpoint discovered: https://${origin}/.well-known/host-meta has no urn:xmpp:alt-connections:websocket link (it lists bosh: use XMPP_TRANSPORT=bosh)`,
      ),
      r.output,
    );
  });

  test('without the CA the host-meta is not trusted: discovery fails naming the TLS cause', async () => {
    docs = {
      '/.well-known/host-meta': {
        type: 'application/xrd+xml',
        body: xrd({ 'urn:xmpp:alt-connections:websocket': prosody.websocketUrl }),
      },
    };
    const r = await runLogin(['--target', `xmpp://${origin}`, '-e', `XMPP_DOMAIN=${prosody.domain}`], cwd);
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /no host-meta found for 127\.0\.0\.1:\d+: .*unknown authority/);
  });
});
