/**
 * Acceptance: a real Prometheus (Debian's /usr/bin/prometheus) scrapes the collector every second while
 * generators POST snapshots, and the series it stored read back through its HTTP API with the values the
 * merged histograms and counters say.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SNAPSHOT_PATH } from '../../src/contract/snapshot.ts';
import { startCollector } from '../../src/collector/server.ts';
import {
  counterMetricName,
  histogramMetricName,
  percentileMetricName,
} from '../../src/collector/prometheus.ts';
import { XMPP_COUNTERS, XMPP_TRENDS } from '../../src/contract/metric-names.ts';
import { freePorts, LOOPBACK } from '../../src/targets/ports.ts';
import { encode, post, producerHistogram, snapshot } from '../collector/fixtures.ts';
import { PROMETHEUS, sleep, stopProcess, type Sample } from '../helpers/prometheus.ts';

const RUN_ID = 'prom-accept';

test(
  'Prometheus scrapes the collector and reads back histogram buckets, percentile gauges and counters',
  { timeout: 30_000 },
  async (t) => {
    assert.ok(existsSync(PROMETHEUS), `needs ${PROMETHEUS}: apt-get install prometheus`);
    const tmp = await mkdtemp(join(tmpdir(), 'starling-prometheus-'));
    const collector = await startCollector({ resultsRoot: join(tmp, 'results'), log: () => {} });
    const running: { prometheus?: ChildProcess } = {};
    let promLog = '';
    t.after(async () => {
      if (running.prometheus) await stopProcess(running.prometheus);
      await collector.close();
      await rm(tmp, { recursive: true, force: true });
    });

    const [promPort] = (await freePorts(1)) as [number];
    const config = join(tmp, 'prometheus.yml');
    await writeFile(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: starling',
        '    scrape_interval: 1s',
        '    static_configs:',
        `      - targets: ['${LOOPBACK}:${collector.port}']`,
        '',
      ].join('\n'),
    );
    const prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(tmp, 'tsdb')}`,
        `--web.listen-address=${LOOPBACK}:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.prometheus = prometheus;
    // Even if this process dies before the after hook, Prometheus must not outlive it.
    const killOnExit = (): void => void prometheus.kill('SIGKILL');
    process.once('exit', killOnExit);
    t.after(() => void process.removeListener('exit', killOnExit));
    prometheus.stdout.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.stderr.on('data', (d: Buffer) => (promLog += d.toString()));
    const api = `http://${LOOPBACK}:${promPort}`;
    for (let ready = false; !ready; await sleep(100)) {
      assert.equal(prometheus.exitCode, null, `prometheus exited: ${promLog}`);
      ready = await fetch(`${api}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
    }

    // Four generators, six flushes each over ~3 s: every snapshot has five 3 ms and five 15 ms session-ready
    // times and some stanza counts.
    const all: number[] = [];
    let stanzas = 0;
    for (let seq = 0; seq < 6; seq++) {
      for (const instance of ['k6-0', 'k6-1', 'k6-2', 'k6-3']) {
        const values = [3000, 3000, 3000, 3000, 3000, 15_000, 15_000, 15_000, 15_000, 15_000];
        all.push(...values);
        const delta = seq + 1;
        stanzas += delta;
        const r = await post(
          `${collector.url}${SNAPSHOT_PATH}`,
          JSON.stringify(
            snapshot({
              runId: RUN_ID,
              instance,
              seq,
              final: seq === 5,
              histograms: [{ name: XMPP_TRENDS.sessionReady, hdr: encode(values) }],
              counters: [{ name: XMPP_COUNTERS.stanzasSent, labels: { kind: 'message' }, delta }],
            }),
          ),
        );
        assert.equal(r.status, 202);
      }
      await sleep(500);
    }

    const query = async (q: string): Promise<Sample[]> => {
      const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.json()) as { status: string; data: { result: Sample[] } };
      assert.equal(body.status, 'success', JSON.stringify(body));
      return body.data.result;
    };
    const only = async (q: string): Promise<Sample> => {
      const result = await query(q);
      assert.equal(result.length, 1, `${q}: ${JSON.stringify(result)}`);
      return result[0]!;
    };

    // Wait for a scrape that saw the last snapshot.
    const counter = `${counterMetricName(XMPP_COUNTERS.stanzasSent)}{run_id="${RUN_ID}",kind="message"}`;
    let seen = -1;
    for (let i = 0; i < 100 && seen !== stanzas; i++) {
      const result = await query(counter);
      seen = result.length === 1 ? Number(result[0]!.value[1]) : -1;
      if (seen !== stanzas) await sleep(100);
    }
    assert.equal(seen, stanzas, `stanza counter never reached ${stanzas}: ${promLog}`);

    const sample = await only(counter);
    // Fleet-wide: Prometheus's own instance label (the scrape target), no generator names.
    assert.deepEqual(sample.metric, {
      __name__: 'starling_xmpp_stanzas_sent_total',
      instance: `${LOOPBACK}:${collector.port}`,
      job: 'starling',
      run_id: RUN_ID,
      scenario: 'chat',
      transport: 'websocket',
      kind: 'message',
    });

    // Half the values are in (2.5 ms, 5 ms], half in (10 ms, 25 ms]: Prometheus interpolates linearly inside the
    // bucket, so p50 is the top of the first (5 ms) and p75 halfway through the second (17.5 ms).
    const buckets = `${histogramMetricName(XMPP_TRENDS.sessionReady)}_bucket{run_id="${RUN_ID}"}`;
    const p50 = await only(`histogram_quantile(0.5, sum by (le) (${buckets}))`);
    assert.ok(Math.abs(Number(p50.value[1]) - 0.005) < 1e-12, `p50 ${p50.value[1]}`);
    const p75 = await only(`histogram_quantile(0.75, sum by (le) (${buckets}))`);
    assert.ok(Math.abs(Number(p75.value[1]) - 0.0175) < 1e-12, `p75 ${p75.value[1]}`);
    const count = await only(`${histogramMetricName(XMPP_TRENDS.sessionReady)}_count{run_id="${RUN_ID}"}`);
    assert.equal(Number(count.value[1]), all.length);

    // The percentile gauge is HDR's own p99 of every value sent, in seconds.
    const p99 = await only(
      `${percentileMetricName(XMPP_TRENDS.sessionReady)}{run_id="${RUN_ID}",percentile="99"}`,
    );
    assert.equal(Number(p99.value[1]), producerHistogram(all).getValueAtPercentile(99) / 1e6);
    assert.equal(Number(p99.value[1]), 0.015007);
  },
);
