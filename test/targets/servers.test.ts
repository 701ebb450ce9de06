import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { httpRequest, postJson, websocketHandshake } from '../../src/targets/http.ts';
import { isPortOpen } from '../../src/targets/ports.ts';
import { isProcessAlive, processGroupFiles, processGroupMembers } from '../../src/targets/processes.ts';
import { accountFilePath, plainAccountFileContent } from '../../src/targets/prosody.ts';
import { deriveScram } from '../../src/targets/scram.ts';
import { allowedCpus, cpuList } from '../../src/targets/cpus.ts';
import { LocalServerOptionError } from '../../src/targets/errors.ts';

const run = promisify(execFile);
const STARLING = join(import.meta.dirname, '..', '..', 'bin', 'starling.js');

async function assertGone(server: LocalServer): Promise<void> {
  assert.equal(isProcessAlive(server.pid), false, `pid ${server.pid} still runs`);
  assert.deepEqual(processGroupMembers(server.pid), []);
  assert.equal(await isPortOpen(server.httpPort), false);
  assert.equal(await isPortOpen(server.c2sPort), false);
  assert.equal(existsSync(server.dir), false, `${server.dir} was not removed`);
}

/** Lua `["key"] = "value";` / `["key"] = 123;` pairs of a Prosody data file. */
function luaFields(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/\["(\w+)"\] = "?([^";]*)"?;/g)].map((m) => [m[1], m[2]]));
}

describe('local Prosody', () => {
  let server: LocalServer;
  before(async () => {
    server = await startLocalServer({ kind: 'prosody', users: 50 });
  });
  after(() => server?.stop());

  test('serves WebSocket and BOSH on 127.0.0.1 at the standard paths', () => {
    assert.match(server.websocketUrl, /^ws:\/\/127\.0\.0\.1:\d+\/xmpp-websocket$/);
    assert.match(server.boshUrl, /^http:\/\/127\.0\.0\.1:\d+\/http-bind$/);
    assert.equal(server.domain, 'localhost');
  });

  test('the WebSocket endpoint echoes subprotocol xmpp', async () => {
    assert.equal(await websocketHandshake(server.websocketUrl), 'xmpp');
  });

  test('Prosody took the generational GC setting (its log would say "Failed to apply GC configuration")', async () => {
    const log = await readFile(server.logFile, 'utf8');
    assert.doesNotMatch(log, /GC/);
    assert.match(
      await readFile(join(server.dir, 'prosody.cfg.lua'), 'utf8'),
      /^gc = \{ mode = "generational" \}$/m,
    );
  });

  test('the BOSH endpoint answers', async () => {
    assert.equal((await httpRequest(server.boshUrl)).status, 200);
  });

  test('processGroupFiles counts its open files and reads its open-files limit; one more socket shows', async () => {
    const limits = await readFile(`/proc/${server.pid}/limits`, 'utf8');
    const limit = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
    const before = processGroupFiles(server.pid)!;
    assert.equal(before.limit, limit);
    assert.equal(before.open, (await readdir(`/proc/${server.pid}/fd`)).length);
    const ws = new WebSocket(server.websocketUrl, 'xmpp');
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      assert.equal(processGroupFiles(server.pid)!.open, before.open + 1);
    } finally {
      ws.terminate();
    }
    assert.equal(processGroupFiles(-1), undefined);
  });

  test('account(n) follows the default patterns', () => {
    assert.deepEqual(server.account(17), { jid: 'user17@localhost', username: 'user17', password: 'pass17' });
    assert.throws(() => server.account(51), RangeError);
  });

  test('every account has a SCRAM-SHA-1 file matching its password', async () => {
    for (const n of [1, 50]) {
      const { username, password } = server.account(n);
      const fields = luaFields(
        await readFile(accountFilePath(join(server.dir, 'data'), 'localhost', username), 'utf8'),
      );
      assert.equal(fields.iteration_count, '4096');
      const expected = await deriveScram('sha1', password, fields.salt, 4096);
      assert.equal(fields.stored_key, expected.storedKey.toString('hex'));
      assert.equal(fields.server_key, expected.serverKey.toString('hex'));
    }
    assert.equal(existsSync(accountFilePath(join(server.dir, 'data'), 'localhost', 'user51')), false);
  });

  test('stop() leaves no process, port or directory behind', async () => {
    await server.stop();
    await assertGone(server);
  });
});

/**
 * SASL PLAIN over WebSocket (RFC 7395) up to the server's answer to <auth/>: 'success', or the
 * failure's condition. Only what these tests need; the real client is src/xmpp.
 */
