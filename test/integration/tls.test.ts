/**
 * TLS against real Prosody on loopback (`tls` option of startLocalServer, as `starling server up --tls`):
 * login over wss:// and https:// BOSH through the compiled login scenario and the Node session helpers;
 * an untrusted, a wrong-hostname and an expired certificate each fail with Go's (k6's) named cause.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatServerUp } from '../../src/cli/server.ts';
import { openBoshSession } from '../../src/node/bosh-session.ts';
import { openWebSocketSession } from '../../src/node/websocket-session.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { envArgs, readPoints, runStarling, type JsonPoint } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const CLI = resolve('bin/starling.js');

interface RunResult {
  code: number | null;
  output: string;
  metrics: Record<string, { values: Record<string, number> }>;
  /** The run's samples (`--out json`). */
  points: JsonPoint[];
}

async function latestMetrics(root: string): Promise<RunResult['metrics']> {
  const runs = (await readdir(root)).sort();
  const summary = JSON.parse(await readFile(join(root, runs.at(-1)!, 'summary.json'), 'utf8')) as {
    metrics: RunResult['metrics'];
  };
  return summary.metrics;
}

let runs = 0;

/** `starling run login --engine node` with 2 VUs × 2 sessions; SSL_CERT_FILE/DIR cleared unless given. */
async function runLogin(
  url: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<RunResult> {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    SSL_CERT_FILE: '',
    SSL_CERT_DIR: '',
    ...env,
  };
  const vars = { XMPP_URL: url, VUS: '2', SESSIONS_PER_VU: '2', DURATION: '1s' };
  const out = join(cwd, `samples-${++runs}.json`);
  const r = await runStarling(
    [
      'run',
      resolve('scenarios/login.ts'),
      '--engine',
      'node',
      '--out',
      `json=${out}`,
      ...envArgs(vars),
      ...args,
    ],
    { cwd, env: childEnv },
  );
  const points = await readPoints(out).catch(() => []);
  return { code: r.code, output: r.output, metrics: await latestMetrics(join(cwd, 'results')), points };
}

