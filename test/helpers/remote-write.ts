/**
 * A Prometheus remote-write client (protocol 1.0) for the tests: a WriteRequest in protobuf, compressed as a
 * snappy block, POSTed as k6's experimental-prometheus-rw output does. Written by hand (no protobuf or snappy
 * package): the snappy block holds literals only, which every snappy decoder accepts.
 */

export interface RwSeries {
  /** `__name__` and the other labels. */
  labels: Record<string, string>;
  samples: { value: number; timestampMs: number }[];
}

function varint(n: bigint | number): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function field(num: number, wire: number): number[] {
  return varint((num << 3) | wire);
}

function bytesField(num: number, payload: Uint8Array | number[]): number[] {
  return [...field(num, 2), ...varint(payload.length), ...payload];
}

function stringField(num: number, s: string): number[] {
  return bytesField(num, [...Buffer.from(s, 'utf8')]);
}

function sample(value: number, timestampMs: number): number[] {
  const d = Buffer.alloc(8);
  d.writeDoubleLE(value);
  return [...field(1, 1), ...d, ...field(2, 0), ...varint(timestampMs)];
}

/** prometheus.WriteRequest { repeated TimeSeries timeseries = 1 }; labels sorted by name, as the spec requires. */
export function encodeWriteRequest(series: RwSeries[]): Uint8Array {
  const out: number[] = [];
  for (const s of series) {
    const ts: number[] = [];
    for (const name of Object.keys(s.labels).sort())
      ts.push(...bytesField(1, [...stringField(1, name), ...stringField(2, s.labels[name]!)]));
    for (const x of s.samples) ts.push(...bytesField(2, sample(x.value, x.timestampMs)));
    out.push(...bytesField(1, ts));
  }
  return Uint8Array.from(out);
}

/** A snappy block (not the framed format): the uncompressed length, then literal elements. */
export function snappyLiterals(data: Uint8Array): Uint8Array {
  const out: number[] = [...varint(data.length)];
  for (let i = 0; i < data.length; i += 65536) {
    const chunk = data.subarray(i, Math.min(i + 65536, data.length));
    const n = chunk.length - 1;
    if (n < 60) out.push(n << 2);
    else if (n < 0x100) out.push(60 << 2, n);
    else out.push(61 << 2, n & 0xff, n >> 8);
    out.push(...chunk);
  }
  return Uint8Array.from(out);
}

/** POSTs the series to `<prometheus>/api/v1/write`; throws unless Prometheus answers 2xx. */
export async function remoteWrite(prometheusUrl: string, series: RwSeries[]): Promise<void> {
  const res = await fetch(`${prometheusUrl}/api/v1/write`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-protobuf',
      'Content-Encoding': 'snappy',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
      'User-Agent': 'starling-test (as k6 experimental-prometheus-rw)',
    },
    body: snappyLiterals(encodeWriteRequest(series)),
  });
  if (!res.ok) throw new Error(`remote write: HTTP ${res.status}: ${await res.text()}`);
}