function plainLogin(url: string, domain: string, username: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'xmpp');
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no SASL answer from ${url} within 5 s`));
    }, 5000);
    const done = (answer: string): void => {
      clearTimeout(timer);
      ws.close();
      resolve(answer);
    };
    ws.on('error', reject);
    ws.on('open', () =>
      ws.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${domain}' version='1.0'/>`),
    );
    ws.on('message', (data) => {
      const text = String(data);
      if (text.includes('<stream:features')) {
        if (!text.includes('<mechanism>PLAIN</mechanism>')) return done('no PLAIN offered');
        const initial = Buffer.from(`\0${username}\0${password}`).toString('base64');
        ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${initial}</auth>`);
      } else if (text.startsWith('<success')) done('success');
      else if (text.startsWith('<failure')) done(/<failure[^>]*><([\w-]+)/.exec(text)?.[1] ?? 'failure');
    });
  });
}

describe('local Prosody storing plain passwords (prosodyAuth internal_plain)', () => {
  let server: LocalServer;
  before(async () => {
    server = await startLocalServer({ kind: 'prosody', users: 20, prosodyAuth: 'internal_plain' });
  });
  after(() => server?.stop());

  test('every account file holds its password, not SCRAM keys', async () => {
    for (const n of [1, 20]) {
      const { username, password } = server.account(n);
      const file = accountFilePath(join(server.dir, 'data'), 'localhost', username);
      assert.equal(await readFile(file, 'utf8'), plainAccountFileContent(password));
    }
  });

  test('the config asks for internal_plain', async () => {
    assert.match(
      await readFile(join(server.dir, 'prosody.cfg.lua'), 'utf8'),
      /^authentication = "internal_plain"$/m,
    );
  });

  test('a PLAIN login succeeds with the right password and fails with a wrong one', async () => {
    const { username, password } = server.account(7);
    assert.equal(await plainLogin(server.websocketUrl, server.domain, username, password), 'success');
    assert.equal(await plainLogin(server.websocketUrl, server.domain, username, 'wrong'), 'not-authorized');
  });

  test('stop() leaves no process, port or directory behind', async () => {
    await server.stop();
    await assertGone(server);
  });
});

describe('local ejabberd', () => {
  let server: LocalServer;
  const api = (command: string, payload: unknown) =>
    postJson(`http://127.0.0.1:${server.httpPort}/api/${command}`, payload);
  before(async () => {
    server = await startLocalServer({ kind: 'ejabberd', users: 50 });
  });
  after(() => server?.stop());

  test('serves WebSocket and BOSH on 127.0.0.1 on one HTTP listener', () => {
    assert.match(server.websocketUrl, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    assert.equal(server.boshUrl, `http://127.0.0.1:${server.httpPort}/bosh`);
  });

  test('the WebSocket endpoint echoes subprotocol xmpp', async () => {
    assert.equal(await websocketHandshake(server.websocketUrl), 'xmpp');
  });

  test('the BOSH endpoint answers', async () => {
    assert.equal((await httpRequest(server.boshUrl)).status, 200);
  });

  test('all accounts are registered with their passwords', async () => {
    const users = JSON.parse((await api('registered_users', { host: 'localhost' })).body) as string[];
    assert.equal(users.length, 50);
    assert.ok(users.includes('user1') && users.includes('user50'));
    const again = await api('register', { user: 'user1', host: 'localhost', password: 'x' });
    assert.equal(again.status, 409, again.body);
    const check = await api('check_password', { user: 'user50', host: 'localhost', password: 'pass50' });
    assert.equal(check.body, '0');
  });

  test('keeps the open-files limit (not dropped to 1024 by su)', async () => {
    const limits = await readFile(`/proc/${server.pid}/limits`, 'utf8');
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
    assert.ok(soft > 1024, `open files limit is ${soft}`);
  });

  test('stop() leaves no process, distribution port, epmd registration or directory behind', async () => {
    const distributionPort = server.distributionPort;
    assert.ok(distributionPort !== undefined);
    await server.stop();
    await assertGone(server);
    assert.equal(await isPortOpen(distributionPort), false);
    const names = await run('epmd', ['-names']).then(
      (r) => r.stdout,
      () => '', // no epmd running at all
    );
    assert.doesNotMatch(names, new RegExp(`starling-ejabberd-${server.httpPort}\\b`));
  });
});

/** The CPUs a process may run on, and how many Erlang scheduler threads it has (named `N_scheduler`). */
async function affinityOf(pid: number): Promise<{ cpus: string; schedulers: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const tasks = await readdir(`/proc/${pid}/task`);
  const names = await Promise.all(
    tasks.map((t) => readFile(`/proc/${pid}/task/${t}/comm`, 'utf8').catch(() => '')),
  );
  return {
    cpus: /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '?',
    schedulers: names.filter((n) => /^\d+_scheduler$/.test(n.trim())).length,
  };
}

describe('a local server pinned to CPUs (cpus)', () => {
  test('cpuList reads taskset lists and rejects what is not one, or names a CPU this process may not use', () => {
    assert.deepEqual(cpuList('0'), { text: '0', cpus: [0] });
    assert.deepEqual(cpuList(' 0-1 ,0'), { text: '0,1', cpus: [0, 1] });
    assert.throws(() => cpuList('one'), /cpus 'one' is not a CPU list: use e\.g\. 1, 0-1 or 0,2/);
    assert.throws(() => cpuList('3-1'), LocalServerOptionError);
    // Refused at once, not expanded CPU by CPU.
    assert.throws(
      () => cpuList('0-999999999'),
      /cpus '0-999999999' is not a CPU list: use e\.g\. 1, 0-1 or 0,2 \(CPUs 0–8191\)/,
    );
    assert.throws(() => cpuList('4096'), /CPU 4096 is not one this machine lets starling use/);
    assert.ok((allowedCpus() ?? []).includes(0));
  });

  test('an unusable list is refused before anything starts', async () => {
    await assert.rejects(startLocalServer({ kind: 'prosody', users: 2, cpus: '0-' }), LocalServerOptionError);
  });

  test('ejabberd pinned to CPU 0 runs there, with one scheduler', async () => {
    const server = await startLocalServer({ kind: 'ejabberd', users: 2, cpus: '0' });
    try {
      assert.deepEqual(await affinityOf(server.pid), { cpus: '0', schedulers: 1 });
      assert.equal(await websocketHandshake(server.websocketUrl), 'xmpp');
    } finally {
      await server.stop();
    }
    await assertGone(server);
  });

  test('Prosody pinned to the last CPU runs there', async () => {
    const last = String(Math.max(...(allowedCpus() ?? [0])));
    const server = await startLocalServer({ kind: 'prosody', users: 2, cpus: last });
    try {
      assert.equal((await affinityOf(server.pid)).cpus, last);
    } finally {
      await server.stop();
    }
  });
});

describe('starling server up/down', () => {
  let cwd: string;
  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'starling-cli-'));
  });
  after(async () => {
    await run(process.execPath, [STARLING, 'server', 'down'], { cwd }).catch(() => undefined);
    await rm(cwd, { recursive: true, force: true });
  });

  test('up prints the endpoints and accounts and leaves the server running; down stops it', async () => {
    const up = await run(process.execPath, [STARLING, 'server', 'up', '--users', '20'], { cwd });
    assert.match(up.stdout, /^prosody ready in \d+\.\d s$/m);
    assert.match(up.stdout, /WebSocket {2}ws:\/\/127\.0\.0\.1:\d+\/xmpp-websocket$/m);
    assert.match(up.stdout, /BOSH {7}http:\/\/127\.0\.0\.1:\d+\/http-bind$/m);
    assert.match(up.stdout, /domain {5}localhost$/m);
    assert.match(up.stdout, /accounts {3}user\{n\}@localhost \/ pass\{n\}, n = 1\.\.20$/m);

    const state = JSON.parse(await readFile(join(cwd, '.starling', 'servers.json'), 'utf8')) as {
      servers: { pid: number; websocketUrl: string; dir: string }[];
    };
    assert.equal(state.servers.length, 1);
    const [record] = state.servers as [(typeof state.servers)[number]];
    assert.ok(isProcessAlive(record.pid), 'server died with the CLI');
    assert.equal(await websocketHandshake(record.websocketUrl), 'xmpp');

    const down = await run(process.execPath, [STARLING, 'server', 'down'], { cwd });
    assert.match(down.stdout, new RegExp(`^stopped prosody \\(pid ${record.pid}\\): no process left`, 'm'));
    assert.equal(isProcessAlive(record.pid), false);
    assert.deepEqual(processGroupMembers(record.pid), []);
    assert.equal(existsSync(record.dir), false);
    assert.equal(existsSync(join(cwd, '.starling', 'servers.json')), false);
  });
});
