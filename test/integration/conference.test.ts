/**
 * The conference scenario against a real Prosody, through `starling run conference` on the Node engine: one room
 * per size, every participant joining in one burst, presence updates and chat inside each room; the join latency
 * per room size in summary.json (sub-metrics xmpp_muc_join{room_size:N}), every broadcast at every other occupant,
 * and the run's report.html with its room-size section.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { runScenario, summaryValue as value } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const SIZES = [3, 6];
/** One account per participant, numbered in room order: exactly as many as the rooms hold. */
const PARTICIPANTS = SIZES.reduce((a, b) => a + b, 0);
/** Latency thresholds a shared machine meets. */
const THRESHOLDS = {
  xmpp_session_ready: ['p(95)<30000'],
  xmpp_muc_join: ['p(95)<30000'],
  xmpp_muc_message_delivery: ['p(95)<30000'],
};

describe('the conference scenario on prosody', () => {
  let server: LocalServer;
  let work: string;
  before(async () => {
    server = await startLocalServer({ kind: 'prosody', users: PARTICIPANTS });
    work = await tempDir('starling-conference-');
  });
  after(async () => {
    await server?.stop();
  });

  test(`rooms of ${SIZES.join(' and ')}, one VU each: every join per size, every broadcast at every other occupant, the report's room-size section`, async () => {
    const root = join(work, 'results');
    const r = await runScenario(
      'conference',
      root,
      {
        XMPP_URL: server.websocketUrl,
        XMPP_DOMAIN: server.domain,
        ROOM_SIZES: SIZES.join(','),
        DURATION: '4s',
        PRESENCE_INTERVAL: '1s',
        CHAT_INTERVAL: '2s',
        THRESHOLDS: JSON.stringify(THRESHOLDS),
      },
      { cwd: work, report: true },
    );
    assert.equal(r.code, 0, r.output);
    const { dir, summary: s } = r;

    assert.equal(value(s, 'xmpp_muc_join', 'count'), PARTICIPANTS);
    assert.equal(value(s, 'xmpp_muc_join_success', 'passes'), PARTICIPANTS);
    assert.equal(value(s, 'xmpp_muc_join_success', 'fails'), 0);
    for (const size of SIZES) {
      assert.equal(value(s, `xmpp_muc_join{room_size:${size}}`, 'count'), size, `room of ${size}`);
      assert.ok(value(s, `xmpp_muc_join{room_size:${size}}`, 'p(99)') > 0, `room of ${size}`);
    }
    for (const k of ['message', 'presence']) {
      const expected = value(s, `xmpp_muc_fanout_expected{kind:${k}}`, 'count');
      const received = value(s, `xmpp_muc_fanout_received{kind:${k}}`, 'count');
      assert.ok(expected > 0, `${k}: ${expected} expected`);
      assert.equal(received, expected, `${k}: received ${received} of ${expected}`);
      // Each room in one VU: the loss samples cover every recipient, and none was lost.
      assert.equal(value(s, `xmpp_muc_${k}_loss`, 'fails'), expected, k);
      assert.equal(value(s, `xmpp_muc_${k}_loss`, 'passes'), 0, k);
    }
    // Presence every second for 4 s from each participant, each to the 2 or 5 others: at least 3 rounds of it.
    assert.ok(
      value(s, 'xmpp_muc_fanout_expected{kind:presence}', 'count') >= 3 * (3 * 2 + 6 * 5),
      'presence fan-out',
    );
    assert.equal(value(s, 'xmpp_clean_close', 'passes'), PARTICIPANTS);

    const html = await readFile(join(dir, 'report.html'), 'utf8');
    assert.match(html, /<section id="run-room-sizes"><h2>Room join latency against room size<\/h2>/);
    assert.match(html, /<figure data-chart="run\.room-sizes" data-points="6"><svg/);
    for (const size of SIZES) {
      assert.match(
        html,
        new RegExp(
          `<tr><td class="num" data-figure="room-size\\.${size}\\.size" data-value="${size}">${size}</td>` +
            `<td class="num" data-figure="room-size\\.${size}\\.joins" data-value="${size}">${size}</td>`,
        ),
        `the row of rooms of ${size}`,
      );
    }
    assert.match(
      html,
      new RegExp(
        `<strong data-figure="rooms\\.joins\\.ok" data-value="${PARTICIPANTS}">${PARTICIPANTS}</strong> of ` +
          `<strong data-figure="rooms\\.joins\\.total" data-value="${PARTICIPANTS}">`,
      ),
    );
    assert.match(html, /data-figure="rooms\.fanout\.presence\.share" data-value="1">100\.00 %/);
  });
});
