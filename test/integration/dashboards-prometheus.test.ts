/**
 * Acceptance for the dashboards: Debian's Prometheus runs deploy/prometheus/prometheus.yml (the file
 * docker-compose.yml mounts; only the collector target replaced) with the compose file's own flags, scraping a
 * collector fed by a short load against real Prosody: transport-compare over WebSocket and over BOSH, idle
 * pings, a generator pointed at an unknown domain (stream errors, failed logins), the tap in front of both
 * transports, one frame that breaks RFC 7395 framing and one invalid snapshot. k6 itself cannot run here: the
 * k6-native series are pushed through Prometheus's remote-write receiver under the names and labels k6's
 * experimental-prometheus-rw output writes. Then every PromQL expression of every dashboard panel, with the
 * variables set to this run's values, must return data, and every variable must list this run's values.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { COLLECTOR_URL_ENV, RUN_ID_ENV, SNAPSHOT_PATH, type Snapshot } from '../../src/contract/snapshot.ts';
import { counterMetricName, histogramMetricName } from '../../src/collector/prometheus.ts';
import { buildScenarios } from '../../src/build/scenarios.ts';
import { startCollector } from '../../src/collector/server.ts';
import { startTap, TAP_METRICS, type Tap } from '../../src/collector/tap/index.ts';
import { K6_METRICS, k6SeriesName } from '../../src/dashboards/k6-names.ts';
import { interpolate, metricNames, panelQueries, variableQueries } from '../../src/dashboards/queries.ts';
import { XMPP_COUNTERS, XMPP_TRANSPORT_COUNTERS } from '../../src/contract/metric-names.ts';
import { freePorts, LOOPBACK } from '../../src/targets/ports.ts';
import { startLocalServer } from '../../src/targets/index.ts';
import { hostPort, startRedirectingProsody } from '../helpers/redirecting-prosody.ts';
import { remoteWrite, type RwSeries } from '../helpers/remote-write.ts';
import { PROMETHEUS, sleep, stopProcess, type Sample } from '../helpers/prometheus.ts';

const PROMETHEUS_CONFIG = 'deploy/prometheus/prometheus.yml';
const RUN_ID = 'dashboards-acceptance';
/**
 * Counters of what a healthy run never does: no series until it happens (snapshots carry no zero deltas), so
 * their panels fall back to 0 from another series, and a healthy run cannot show them existing. Their names are
 * checked against what the code exports by test/dashboards/dashboards.test.ts.
 */
const ANOMALY_ONLY = new Set([
  counterMetricName(XMPP_COUNTERS.smResent),
  counterMetricName(XMPP_COUNTERS.redelivered),
]);

/** What Grafana would put for $__rate_interval is ≥ 4 scrapes; one minute spans the whole load. */
const RATE_INTERVAL = '1m';

function generator(
  scenario: string,
  env: Record<string, string>,
  resultsRoot: string,
  extraArgs: string[] = [],
): { done: Promise<{ code: number | null; output: string }>; child: ChildProcess } {
  const args = [
    resolve('bin/starling.js'),
    'run',
    scenario,
    '--engine',
    'node',
    '-q',
    '--results-root',
    resultsRoot,
    // Six generators, three servers and Prometheus share the machine's cores: the generators may well be
    // starved (the generator panels show it), but what this test checks is that every panel has data.
    '--allow-saturation',
    ...extraArgs,
  ];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return { child, done: new Promise((r) => child.on('close', (code) => r({ code, output }))) };
}

