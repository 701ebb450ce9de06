import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SNAPSHOT_PATH } from '../../src/contract/snapshot.ts';
import { decodeHistogram } from '../../src/collector/histogram.ts';
import { startCollector, type Collector } from '../../src/collector/server.ts';
import type { CollectorSummary, MergedRun } from '../../src/collector/summary.ts';
import { encode, post, producerHistogram, snapshot } from './fixtures.ts';

const JSON_TYPE = { 'content-type': 'application/json' };

/** Polls until `check` holds (every 20 ms, at most 5 s). */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('collector HTTP service', () => {
  let root: string;
  let collector: Collector;
  const logs: string[] = [];
  const auth = { ...JSON_TYPE, authorization: 'Bearer s3cret' };
  let ingest: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'starling-collector-'));
    collector = await startCollector({
      token: 's3cret',
      maxBodyBytes: 64 * 1024,
      resultsRoot: root,
      autoFinishMs: 200,
      log: (l) => logs.push(l),
    });
    ingest = `${collector.url}${SNAPSHOT_PATH}`;
  });
  after(async () => {
    await collector.close();
    await rm(root, { recursive: true, force: true });
  });

  test('listens on 127.0.0.1 by default, on a free port', () => {
    assert.match(collector.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(collector.port > 0);
  });

  test('202 for a snapshot, then 202 "duplicate" for the same seq again', async () => {
    const body = JSON.stringify(
      snapshot({ runId: 'dup', histograms: [{ name: 'xmpp_auth', hdr: encode([10]) }] }),
    );
    const first = await post(ingest, body, auth);
    assert.deepEqual([first.status, JSON.parse(first.body)], [202, { status: 'accepted' }]);
    const again = await post(ingest, body, auth);
    assert.deepEqual([again.status, JSON.parse(again.body)], [202, { status: 'duplicate' }]);
    assert.equal(collector.store.run('dup')!.duplicates, 1);
  });

  test('401 without the token or with a wrong one, and nothing is merged', async () => {
    const body = JSON.stringify(snapshot({ runId: 'noauth' }));
    for (const headers of [
      JSON_TYPE,
      { ...JSON_TYPE, authorization: 'Bearer nope' },
      { ...JSON_TYPE, authorization: 's3cret' },
    ]) {
      const r = await post(ingest, body, headers);
      assert.equal(r.status, 401);
      assert.equal(r.headers['www-authenticate'], 'Bearer');
      assert.deepEqual(JSON.parse(r.body), {
        error: 'missing or wrong bearer token (Authorization: Bearer <token>)',
      });
    }
    assert.equal(collector.store.run('noauth'), undefined);
  });

  test('415 for a body that is not declared JSON', async () => {
    const r = await post(ingest, JSON.stringify(snapshot()), { ...auth, 'content-type': 'text/plain' });
    assert.equal(r.status, 415);
    assert.match(JSON.parse(r.body).error, /application\/json/);
    const gz = await post(ingest, JSON.stringify(snapshot()), { ...auth, 'content-encoding': 'gzip' });
    assert.equal(gz.status, 415);
  });

  test('413 for a declared length over the limit: refused before reading, connection closed', async () => {
    const r = await post(ingest, Buffer.alloc(5 * 1024 * 1024, 0x20), auth);
    assert.equal(r.status, 413);
    assert.equal(r.headers.connection, 'close');
    assert.deepEqual(JSON.parse(r.body), { error: 'body larger than 65536 bytes', field: 'body' });
  });

  test('413 for a chunked body that grows past the limit: reading stops there', async () => {
    let written = 0;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(ingest, { method: 'POST', headers: auth }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = (): void => {
        // Keeps sending until the server answers; a server that read everything would never stop it.
        while (written < 50 * 1024 * 1024 && !req.destroyed) {
          written += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    assert.equal(status, 413);
    assert.ok(written < 50 * 1024 * 1024, `the client stopped after ${written} bytes`);
  });

  test('400 naming the field for an invalid snapshot; 400 for a body that is not JSON', async () => {
    const bad = snapshot({ runId: 'bad', histograms: [{ name: 'xmpp_auth', hdr: 'AAAA' }] });
    const r = await post(ingest, JSON.stringify(bad), auth);
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), {
      error: 'histograms[0].hdr: not an HdrHistogram V2 compressed histogram (bad cookie)',
      field: 'histograms[0].hdr',
    });
    const notJson = await post(ingest, '{"version":', auth);
    assert.equal(notJson.status, 400);
    assert.equal(JSON.parse(notJson.body).field, 'body');
    assert.equal(collector.store.run('bad')!.rejected, 1);
    assert.ok(logs.some((l) => l.includes('refused a snapshot: histograms[0].hdr')));
  });

  test('GET /healthz, GET /v1/runs, 404 and 405', async () => {
    const health = await fetch(`${collector.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok\n');
    const runs = (await (await fetch(`${collector.url}/v1/runs`)).json()) as { runId: string }[];
    assert.ok(runs.some((r) => r.runId === 'dup'));
    assert.equal((await fetch(`${collector.url}/nope`)).status, 404);
    const wrong = await fetch(`${collector.url}/metrics`, { method: 'POST' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET');
    assert.equal((await fetch(ingest)).status, 405);
  });

  test('GET /metrics needs no token and is Prometheus text 0.0.4', async () => {
    const r = await fetch(`${collector.url}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await r.text();
    assert.match(text, /^starling_collector_rejected_snapshots_total\{reason="unauthorized"\} 3$/m);
    assert.match(text, /^starling_collector_rejected_snapshots_total\{reason="too-large"\} 2$/m);
    assert.match(text, /^starling_collector_rejected_snapshots_total\{reason="unsupported-media-type"\} 2$/m);
    assert.match(
      text,
      /^starling_xmpp_auth_seconds_count\{run_id="dup",scenario="chat",transport="websocket"\} 1$/m,
    );
  });

  test('once every producer sent final: true, the run is written by itself', async () => {
    const values = [1500, 2500, 90_000];
    for (const [vu, part] of [
      [1, values.slice(0, 2)],
      [2, values.slice(2)],
    ] as const) {
      const r = await post(
        ingest,
        JSON.stringify(
          snapshot({
            runId: 'auto',
            vu,
            final: true,
            histograms: [{ name: 'xmpp_session_ready', hdr: encode(part) }],
            counters: [{ name: 'xmpp_sessions_opened', delta: vu }],
            gauges: [{ name: 'xmpp_sessions_open', value: 0 }],
          }),
        ),
        auth,
      );
      assert.equal(r.status, 202);
    }
    const dir = join(root, 'auto');
    for (let i = 0; i < 50 && !(await readdir(root)).includes('auto'); i++)
      await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 50 && !(await readdir(dir)).includes('merged.json'); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual((await readdir(dir)).sort(), ['collector-summary.json', 'hdr', 'merged.json']);

    const summary = JSON.parse(
      await readFile(join(dir, 'collector-summary.json'), 'utf8'),
    ) as CollectorSummary;
    const raw = producerHistogram(values);
    assert.deepEqual(summary.histograms, [
      {
        name: 'xmpp_session_ready',
        scenario: 'chat',
        transport: 'websocket',
        labels: {},
        unit: 'ms',
        count: 3,
        min: 1.5,
        mean: raw.mean / 1000,
        p50: raw.getValueAtPercentile(50) / 1000,
        p90: raw.getValueAtPercentile(90) / 1000,
        p99: raw.getValueAtPercentile(99) / 1000,
        'p99.9': raw.getValueAtPercentile(99.9) / 1000,
        max: raw.getValueAtPercentile(100) / 1000,
      },
    ]);
    assert.deepEqual(summary.snapshots, { accepted: 2, duplicatesDropped: 0, rejected: 0 });
    assert.deepEqual([summary.instances, summary.producers, summary.finalProducers], [['pod-a'], 2, 2]);
    assert.deepEqual(
      summary.counters.map((c) => [c.name, c.value]),
      [['xmpp_sessions_opened', 3]],
    );

    const merged = JSON.parse(await readFile(join(dir, 'merged.json'), 'utf8')) as MergedRun;
    assert.equal(merged.runId, 'auto');
    assert.equal(merged.histograms.length, 1);
    const back = decodeHistogram(merged.histograms[0]!.hdr);
    assert.equal(back.totalCount, 3);
    assert.equal(back.getValueAtPercentile(100), raw.getValueAtPercentile(100));
    assert.ok(logs.some((l) => l.startsWith(`starling: collector: wrote ${dir}/`)));
  });

  test('a written run is dropped from memory and from /metrics; a late snapshot for it gets 409', async () => {
    await until(() => collector.store.run('auto') === undefined, 'run auto to be evicted');
    assert.ok(
      logs.includes(
        `starling: collector: wrote ${join(root, 'auto')}/ (2 snapshots from 1 instances, 1 HDR logs, ` +
          'collector-summary.json, merged.json); run finished (final), dropped from memory',
      ),
      logs.join('\n'),
    );
    const metrics = await (await fetch(`${collector.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /run_id="auto"/);
    assert.match(metrics, /^starling_collector_finished_runs_total\{reason="final"\} 1$/m);
    const runs = (await (await fetch(`${collector.url}/v1/runs`)).json()) as { runId: string }[];
    assert.ok(!runs.some((r) => r.runId === 'auto'));

    const late = await post(ingest, JSON.stringify(snapshot({ runId: 'auto', vu: 3, final: true })), auth);
    assert.equal(late.status, 409);
    assert.deepEqual(JSON.parse(late.body), {
      error:
        'run auto is finished (every producer sent its final snapshot) and its results are written: it takes ' +
        'no more snapshots. Give a new run a new STARLING_RUN_ID; if a generator of this run reports after the ' +
        'others finished, raise --finish-delay',
      field: 'runId',
    });
    assert.equal(collector.store.run('auto'), undefined, 'the late snapshot did not re-open the run');
  });

  test('400 naming the field for a counter that would overflow; the run keeps its exact value', async () => {
    const c = (delta: number) => ({ name: 'xmpp_stanzas_sent', labels: { kind: 'message' }, delta });
    assert.equal(
      (await post(ingest, JSON.stringify(snapshot({ runId: 'big', counters: [c(2 ** 53 - 2)] })), auth))
        .status,
      202,
    );
    const r = await post(
      ingest,
      JSON.stringify(snapshot({ runId: 'big', seq: 1, counters: [c(1), c(1)] })),
      auth,
    );
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), {
      error:
        'counters[1].delta: would take xmpp_stanzas_sent{kind="message"} to 9007199254740992, past 2^53 − 1 ' +
        '(9007199254740991), where sums stop being exact (a producer adding a wrong value?)',
      field: 'counters[1].delta',
    });
    const twice = await post(
      ingest,
      JSON.stringify(snapshot({ runId: 'big', seq: 2, counters: [c(1e308), c(1e308)] })),
      auth,
    );
    assert.equal(twice.status, 400);
    assert.equal(JSON.parse(twice.body).field, 'counters[0].delta');
    assert.equal([...collector.store.run('big')!.counters.values()][0]!.value, 2 ** 53 - 2);
  });

  test('finish(runId) writes one run on demand', async () => {
    await post(
      ingest,
      JSON.stringify(snapshot({ runId: 'manual', counters: [{ name: 'xmpp_bosh_retries', delta: 2 }] })),
      auth,
    );
    await collector.finish('manual');
    const merged = JSON.parse(await readFile(join(root, 'manual', 'merged.json'), 'utf8')) as MergedRun;
    assert.deepEqual(
      merged.counters.map((c) => [c.name, c.value]),
      [['xmpp_bosh_retries', 2]],
    );
    assert.equal(collector.store.run('manual'), undefined);
    assert.deepEqual(collector.store.finishedRun('manual')?.reason, 'requested');
  });
});

describe('collector without a token', () => {
  test('takes snapshots without Authorization, and close() writes every run', async () => {
    const root = await mkdtemp(join(tmpdir(), 'starling-collector-'));
    const c = await startCollector({ resultsRoot: root, log: () => {} });
    try {
      const r = await post(
        `${c.url}${SNAPSHOT_PATH}`,
        JSON.stringify(snapshot({ runId: 'open' })),
        JSON_TYPE,
      );
      assert.equal(r.status, 202);
      await c.close();
      assert.deepEqual((await readdir(join(root, 'open'))).sort(), [
        'collector-summary.json',
        'hdr',
        'merged.json',
      ]);
      await assert.rejects(fetch(`${c.url}/healthz`));
    } finally {
      await c.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('collector limits and finishing', () => {
  let root: string;
  const logs: string[] = [];
  const started: Collector[] = [];
  const start = async (opts: Parameters<typeof startCollector>[0]) => {
    const c = await startCollector({ resultsRoot: root, log: (l) => logs.push(l), ...opts });
    started.push(c);
    return { c, ingest: `${c.url}${SNAPSHOT_PATH}` };
  };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'starling-collector-limits-'));
  });
  after(async () => {
    for (const c of started) await c.close().catch(() => {});
    await rm(root, { recursive: true, force: true });
  });
  const body = (over: Parameters<typeof snapshot>[0]) => JSON.stringify(snapshot(over));

  test('at --max-runs a new run gets 429 and Retry-After; a run whose producers all finished makes room', async () => {
    const { c, ingest } = await start({ maxRuns: 1, autoFinishMs: 60_000, runIdleTimeoutMs: 0 });
    assert.equal((await post(ingest, body({ runId: 'first' }))).status, 202);
    const refused = await post(ingest, body({ runId: 'second' }));
    assert.equal(refused.status, 429);
    // No run will finish by itself (no idle timeout, 'first' not final): a minute.
    assert.equal(refused.headers['retry-after'], '60');
    assert.deepEqual(JSON.parse(refused.body), {
      error:
        'the collector holds 1 run, its limit (--max-runs 1), and none has finished: run second must wait ' +
        'until one does (retry later), or raise --max-runs',
      field: 'runId',
      cap: 'max-runs',
      limit: 1,
    });
    assert.equal(c.store.rejected.get('max-runs'), 1);

    // 'first' is done but inside its finish delay: the new run does not wait for it.
    assert.equal((await post(ingest, body({ runId: 'first', seq: 1, final: true }))).status, 202);
    assert.equal((await post(ingest, body({ runId: 'second' }))).status, 202);
    assert.deepEqual(
      c.store.runs().map((r) => r.runId),
      ['second'],
    );
    assert.equal(c.store.rejected.get('max-runs'), 1, 'the admitted retry is not counted as refused');
    assert.deepEqual((await readdir(join(root, 'first'))).sort(), [
      'collector-summary.json',
      'hdr',
      'merged.json',
    ]);
    assert.ok(
      logs.some(
        (l) =>
          l.includes(`wrote ${join(root, 'first')}/`) &&
          l.endsWith('run finished (room), dropped from memory'),
      ),
    );
  });

  test('making room finishes only the done run that went quiet first', async () => {
    const { c, ingest } = await start({ maxRuns: 2, autoFinishMs: 60_000, runIdleTimeoutMs: 0 });
    assert.equal((await post(ingest, body({ runId: 'older', final: true }))).status, 202);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await post(ingest, body({ runId: 'newer', final: true }))).status, 202);
    assert.equal((await post(ingest, body({ runId: 'third' }))).status, 202);
    assert.deepEqual(
      c.store.runs().map((r) => r.runId),
      ['newer', 'third'],
    );
    assert.deepEqual(c.store.finishedRun('older')?.reason, 'room');
  });

  test('Retry-After counts down to the soonest idle timeout', async () => {
    const { ingest } = await start({ maxRuns: 1, runIdleTimeoutMs: 30_000 });
    assert.equal((await post(ingest, body({ runId: 'busy' }))).status, 202);
    const refused = await post(ingest, body({ runId: 'next' }));
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '30');
  });

  test('past --max-series a snapshot gets 400 naming the cap, the metric and the flag; known series merge', async () => {
    const { c, ingest } = await start({ maxSeriesPerRun: 2 });
    const counter = (kind: string) => ({ name: 'xmpp_stanzas_sent', labels: { kind }, delta: 1 });
    assert.equal((await post(ingest, body({ runId: 'labels', counters: [counter('message')] }))).status, 202);
    const r = await post(
      ingest,
      body({
        runId: 'labels',
        seq: 1,
        histograms: [{ name: 'xmpp_connect', hdr: encode([1000]) }],
        counters: [counter('message'), counter('iq')],
      }),
    );
    assert.equal(r.status, 400);
    assert.equal(r.headers['retry-after'], undefined);
    assert.deepEqual(JSON.parse(r.body), {
      error:
        'counters[1]: run labels has 1 series and this snapshot adds 2, past its limit (--max-series 2): ' +
        'xmpp_stanzas_sent{kind="iq"} is refused. A label with unbounded values (an id, a timestamp)? ' +
        'Otherwise raise --max-series',
      field: 'counters[1]',
      cap: 'max-series',
      limit: 2,
    });
    assert.equal(
      (await post(ingest, body({ runId: 'labels', seq: 1, counters: [counter('message')] }))).status,
      202,
    );
    assert.equal([...c.store.run('labels')!.counters.values()][0]!.value, 2);
  });

  test('past --max-memory a new run gets 429 naming the budget', async () => {
    const { ingest } = await start({ maxBytes: 256 * 1024 });
    const h = (name: string) => ({ name, hdr: encode([1000]) });
    assert.equal((await post(ingest, body({ runId: 'heavy', histograms: [h('xmpp_connect')] }))).status, 202);
    const r = await post(ingest, body({ runId: 'light', histograms: [h('xmpp_connect')] }));
    assert.equal(r.status, 429);
    assert.deepEqual(JSON.parse(r.body), {
      error:
        'the collector holds 0.2 MiB of run data and xmpp_connect, a new series of run light, would take it past ' +
        'its limit (--max-memory 0.3 MiB): retry once a run finishes, or raise --max-memory',
      field: 'histograms[0]',
      cap: 'max-memory',
      limit: 256 * 1024,
    });
  });

  test('a run idle past --run-idle-timeout is written and dropped; its late snapshot gets 409', async () => {
    const { c, ingest } = await start({ autoFinishMs: 0, runIdleTimeoutMs: 150 });
    assert.equal(
      (
        await post(
          ingest,
          body({ runId: 'quiet', histograms: [{ name: 'xmpp_connect', hdr: encode([1000]) }] }),
        )
      ).status,
      202,
    );
    await until(() => c.store.run('quiet') === undefined, 'run quiet to be evicted');
    assert.deepEqual((await readdir(join(root, 'quiet'))).sort(), [
      'collector-summary.json',
      'hdr',
      'merged.json',
    ]);
    assert.deepEqual(c.store.finishedRun('quiet')?.reason, 'idle');
    const late = await post(ingest, body({ runId: 'quiet', seq: 1 }));
    assert.equal(late.status, 409);
    assert.match(JSON.parse(late.body).error, /raise --run-idle-timeout$/);
  });

  test('a run whose merged.json is already on disk is not overwritten: 409', async () => {
    await mkdir(join(root, 'done'), { recursive: true });
    await writeFile(join(root, 'done', 'merged.json'), '{}');
    const { c, ingest } = await start({});
    const r = await post(ingest, body({ runId: 'done' }));
    assert.equal(r.status, 409);
    assert.deepEqual(JSON.parse(r.body), {
      error:
        'run done is finished (its merged.json was already written, by this collector or an earlier one) and ' +
        'its results are written: it takes no more snapshots. Give a new run a new STARLING_RUN_ID',
      field: 'runId',
    });
    assert.equal(c.store.run('done'), undefined);
    assert.equal(await readFile(join(root, 'done', 'merged.json'), 'utf8'), '{}');
  });

  test('a run whose results cannot be written stays in memory, finished, until a write succeeds', async () => {
    const blocked = join(root, 'not-a-dir');
    await writeFile(blocked, '');
    const c = await startCollector({ resultsRoot: blocked, log: () => {} });
    const ingest = `${c.url}${SNAPSHOT_PATH}`;
    assert.equal((await post(ingest, body({ runId: 'stuck' }))).status, 202);
    await assert.rejects(c.finish('stuck'), /ENOTDIR/);
    assert.equal(c.store.run('stuck')?.finishing, 'requested');
    assert.equal((await post(ingest, body({ runId: 'stuck', seq: 1 }))).status, 409);
    await assert.rejects(c.close(), /ENOTDIR/);
    assert.equal(c.store.run('stuck')?.finishing, 'requested');
  });
});
