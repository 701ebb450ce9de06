/**
 * docker-compose.yml: valid for Debian's docker-compose (1.29) with and without the prosody profile, pinned
 * images, everything on loopback; and the prosody profile's config and entrypoint boot Debian's Prosody with
 * accounts starling logs into (the image itself needs Docker, which these machines do not run).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { freePorts, isPortOpen, LOOPBACK } from '../../src/targets/ports.ts';

const COMPOSE = '/usr/bin/docker-compose';

interface Service {
  image?: string;
  build?: string;
  network_mode?: string;
  ports?: string[];
  command?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
}

test('docker-compose config accepts the compose file, with and without --profile prosody', () => {
  assert.ok(existsSync(COMPOSE), `needs ${COMPOSE}: apt-get install docker-compose`);
  for (const args of [[], ['--profile', 'prosody']]) {
    const r = spawnSync(COMPOSE, ['-f', 'docker-compose.yml', ...args, 'config'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `docker-compose ${args.join(' ')} config: ${r.stderr}`);
    const services = (parse(r.stdout) as { services: Record<string, unknown> }).services;
    for (const name of ['prometheus', 'grafana', 'prosody'])
      assert.ok(services[name], `${name} in ${args.join(' ')}`);
  }
});

test('pinned images; every service listens on 127.0.0.1 only', async () => {
  const { services } = parse(await readFile('docker-compose.yml', 'utf8')) as {
    services: Record<string, Service>;
  };
  for (const [name, s] of Object.entries(services)) {
    if (s.image && !s.build)
      assert.match(s.image, /^[\w./-]+:v?\d+\.\d+\.\d+$/, `${name}: image pinned to a version: ${s.image}`);
    assert.equal(s.network_mode, 'host', `${name}: host network, so it can bind loopback itself`);
    for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name}: published on loopback`);
  }
  assert.ok(services.prometheus!.command!.includes('--web.listen-address=127.0.0.1:9090'));
  assert.ok(services.prometheus!.command!.includes('--web.enable-remote-write-receiver'));
  assert.equal(services.grafana!.environment!.GF_SERVER_HTTP_ADDR, '127.0.0.1');
  assert.deepEqual(services.prosody!.profiles, ['prosody']);
  const docker = await readFile('deploy/prosody/Dockerfile', 'utf8');
  assert.match(docker, /^FROM debian:\d+\.\d+-slim$/m, 'Prosody image from a pinned Debian release');
  const cfg = await readFile('deploy/prosody/prosody.cfg.lua', 'utf8');
  for (const line of cfg.split('\n').filter((l) => /_interfaces? =/.test(l)))
    assert.match(line, /"127\.0\.0\.1"/, `loopback only: ${line}`);
});

test('the prosody profile: its entrypoint and config run Debian Prosody, and its accounts log in', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'starling-prosody-profile-'));
  const [http, c2s] = (await freePorts(2)) as [number, number];
  const child = spawn('sh', ['deploy/prosody/entrypoint.sh'], {
    env: {
      ...process.env,
      STARLING_DATA: dir,
      STARLING_USERS: '10',
      STARLING_HTTP_PORT: String(http),
      STARLING_C2S_PORT: String(c2s),
      STARLING_RUN_AS_ROOT: process.getuid?.() === 0 ? '1' : '0',
      PROSODY_CONFIG: resolve('deploy/prosody/prosody.cfg.lua'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  t.after(async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  });
  for (let i = 0; !(await isPortOpen(http)); i++) {
    assert.equal(child.exitCode, null, `prosody exited: ${log}`);
    assert.ok(i < 100, `prosody did not listen on ${http}: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const probe = spawnSync(
    process.execPath,
    [
      resolve('bin/starling.js'),
      'probe',
      '--target',
      `ws://${LOOPBACK}:${http}/xmpp-websocket`,
      '--sessions',
      '10',
      '--json',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(probe.status, 0, `${probe.stdout}\n${probe.stderr}\n${log}`);
  const result = JSON.parse(probe.stdout) as {
    loggedIn: number;
    messagesDelivered: number;
    cleanCloses: number;
  };
  assert.equal(result.loggedIn, 10);
  assert.equal(result.messagesDelivered, 10);
  assert.equal(result.cleanCloses, 10);
});
