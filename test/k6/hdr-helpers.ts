/**
 * For the HDR/collector tests: a node:http server that records POSTed snapshots (the real collector is
 * another component), a contract check for snapshots, and k6 bundles of inline test scripts.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { build as esbuild } from 'esbuild';
import * as hdr from 'hdr-histogram-js';
import { K6_BUILD } from '../../src/build/scenarios.ts';
import { HDR_CONFIG, SNAPSHOT_PATH, SNAPSHOT_VERSION, type Snapshot } from '../../src/contract/snapshot.ts';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingServer {
  url: string;
  /** Every request, failed ones included, in arrival order. */
  requests: Received[];
  /** The snapshots of the requests answered 2xx. */
  snapshots: Snapshot[];
  close(): Promise<void>;
}

/** What the server answers: a status, or a status with headers and a body. */
export type RecordedReply = number | { status: number; headers?: Record<string, string>; body?: string };

/** `status(i)`: the answer to the i-th request (0-based); default 204. */
export async function startRecordingServer(
  status: (i: number) => RecordedReply = () => 204,
): Promise<RecordingServer> {
  const requests: Received[] = [];
  const snapshots: Snapshot[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const answer = status(requests.length);
      const reply = typeof answer === 'number' ? { status: answer } : answer;
      const code = reply.status;
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      if (code >= 200 && code < 300) snapshots.push(JSON.parse(body) as Snapshot);
      res.writeHead(code, reply.headers).end(reply.body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    snapshots,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

export function decode(b64: string): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(b64, 32, false);
}

/** Contract violations of one POST: path, method, JSON body shape, decodable histograms with HDR_CONFIG. */
export function contractErrors(r: Received): string[] {
  const errs: string[] = [];
  if (r.method !== 'POST') errs.push(`method ${r.method}`);
  if (r.path !== SNAPSHOT_PATH) errs.push(`path ${r.path}`);
  if (!String(r.headers['content-type']).startsWith('application/json'))
    errs.push(`content-type ${r.headers['content-type']}`);
  let s: Snapshot;
  try {
    s = JSON.parse(r.body) as Snapshot;
  } catch (e) {
    return [...errs, `body is not JSON: ${String(e)}`];
  }
  const str = (k: keyof Snapshot) => typeof s[k] === 'string' || errs.push(`${k} is not a string`);
  const int = (k: keyof Snapshot) =>
    (Number.isInteger(s[k]) && (s[k] as number) >= 0) || errs.push(`${k} is not a whole number`);
  if (s.version !== SNAPSHOT_VERSION) errs.push(`version ${s.version}`);
  for (const k of ['runId', 'instance', 'scenario', 'transport'] as const) str(k);
  for (const k of ['vu', 'seq', 'intervalStartMs', 'intervalEndMs'] as const) int(k);
  if (typeof s.final !== 'boolean') errs.push('final is not a boolean');
  if (s.intervalEndMs < s.intervalStartMs) errs.push('interval ends before it starts');
  if (!['websocket', 'bosh', ''].includes(s.transport)) errs.push(`transport ${s.transport}`);
  const labelsOk = (l: unknown) =>
    l === undefined ||
    (typeof l === 'object' && l !== null && Object.values(l).every((v) => typeof v === 'string'));
  if (!Array.isArray(s.histograms) || !Array.isArray(s.counters) || !Array.isArray(s.gauges))
    return [...errs, 'histograms, counters or gauges missing'];
  for (const h of s.histograms) {
    if (typeof h.name !== 'string' || !labelsOk(h.labels)) errs.push(`histogram ${JSON.stringify(h)}`);
    try {
      const d = decode(h.hdr);
      if (d.totalCount <= 0) errs.push(`${h.name}: empty histogram sent`);
      if (d.numberOfSignificantValueDigits !== HDR_CONFIG.numberOfSignificantValueDigits)
        errs.push(`${h.name}: ${d.numberOfSignificantValueDigits} significant digits`);
      if (d.highestTrackableValue < HDR_CONFIG.highestTrackableValue)
        errs.push(`${h.name}: highest trackable ${d.highestTrackableValue}`);
    } catch (e) {
      errs.push(`${h.name}: does not decode (${String(e)})`);
    }
  }
  for (const c of s.counters) {
    if (typeof c.name !== 'string' || typeof c.delta !== 'number' || !labelsOk(c.labels))
      errs.push(`counter ${JSON.stringify(c)}`);
  }
  for (const g of s.gauges) {
    if (typeof g.name !== 'string' || typeof g.value !== 'number' || !labelsOk(g.labels))
      errs.push(`gauge ${JSON.stringify(g)}`);
  }
  return errs;
}

/** One histogram of every snapshot's `name` series, merged as the collector does. */
export function merged(snapshots: Snapshot[], name: string): hdr.Histogram {
  const h = hdr.build({ ...HDR_CONFIG, useWebAssembly: false });
  for (const s of snapshots) for (const e of s.histograms) if (e.name === name) h.add(decode(e.hdr));
  return h;
}

/** Bundles an inline k6 script (TypeScript, imports relative to the repository root) with K6_BUILD. */
export async function bundle(source: string): Promise<string> {
  const r = await esbuild({
    ...K6_BUILD,
    stdin: { contents: source, resolveDir: resolve('.'), loader: 'ts', sourcefile: 'inline-test.ts' },
    write: false,
  });
  return r.outputFiles[0]!.text;
}

/** Snapshots per VU, ordered by seq. */
export function byVu(snapshots: Snapshot[]): Map<number, Snapshot[]> {
  const m = new Map<number, Snapshot[]>();
  for (const s of snapshots) m.set(s.vu, [...(m.get(s.vu) ?? []), s]);
  for (const list of m.values()) list.sort((a, b) => a.seq - b.seq);
  return m;
}
