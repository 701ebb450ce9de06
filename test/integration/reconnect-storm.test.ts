/**
 * The reconnect-storm scenario against real Prosody and ejabberd: half the sessions lose their WebSocket at once
 * and resume on new ones, with the messages sent to them meanwhile delivered; and, on a server whose resumption
 * timeout is shorter than the pause, every resumption refused (item-not-found) and the run failing.
 */
import assert from 'node:assert/strict';

import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { runScenario, type SummaryValues } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const VUS = 2;
const PER_VU = 10;
const SESSIONS = VUS * PER_VU;
const BROKEN = SESSIONS / 2;

async function storm(root: string, server: LocalServer, env: Record<string, string>) {
  const r = await runScenario('reconnect-storm', root, {
    XMPP_URL: server.websocketUrl,
    XMPP_DOMAIN: server.domain,
    VUS: String(VUS),
    SESSIONS_PER_VU: String(PER_VU),
    DURATION: '6s',
    STORM_AT: '2s',
    MESSAGE_RATE: '2',
    BREAK_PERCENT: '50',
    THRESHOLDS: JSON.stringify({
      xmpp_session_ready: ['p(95)<30000'],
      xmpp_sm_resume: ['p(95)<30000'],
      // Always true: puts the sub-metric in summary.json.
      'xmpp_session_failures{reason:sm-resume-failed:item-not-found}': ['count>=0'],
    }),
    ...env,
  });
  return { code: r.code, output: r.output, s: r.summary };
}

/** A stat of a metric in summary.json; undefined when the run never recorded it. */
function value(s: SummaryValues, metric: string, stat: string): number | undefined {
  return s.metrics[metric]?.values[stat];
}

for (const kind of ['prosody', 'ejabberd'] as const) {
  describe(`reconnect storm on ${kind}`, () => {
    let work: string;
    before(async () => {
      work = await tempDir('starling-storm-');
    });

    describe('resumed within the server’s timeout', () => {
      let server: LocalServer;
      before(async () => {
        server = await startLocalServer({ kind, users: SESSIONS });
      });
      after(async () => {
        await server?.stop();
      });

      test(`${BROKEN} of ${SESSIONS} sessions broken at once, all resumed, every message delivered (exit 0)`, async () => {
        const { code, output, s } = await storm(join(work, 'ok'), server, {
          // A moment before resuming, as a client's reconnect has: see the ejabberd note in stream-management.test.ts.
          RESUME_AFTER: '1s',
          RESUME_SPREAD: '500ms',
        });
        assert.equal(code, 0, output);
        assert.equal(value(s, 'xmpp_sm_resume', 'count'), BROKEN);
        assert.equal(value(s, 'xmpp_sm_resume_success', 'passes'), BROKEN);
        assert.equal(value(s, 'xmpp_sm_resume_success', 'fails'), 0);
        const sent = value(s, 'xmpp_message_loss', 'fails')!;
        assert.ok(sent >= SESSIONS * 2 * 4, `${sent} messages delivered`);
        assert.equal(value(s, 'xmpp_message_loss', 'passes'), 0);
        assert.equal(value(s, 'xmpp_stanzas_redelivered', 'count') ?? 0, 0);
        assert.equal(value(s, 'xmpp_clean_close', 'passes'), SESSIONS);
        assert.equal(value(s, 'xmpp_session_failures{reason:sm-resume-failed:item-not-found}', 'count'), 0);
      });
    });

    describe('resumed after the server’s timeout', () => {
      let server: LocalServer;
      before(async () => {
        server = await startLocalServer({ kind, users: SESSIONS, resumeTimeoutSec: 1 });
      });
      after(async () => {
        await server?.stop();
      });

      test('every resumption refused as item-not-found, the messages to them lost, the run failed (exit 99)', async () => {
        const { code, output, s } = await storm(join(work, 'late'), server, { RESUME_AFTER: '2500ms' });
        assert.equal(code, 99, output);
        assert.equal(value(s, 'xmpp_sm_resume_success', 'passes'), 0);
        assert.equal(value(s, 'xmpp_sm_resume_success', 'fails'), BROKEN);
        assert.equal(
          value(s, 'xmpp_session_failures{reason:sm-resume-failed:item-not-found}', 'count'),
          BROKEN,
        );
        assert.ok(value(s, 'xmpp_message_loss', 'passes')! > 0, 'messages to the lost sessions counted lost');
        assert.equal(value(s, 'xmpp_clean_close', 'passes'), SESSIONS - BROKEN);
        assert.match(output, /xmpp_sm_resume_success/);
      });
    });
  });
}
