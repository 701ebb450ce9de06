/**
 * The histogram every starling producer records into: hdr-histogram-js's pure-JS 32-bit histogram with the shared
 * HDR_CONFIG. Without its encoding (src/k6/hdr.ts adds it): the engine's own health monitor records from start-up
 * and loads the encoding (and pako with it) only when it has something to encode.
 */
import type { JsHistogram } from 'hdr-histogram-js/dist/JsHistogram.js';
import { constructorFromBucketSize } from 'hdr-histogram-js/dist/JsHistogramFactory.js';
import { HDR_CONFIG } from './snapshot.ts';

/**
 * 32-bit counts: a typed array of ~24 k slots (95 KB) per histogram, created only for metrics a VU records.
 * The packed histogram is ~4 KB but encodes ~20× slower (it walks the counts through its packed index).
 */
const BUCKET_SIZE = 32;

/** An empty histogram with the shared configuration. */
export function newHistogram(): JsHistogram {
  const Histogram = constructorFromBucketSize(BUCKET_SIZE);
  return new Histogram(
    HDR_CONFIG.lowestDiscernibleValue,
    HDR_CONFIG.highestTrackableValue,
    HDR_CONFIG.numberOfSignificantValueDigits,
  );
}

/**
 * A latency in ms (k6 Trend value) as the µs integer the histogram holds: negative values (clock skew) count
 * as 0 and values past one hour as one hour, so the histogram's count always equals the Trend's.
 */
export function hdrMicros(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(Math.round(ms * 1000), HDR_CONFIG.highestTrackableValue);
}
