/**
 * bench/standard-flow.ts's parts against a real Prosody: the counters module (bench/prosody/mod_bench_counters.lua)
 * counts what the raw floor (bench/raw-ws-flow.ts) does, and tells a clean close from a dropped connection.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

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

describe('standard flow: server counters and the raw floor', () => {
  let server: LocalServer;
  let dir: string;
  let counters: Record<string, unknown>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-counters-'));
    const file = join(dir, 'counters.json');
    server = await startLocalServer({
      kind: 'prosody',
      users: 12,
      prosodyAuth: 'internal_plain',
      prosodyPlugins: {
        dir: join(ROOT, 'bench', 'prosody'),
        modules: ['bench_counters'],
        options: { bench_counters_file: JSON.stringify(file) },
      },
    });
    try {
      const floor = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          join(ROOT, 'bench', 'raw-ws-flow.ts'),
          ...['--url', server.websocketUrl, '--users', '10', '--rate', '100', '--messages', '3'],
          ...['--think', '50', '--body-size', '20'],
        ],
        { cwd: ROOT },
      );
      const result = JSON.parse(floor.stdout) as Record<string, number>;
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
