import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerStartError } from '../../src/targets/errors.ts';
import { ephemeralPortRange, freePorts, isPortOpen, LOOPBACK } from '../../src/targets/ports.ts';
import { startProsody } from '../../src/targets/prosody.ts';
import { stopProcessGroup } from '../../src/targets/processes.ts';
import type { StartPlan } from '../../src/targets/startup.ts';

async function listenOn(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, resolve);
  });
  return server;
}

describe('freePorts', () => {
  test('ephemeralPortRange reads the kernel file, and falls back to Linux defaults without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'starling-ports-'));
    try {
      await writeFile(join(dir, 'range'), '40000\t50000\n');
      assert.deepEqual(ephemeralPortRange(join(dir, 'range')), [40000, 50000]);
      await writeFile(join(dir, 'bad'), 'x y\n');
      assert.deepEqual(ephemeralPortRange(join(dir, 'bad')), [32768, 60999]);
      assert.deepEqual(ephemeralPortRange(join(dir, 'missing')), [32768, 60999]);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  test('gives distinct, bindable ports below the ephemeral range, where no outgoing socket takes them', async () => {
    const [low] = ephemeralPortRange();
    const ports = await freePorts(20);
    assert.equal(new Set(ports).size, 20);
    for (const port of ports) {
      assert.ok(port >= 10000 && port < low, `${port} is not in [10000, ${low})`);
      (await listenOn(port)).close();
    }
  });

  test('with too little room below the ephemeral range, takes the kernel choice', async () => {
    const [low] = ephemeralPortRange();
    const ports = await freePorts(3, [10500, 60999]);
    assert.equal(new Set(ports).size, 3);
    for (const port of ports) assert.ok(port >= low, `${port} is not a kernel-chosen port (>= ${low})`);
  });
});

describe('Prosody given a port something else holds', () => {
  const plan = (dir: string): StartPlan => ({
    users: 2,
    userPattern: 'user{n}',
    passwordPattern: 'password{n}',
    domain: 'localhost',
    dir,
    keepDir: false,
    logLevel: undefined,
    startTimeoutMs: 60_000,
    install: false,
    startedAt: new Date(),
    tls: undefined,
    plugins: undefined,
    prosodyAuth: 'internal_plain',
    resumeTimeoutSec: 60,
    cpus: undefined,
  });

  test('starts again on fresh ports, at once rather than after the start timeout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'starling-ports-'));
    const [taken, other] = (await freePorts(2)) as [number, number];
    const holder = await listenOn(taken);
    const picked: number[][] = [];
    try {
      const started = await startProsody(plan(dir), async () => {
        const ports = picked.length === 0 ? [taken, other] : await freePorts(2);
        picked.push(ports);
        return ports;
      });
      try {
        assert.equal(picked.length, 2);
        assert.deepEqual([started.record.c2sPort, started.record.httpPort], picked[1]);
        assert.ok(await isPortOpen(started.record.c2sPort));
        assert.doesNotMatch(await readFile(started.record.logFile, 'utf8'), /Failed to open server port/);
      } finally {
        await stopProcessGroup(started.record.pid, 2000);
        started.guard.release();
      }
    } finally {
      holder.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('after three attempts on taken ports, a ServerStartError names the port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'starling-ports-'));
    const [taken] = (await freePorts(1)) as [number];
    const holder = await listenOn(taken);
    let attempts = 0;
    const startedAt = Date.now();
    try {
      await assert.rejects(
        startProsody(plan(dir), async () => {
          attempts++;
          return [taken, ...(await freePorts(1))];
        }),
        (err: unknown) => {
          assert.ok(err instanceof ServerStartError);
          assert.equal(err.portInUse, true);
          assert.match(
            err.message,
            new RegExp(`prosody failed to start: a port is taken: .*Failed to open server port ${taken}`),
          );
          return true;
        },
      );
      assert.equal(attempts, 3);
      // Each attempt ends when Prosody logs the failure, not at the 60 s start timeout.
      assert.ok(Date.now() - startedAt < 60_000);
    } finally {
      holder.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
