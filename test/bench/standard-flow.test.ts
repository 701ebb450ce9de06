/**
 * bench/standard-flow.ts's parts against a real Prosody: the counters module (bench/prosody/mod_bench_counters.lua)
 * counts what the raw floor (bench/raw-ws-flow.ts) does, and tells a clean close from a dropped connection; the
 * floor's k6 twin (bench/k6/raw-flow.ts) does the same flow on the Node engine.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { buildScenarios } from '../../src/build/scenarios.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

/** A Prosody as the bench starts one: plain passwords, and the counters module writing to `file`. */
function countingProsody(users: number, file: string): Promise<LocalServer> {
  return startLocalServer({
    kind: 'prosody',
    users,
    prosodyAuth: 'internal_plain',
    prosodyPlugins: {
      dir: join(ROOT, 'bench', 'prosody'),
      modules: ['bench_counters'],
      options: { bench_counters_file: JSON.stringify(file) },
    },
  });
}

/** Logs in over WebSocket with SASL PLAIN, binds, and drops the TCP connection without closing the stream. */
function bindAndDrop(server: LocalServer, n: number, password: string): Promise<string> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(server.websocketUrl, 'xmpp');
    const open = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${server.domain}' version='1.0'/>`;
    ws.on('error', fail);
    ws.on('open', () => ws.send(open));
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('<stream:features') && text.includes('PLAIN')) {
        const initial = Buffer.from(`\0user${n}\0${password}`).toString('base64');
        ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${initial}</auth>`);
      } else if (text.startsWith('<failure')) {
        ws.terminate();
        done('failure');
      } else if (text.startsWith('<success')) ws.send(open);
      else if (text.startsWith('<stream:features')) {
        ws.send(
          `<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`,
        );
      } else if (text.startsWith('<iq')) {
        ws.terminate();
        done('bound');
      }
    });
  });
}

/** The floor (bench/raw-ws-flow.ts) for 10 users, 3 messages each, against `server`; its output and line of counts. */
async function runFloorFlow(server: LocalServer, extra: string[] = []) {
  const floor = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'bench', 'raw-ws-flow.ts'),
      ...['--url', server.websocketUrl, '--users', '10', '--rate', '100', '--messages', '3'],
      ...['--think', '50', '--body-size', '20', ...extra],
    ],
    { cwd: ROOT },
  );
  return { floor, result: JSON.parse(floor.stdout) as Record<string, number> };
}

describe('standard flow: server counters and the raw floor', () => {
  let server: LocalServer;
  let dir: string;
  let counters: Record<string, unknown>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-counters-'));
    const file = join(dir, 'counters.json');
    server = await countingProsody(12, file);
    try {
      const { floor, result } = await runFloorFlow(server);
      assert.equal(result.failed, 0, floor.stdout);
      assert.equal(await bindAndDrop(server, 11, 'pass11'), 'bound');
      assert.equal(await bindAndDrop(server, 12, 'wrong'), 'failure');
      // Prosody notices the dropped connection on its own time.
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await server.stop(); // the module writes its final counters on the way down
    }
    counters = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('count each step of the flow the floor took, for every user', () => {
    assert.equal(counters.final, true);
    assert.equal(counters.auth_success, 11);
    assert.equal(counters.auth_failure, 1);
    assert.equal(counters.resource_bind, 11);
    assert.equal(counters.users_distinct, 11);
    assert.equal(counters.initial_presence, 10);
    assert.equal(counters.chat_sent, 30);
    assert.equal(counters.chat_body_chars, 30 * 20);
    assert.equal(counters.chat_body_foreign, 0);
    assert.equal(counters.chat_delivered, 30);
    assert.equal(counters.chat_unavailable, 0);
  });

  test('tell the floor’s clean closes from a dropped connection', () => {
    assert.equal(counters.unbind_clean, 10);
    assert.equal(counters.unbind_unclean, 1);
    assert.equal(
      Object.values(counters.unbind_reasons as Record<string, number>).reduce((a, b) => a + b),
      1,
    );
    assert.equal(counters.online, 0);
    assert.ok((counters.peak_online as number) >= 1);
  });
});

describe('standard flow: the floor on the lean client (raw-ws-flow --client lean)', () => {
  test('do the whole flow and close cleanly for every user, as the server counts it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'starling-counters-'));
    const file = join(dir, 'counters.json');
    const server = await countingProsody(10, file);
    try {
      const { floor, result } = await runFloorFlow(server, ['--client', 'lean']);
      assert.deepEqual(
        [result.connected, result.bound, result.sent, result.received, result.closedClean, result.failed],
        [10, 10, 30, 30, 10, 0],
        floor.stdout,
      );
    } finally {
      await server.stop();
    }
    const counters = JSON.parse(await readFile(file, 'utf8')) as Record<string, number>;
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(
      [counters.auth_success, counters.resource_bind, counters.initial_presence, counters.chat_delivered],
      [10, 10, 10, 30],
    );
    assert.deepEqual([counters.unbind_clean, counters.unbind_unclean], [10, 0]);
  });
});

describe('standard flow: the floor as a k6 script on the Node engine (k6-raw)', () => {
  let server: LocalServer;
  let dir: string;
  let script: string;
  let counters: Record<string, unknown>;
  let result: Record<string, unknown>;

  /** Runs the built k6 floor on the Node engine; its logged line of counts, as the bench reads it. */
  async function k6Raw(url: string, env: Record<string, string>): Promise<Record<string, unknown>> {
    const out = await run(
      process.execPath,
      [
        join(ROOT, 'bin', 'starling.js'),
        ...['run', script, '--engine', 'node', '--no-report', '--results-root', join(dir, 'results')],
        ...Object.entries({ XMPP_URL: url, ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      ],
      { cwd: ROOT },
    );
    const line = /\[VU 1\] (\{"users".*\})$/m.exec(out.stdout + out.stderr);
    assert.ok(line, out.stdout + out.stderr);
    return JSON.parse(line[1]!) as Record<string, unknown>;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-k6-raw-'));
    const [built] = await buildScenarios([join(ROOT, 'bench', 'k6', 'raw-flow.ts')], join(dir, 'scenarios'));
    script = built!.file;
    const file = join(dir, 'counters.json');
    server = await countingProsody(10, file);
    try {
      result = await k6Raw(server.websocketUrl, {
        USERS: '10',
        ARRIVAL_RATE: '100',
        MESSAGES: '3',
        THINK_MS: '50',
        BODY_SIZE: '20',
      });
    } finally {
      await server.stop();
    }
    counters = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('do the whole flow for every user, as the server counts it', () => {
    assert.deepEqual(result, {
      users: 10,
      connected: 10,
      authenticated: 10,
      bound: 10,
      presences: 10,
      sent: 30,
      received: 30,
      closedClean: 10,
      failed: 0,
      failures: {},
    });
    assert.equal(counters.auth_success, 10);
    assert.equal(counters.resource_bind, 10);
    assert.equal(counters.initial_presence, 10);
    assert.equal(counters.chat_sent, 30);
    assert.equal(counters.chat_body_chars, 30 * 20);
    assert.equal(counters.chat_delivered, 30);
    assert.equal(counters.unbind_clean, 10);
    assert.equal(counters.unbind_unclean, 0);
  });

  test('count users whose server is not there as failed, by reason', async () => {
    const stopped = await startLocalServer({ kind: 'prosody', users: 2, prosodyAuth: 'internal_plain' });
    const url = stopped.websocketUrl;
    await stopped.stop();
    const r = await k6Raw(url, { USERS: '2', ARRIVAL_RATE: '100' });
    assert.equal(r.failed, 2);
    assert.equal(r.connected, 0);
    assert.deepEqual(Object.keys(r.failures as object), [
      'ws-error:dial tcp ' + new URL(url).host + ': connect: connection refused',
    ]);
  });
});
