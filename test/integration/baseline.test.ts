/**
 * Baselines against a real Prosody: the same small chat load, run four times, passes `gate --baseline` (the default
 * rules) against the first three (the repeats that set the band); the same load through a relay that holds every
 * frame 20 ms fails it (exit 99), naming the metrics and their ratios, and its JUnit file validates against the
 * JUnit schema.
 */
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareRuns } from '../../src/collector/baseline.ts';
import { readMergedRun } from '../../src/collector/summary.ts';
import { startLocalServer } from '../../src/targets/index.ts';
import { runChatCollect, runStarling } from '../helpers/cli.ts';
import { startDelayProxy } from '../helpers/delay-proxy.ts';
import { validateJUnit } from '../helpers/junit.ts';

const VUS = 2;
const SESSIONS_PER_VU = 10;
const DELAY_MS = 20;

test(
  'gate --baseline: a repeat of the same load passes, the same load 20 ms per frame slower fails (99)',
  { timeout: 120_000 },
  async (t) => {
    // Plain-text passwords and SASL PLAIN: no PBKDF2 on either side, the quietest login there is.
    const server = await startLocalServer({
      kind: 'prosody',
      users: VUS * SESSIONS_PER_VU,
      prosodyAuth: 'internal_plain',
    });
    const root = await mkdtemp(join(tmpdir(), 'starling-baseline-e2e-'));
    const proxy = await startDelayProxy(server.httpPort, DELAY_MS);
    t.after(async () => {
      await proxy.close();
      await server.stop();
      await rm(root, { recursive: true, force: true });
    });

    /** One `starling run chat --collect`; returns its run directory (results/<run-id>, holding merged.json). */
    const chat = async (name: string, url: string): Promise<string> =>
      (
        await runChatCollect(join(root, name), {
          XMPP_URL: url,
          XMPP_DOMAIN: server.domain,
          XMPP_MECHANISMS: 'PLAIN',
          VUS: String(VUS),
          SESSIONS_PER_VU: String(SESSIONS_PER_VU),
          LOGIN_RATE: '50',
          DURATION: '3s',
          MESSAGE_RATE: '2',
        })
      ).dir;
    const baselines: string[] = [];
    for (const n of [1, 2, 3]) baselines.push(await chat(`baseline-${n}`, server.websocketUrl));
    const baselineFlags = baselines.flatMap((dir) => ['--baseline', dir]);
    const again = await chat('again', server.websocketUrl);
    const slow = await chat('slow', `ws://127.0.0.1:${proxy.port}/xmpp-websocket`);
    assert.ok(proxy.chunks() > 0, 'the slow run went through the relay');

    const pass = await runStarling(['gate', again, ...baselineFlags]);
    t.diagnostic(pass.stdout);
    assert.equal(pass.code, 0, pass.output);
    // 20 logins a run: their p(99) is the slowest login, left out by the defaults, and said so.
    assert.match(
      pass.stdout,
      /\nxmpp_session_ready p\(99\) not compared: baseline run \S+ holds 20 samples, fewer than the 100 a p\(99\) needs to be more than its slowest one\nall 7 comparisons of run \S+ with baseline runs \S+, \S+, \S+ passed\n$/,
    );

    const junit = join(root, 'gate.xml');
    const markdown = join(root, 'summary.md');
    const fail = await runStarling([
      'gate',
      slow,
      ...baselineFlags,
      '--junit',
      junit,
      '--markdown',
      markdown,
    ]);
    t.diagnostic(fail.stdout);
    assert.equal(fail.code, 99, fail.output);
    for (const metric of ['xmpp_session_ready', 'xmpp_message_delivery']) {
      assert.match(
        fail.stdout,
        new RegExp(
          `\\n${metric} p\\(50\\) rose to [\\d.]+ms from [\\d.]+ms \\(\\d+\\.\\d\\d×, \\+[\\d.]+ms\\), above its bound`,
        ),
        `${metric}: named with its ratio`,
      );
    }

    // The relay's delay is in the data: a message crosses it twice (to the server, to its addressee), a PLAIN login
    // five times there and back (upgrade, stream open, auth, stream restart, bind). The margins are the ms clock's.
    const rows = compareRuns(await readMergedRun(baselines[0]!), await readMergedRun(slow));
    // ms, to the µs the histograms hold
    const change = (metric: string): number =>
      Number(rows.find((r) => r.metric === metric && r.stat === 'p(50)')!.difference!.toFixed(3));
    t.diagnostic(
      `p50 slower by: delivery ${change('xmpp_message_delivery')} ms, login ${change('xmpp_session_ready')} ms`,
    );
    assert.ok(
      change('xmpp_message_delivery') >= 2 * DELAY_MS - 3,
      `delivery: +${change('xmpp_message_delivery')} ms`,
    );
    assert.ok(
      change('xmpp_session_ready') >= 10 * DELAY_MS - 10,
      `login: +${change('xmpp_session_ready')} ms`,
    );

    const verdict = validateJUnit(junit);
    assert.ok(verdict.ok, verdict.output);
    const xml = await readFile(junit, 'utf8');
    assert.match(xml, /<failure type='regression' message='xmpp_session_ready p\(50\) rose to /);
    assert.match(await readFile(markdown, 'utf8'), /^### ❌ starling gate: run `\S+` failed\n/);
  },
);
