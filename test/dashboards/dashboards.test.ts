/**
 * The dashboards: the committed JSON is what the generator builds, it validates against Grafana's dashboard
 * schema, every metric a panel or variable names is one starling or k6 exports (names from their single
 * sources), and the provisioning files point Grafana at the same datasource and files.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import {
  COLLECTOR_METRICS,
  counterMetricName,
  gaugeMetricName,
  histogramMetricName,
  percentileMetricName,
} from '../../src/collector/prometheus.ts';
import { GENERATOR_METRICS } from '../../src/contract/snapshot.ts';
import { TAP_METRICS } from '../../src/contract/tap-metric-names.ts';
import { buildDashboards } from '../../src/dashboards/dashboards.ts';
import { DATASOURCE } from '../../src/dashboards/grafana.ts';
import { K6_METRICS, k6SeriesName, k6TrendStatName } from '../../src/dashboards/k6-names.ts';
import { interpolate, metricNames, panelQueries, variableQueries } from '../../src/dashboards/queries.ts';
import { writeDashboards } from '../../src/dashboards/write.ts';
import {
  XMPP_COUNTERS,
  XMPP_GAUGES,
  XMPP_RATES,
  XMPP_TRANSPORT_COUNTERS,
  XMPP_TRENDS,
} from '../../src/contract/metric-names.ts';
import { GRAFANA_DASHBOARD_SCHEMA } from './grafana-schema.ts';

async function committed(): Promise<{ file: string; json: Record<string, unknown> }[]> {
  return Promise.all(
    buildDashboards().map(async ({ file }) => ({
      file,
      json: JSON.parse(await readFile(join('dashboards', file), 'utf8')) as Record<string, unknown>,
    })),
  );
}

/** Every series name something exports: the collector's families for every metric it can receive, and k6's. */
function exported(): Set<string> {
  const names = new Set<string>(Object.values(COLLECTOR_METRICS));
  for (const h of [
    ...Object.values(XMPP_TRENDS),
    TAP_METRICS.frameParse,
    TAP_METRICS.frameSize,
    TAP_METRICS.iqResponse,
    TAP_METRICS.messageTransit,
    GENERATOR_METRICS.eventLoopDelay,
  ]) {
    for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${histogramMetricName(h)}${suffix}`);
    names.add(percentileMetricName(h));
  }
  for (const c of [
    ...Object.values(XMPP_COUNTERS),
    ...Object.values(XMPP_RATES),
    ...Object.values(XMPP_TRANSPORT_COUNTERS),
    TAP_METRICS.frames,
    TAP_METRICS.framingViolations,
    GENERATOR_METRICS.cpuSeconds,
    GENERATOR_METRICS.eventLoopBusySeconds,
  ])
    names.add(counterMetricName(c));
  for (const g of [...Object.values(XMPP_GAUGES), TAP_METRICS.connections, GENERATOR_METRICS.saturated])
    names.add(gaugeMetricName(g));
  for (const m of Object.values(K6_METRICS)) names.add(k6SeriesName(m));
  return names;
}

describe('dashboards', () => {
  test('the committed dashboards/*.json are what src/dashboards builds', async () => {
    assert.deepEqual(
      await writeDashboards('dashboards', true),
      [],
      'run: node --import tsx src/dashboards/write.ts',
    );
  });

  test("every dashboard validates against Grafana's dashboard schema", async () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    const validate = ajv.compile(GRAFANA_DASHBOARD_SCHEMA);
    for (const { file, json } of await committed()) {
      assert.ok(validate(json), `${file}: ${ajv.errorsText(validate.errors, { separator: '\n' })}`);
    }
  });

  test('the schema check is not vacuous: an unknown field, a missing one and a bad grid fail', async () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    const validate = ajv.compile(GRAFANA_DASHBOARD_SCHEMA);
    const { json } = (await committed())[0]!;
    const copy = (): Record<string, unknown> & { panels: Record<string, unknown>[] } =>
      structuredClone(json) as never;
    const unknown = copy();
    (unknown.panels[1] as Record<string, unknown>).colour = 'red';
    assert.equal(validate(unknown), false);
    const missing = copy();
    delete missing.templating;
    assert.equal(validate(missing), false);
    const grid = copy();
    (grid.panels[1] as { gridPos: { w: number } }).gridPos.w = 25;
    assert.equal(validate(grid), false);
    const target = copy();
    delete (target.panels[1] as { targets: Record<string, unknown>[] }).targets[0]!.expr;
    assert.equal(validate(target), false);
  });

  test('every metric a panel or a variable names is one starling or k6 exports', async () => {
    const known = exported();
    const values = { run: 'r', scenario: '.*', transport: '.*', __rate_interval: '1m' };
    let exprs = 0;
    for (const { file, json } of await committed()) {
      for (const q of panelQueries(json)) {
        exprs++;
        const names = metricNames(q.expr);
        assert.ok(names.length > 0, `${file} / ${q.panel}: no metric in ${q.expr}`);
        for (const n of names) assert.ok(known.has(n), `${file} / ${q.panel}: ${n} is exported by nothing`);
        interpolate(q.expr, values); // every variable it uses is one the dashboards define
      }
      for (const v of variableQueries(json)) {
        for (const n of metricNames(v.selector)) assert.ok(known.has(n), `${file} $${v.name}: ${n}`);
      }
    }
    assert.ok(exprs >= 50, `${exprs} expressions`);
  });

  test('the issue lists what each dashboard shows: the names are there', async () => {
    const all = (await committed()).map(({ json }) =>
      panelQueries(json)
        .map((q) => q.expr)
        .join('\n'),
    );
    const [overview, frames, transports, k6] = all as [string, string, string, string];
    for (const t of Object.values(XMPP_TRENDS)) assert.ok(overview.includes(percentileMetricName(t)), t);
    for (const m of [
      XMPP_COUNTERS.sessionsOpened,
      XMPP_COUNTERS.streamErrors,
      XMPP_COUNTERS.sessionFailures,
      XMPP_RATES.cleanClose,
      XMPP_RATES.loginSuccess,
      // Multi-user chat (XEP-0045): joins, fan-out completeness, room stanzas lost.
      XMPP_COUNTERS.mucFanoutExpected,
      XMPP_COUNTERS.mucFanoutReceived,
      XMPP_RATES.mucJoinSuccess,
      XMPP_RATES.mucMessageLoss,
      XMPP_RATES.mucPresenceLoss,
      // Stream management (XEP-0198): resumptions by outcome and reason, stanzas resent and redelivered.
      XMPP_RATES.smResumeSuccess,
      XMPP_COUNTERS.smResent,
      XMPP_COUNTERS.redelivered,
    ])
      assert.ok(overview.includes(counterMetricName(m)), m);
    // The generator's own health: CPU, event-loop busy and delay, and the saturated flag.
    for (const name of [
      'starling_generator_cpu_seconds_total',
      'starling_generator_event_loop_busy_seconds_total',
      'starling_generator_event_loop_delay_seconds_bucket',
      'starling_generator_event_loop_delay_seconds_percentile',
      'starling_generator_saturated',
    ])
      assert.ok(overview.includes(name), name);
    for (const m of [
      TAP_METRICS.frameParse,
      TAP_METRICS.frameSize,
      TAP_METRICS.iqResponse,
      TAP_METRICS.messageTransit,
    ])
      assert.ok(frames.includes(histogramMetricName(m)), m);
    assert.ok(frames.includes(counterMetricName(TAP_METRICS.framingViolations)));
    for (const m of Object.values(XMPP_TRANSPORT_COUNTERS))
      assert.ok(transports.includes(counterMetricName(m)), m);
    for (const m of [
      'k6_vus',
      'k6_ws_sessions_total',
      'k6_ws_msgs_sent_total',
      'k6_data_sent_total',
      'k6_data_received_total',
      'k6_http_reqs_total',
      'k6_ws_connecting_p99',
    ])
      assert.ok(k6.includes(m), m);
  });

  test('panel ids are unique and every panel targets the provisioned datasource', async () => {
    for (const { file, json } of await committed()) {
      const panels = json.panels as {
        id: number;
        type: string;
        datasource?: { uid: string };
        targets?: { datasource: { uid: string } }[];
      }[];
      assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, `${file}: panel ids`);
      for (const p of panels.filter((x) => x.type !== 'row')) {
        assert.equal(p.datasource?.uid, DATASOURCE.uid, `${file} panel ${p.id}`);
        for (const t of p.targets ?? []) assert.equal(t.datasource.uid, DATASOURCE.uid);
      }
    }
  });

  test('k6 names follow the experimental-prometheus-rw output', () => {
    assert.equal(k6SeriesName(K6_METRICS.dataSent), 'k6_data_sent_total');
    assert.equal(k6SeriesName(K6_METRICS.vus), 'k6_vus');
    assert.equal(k6SeriesName(K6_METRICS.httpReqFailed), 'k6_http_req_failed_rate');
    assert.equal(k6SeriesName(K6_METRICS.wsSessionDuration), 'k6_ws_session_duration_p99');
    assert.equal(k6TrendStatName(K6_METRICS.httpReqDuration, 'p(99.9)'), 'k6_http_req_duration_p999');
    assert.equal(k6TrendStatName(K6_METRICS.httpReqDuration, 'avg'), 'k6_http_req_duration_avg');
  });

  test('provisioning: the datasource uid, the scrape interval and the dashboards path agree', async () => {
    const ds = parse(await readFile('dashboards/provisioning/datasources/prometheus.yml', 'utf8')) as {
      datasources: { uid: string; type: string; url: string; jsonData: { timeInterval: string } }[];
    };
    assert.equal(ds.datasources.length, 1);
    const [source] = ds.datasources as [(typeof ds.datasources)[number]];
    assert.equal(source.uid, DATASOURCE.uid);
    assert.equal(source.type, DATASOURCE.type);
    const prom = parse(await readFile('deploy/prometheus/prometheus.yml', 'utf8')) as {
      global: { scrape_interval: string };
    };
    assert.equal(source.jsonData.timeInterval, prom.global.scrape_interval);
    const compose = parse(await readFile('docker-compose.yml', 'utf8')) as {
      services: Record<string, { volumes?: string[]; command?: string[] }>;
    };
    const listen = compose.services.prometheus!.command!.find((f) => f.startsWith('--web.listen-address='));
    assert.equal(source.url, `http://${listen!.split('=')[1]}`);
    const providers = parse(await readFile('dashboards/provisioning/dashboards/starling.yml', 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    const mounts = compose.services.grafana!.volumes!.map((v) => v.split(':'));
    assert.ok(
      mounts.some(([from, to]) => from === './dashboards' && to === providers.providers[0]!.options.path),
    );
    assert.ok(
      mounts.some(([from, to]) => from === './dashboards/provisioning' && to === '/etc/grafana/provisioning'),
    );
    assert.ok(
      compose.services.prometheus!.volumes!.some((v) =>
        v.startsWith('./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml'),
      ),
    );
  });
});
