/**
 * HDR helpers for the collector. Every histogram here has the contract's HDR_CONFIG, so one counts-array index
 * means the same value range in all of them and merging is adding counts index by index: lossless.
 *
 * Incoming snapshots are decoded to sparse (index, count) pairs rather than to full histograms: a full
 * HDR_CONFIG histogram is ~23,000 counters, a snapshot's few hundred non-zero ones are all that matter, and
 * inflating into a bounded buffer keeps a hostile payload from costing more than that buffer.
 */
import { inflateSync } from 'node:zlib';
import * as hdr from 'hdr-histogram-js';
import { HDR_CONFIG } from '../contract/snapshot.ts';

/** Non-zero counts of one histogram by counts-array index, indices ascending. */
export interface SparseCounts {
  indices: number[];
  counts: number[];
  total: number;
}

export class HdrDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HdrDecodeError';
  }
}

/** A histogram with HDR_CONFIG and float64 counters (exact to 2^53, so sums of many producers never wrap). */
export function newHistogram(): hdr.JsHistogram {
  const h = hdr.build({
    ...HDR_CONFIG,
    bitBucketSize: 64,
    autoResize: false,
    useWebAssembly: false,
  });
  if (!(h instanceof hdr.JsHistogram)) throw new Error('hdr-histogram-js built a non-JS histogram');
  return h;
}

/** Index layout of HDR_CONFIG histograms, read once from a real one. */
const LAYOUT = newHistogram();
/** Counts-array length of an HDR_CONFIG histogram: indices at or past it hold values over an hour. */
export const COUNTS_LENGTH = LAYOUT.countsArrayLength;

/** The lowest value counted at `index` (HDR valueFromIndex). */
export function valueFromIndex(index: number): number {
  return LAYOUT.valueFromIndex(index);
}

/** The counts-array index a value is counted at. */
export function indexOfValue(value: number): number {
  return LAYOUT.countsArrayIndex(value);
}

/** The middle of the value range counted at `index` (what HDR's own mean uses for each count). */
export function medianValueAtIndex(index: number): number {
  return LAYOUT.medianEquivalentValue(LAYOUT.valueFromIndex(index));
}

const V2_COMPRESSED_COOKIE_BASE = 0x1c849304;
const V2_COOKIE_BASE = 0x1c849303;
const V2_HEADER_BYTES = 40;
/** A full HDR_CONFIG counts array at 9 bytes a counter is ~210 KB; anything bigger is not one of ours. */
const MAX_INFLATED_BYTES = 1 << 20;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

function readInt64(buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * 2 ** 32 + buf.readUInt32BE(at + 4);
}

/**
 * Decodes an HdrHistogram V2 compressed base64 histogram (Java's and hdr-histogram-js's
 * `encodeIntoCompressedBase64`) to its non-zero counts. Throws {@link HdrDecodeError} naming what is wrong when
 * it is not one, when its configuration is not HDR_CONFIG's (other configurations would not merge losslessly),
 * or when it holds values above HDR_CONFIG.highestTrackableValue.
 */
export function decodeSparse(base64: string): SparseCounts {
  if (!BASE64_RE.test(base64)) throw new HdrDecodeError('not base64');
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length < 8 || (bytes.readInt32BE(0) & ~0xf0) !== V2_COMPRESSED_COOKIE_BASE) {
    throw new HdrDecodeError('not an HdrHistogram V2 compressed histogram (bad cookie)');
  }
  const compressedLength = bytes.readInt32BE(4);
  if (compressedLength < 0 || compressedLength > bytes.length - 8) {
    throw new HdrDecodeError('truncated: the compressed length exceeds the data');
  }
  let raw: Buffer;
  try {
    raw = inflateSync(bytes.subarray(8, 8 + compressedLength), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (err) {
    throw new HdrDecodeError(`cannot inflate: ${(err as Error).message}`);
  }
  if (raw.length < V2_HEADER_BYTES || (raw.readInt32BE(0) & ~0xf0) !== V2_COOKIE_BASE) {
    throw new HdrDecodeError('not an HdrHistogram V2 histogram (bad inner cookie)');
  }
  const payloadLength = raw.readInt32BE(4);
  const digits = raw.readInt32BE(12);
  const lowest = readInt64(raw, 16);
  if (digits !== HDR_CONFIG.numberOfSignificantValueDigits || lowest !== HDR_CONFIG.lowestDiscernibleValue) {
    throw new HdrDecodeError(
      `encoded with lowestDiscernibleValue ${lowest} and ${digits} significant digits; ` +
        `the collector merges only lowestDiscernibleValue ${HDR_CONFIG.lowestDiscernibleValue} with ` +
        `${HDR_CONFIG.numberOfSignificantValueDigits} significant digits (HDR_CONFIG in src/contract/snapshot.ts)`,
    );
  }
  const end = V2_HEADER_BYTES + payloadLength;
  if (payloadLength < 0 || end > raw.length) throw new HdrDecodeError('truncated payload');

  const out: SparseCounts = { indices: [], counts: [], total: 0 };
  let pos = V2_HEADER_BYTES;
  let index = 0;
  while (pos < end) {
    // ZigZag LEB128-64b9B: 7 bits a byte for up to 8 bytes, then a 9th byte of 8 bits.
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 9; i++) {
      if (pos >= end) throw new HdrDecodeError('truncated payload');
      const byte = raw[pos++] as number;
      if (i === 8) {
        value += byte * scale;
        break;
      }
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) break;
    }
    const count = value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    if (count < 0) {
      index += -count;
      continue;
    }
    if (count > 0) {
      if (index >= COUNTS_LENGTH) {
        throw new HdrDecodeError(
          `holds a value above highestTrackableValue ${HDR_CONFIG.highestTrackableValue} (µs, one hour)`,
        );
      }
      if (!Number.isSafeInteger(count)) throw new HdrDecodeError(`count ${count} is not a safe integer`);
      out.indices.push(index);
      out.counts.push(count);
      out.total += count;
    }
    index++;
  }
  return out;
}

