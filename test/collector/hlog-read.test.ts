/** Reading HDR interval logs back: what hlogText wrote, parseHlog returns, interval by interval. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeSparse, encodeSparse } from '../../src/collector/histogram.ts';
import { hlogText, parseHlog } from '../../src/collector/hlog.ts';
import { CollectorStore } from '../../src/collector/store.ts';
import { encode, latencies, rng, snapshot } from './fixtures.ts';

const T0 = 1_700_000_000_000;

test('parseHlog returns each interval of a log hlogText wrote: its epoch times and its counts', () => {
  const store = new CollectorStore({ intervalMs: 1000 });
  const random = rng(5);
  const written: number[][] = [];
  // Intervals 0, 1 and 3: a gap stays a gap.
  for (const [seq, slot] of [0, 1, 3].entries()) {
    const values = latencies(random, 50 + 10 * seq);
    written.push(values);
    store.ingest(
      snapshot({
        seq,
        intervalStartMs: T0 + slot * 1000,
        intervalEndMs: T0 + 1000 + slot * 1000,
        histograms: [{ name: 'xmpp_session_ready', hdr: encode(values) }],
      }),
    );
  }
  const run = store.run('run-1')!;
  const series = [...run.histograms.values()][0]!;
  const intervals = parseHlog(hlogText(run, series), 'ready.hlog');
  assert.deepEqual(
    intervals.map((i) => [i.startMs, i.endMs, i.counts.total]),
    run.intervals(series).map((i) => [i.startMs, i.endMs, i.counts.total]),
  );
  assert.deepEqual(
    intervals.map((i) => [i.startMs - T0, i.counts.total]),
    written.map((v, k) => [[0, 1, 3][k]! * 1000, v.length]),
  );
  for (const [k, i] of intervals.entries())
    assert.deepEqual(decodeSparse(encodeSparse(i.counts)), decodeSparse(encode(written[k]!)));
});

test('a line that is not an interval, or whose histogram does not decode, is named by its line number', () => {
  const head = '#[Histogram log format version 1.3]\n#[BaseTime: 1700000000.000 (seconds since epoch)]\n';
  assert.throws(() => parseHlog(`${head}0.000,1.000,2.0\n`, 'x.hlog'), {
    name: 'HlogFormatError',
    message: 'x.hlog line 3: not an HDR log interval (start,length,max,histogram)',
  });
  assert.throws(() => parseHlog(`${head}0.000,1.000,2.000,AAAA\n`, 'x.hlog'), {
    name: 'HlogFormatError',
    message: 'x.hlog line 3: not an HdrHistogram V2 compressed histogram (bad cookie)',
  });
});
