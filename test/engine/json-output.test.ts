/** `--out json`: k6's line format, one Metric line per metric, one Point line per sample. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { attachJsonOutput } from '../../src/engine/json-output.ts';
import { MetricStore } from '../../src/engine/metrics.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test('every sample becomes a Point line after its metric is declared once', async () => {
  const file = join(await tempDir('starling-json-'), 'out.json');
  const store = new MetricStore();
  store.define('xmpp_session_ready', 'trend', true);
  const out = attachJsonOutput(store, file);
  store.push('xmpp_session_ready', 12, { scenario: 'chat' }, Date.UTC(2026, 10, 25, 12, 0, 0));
  store.push('xmpp_session_ready', 15.5, undefined, Date.UTC(2026, 10, 25, 12, 0, 1));
  store.push('data_sent', 240, { scenario: 'chat' }, Date.UTC(2026, 10, 25, 12, 0, 2));
  store.push('xmpp_session_ready', Number.NaN); // dropped by the store, so never written
  await out.close();
  const lines = (await readFile(file, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
  assert.deepEqual(lines, [
    {
      type: 'Metric',
      data: { name: 'xmpp_session_ready', type: 'trend', contains: 'time', thresholds: [], submetrics: null },
      metric: 'xmpp_session_ready',
    },
    {
      type: 'Point',
      data: { time: '2026-11-25T12:00:00.000Z', value: 12, tags: { scenario: 'chat' } },
      metric: 'xmpp_session_ready',
    },
    {
      type: 'Point',
      data: { time: '2026-11-25T12:00:01.000Z', value: 15.5, tags: {} },
      metric: 'xmpp_session_ready',
    },
    {
      type: 'Metric',
      data: { name: 'data_sent', type: 'counter', contains: 'data', thresholds: [], submetrics: null },
      metric: 'data_sent',
    },
    {
      type: 'Point',
      data: { time: '2026-11-25T12:00:02.000Z', value: 240, tags: { scenario: 'chat' } },
      metric: 'data_sent',
    },
  ]);
});