/** Adds sparse counts into a full HDR_CONFIG histogram (total, min and max kept as HDR keeps them). */
export function addSparse(target: hdr.JsHistogram, s: SparseCounts): void {
  const n = s.indices.length;
  if (n === 0) return;
  for (let i = 0; i < n; i++) target.addToCountAtIndex(s.indices[i] as number, s.counts[i] as number);
  target.addToTotalCount(s.total);
  const first = s.indices[0] as number;
  const firstNonZero = first === 0 ? s.indices[1] : first;
  if (firstNonZero !== undefined) target.updateMinAndMax(target.valueFromIndex(firstNonZero));
  target.updateMinAndMax(target.valueFromIndex(s.indices[n - 1] as number));
}

/** Adds sparse counts into a sparse accumulator (index → count). */
export function addSparseToMap(target: Map<number, number>, s: SparseCounts): void {
  for (let i = 0; i < s.indices.length; i++) {
    const idx = s.indices[i] as number;
    target.set(idx, (target.get(idx) ?? 0) + (s.counts[i] as number));
  }
}

/** A sparse accumulator as SparseCounts, indices ascending. */
export function sparseFromMap(m: ReadonlyMap<number, number>): SparseCounts {
  const indices = [...m.keys()].sort((a, b) => a - b);
  const counts = indices.map((i) => m.get(i) as number);
  return { indices, counts, total: counts.reduce((a, b) => a + b, 0) };
}

/** A full histogram from sparse counts. */
export function histogramFromSparse(s: SparseCounts): hdr.JsHistogram {
  const h = newHistogram();
  addSparse(h, s);
  return h;
}

export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/**
 * One full histogram that sparse counts pass through when only a moment's use of a full one is needed (encoding
 * an interval, writing an HDR log line): allocating one per interval churned ~190 KB of counters each time,
 * which is what a run's HDR logs and frozen intervals cost in garbage.
 */
const SCRATCH = newHistogram();

/**
 * Calls `use` with a full histogram holding `s`, reused from call to call: `use` must not keep it or call this
 * again (it runs synchronously, so no other caller can reach it meanwhile).
 */
export function withHistogram<T>(s: SparseCounts, use: (h: hdr.JsHistogram) => T): T {
  SCRATCH.reset();
  addSparse(SCRATCH, s);
  return use(SCRATCH);
}

/** Sparse counts as HDR compressed base64, without allocating a histogram. */
export function encodeSparse(s: SparseCounts): string {
  return withHistogram(s, encodeHistogram);
}

/** Decodes a compressed base64 histogram into a full HDR_CONFIG histogram (validated as {@link decodeSparse}). */
export function decodeHistogram(base64: string): hdr.JsHistogram {
  return histogramFromSparse(decodeSparse(base64));
}

/**
 * Summary statistics as HDR reports them: `min` is the lowest value of the lowest non-empty bucket (zeros
 * included), percentiles and `max` the highest value equivalent to the recorded ones (HDR getValueAtPercentile,
 * so `max` = p(100)), `mean` HDR's mean. All in the histogram's own unit; zeros when empty.
 */
export interface HistogramStats {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export function histogramStats(h: hdr.Histogram): HistogramStats {
  if (h.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: h.totalCount,
    min: h.getValueAtPercentile(0),
    mean: h.mean,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.getValueAtPercentile(100),
  };
}

/**
 * Counts of recorded values at or below each bound (HDR resolution: the bucket that contains a bound counts as
 * below it, as Java HdrHistogram's getCountBetweenValues(0, bound) does), cumulative, in bound order.
 */
export function cumulativeCounts(h: hdr.JsHistogram, bounds: readonly number[]): number[] {
  const cut = bounds.map((b) => Math.min(indexOfValue(b), h.countsArrayLength - 1));
  const out = new Array<number>(bounds.length).fill(0);
  const maxIndex = h.totalCount === 0 ? -1 : h.countsArrayIndex(h.maxValue);
  let running = 0;
  let b = 0;
  for (let i = 0; i <= maxIndex; i++) {
    while (b < cut.length && (cut[b] as number) < i) out[b++] = running;
    running += h.getCountAtIndex(i);
  }
  while (b < cut.length) out[b++] = running;
  return out;
}

/** Σ count × median equivalent value: the sum HDR's own mean is computed from. */
export function histogramSum(h: hdr.JsHistogram): number {
  if (h.totalCount === 0) return 0;
  const maxIndex = h.countsArrayIndex(h.maxValue);
  let sum = 0;
  for (let i = 0; i <= maxIndex; i++) {
    const c = h.getCountAtIndex(i);
    if (c !== 0) sum += c * h.medianEquivalentValue(h.valueFromIndex(i));
  }
  return sum;
}
