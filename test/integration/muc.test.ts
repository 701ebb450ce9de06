/**
 * Multi-user chat (XEP-0045) against real Prosody and ejabberd, through `starling run muc` on the Node engine:
 * joins measured at the self-presence, fan-out counted exactly (every broadcast an occupant sent reached every
 * other occupant, in its VU or not), and a refused join failing the run.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { runScenario, summaryValue } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOMS = 2;
const PER_ROOM = 4;
const OCCUPANTS = ROOMS * PER_ROOM;
/** Per-kind fan-out appears in summary.json through sub-metric thresholds that always hold. */
const THRESHOLDS = {
  xmpp_session_ready: ['p(95)<30000'],
  xmpp_muc_join: ['p(95)<30000'],
  xmpp_muc_message_delivery: ['p(95)<30000'],
  'xmpp_muc_fanout_expected{kind:message}': ['count>=0'],
  'xmpp_muc_fanout_received{kind:message}': ['count>=0'],
  'xmpp_muc_fanout_expected{kind:presence}': ['count>=0'],
  'xmpp_muc_fanout_received{kind:presence}': ['count>=0'],
};

/** `starling run` with the per-kind thresholds, from the work directory. */
function runMuc(root: string, script: string, env: Record<string, string>) {
  return runScenario(
    script,
    root,
    { THRESHOLDS: JSON.stringify(THRESHOLDS), ...env },
    { cwd: join(root, '..') },
  );
}

const value = summaryValue;

for (const kind of ['prosody', 'ejabberd'] as const) {
  describe(`multi-user chat on ${kind}`, () => {
    let server: LocalServer;
    let work: string;
    before(async () => {
      server = await startLocalServer({ kind, users: OCCUPANTS + 2 });
      work = await tempDir('starling-muc-');
    });
    after(async () => {
      await server?.stop();
    });

    test(`muc: ${ROOMS} rooms × ${PER_ROOM} occupants over 3 VUs (rooms span VUs): every join, every broadcast at every other occupant`, async () => {
      const {
        code,
        output,
        summary: s,
      } = await runMuc(join(work, 'muc'), 'muc', {
        XMPP_URL: server.websocketUrl,
        XMPP_DOMAIN: server.domain,
        ROOMS: String(ROOMS),
        OCCUPANTS_PER_ROOM: String(PER_ROOM),
        VUS: '3',
        DURATION: '3s',
        MESSAGE_RATE: '4',
        PRESENCE_RATE: '2',
      });
      assert.equal(code, 0, output);
      assert.equal(value(s, 'xmpp_muc_join', 'count'), OCCUPANTS);
      assert.equal(value(s, 'xmpp_muc_join_success', 'passes'), OCCUPANTS);
      assert.equal(value(s, 'xmpp_muc_join_success', 'fails'), 0);
      for (const k of ['message', 'presence']) {
        const expected = value(s, `xmpp_muc_fanout_expected{kind:${k}}`, 'count');
        const received = value(s, `xmpp_muc_fanout_received{kind:${k}}`, 'count');
        // Each broadcast reaches the PER_ROOM − 1 others: a multiple of 3, and at least a few seconds' worth.
        assert.ok(expected >= (PER_ROOM - 1) * 4, `${k}: ${expected} expected`);
        assert.equal(expected % (PER_ROOM - 1), 0, `${k}: ${expected} is whole broadcasts`);
        assert.equal(received, expected, `${k}: received ${received} of ${expected}`);
        assert.equal(value(s, `xmpp_muc_${k}_delivery`, 'count'), received);
        // Loss samples cover the recipients in the sender's VU only, and none was lost.
        assert.ok(value(s, `xmpp_muc_${k}_loss`, 'fails') > 0);
        assert.equal(value(s, `xmpp_muc_${k}_loss`, 'passes'), 0);
      }
      assert.equal(value(s, 'xmpp_clean_close', 'passes'), OCCUPANTS);
    });

    test('a join the room refuses (nickname in use) is counted with its condition and fails the run (exit 99)', async () => {
      // Two sessions of one VU ask for the same nickname: the room admits the first and refuses the second.
      const script = join(work, 'conflict.ts');
      await writeFile(
        script,
        `import { loadConfig } from ${JSON.stringify(join(process.cwd(), 'src/k6/config.ts'))};
import { closeAll, openSessions } from ${JSON.stringify(join(process.cwd(), 'src/k6/flows.ts'))};
import { joinRoom } from ${JSON.stringify(join(process.cwd(), 'src/k6/muc.ts'))};
const cfg = { ...loadConfig(), vus: 1, sessionsPerVu: 2 };
export const options = { thresholds: { xmpp_muc_join_success: ['rate==1'] }, summaryTrendStats: ['avg', 'count'] };
export default async function () {
  const [a, b] = await openSessions(cfg);
  const room = 'conflict@' + __ENV.XMPP_MUC_DOMAIN;
  const first = await joinRoom(a, room, 'same');
  const second = await joinRoom(b, room, 'same');
  if (first === undefined || second !== undefined) throw new Error('expected the first join only');
  await first?.leave();
  await closeAll([a, b]);
}
`,
      );
      const {
        code,
        output,
        summary: s,
      } = await runMuc(join(work, 'conflict'), script, {
        XMPP_URL: server.websocketUrl,
        XMPP_DOMAIN: server.domain,
        XMPP_MUC_DOMAIN: `conference.${server.domain}`,
      });
      assert.equal(code, 99, output);
      assert.match(
        output,
        /joining conflict@conference\.localhost as same failed: the room refused the join: conflict/,
      );
      assert.equal(value(s, 'xmpp_muc_join_success', 'passes'), 1);
      assert.equal(value(s, 'xmpp_muc_join_success', 'fails'), 1);
      assert.equal(value(s, 'xmpp_muc_join', 'count'), 1);
    });
  });
}
