/**
 * HDR latency histograms inside a VU (k6 or the Node engine): hdr-histogram-js's pure-JS histograms and its
 * V2 compressed-base64 encoding (pako deflate, base64-js), the format the collector decodes with
 * `decodeFromCompressedBase64`. Values are microseconds with HDR_CONFIG, so every producer's histograms merge.
 *
 * Only dist/ files are imported: the package entry loads the WebAssembly build (200 KB of base64, and
 * @assemblyscript/loader needs TextDecoder at import, which k6 lacks). K6_BUILD also maps the wasm modules to
 * stubs that throw (src/k6/stubs/), so nothing can pull them in by another path.
 *
 * JsHistogram.encoding.js picks its deflate with `eval('require("zlib").deflateSync')` in a try/catch and falls
 * back to pako: in a Node engine VU `require` does not exist (ReferenceError, caught); in k6 `require('zlib')`
 * fails to resolve a bare specifier ("couldn't be recognised as something k6 supports", caught). Only under
 * plain Node (unit tests) is zlib used; both write the same zlib stream format.
 */
import type { JsHistogram } from 'hdr-histogram-js/dist/JsHistogram.js';
import { deflate } from 'hdr-histogram-js/dist/JsHistogram.encoding.js';
import type { HistogramEntry } from '../contract/snapshot.ts';
import { hdrMicros, newHistogram } from '../contract/histogram.ts';

export { hdrMicros, newHistogram };

if (typeof deflate !== 'function') throw new Error('hdr-histogram-js: no deflate for the V2 encoding');

export type Labels = Record<string, string>;

/** Series key: the name, plus the labels in key order. */
export function seriesKey(name: string, labels: Labels | undefined): string {
  if (labels === undefined) return name;
  let k = name;
  for (const l of Object.keys(labels).sort()) k += `\u0000${l}=${labels[l]}`;
  return k;
}

interface Series {
  name: string;
  labels: Labels | undefined;
  histogram: JsHistogram;
}

/** One VU's latency histograms, one per metric name and label set, drained into snapshot entries. */
export class HdrSet {
  private readonly series = new Map<string, Series>();

  /** Records `ms` (a Trend value); NaN is not a latency and is skipped, the rest is clamped (hdrMicros). */
  record(name: string, ms: number, labels?: Labels): void {
    if (Number.isNaN(ms)) return;
    const k = seriesKey(name, labels);
    let s = this.series.get(k);
    if (s === undefined) {
      s = { name, labels: labels && { ...labels }, histogram: newHistogram() };
      this.series.set(k, s);
    }
    s.histogram.recordValue(hdrMicros(ms));
  }

  /** Encodes every series that has samples since the last drain, then resets them. */
  drain(): HistogramEntry[] {
    const out: HistogramEntry[] = [];
    for (const s of this.series.values()) {
      if (s.histogram.totalCount === 0) continue;
      const e: HistogramEntry = { name: s.name, hdr: s.histogram.encodeIntoCompressedBase64() };
      if (s.labels !== undefined) e.labels = { ...s.labels };
      out.push(e);
      s.histogram.reset();
    }
    return out;
  }
}
