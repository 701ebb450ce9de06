/**
 * Server redirects against real Prosody on loopback. Debian's Prosody has no module that sends clients
 * elsewhere, so the redirecting servers load test/fixtures/prosody/mod_starling_redirect.lua, which sends a
 * `<see-other-host/>` stream error or a see-other-uri close (WebSocket) / terminate (BOSH) as RFC 6120,
 * RFC 7395 and XEP-0124 put them on the wire. The compiled scenarios run through `starling run`, and every
 * redirect is counted in xmpp_redirects{kind, outcome} (read from `--out json`), followed or not.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { envArgs, readPoints, runStarling, type JsonPoint } from '../helpers/cli.ts';
import { hostPort, startRedirectingProsody } from '../helpers/redirecting-prosody.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const USERS = 20;

interface Run {
  code: number | null;
  output: string;
  points: JsonPoint[];
  metrics: Record<string, { values: Record<string, number> }>;
}

/** Sum of a metric's samples whose tags include `tags`. */
function sum(run: Run, metric: string, tags: Record<string, string> = {}): number {
  return run.points
    .filter((p) => p.metric === metric && Object.entries(tags).every(([k, v]) => p.data.tags[k] === v))
    .reduce((n, p) => n + p.data.value, 0);
}

describe('redirects (see-other-host, see-other-uri) against Prosody on loopback', () => {
  let target: LocalServer;
  let byHost: LocalServer;
  let byUri: LocalServer;
  let draining: LocalServer;
  let looping: LocalServer;
  let downgrading: LocalServer;
  let cwd: string;
  let runs = 0;

  async function run(
    scenario: string,
    url: string,
    vars: Record<string, string>,
    args: string[] = [],
  ): Promise<Run> {
    const out = join(cwd, `run-${++runs}.json`);
    const root = join(cwd, `results-${runs}`);
    const r = await runStarling(
      [
        'run',
        resolve(`scenarios/${scenario}.ts`),
        '--engine',
        'node',
        '--results-root',
        root,
        '--out',
        `json=${out}`,
        ...envArgs({ XMPP_URL: url, VUS: '2', SESSIONS_PER_VU: '3', DURATION: '1s', ...vars }),
        ...args,
      ],
      { cwd, env: { ...process.env, SSL_CERT_FILE: '', SSL_CERT_DIR: '' } },
    );
    const points = await readPoints(out);
    const dir = (await readdir(root))[0]!;
    const summary = JSON.parse(await readFile(join(root, dir, 'summary.json'), 'utf8')) as Pick<
      Run,
      'metrics'
    >;
    return { code: r.code, output: r.output, points, metrics: summary.metrics };
  }

  before(async () => {
    target = await startLocalServer({ kind: 'prosody', users: USERS });
    const users = USERS;
    [byHost, byUri, draining, looping, downgrading] = await Promise.all([
      startRedirectingProsody({ users, kind: 'see-other-host', to: hostPort(target) }),
      startRedirectingProsody({ users, kind: 'see-other-uri', to: target.websocketUrl }),
      startRedirectingProsody({ users, kind: 'see-other-host', to: hostPort(target), when: 'bound' }),
      startRedirectingProsody({ users, kind: 'see-other-host', to: 'self' }),
      startRedirectingProsody({ users, kind: 'see-other-uri', to: target.websocketUrl, tls: true }),
    ]);
    cwd = await tempDir('starling-redirect-');
  });
  after(async () => {
    await Promise.all([target, byHost, byUri, draining, looping, downgrading].map((s) => s?.stop()));
  });

  for (const transport of ['websocket', 'bosh'] as const) {
    test(`${transport}: <see-other-host/> is followed to the other server with XMPP_FOLLOW_REDIRECTS=1`, async () => {
      const url = transport === 'websocket' ? byHost.websocketUrl : byHost.boshUrl;
      const r = await run('login', url, { XMPP_FOLLOW_REDIRECTS: '1' });
      assert.equal(r.code, 0, r.output);
      const followedUrl = transport === 'websocket' ? target.websocketUrl : target.boshUrl;
      assert.ok(
        r.output.includes(`following see-other-host ${hostPort(target)} from ${url} to ${followedUrl}`),
        r.output,
      );
      assert.equal(sum(r, 'xmpp_redirects', { kind: 'see-other-host', outcome: 'followed' }), 6);
      assert.equal(sum(r, 'xmpp_redirects'), 6);
      assert.equal(sum(r, 'xmpp_stream_errors', { condition: 'see-other-host' }), 6);
      assert.equal(sum(r, 'xmpp_session_failures'), 0);
      assert.equal(r.metrics.xmpp_login_success!.values.rate, 1);
      assert.equal(r.metrics.xmpp_clean_close!.values.rate, 1);
      assert.equal(sum(r, 'xmpp_iq_rtt') > 0, true);
      // xmpp_session_ready runs from the first attempt, so it holds the redirected attempt too; the phases
      // are the final session's. Straight to Prosody (no session IQ) ready = connect + auth + bind exactly.
      const phases = sum(r, 'xmpp_connect') + sum(r, 'xmpp_auth') + sum(r, 'xmpp_bind');
      const direct = await run('login', followedUrl, {});
      const directPhases = sum(direct, 'xmpp_connect') + sum(direct, 'xmpp_auth') + sum(direct, 'xmpp_bind');
      assert.equal(sum(direct, 'xmpp_session_ready'), directPhases);
      assert.ok(
        sum(r, 'xmpp_session_ready') >= phases + 6,
        `ready ${sum(r, 'xmpp_session_ready')}, phases ${phases}`,
      );
    });
  }

  test('websocket: without XMPP_FOLLOW_REDIRECTS the redirect is counted, not followed, and says what to set', async () => {
    const r = await run('login', byHost.websocketUrl, {});
    assert.equal(r.code, 99, r.output);
    assert.equal(sum(r, 'xmpp_redirects', { kind: 'see-other-host', outcome: 'off' }), 6);
    assert.equal(sum(r, 'xmpp_session_failures', { reason: 'stream-error:see-other-host' }), 6);
    assert.equal(r.metrics.xmpp_login_success!.values.rate, 0);
    assert.match(
      r.output,
      /see-other-host: 127\.0\.0\.1:\d+\); the server redirected the session \(see-other-host 127\.0\.0\.1:\d+\); set XMPP_FOLLOW_REDIRECTS=1/,
    );
  });

  test('websocket: <close see-other-uri/> is followed; BOSH see-other-uri to a WebSocket URI switches transport', async () => {
    const ws = await run('login', byUri.websocketUrl, { XMPP_FOLLOW_REDIRECTS: '1' });
    assert.equal(ws.code, 0, ws.output);
    assert.equal(sum(ws, 'xmpp_redirects', { kind: 'see-other-uri', outcome: 'followed' }), 6);
    assert.equal(sum(ws, 'xmpp_session_failures'), 0);
    assert.equal(ws.metrics.xmpp_login_success!.values.rate, 1);

    const bosh = await run('login', byUri.boshUrl, { XMPP_FOLLOW_REDIRECTS: '1' });
    assert.equal(bosh.code, 0, bosh.output);
    assert.ok(bosh.output.includes(`from ${byUri.boshUrl} to ${target.websocketUrl}`), bosh.output);
    assert.equal(sum(bosh, 'xmpp_redirects', { kind: 'see-other-uri', outcome: 'followed' }), 6);
    assert.equal(sum(bosh, 'xmpp_session_failures'), 0);
    assert.equal(bosh.metrics.xmpp_login_success!.values.rate, 1);
  });

  test('a server that redirects to itself stops at the hop limit with a clear error', async () => {
    const r = await run('login', looping.websocketUrl, { XMPP_FOLLOW_REDIRECTS: '2' });
    assert.equal(r.code, 99, r.output);
    // Each login follows twice, and the third redirect is refused.
    assert.equal(sum(r, 'xmpp_redirects', { outcome: 'followed' }), 12);
    assert.equal(sum(r, 'xmpp_redirects', { outcome: 'limit' }), 6);
    assert.equal(r.metrics.xmpp_login_success!.values.rate, 0);
    assert.match(r.output, /after 2 redirects: XMPP_FOLLOW_REDIRECTS=2 allows no more \(a redirect loop\?\)/);
  });

  test('a redirect from wss:// to ws:// is refused even when following is on', async () => {
    const r = await run('login', downgrading.websocketUrl, { XMPP_FOLLOW_REDIRECTS: '1' }, [
      '--ca-file',
      downgrading.caFile!,
    ]);
    assert.equal(r.code, 99, r.output);
    assert.equal(sum(r, 'xmpp_redirects', { kind: 'see-other-uri', outcome: 'downgrade' }), 6);
    assert.equal(sum(r, 'xmpp_session_failures', { reason: 'see-other-uri' }), 6);
    assert.match(r.output, /leads from wss:\/\/ to ws:\/\/ .*a redirect never drops TLS, not followed/);
  });

  test('a move during the wind-down (first Ctrl+C) is counted as stopping and starts no new login', async () => {
    const out = join(cwd, 'stopping.json');
    const r = await runStarling(
      [
        'run',
        resolve('test/fixtures/scripts/redirect-while-stopping.ts'),
        '--engine',
        'node',
        '--results-root',
        join(cwd, 'results-stopping'),
        '--out',
        `json=${out}`,
        ...envArgs({ XMPP_URL: draining.websocketUrl, STARLING_STOPPING: '1' }),
      ],
      { cwd },
    );
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /after the move: moving=false state=closed/);
    const run: Run = { code: r.code, output: r.output, points: await readPoints(out), metrics: {} };
    assert.equal(sum(run, 'xmpp_redirects', { kind: 'see-other-host', outcome: 'stopping' }), 1);
    assert.equal(sum(run, 'xmpp_redirects'), 1);
    assert.equal(sum(run, 'xmpp_sessions_opened'), 1);
    assert.equal(sum(run, 'xmpp_session_failures', { reason: 'stream-error:see-other-host' }), 1);
  });

  test('chat: sessions a draining server moves after login carry on at the other server', async () => {
    const r = await run('chat', draining.websocketUrl, {
      XMPP_FOLLOW_REDIRECTS: '1',
      DURATION: '4s',
      MESSAGE_RATE: '2',
      // A message sent to a peer in the moment it moves is lost (below): the run allows that much.
      THRESHOLDS: '{"xmpp_message_loss":["rate<0.2"]}',
    });
    assert.equal(r.code, 0, r.output);
    assert.equal(sum(r, 'xmpp_redirects', { kind: 'see-other-host', outcome: 'followed' }), 6);
    // Two logins per account (one per server), every one ready; the moved sessions are not failures.
    assert.equal(sum(r, 'xmpp_login_success'), 12);
    assert.equal(r.metrics.xmpp_login_success!.values.rate, 1);
    assert.equal(sum(r, 'xmpp_session_failures'), 0);
    assert.equal(sum(r, 'xmpp_sessions_opened'), 12);
    assert.equal(sum(r, 'xmpp_sessions_closed'), 12);
    // Messages went on at the full rate after the move (6 sessions × 2/s × 4 s; it stopped at ~1 s) and
    // arrived, but for those sent to a peer in the moment it moved (its old full JID is gone): one each at most.
    const sent = sum(r, 'xmpp_stanzas_sent', { kind: 'message' });
    assert.ok(sent >= 40, `sent ${sent}`);
    const received = sum(r, 'xmpp_stanzas_received', { kind: 'message' });
    assert.ok(received <= sent && received >= sent - 6, `sent ${sent}, received ${received}`);
    // And the loss is counted: every message sent is delivered or lost. One sent to the old full JID counts lost
    // even when the server hands it to the account's new session (RFC 6120 §10.5.4): its addressee never got it.
    const loss = r.metrics.xmpp_message_loss!.values;
    assert.equal(loss.fails! + loss.passes!, sent);
    assert.ok(loss.fails! <= received && loss.passes! <= 6, `delivered ${loss.fails}, lost ${loss.passes}`);
    assert.equal(r.metrics.xmpp_clean_close!.values.rate, 1);
  });
});