describe('TLS against Prosody on loopback', () => {
  let valid: LocalServer;
  let expired: LocalServer;
  let wrongHost: LocalServer;
  let cwd: string;

  before(async () => {
    [valid, expired, wrongHost] = await Promise.all([
      startLocalServer({ kind: 'prosody', users: 10, tls: true }),
      startLocalServer({ kind: 'prosody', users: 10, tls: 'expired' }),
      startLocalServer({ kind: 'prosody', users: 10, tls: 'wrong-hostname' }),
    ]);
    cwd = await tempDir('starling-tls-');
  });
  after(async () => {
    await Promise.all([valid?.stop(), expired?.stop(), wrongHost?.stop()]);
  });

  test('the server serves wss:// and https:// on 127.0.0.1 and names its CA', () => {
    assert.match(valid.websocketUrl, /^wss:\/\/127\.0\.0\.1:\d+\/xmpp-websocket$/);
    assert.match(valid.boshUrl, /^https:\/\/127\.0\.0\.1:\d+\/http-bind$/);
    assert.ok(valid.caFile?.startsWith(valid.dir), valid.caFile);
    assert.equal(valid.tlsCertificate, 'valid');
    const printed = formatServerUp(valid.toRecord());
    assert.ok(printed.includes(`--ca-file ${valid.caFile}`), printed);
    assert.ok(printed.includes(`SSL_CERT_FILE=${valid.caFile}`), printed);
  });

  for (const transport of ['websocket', 'bosh'] as const) {
    const urlOf = (s: LocalServer): string => (transport === 'bosh' ? s.boshUrl : s.websocketUrl);

    test(`${transport}: login with --ca-file passes (exit 0)`, async () => {
      const r = await runLogin(urlOf(valid), ['--ca-file', valid.caFile!], cwd);
      assert.equal(r.code, 0, r.output);
      assert.equal(r.metrics.xmpp_login_success!.values.rate, 1);
      // xmpp_tls_handshake (for the collector) holds exactly k6's non-zero TLS handshake samples.
      const samples = (metric: string): number[] =>
        r.points
          .filter((p) => p.metric === metric && p.data.value > 0)
          .map((p) => p.data.value)
          .sort((a, b) => a - b);
      if (transport === 'bosh') {
        const handshakes = samples('http_req_tls_handshaking');
        assert.ok(handshakes.length >= 2, `a TLS connection per VU at least: ${handshakes.length}`);
        assert.deepEqual(samples('xmpp_tls_handshake'), handshakes);
        assert.equal(r.metrics.http_req_failed!.values.rate, 0);
      } else {
        assert.equal(r.metrics.ws_sessions!.values.count, 4);
        assert.deepEqual(samples('xmpp_tls_handshake'), []);
      }
    });

    test(`${transport}: without the CA the run fails with 'unknown authority'`, async () => {
      const r = await runLogin(urlOf(valid), [], cwd);
      assert.equal(r.code, 99, r.output);
      assert.equal(r.metrics.xmpp_login_success!.values.rate, 0);
      assert.ok(
        r.output.includes('tls: failed to verify certificate: x509: certificate signed by unknown authority'),
        r.output,
      );
      if (transport === 'bosh') assert.ok(r.output.includes('(x509: unknown authority)'), r.output);
    });

    test(`${transport}: INSECURE_SKIP_TLS_VERIFY=true (k6's insecureSkipTLSVerify) passes without the CA`, async () => {
      const r = await runLogin(urlOf(valid), ['-e', 'INSECURE_SKIP_TLS_VERIFY=true'], cwd);
      assert.equal(r.code, 0, r.output);
      assert.equal(r.metrics.xmpp_login_success!.values.rate, 1);
    });

    test(`${transport}: SSL_CERT_FILE (as Go reads it) trusts the CA like --ca-file`, async () => {
      const r = await runLogin(urlOf(valid), [], cwd, { SSL_CERT_FILE: valid.caFile! });
      assert.equal(r.code, 0, r.output);
    });

    test(`${transport}: a certificate for other names fails with the hostname cause`, async () => {
      const r = await runLogin(urlOf(wrongHost), ['--ca-file', wrongHost.caFile!], cwd);
      assert.equal(r.code, 99, r.output);
      assert.equal(r.metrics.xmpp_login_success!.values.rate, 0);
      assert.ok(r.output.includes('x509: certificate is valid for 192.0.2.1, not 127.0.0.1'), r.output);
      if (transport === 'bosh') assert.ok(r.output.includes("(x509: certificate doesn't match hostname)"));
    });

    test(`${transport}: an expired certificate fails with the expiry cause`, async () => {
      const r = await runLogin(urlOf(expired), ['--ca-file', expired.caFile!], cwd);
      assert.equal(r.code, 99, r.output);
      assert.equal(r.metrics.xmpp_login_success!.values.rate, 0);
      assert.match(
        r.output,
        /x509: certificate has expired or is not yet valid: current time \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) is after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/,
      );
    });
  }

  test('--ca-file that holds no certificate is refused before the run', async () => {
    const r = await new Promise<{ code: number | null; output: string }>((res) => {
      const child = spawn(process.execPath, [CLI, 'run', 'login', '--engine', 'node', '--ca-file', CLI], {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('close', (code) => res({ code, output }));
    });
    assert.notEqual(r.code, 0);
    assert.match(r.output, /--ca-file .*: no PEM certificate/);
  });

  describe('Node session helpers with a ca option', () => {
    test('wss:// login with the CA, unknown authority without it', async () => {
      const ca = await readFile(valid.caFile!);
      const acct = valid.account(9);
      const o = {
        url: valid.websocketUrl,
        domain: valid.domain,
        credentials: { username: acct.username, password: acct.password },
      };
      const { session } = openWebSocketSession({ ...o, ca });
      assert.equal(await session.start(), `${acct.jid}/${session.jid!.split('/')[1]}`);
      assert.equal((await session.close()).clean, true);
      const untrusted = openWebSocketSession(o);
      await assert.rejects(
        untrusted.session.start(),
        /self-signed certificate in certificate chain|unable to/,
      );
    });

    test('https:// BOSH login with the CA', async () => {
      const ca = await readFile(valid.caFile!);
      const acct = valid.account(10);
      const { session } = openBoshSession({
        url: valid.boshUrl,
        domain: valid.domain,
        credentials: { username: acct.username, password: acct.password },
        ca,
      });
      assert.ok((await session.start()).startsWith(acct.jid));
      assert.equal((await session.close()).clean, true);
    });
  });
});
