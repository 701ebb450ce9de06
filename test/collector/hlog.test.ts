import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { writeHlogs, type HlogIndexEntry } from '../../src/collector/hlog.ts';
import { CollectorStore, type RunState } from '../../src/collector/store.ts';
import { encode, latencies, producerHistogram, rng, snapshot } from './fixtures.ts';

const T0 = 1_700_000_000_000;
/** HdrHistogram's Java jar as Maven puts it (present on this project's machines); the Java check skips without it. */
const HDR_JAR = join(homedir(), '.m2/repository/org/hdrhistogram/HdrHistogram/2.2.2/HdrHistogram-2.2.2.jar');

describe('HDR interval logs', () => {
  let dir: string;
  let run: RunState;
  let index: HlogIndexEntry[];
  /** Raw values per interval (index = 5 s interval number) of the websocket series. */
  const perInterval: number[][] = [[], [], []];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-hlog-'));
    const store = new CollectorStore({ intervalMs: 5000 });
    const random = rng(11);
    for (const instance of ['pod-a', 'pod-b']) {
      for (let seq = 0; seq < 3; seq++) {
        const values = latencies(random, 100 + seq * 50);
        perInterval[seq]!.push(...values);
        store.ingest(
          snapshot({
            instance,
            seq,
            intervalStartMs: T0 + seq * 5000,
            intervalEndMs: T0 + seq * 5000 + 5000,
            histograms: [
              { name: 'xmpp_session_ready', hdr: encode(values) },
              { name: 'tap_frame_size', labels: { direction: 's2c' }, hdr: encode([200, 300]) },
            ],
          }),
        );
      }
    }
    store.ingest(
      snapshot({
        instance: 'pod-c',
        transport: 'bosh',
        histograms: [{ name: 'xmpp_session_ready', hdr: encode([1]) }],
      }),
    );
    run = store.run('run-1')!;
    index = await writeHlogs(run, dir);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('one file per series, named after metric and labels, listed in index.json', async () => {
    assert.deepEqual(
      index.map((e) => [e.file, e.unit, e.intervals, e.count]),
      [
        ['tap_frame_size__scenario=chat__transport=websocket__direction=s2c.hlog', 'bytes', 3, 12],
        ['xmpp_session_ready__scenario=chat__transport=bosh.hlog', 'us', 1, 1],
        ['xmpp_session_ready__scenario=chat__transport=websocket.hlog', 'us', 3, perInterval.flat().length],
      ],
    );
    assert.deepEqual(
      (await readdir(join(dir, 'hdr'))).sort(),
      [...index.map((e) => e.file), 'index.json'].sort(),
    );
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'hdr', 'index.json'), 'utf8')), index);
  });

  test('the log has HdrHistogram headers: format version, StartTime, BaseTime, legend', async () => {
    const text = await readFile(
      join(dir, 'hdr', 'xmpp_session_ready__scenario=chat__transport=websocket.hlog'),
      'utf8',
    );
    const lines = text.split('\n');
    assert.match(
      lines[0]!,
      /^#\[starling run run-1: xmpp_session_ready scenario=chat transport=websocket; values in microseconds/,
    );
    assert.deepEqual(lines.slice(1, 5), [
      '#[Histogram log format version 1.3]',
      '#[StartTime: 1700000000.000 (seconds since epoch), 2023-11-14T22:13:20.000Z]',
      '#[BaseTime: 1700000000.000 (seconds since epoch)]',
      '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ]);
    assert.deepEqual(
      lines.slice(5, 8).map((l) => l.split(',').slice(0, 2).join(',')),
      ['0.000,5.000', '5.000,5.000', '10.000,5.000'],
    );
  });

  test("hdr-histogram-js's HistogramLogReader reads back every interval with its exact counts", async () => {
    const text = await readFile(
      join(dir, 'hdr', 'xmpp_session_ready__scenario=chat__transport=websocket.hlog'),
      'utf8',
    );
    const reader = new hdr.HistogramLogReader(text, 32, false);
    for (let i = 0; i < 3; i++) {
      const h = reader.nextIntervalHistogram();
      assert.ok(h, `interval ${i}`);
      const raw = producerHistogram(perInterval[i]);
      assert.equal(h.totalCount, raw.totalCount);
      assert.equal(h.startTimeStampMsec, T0 + i * 5000);
      assert.equal(h.endTimeStampMsec, T0 + (i + 1) * 5000);
      for (const p of [50, 90, 99, 100]) assert.equal(h.getValueAtPercentile(p), raw.getValueAtPercentile(p));
    }
    assert.equal(reader.nextIntervalHistogram(), null);
  });

  test("HdrHistogram's own Java HistogramLogProcessor reads the log", (t) => {
    if (spawnSync('java', ['-version']).status !== 0 || !existsSync(HDR_JAR)) {
      t.skip(`needs java and ${HDR_JAR}`);
      return;
    }
    const file = join(dir, 'hdr', 'xmpp_session_ready__scenario=chat__transport=websocket.hlog');
    const java = spawnSync(
      'java',
      ['-cp', HDR_JAR, 'org.HdrHistogram.HistogramLogProcessor', '-i', file, '-outputValueUnitRatio', '1'],
      { encoding: 'utf8' },
    );
    assert.equal(java.status, 0, java.stderr);
    const all = producerHistogram(perInterval.flat());
    const totals = /#\[Max\s+=\s+([\d.]+), Total count\s+=\s+(\d+)\]/.exec(java.stdout);
    assert.ok(totals, java.stdout);
    assert.equal(Number(totals[2]), all.totalCount);
    assert.equal(Number(totals[1]), all.getValueAtPercentile(100));
  });
});
