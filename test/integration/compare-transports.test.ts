/** `starling compare-transports` end to end at small scale, against fresh local Prosody servers. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ComparisonReport } from '../../src/report/compare-transports.ts';
import { runStarling } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test('compare-transports runs the flow over both transports and reports them side by side', async () => {
  const cwd = await tempDir('starling-compare-');
  const { code, stdout, stderr } = await runStarling(
    [
      'compare-transports',
      '--sessions',
      '40',
      '--sessions-per-vu',
      '20',
      '--messages',
      '3',
      '--message-rate',
      '5',
      '-e',
      'MESSAGE_START_DELAY=300ms',
    ],
    { cwd },
  );
  assert.equal(code, 0, stderr + stdout);
  const [runDir] = await readdir(join(cwd, 'results'));
  const report = JSON.parse(
    await readFile(join(cwd, 'results', runDir!, 'compare.json'), 'utf8'),
  ) as ComparisonReport;
  assert.deepEqual(
    report.transports.map((t) => t.transport),
    ['websocket', 'bosh'],
  );
  for (const t of report.transports) {
    assert.deepEqual(t.sessions, { planned: 40, loggedIn: 40, cleanCloseRate: 1 }, t.transport);
    assert.deepEqual([t.messages.sent, t.messages.delivered, t.messages.lost], [120, 120, 0], t.transport);
    assert.deepEqual(t.exitCodes, { baseline: 0, full: 0 });
    assert.ok(
      t.wire.perMessage.sentBytes > 50 && t.wire.perMessage.receivedBytes > 50,
      JSON.stringify(t.wire),
    );
    assert.ok(t.server && t.server.cpuSeconds > 0 && t.server.peakRssMiB > 1, JSON.stringify(t.server));
    assert.ok(t.latencyMs.messageDelivery.p99 >= t.latencyMs.messageDelivery.p50);
  }
  const [ws, bosh] = report.transports;
  assert.equal(ws!.wire.perMessage.httpRequests, 0);
  assert.equal(ws!.wire.perSession.httpRequests, 0);
  // BOSH: at least creation, auth, restart, bind and terminate for every session, and a request per message.
  assert.ok(bosh!.wire.perSession.httpRequests >= 5, String(bosh!.wire.perSession.httpRequests));
  assert.ok(bosh!.wire.perMessage.httpRequests >= 0.5, String(bosh!.wire.perMessage.httpRequests));
  // HTTP headers make every BOSH message dearer on the wire than its WebSocket frame.
  assert.ok(bosh!.wire.perMessage.sentBytes > ws!.wire.perMessage.sentBytes);
  assert.match(stdout, /^BOSH vs WebSocket on local prosody: 40 sessions, 3 messages each at 5\/s/m);
  assert.match(stdout, /^ {2}HTTP requests\s+0\.00\s+\d+\.\d\d\s+-$/m);
  await readFile(join(cwd, 'results', runDir!, 'bosh-full', 'summary.json'), 'utf8');
});
