import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { HDR_CONFIG } from '../../src/contract/snapshot.ts';
import {
  addSparse,
  COUNTS_LENGTH,
  cumulativeCounts,
  decodeHistogram,
  decodeSparse,
  encodeHistogram,
  HdrDecodeError,
  histogramStats,
  histogramSum,
  newHistogram,
} from '../../src/collector/histogram.ts';
import { encode, latencies, producerHistogram, rng } from './fixtures.ts';

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100];

describe('decodeSparse', () => {
  test('reads exactly the counts hdr-histogram-js decodes, index by index', () => {
    const random = rng(7);
    for (let round = 0; round < 20; round++) {
      const b64 = encode(latencies(random, 1 + Math.floor(random() * 3000)));
      const lib = hdr.decodeFromCompressedBase64(b64, 32, false) as hdr.JsHistogram;
      const sparse = decodeSparse(b64);
      const fromLib: [number, number][] = [];
      for (let i = 0; i < lib.countsArrayLength; i++) {
        const c = lib.getCountAtIndex(i);
        if (c > 0) fromLib.push([i, c]);
      }
      assert.deepEqual(
        sparse.indices.map((i, k) => [i, sparse.counts[k]]),
        fromLib,
      );
      assert.equal(sparse.total, lib.totalCount);
    }
  });

  test('an empty histogram decodes to no counts', () => {
    assert.deepEqual(decodeSparse(encode([])), { indices: [], counts: [], total: 0 });
  });

  test('zero values are counted at index 0', () => {
    assert.deepEqual(decodeSparse(encode([0, 0, 5])), { indices: [0, 5], counts: [2, 1], total: 3 });
  });

  const refused: [string, () => string, RegExp][] = [
    ['text that is not base64', () => 'not base64!', /^not base64$/],
    ['base64 that is not a histogram', () => Buffer.from('hello world').toString('base64'), /bad cookie/],
    [
      'another precision (2 significant digits)',
      () => {
        const h = hdr.build({ ...HDR_CONFIG, numberOfSignificantValueDigits: 2, useWebAssembly: false });
        h.recordValue(100);
        return hdr.encodeIntoCompressedBase64(h);
      },
      /lowestDiscernibleValue 1 and 2 significant digits; the collector merges only lowestDiscernibleValue 1 with 3/,
    ],
    [
      'another lowest discernible value',
      () => {
        const h = hdr.build({ ...HDR_CONFIG, lowestDiscernibleValue: 1000, useWebAssembly: false });
        h.recordValue(100_000);
        return hdr.encodeIntoCompressedBase64(h);
      },
      /encoded with lowestDiscernibleValue 1000/,
    ],
    [
      'a value over an hour',
      () => {
        const h = hdr.build({ useWebAssembly: false });
        h.recordValue(HDR_CONFIG.highestTrackableValue * 4);
        return hdr.encodeIntoCompressedBase64(h);
      },
      /holds a value above highestTrackableValue 3600000000/,
    ],
    [
      'a truncated histogram',
      () => {
        const bytes = Buffer.from(encode([1, 2, 3, 40_000]), 'base64');
        return bytes.subarray(0, bytes.length - 6).toString('base64');
      },
      /truncated/,
    ],
  ];
  for (const [what, make, message] of refused) {
    test(`refuses ${what}`, () => {
      assert.throws(
        () => decodeSparse(make()),
        (err: unknown) => err instanceof HdrDecodeError && message.test(err.message),
      );
    });
  }

  test('accepts a producer histogram that auto-resized (same layout, other highestTrackableValue)', () => {
    const h = hdr.build({ useWebAssembly: false });
    h.recordValue(12_345);
    assert.deepEqual(decodeSparse(hdr.encodeIntoCompressedBase64(h)).total, 1);
  });
});

describe('merging', () => {
  test('the merge of 200 snapshots equals the histogram of all their raw values', () => {
    const random = rng(42);
    const union = producerHistogram();
    const merged = newHistogram();
    let rawCount = 0;
    for (let s = 0; s < 200; s++) {
      const values = latencies(random, Math.floor(random() * 400));
      for (const v of values) union.recordValue(v);
      rawCount += values.length;
      addSparse(merged, decodeSparse(encode(values)));
    }
    assert.equal(merged.totalCount, rawCount);
    assert.equal(union.totalCount, rawCount);
    for (const p of PERCENTILES) {
      assert.equal(merged.getValueAtPercentile(p), union.getValueAtPercentile(p), `p(${p})`);
    }
    assert.equal(merged.minNonZeroValue, union.minNonZeroValue);
    assert.equal(merged.mean, union.mean);
    for (let i = 0; i < COUNTS_LENGTH; i++) {
      if (merged.getCountAtIndex(i) !== (union as hdr.JsHistogram).getCountAtIndex(i)) {
        assert.fail(`count at index ${i}`);
      }
    }
  });

  test('a merged histogram survives its own encoding', () => {
    const merged = decodeHistogram(encode(latencies(rng(3), 5000)));
    const again = decodeHistogram(encodeHistogram(merged));
    assert.equal(again.totalCount, 5000);
    for (const p of PERCENTILES) assert.equal(again.getValueAtPercentile(p), merged.getValueAtPercentile(p));
  });

  test('counts beyond 2^32 stay exact (float64 counters)', () => {
    const merged = newHistogram();
    const big = { indices: [1500], counts: [3_000_000_000], total: 3_000_000_000 };
    addSparse(merged, big);
    addSparse(merged, big);
    assert.equal(merged.totalCount, 6_000_000_000);
    assert.equal(decodeSparse(encodeHistogram(merged)).counts[0], 6_000_000_000);
  });
});

describe('statistics', () => {
  test('histogramStats reports HDR percentiles, min including zeros, max = p(100)', () => {
    const h = decodeHistogram(encode([0, 1000, 2000, 3000, 50_000]));
    assert.deepEqual(histogramStats(h), {
      count: 5,
      min: 0,
      mean: h.mean,
      p50: 2000,
      p90: 50_015,
      p99: 50_015,
      p999: 50_015,
      max: 50_015,
    });
    assert.deepEqual(histogramStats(newHistogram()), {
      count: 0,
      min: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      p999: 0,
      max: 0,
    });
  });

  test('cumulativeCounts counts values at or below each bound, at HDR resolution', () => {
    const h = decodeHistogram(encode([1, 99, 100, 101, 500, 1000, 1001, 2047, 1_000_000]));
    // Exact to the µs below 2048; 999_999 and 1_000_000 share one 512 µs-wide HDR bucket, so 1_000_000 counts
    // as at or below 999_999 (as Java HdrHistogram's getCountBetweenValues(0, 999_999) does), not below 999_935.
    assert.deepEqual(
      cumulativeCounts(h, [0, 1, 100, 1000, 2047, 999_935, 999_999, 2_000_000]),
      [0, 1, 3, 6, 8, 8, 9, 9],
    );
    assert.equal(h.lowestEquivalentValue(999_999), 999_936);
    assert.equal(h.lowestEquivalentValue(1_000_000), 999_936);
    assert.deepEqual(cumulativeCounts(newHistogram(), [10, 20]), [0, 0]);
  });

  test('histogramSum is Σ count × median equivalent value', () => {
    // 100 and 1000 are exact (unit-wide buckets); 1_000_000 is in a 512-wide bucket from 999_936.
    const h = decodeHistogram(encode([100, 1000, 1000, 1_000_000]));
    assert.equal(histogramSum(h), 100 + 2000 + 999_936 + 256);
  });
});
