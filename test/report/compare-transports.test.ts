/** The BOSH-vs-WebSocket arithmetic: baseline subtraction, rates, per-session figures, and the table. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareTransport,
  formatComparison,
  type MeasuredRun,
  type RunSummary,
} from '../../src/report/compare-transports.ts';

function summary(m: Record<string, Record<string, number>>): RunSummary {
  return { metrics: Object.fromEntries(Object.entries(m).map(([k, values]) => [k, { values }])) };
}

const baseline: MeasuredRun = {
  exitCode: 0,
  generatorCpuSeconds: 2,
  wallSeconds: 10,
  server: { cpuSeconds: 3, peakRssKiB: 40_000, idleRssKiB: 20_000 },
  summary: summary({
    xmpp_login_success: { rate: 1, passes: 100, fails: 0 },
    xmpp_stanzas_sent: { count: 100 },
    data_sent: { count: 300_000 },
    data_received: { count: 500_000 },
    http_reqs: { count: 800 },
  }),
};

const full: MeasuredRun = {
  exitCode: 0,
  generatorCpuSeconds: 5,
  wallSeconds: 20,
  server: { cpuSeconds: 9, peakRssKiB: 60_000, idleRssKiB: 20_480 },
  summary: summary({
    xmpp_login_success: { rate: 1, passes: 100, fails: 0 },
    xmpp_clean_close: { rate: 0.99, passes: 99, fails: 1 },
    xmpp_stanzas_sent: { count: 1103 },
    xmpp_message_delivery: { count: 1003, med: 3, 'p(90)': 7, 'p(99)': 12, max: 20 },
    // 3 of the 1003 arrivals came after the loss window: counted lost, and not in the per-message figures.
    xmpp_message_loss: { rate: 0.003, passes: 3, fails: 1000 },
    xmpp_presence_delivery: { count: 100, med: 2, 'p(90)': 4, 'p(99)': 6, max: 9 },
    xmpp_session_ready: { count: 100, med: 40, 'p(90)': 80, 'p(99)': 120, max: 130 },
    starling_message_phase_start: { min: 1_000_000, max: 1_000_500 },
    starling_message_phase_end: { min: 1_009_000, max: 1_010_000 },
    data_sent: { count: 800_000 },
    data_received: { count: 1_250_000 },
    http_reqs: { count: 1_900 },
  }),
};

test('per-message wire cost is (full − baseline) ÷ delivered; per-session cost is the baseline ÷ sessions', () => {
  const c = compareTransport(
    { transport: 'bosh', url: 'http://x/http-bind', sessions: 100, messageRatePerSession: 1 },
    baseline,
    full,
  );
  assert.deepEqual(c.wire, {
    perSession: { sentBytes: 3000, receivedBytes: 5000, httpRequests: 8 },
    perMessage: { sentBytes: 500, receivedBytes: 750, httpRequests: 1.1 },
  });
  assert.deepEqual(c.messages, {
    sent: 1003,
    delivered: 1000,
    lost: 3,
    perSecond: 100,
    offeredPerSecond: 100,
  });
  assert.deepEqual(c.latencyMs.messageDelivery, { p50: 3, p90: 7, p99: 12, max: 20 });
  assert.deepEqual(c.latencyMs.login, { p50: 40, p90: 80, p99: 120, max: 130 });
  assert.deepEqual(c.sessions, { planned: 100, loggedIn: 100, cleanCloseRate: 0.99 });
  // 5 CPU s over a 20 s run: a quarter of one core.
  assert.deepEqual(c.generator, {
    cpuSeconds: 5,
    baselineCpuSeconds: 2,
    cpuMsPerMessage: 3,
    busyPercent: 25,
  });
  // Peak 60,000 KiB over an idle 20,480 KiB, spread over 100 sessions.
  assert.deepEqual(c.server, {
    cpuSeconds: 9,
    busyPercent: 45,
    baselineCpuSeconds: 3,
    peakRssMiB: 60_000 / 1024,
    rssKiBPerSession: 395.2,
  });
});

test('no messages delivered gives zeros, not NaN or Infinity, and no CPU per message', () => {
  const c = compareTransport(
    { transport: 'websocket', url: 'ws://x', sessions: 10, messageRatePerSession: 1 },
    baseline,
    { ...full, summary: summary({}) },
  );
  assert.deepEqual(c.wire.perMessage, { sentBytes: 0, receivedBytes: 0, httpRequests: 0 });
  assert.equal(c.messages.perSecond, 0);
  assert.equal(c.generator.cpuMsPerMessage, undefined);
});

test('a full run that cost no more CPU than its baseline gives no CPU per message, not a negative one', () => {
  const c = compareTransport(
    { transport: 'websocket', url: 'ws://x', sessions: 10, messageRatePerSession: 1 },
    baseline,
    { ...full, generatorCpuSeconds: baseline.generatorCpuSeconds - 0.01 },
  );
  assert.equal(c.generator.cpuMsPerMessage, undefined);
});

test('the table puts the transports side by side with the BOSH ÷ WebSocket ratio', () => {
  const ws = compareTransport(
    { transport: 'websocket', url: 'ws://x', sessions: 100, messageRatePerSession: 1 },
    baseline,
    full,
  );
  const bosh = compareTransport(
    { transport: 'bosh', url: 'http://x', sessions: 100, messageRatePerSession: 1 },
    baseline,
    {
      ...full,
      summary: summary({
        ...Object.fromEntries(Object.entries(full.summary.metrics).map(([k, v]) => [k, v!.values])),
        data_sent: { count: 1_300_000 },
      }),
    },
  );
  const text = formatComparison({
    generatedAt: '2026-11-25T00:00:00Z',
    server: 'local prosody',
    flow: { sessions: 100, messagesPerSession: 10, messageRatePerSession: 1, loginRate: 200 },
    notes: ['a note'],
    transports: [ws, bosh],
  });
  const line = (label: string): string => text.split('\n').find((l) => l.startsWith(label))!;
  // ws: (800,000 − 300,000) / 1000 = 500 bytes; bosh: (1,300,000 − 300,000) / 1000 = 1000 bytes → 2.00×.
  assert.match(line('  sent '), /^ {2}sent\s+500\.0\s+1000\.0\s+2\.00×$/);
  assert.match(line('  p99'), /^ {2}p99\s+120\.0\s+120\.0\s+1\.00×$/);
  assert.match(text, /^note: a note$/m);
  assert.match(
    text,
    /^BOSH vs WebSocket on local prosody: 100 sessions, 10 messages each at 1\/s, logins at 200\/s$/m,
  );
});