/** The collector's /metrics value of every series of `name` whose labels include `labels`, summed. */
function sumOf(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const have = Object.fromEntries(
      [...body.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

test(
  'every PromQL expression of every dashboard returns data from Prometheus scraping a real run',
  { timeout: 120_000 },
  async (t) => {
    assert.ok(existsSync(PROMETHEUS), `needs ${PROMETHEUS}: apt-get install prometheus`);
    const tmp = await mkdtemp(join(tmpdir(), 'starling-dashboards-'));
    const running: {
      prometheus?: ChildProcess;
      taps: Tap[];
      children: ChildProcess[];
      stop: (() => Promise<void>)[];
    } = { taps: [], children: [], stop: [] };
    t.after(async () => {
      for (const c of running.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const tap of running.taps) await tap.close().catch(() => {});
      if (running.prometheus) await stopProcess(running.prometheus);
      for (const stop of running.stop.reverse()) await stop().catch(() => {});
      await rm(tmp, { recursive: true, force: true });
    });

    const collector = await startCollector({
      resultsRoot: join(tmp, 'collector'),
      autoFinishMs: 0,
      log: () => {},
    });
    running.stop.push(() => collector.close());
    // Broken sessions are kept 3 s: the reconnect storm that waits longer has its resumptions refused.
    const server = await startLocalServer({ kind: 'prosody', users: 80, resumeTimeoutSec: 3 });
    running.stop.push(() => server.stop());
    // Sends every login to `server` with <see-other-host/>: the redirects panel's data.
    const redirector = await startRedirectingProsody({
      users: 60,
      kind: 'see-other-host',
      to: hostPort(server),
    });
    running.stop.push(() => redirector.stop());
    // BOSH over https: the TLS handshake panel's data.
    const tlsServer = await startLocalServer({ kind: 'prosody', users: 60, tls: true });
    running.stop.push(() => tlsServer.stop());

    // The config file as committed, with the collector's address for the compose file's 127.0.0.1:9464.
    const configText = await readFile(PROMETHEUS_CONFIG, 'utf8');
    const config = parse(configText) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = config.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
    assert.equal(targets.length, 1, `one scrape target in ${PROMETHEUS_CONFIG}: ${targets.join(', ')}`);
    const target = targets[0]!;
    const quoted = `'${target}'`;
    assert.equal(configText.split(quoted).length, 2, `${quoted} appears once in ${PROMETHEUS_CONFIG}`);
    const configFile = join(tmp, 'prometheus.yml');
    await writeFile(configFile, configText.replace(quoted, `'${LOOPBACK}:${collector.port}'`));

    // The compose file's Prometheus flags (remote-write receiver included), with this test's paths and port.
    const compose = parse(await readFile('docker-compose.yml', 'utf8')) as {
      services: { prometheus: { command: string[] } };
    };
    const [promPort] = (await freePorts(1)) as [number];
    const own: Record<string, string> = {
      '--config.file': configFile,
      '--storage.tsdb.path': join(tmp, 'tsdb'),
      '--web.listen-address': `${LOOPBACK}:${promPort}`,
    };
    const flags = compose.services.prometheus.command.map((f) => {
      const name = f.split('=')[0]!;
      return name in own ? `${name}=${own[name]}` : f;
    });
    for (const name of Object.keys(own))
      assert.ok(
        flags.some((f) => f.startsWith(`${name}=`)),
        `compose sets ${name}`,
      );
    assert.ok(
      flags.includes('--web.enable-remote-write-receiver'),
      'compose enables the remote-write receiver',
    );
    let promLog = '';
    const prometheus = spawn(PROMETHEUS, [...flags, '--log.level=warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.prometheus = prometheus;
    const killOnExit = (): void => void prometheus.kill('SIGKILL');
    process.once('exit', killOnExit);
    t.after(() => void process.removeListener('exit', killOnExit));
    prometheus.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    const api = `http://${LOOPBACK}:${promPort}`;
    for (let ready = false; !ready; await sleep(100)) {
      assert.equal(prometheus.exitCode, null, `prometheus exited: ${promLog}`);
      ready = await fetch(`${api}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
    }

    // Prometheus applies its targets a few seconds after start: wait for its first scrape before the load.
    const firstScrape = async (): Promise<boolean> => {
      const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent('up{job="starling"} == 1')}`);
      return ((await r.json()) as { data: { result: unknown[] } }).data.result.length === 1;
    };
    for (let i = 0; !(await firstScrape()); i++) {
      assert.ok(i < 300, `Prometheus never scraped the collector: ${promLog}`);
      await sleep(100);
    }

    // Taps in front of Prosody; each gets its own instance name, as two taps in one collector must.
    const tapFor = async (upstream: string, instance: string): Promise<Tap> => {
      const tap = await startTap({
        upstream,
        runId: RUN_ID,
        intervalMs: 1000,
        log: () => {},
        onSnapshot: (s: Snapshot) => void collector.store.ingest({ ...s, instance }),
      });
      running.taps.push(tap);
      return tap;
    };
    const wsTap = await tapFor(server.websocketUrl, 'tap-websocket');
    const boshTap = await tapFor(server.boshUrl, 'tap-bosh');

    // Compiled once here: `starling run <name>` compiles into dist/ each time, and four at once would race.
    const built = new Map(
      (
        await buildScenarios(
          [
            'scenarios/transport-compare.ts',
            'scenarios/idle.ts',
            'scenarios/login.ts',
            'scenarios/conference.ts',
            'scenarios/reconnect-storm.ts',
          ],
          join(tmp, 'scenarios'),
        )
      ).map((b) => [b.name, b.file]),
    );
    const script = (name: string): string => built.get(name)!;
    const results = join(tmp, 'results');
    const common = {
      XMPP_DOMAIN: server.domain,
      STARLING_FLUSH_INTERVAL: '1s',
      [COLLECTOR_URL_ENV]: collector.url,
      [RUN_ID_ENV]: RUN_ID,
    };
    // Slow enough that several scrapes (every 2 s) see the counters and histograms grow: rate() and
    // histogram_quantile() over the window need an increase between two scrapes, not just a final value.
    const compare = {
      ...common,
      VUS: '2',
      SESSIONS_PER_VU: '10',
      LOGIN_RATE: '5',
      MESSAGES: '8',
      MESSAGE_RATE: '2',
      MESSAGE_START_DELAY: '0s',
    };
    const runs = [
      generator(
        script('transport-compare'),
        { ...compare, XMPP_URL: wsTap.url, STARLING_INSTANCE: 'gen-ws' },
        results,
      ),
      generator(
        script('transport-compare'),
        { ...compare, XMPP_URL: boshTap.url, ACCOUNT_OFFSET: '20', STARLING_INSTANCE: 'gen-bosh' },
        results,
      ),
      generator(
        script('idle'),
        {
          ...common,
          XMPP_URL: wsTap.url,
          VUS: '1',
          SESSIONS_PER_VU: '5',
          ACCOUNT_OFFSET: '40',
          LOGIN_RATE: '2',
          DURATION: '6s',
          PING_INTERVAL: '500ms',
          STARLING_INSTANCE: 'gen-idle',
        },
        results,
      ),
      // Every login fails: Prosody answers an unknown host with <stream:error><host-unknown/>.
      generator(
        script('idle'),
        {
          ...common,
          XMPP_URL: wsTap.url,
          XMPP_DOMAIN: 'nowhere.invalid',
          VUS: '1',
          SESSIONS_PER_VU: '2',
          DURATION: '1s',
          STARLING_INSTANCE: 'gen-bad-domain',
        },
        results,
      ),
      // Every login is redirected to `server` and follows (not through the tap: its bytes are left out below).
      generator(
        script('login'),
        {
          ...common,
          XMPP_URL: redirector.websocketUrl,
          XMPP_FOLLOW_REDIRECTS: '1',
          VUS: '1',
          SESSIONS_PER_VU: '2',
          ACCOUNT_OFFSET: '50',
          STARLING_INSTANCE: 'gen-redirected',
        },
        results,
      ),
      // BOSH over https (not through the tap either): xmpp_tls_handshake.
      generator(
        script('login'),
        {
          ...common,
          XMPP_URL: tlsServer.boshUrl,
          VUS: '1',
          SESSIONS_PER_VU: '2',
          STARLING_INSTANCE: 'gen-tls',
        },
        results,
        ['--ca-file', tlsServer.caFile!],
      ),
      // Rooms of two and three joined 4 s apart (two scrapes see the joins grow), groupchat and presence: the
      // multi-user chat row.
      generator(
        script('conference'),
        {
          ...common,
          XMPP_URL: server.websocketUrl,
          ROOM_SIZES: '2,3',
          ROOM_JOIN_GAP: '4s',
          ACCOUNT_OFFSET: '60',
          LOGIN_RATE: '5',
          DURATION: '6s',
          PRESENCE_INTERVAL: '1s',
          CHAT_INTERVAL: '1s',
          STARLING_INSTANCE: 'gen-conference',
        },
        results,
      ),
      // Two of four sessions broken and resumed at once, at 2 s and, in another generator, at 5 s (two scrapes see
      // the resumptions grow); then two more resumed after the server let them go.
      ...[
        { ACCOUNT_OFFSET: '66', STARLING_INSTANCE: 'gen-storm' } as Record<string, string>,
        { ACCOUNT_OFFSET: '70', STORM_AT: '5s', STARLING_INSTANCE: 'gen-storm-later' },
        { ACCOUNT_OFFSET: '74', RESUME_AFTER: '4500ms', STARLING_INSTANCE: 'gen-storm-late' },
      ].map((extra) =>
        generator(
          script('reconnect-storm'),
          {
            ...common,
            XMPP_URL: server.websocketUrl,
            VUS: '1',
            SESSIONS_PER_VU: '4',
            DURATION: '8s',
            STORM_AT: '2s',
            MESSAGE_RATE: '2',
            BREAK_PERCENT: '50',
            ...extra,
          },
          results,
        ),
      ),
    ];
    running.children.push(...runs.map((r) => r.child));

    // Meanwhile, what k6 -o experimental-prometheus-rw --tag run_id=… --tag transport=… would push every second.
    let pushes = 0;
    let loadDone = false;
    const pushing = (async () => {
      while (!loadDone || pushes < 3) {
        pushes++;
        await remoteWrite(
          api,
          k6Series(pushes, Date.now(), {
            ws: server.websocketUrl,
            bosh: server.boshUrl,
            collector: collector.url,
          }),
        );
        await sleep(1000);
      }
    })();

    const outcomes = await Promise.all(runs.map((r) => r.done));
    loadDone = true;
    await pushing;
    [0, 1, 2, 4, 5, 6, 7, 8].forEach((i) =>
      assert.equal(outcomes[i]!.code, 0, `generator ${i}: ${outcomes[i]!.output}`),
    );
    assert.equal(
      outcomes[9]!.code,
      99,
      `the late storm's resumptions are refused (item-not-found): ${outcomes[9]!.output}`,
    );
    assert.equal(
      outcomes[3]!.code,
      99,
      `the unknown-domain run fails its login threshold: ${outcomes[3]!.output}`,
    );
    await wsTap.close();
    await boshTap.close();

    // The generators' payload counters agree with what the tap saw on the wire (sizes: within HDR precision).
    const metrics = await (await fetch(`${collector.url}/metrics`)).text();
    const bytes = counterMetricName(XMPP_TRANSPORT_COUNTERS.payloadBytes);
    const requests = counterMetricName(XMPP_TRANSPORT_COUNTERS.requests);
    const frameSum = `${histogramMetricName(TAP_METRICS.frameSize)}_sum`;
    for (const transport of ['websocket', 'bosh']) {
      for (const [direction, tapDirection] of [
        ['sent', 'c2s'],
        ['received', 's2c'],
      ] as const) {
        // The login, conference and reconnect-storm generators go straight to their servers, not through the tap.
        const gen =
          sumOf(metrics, bytes, { run_id: RUN_ID, transport, direction }) -
          ['login', 'conference', 'reconnect-storm']
            .map((scenario) => sumOf(metrics, bytes, { run_id: RUN_ID, transport, direction, scenario }))
            .reduce((a, b) => a + b, 0);
        const tap = sumOf(metrics, frameSum, { run_id: RUN_ID, transport, direction: tapDirection });
        assert.ok(gen > 0, `${transport} ${direction}: payload bytes counted`);
        assert.ok(
          Math.abs(gen - tap) <= gen * 0.002,
          `${transport} ${direction}: generators ${gen} B, tap ${tap} B`,
        );
      }
    }
    const boshPosts =
      sumOf(metrics, requests, { run_id: RUN_ID, transport: 'bosh' }) -
      sumOf(metrics, requests, { run_id: RUN_ID, transport: 'bosh', scenario: 'login' });
    const boshBodies = sumOf(metrics, counterMetricName(TAP_METRICS.frames), {
      run_id: RUN_ID,
      transport: 'bosh',
      direction: 'c2s',
    });
    assert.equal(
      boshPosts,
      boshBodies,
      'BOSH requests counted by the generator = request bodies seen by the tap',
    );
    assert.equal(
      sumOf(metrics, requests, { run_id: RUN_ID, transport: 'websocket' }),
      27 + 4 + 5 + 3 * (4 + 2),
      'one handshake per WebSocket session, two per redirected login, one more per resumption attempt',
    );
    assert.equal(
      sumOf(metrics, counterMetricName(XMPP_COUNTERS.redirects), {
        run_id: RUN_ID,
        scenario: 'login',
        kind: 'see-other-host',
        outcome: 'followed',
      }),
      2,
    );
    // Both failed logins of the unknown-domain run reached the collector before its final snapshot.
    const failed = { run_id: RUN_ID, scenario: 'idle', transport: 'websocket' };
    assert.equal(sumOf(metrics, counterMetricName(XMPP_COUNTERS.sessionFailures), failed), 2);
    assert.equal(
      sumOf(metrics, counterMetricName(XMPP_COUNTERS.streamErrors), { ...failed, condition: 'host-unknown' }),
      2,
    );

    // A client that breaks RFC 7395 framing (first frame not <open/>), through a tap of the same run.
    const probeTap = await tapFor(server.websocketUrl, 'tap-probe');
    const ws = new WebSocket(probeTap.url, 'xmpp');
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    ws.send("<presence xmlns='jabber:client'/>");
    await sleep(300);
    ws.close();
    await probeTap.close();
    assert.ok(probeTap.violations.length > 0, 'the tap saw the framing violation');
    // And a generator that sends the collector something that is not a snapshot.
    const bad = await fetch(`${collector.url}${SNAPSHOT_PATH}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(bad.status, 400);

    // Wait for a scrape that saw all of that.
    const query = async (q: string): Promise<Sample[]> => {
      const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.json()) as { status: string; error?: string; data: { result: Sample[] } };
      assert.equal(body.status, 'success', `${q}: ${body.error ?? JSON.stringify(body)}`);
      return body.data.result;
    };
    // Two scrapes after the last change: rate() needs two samples of a series that appeared at the end.
    const after = Date.now() / 1000;
    const interval = Number(
      /^(\d+)s$/.exec(
        (parse(configText) as { global: { scrape_interval: string } }).global.scrape_interval,
      )![1],
    );
    for (let i = 0; ; i++) {
      const up = await query('timestamp(up{job="starling"})');
      if (up.length === 1 && Number(up[0]!.value[1]) > after + interval + 0.1) break;
      assert.ok(i < 200, `no scrape after the load: ${promLog}`);
      await sleep(100);
    }

    // The variables list this run's values; then every panel's PromQL, with those values, returns data.
    const files = (await readdir('dashboards')).filter((f) => f.endsWith('.json')).sort();
    assert.deepEqual(files, [
      'starling-frames.json',
      'starling-k6.json',
      'starling-overview.json',
      'starling-transports.json',
    ]);
    const dashboards = await Promise.all(
      files.map(async (f) => JSON.parse(await readFile(join('dashboards', f), 'utf8')) as unknown),
    );
    const values: Record<string, string> = {
      run: RUN_ID,
      scenario: '(idle|login|transport_compare|conference|reconnect-storm)',
      transport: '(bosh|websocket)',
      __rate_interval: RATE_INTERVAL,
    };
    const expected: Record<string, string[]> = {
      run: [RUN_ID],
      scenario: ['idle', 'login', 'transport_compare', 'conference', 'reconnect-storm'],
      transport: ['bosh', 'websocket'],
    };
    const problems: string[] = [];
    let checked = 0;
    for (const d of dashboards) {
      for (const v of variableQueries(d)) {
        const sel = interpolate(v.selector, values);
        const r = await fetch(`${api}/api/v1/label/${v.label}/values?match[]=${encodeURIComponent(sel)}`);
        const got = ((await r.json()) as { data: string[] }).data;
        for (const want of expected[v.name] ?? []) {
          if (!got.includes(want))
            problems.push(`${v.dashboard} $${v.name}: ${want} not in ${JSON.stringify(got)}`);
        }
      }
      for (const q of panelQueries(d)) {
        const expr = interpolate(q.expr, values);
        const result = await query(expr);
        checked++;
        if (result.length === 0) problems.push(`${q.dashboard} / ${q.panel} [${q.refId}]: no data: ${expr}`);
        else if (!result.some((s) => Number.isFinite(Number(s.value[1]))))
          problems.push(
            `${q.dashboard} / ${q.panel} [${q.refId}]: no finite value: ${expr} → ${JSON.stringify(result)}`,
          );
        for (const name of metricNames(expr)) {
          if (ANOMALY_ONLY.has(name)) continue;
          if ((await query(`count(${name})`)).length === 0)
            problems.push(`${q.dashboard} / ${q.panel}: ${name} does not exist`);
        }
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));
    assert.ok(checked >= 50, `${checked} panel queries checked`);
  },
);

/** Cumulative k6 counters after `n` pushes, gauges and trend stats, labelled as k6 labels them (tags). */
function k6Series(n: number, now: number, urls: { ws: string; bosh: string; collector: string }): RwSeries[] {
  const at = (value: number) => [{ value, timestampMs: now }];
  const run = { run_id: RUN_ID };
  const ws = { ...run, transport: 'websocket', scenario: 'transport_compare' };
  const bosh = { ...run, transport: 'bosh', scenario: 'transport_compare' };
  const wsConn = { ...ws, url: urls.ws };
  const post = { method: 'POST', proto: 'HTTP/1.1', status: '200', expected_response: 'true' };
  const boshReq = { ...bosh, ...post, url: urls.bosh, name: urls.bosh };
  const collectorReq = {
    ...bosh,
    ...post,
    url: `${urls.collector}${SNAPSHOT_PATH}`,
    name: 'starling-collector',
  };
  const series = (metric: string, labels: Record<string, string>, value: number): RwSeries => ({
    labels: { __name__: k6SeriesName(metric), ...labels },
    samples: at(value),
  });
  return [
    series(K6_METRICS.vus, { ...run, transport: 'websocket' }, 2),
    series(K6_METRICS.vus, { ...run, transport: 'bosh' }, 2),
    series(K6_METRICS.vusMax, { ...run, transport: 'websocket' }, 2),
    series(K6_METRICS.vusMax, { ...run, transport: 'bosh' }, 2),
    series(K6_METRICS.wsSessions, wsConn, 20),
    series(K6_METRICS.wsMsgsSent, wsConn, 150 * n),
    series(K6_METRICS.wsMsgsReceived, wsConn, 170 * n),
    series(K6_METRICS.wsConnecting, wsConn, 0.004),
    series(K6_METRICS.wsSessionDuration, wsConn, 3.2),
    series(K6_METRICS.dataSent, ws, 40_000 * n),
    series(K6_METRICS.dataReceived, ws, 52_000 * n),
    series(K6_METRICS.dataSent, bosh, 160_000 * n),
    series(K6_METRICS.dataReceived, bosh, 140_000 * n),
    series(K6_METRICS.httpReqs, boshReq, 300 * n),
    series(K6_METRICS.httpReqs, collectorReq, 2 * n),
    series(K6_METRICS.httpReqDuration, boshReq, 0.25),
    series(K6_METRICS.httpReqDuration, collectorReq, 0.002),
    series(K6_METRICS.httpReqFailed, boshReq, 0),
    series(K6_METRICS.httpReqFailed, collectorReq, 0),
  ];
}
