/** The compiled scenarios through `starling run --engine node` against a real Prosody: exit codes and results. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const CLI = resolve('bin/starling.js');
const RELAXED_LATENCY = {
  xmpp_session_ready: ['p(95)<30000'],
  xmpp_message_delivery: ['p(95)<30000'],
  xmpp_presence_delivery: ['p(95)<30000'],
  xmpp_iq_rtt: ['p(99)<30000'],
};
const VUS = 20;
const SESSIONS_PER_VU = 15; // 300 sessions

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  summary:
    | { metrics: Record<string, { values: Record<string, number> }>; state: { testRunDurationMs: number } }
    | undefined;
}

function runCli(args: string[], cwd: string, onSpawn?: (pid: number) => void): Promise<RunResult> {
  // Behaviour, not speed (see THRESHOLDS below): a generator starved by a loaded machine still reports it, but
  // does not turn a passing run into exit 120.
  const all = args[0] === 'run' ? [...args, '--allow-saturation'] : args;
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [CLI, ...all], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (child.pid) onSpawn?.(child.pid);
    child.on('close', async (code) => {
      resolveRun({ code, stdout, stderr, summary: await latestSummary(cwd) });
    });
  });
}

async function latestSummary(cwd: string): Promise<RunResult['summary']> {
  try {
    const runs = (await readdir(join(cwd, 'results'))).sort();
    const last = runs.at(-1);
    if (!last) return undefined;
    return JSON.parse(
      await readFile(join(cwd, 'results', last, 'summary.json'), 'utf8'),
    ) as RunResult['summary'];
  } catch {
    return undefined;
  }
}

describe('scenarios through the Node engine against Prosody', () => {
  let server: LocalServer;
  let cwd: string;
  const env = (extra: Record<string, string> = {}): string[] =>
    Object.entries({
      XMPP_URL: server.websocketUrl,
      XMPP_DOMAIN: server.domain,
      VUS: String(VUS),
      SESSIONS_PER_VU: String(SESSIONS_PER_VU),
      DURATION: '4s',
      MESSAGE_RATE: '1',
      PRESENCE_RATE: '1',
      PING_INTERVAL: '1s',
      // These tests check behaviour (exit codes, counts, clean closes), not speed: latency thresholds are
      // widened so a loaded CI machine cannot fail them. Speed lives in bench/ and compare-transports.
      THRESHOLDS: JSON.stringify(RELAXED_LATENCY),
      ...extra,
    }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

  before(async () => {
    server = await startLocalServer({ kind: 'prosody', users: VUS * SESSIONS_PER_VU });
    cwd = await tempDir('starling-run-');
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of ['websocket', 'bosh'] as const) {
    for (const scenario of ['login', 'chat', 'presence', 'idle']) {
      test(`${scenario} over ${transport}: ${VUS * SESSIONS_PER_VU} sessions pass the default thresholds and close cleanly (exit 0)`, async () => {
        const url = transport === 'bosh' ? server.boshUrl : server.websocketUrl;
        const r = await runCli(
          [
            'run',
            resolve('scenarios', `${scenario}.ts`),
            '--engine',
            'node',
            ...env({ XMPP_URL: url, XMPP_TRANSPORT: transport }),
          ],
          cwd,
        );
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const m = r.summary!.metrics;
        assert.equal(m.xmpp_login_success!.values.rate, 1);
        assert.equal(m.xmpp_clean_close!.values.rate, 1);
        assert.equal(m.xmpp_sessions_opened!.values.count, VUS * SESSIONS_PER_VU);
        assert.equal(m.xmpp_sessions_closed!.values.count, VUS * SESSIONS_PER_VU);
        const delivery = {
          chat: 'xmpp_message_delivery',
          presence: 'xmpp_presence_delivery',
          idle: 'xmpp_iq_rtt',
        }[scenario];
        if (delivery) assert.ok(m[delivery]!.values['p(95)']! >= 0, `${delivery} was recorded`);
        if (transport === 'bosh') {
          // Every session: creation, restart, its SASL and bind round trips and a terminate, all over HTTP.
          assert.ok(
            m.http_reqs!.values.count! >= VUS * SESSIONS_PER_VU * 5,
            `${m.http_reqs!.values.count} requests`,
          );
          assert.equal(m.http_req_failed?.values.rate ?? 0, 0);
          assert.equal(m.ws_sessions, undefined, 'no WebSocket was opened');
        } else {
          assert.equal(m.ws_sessions!.values.count, VUS * SESSIONS_PER_VU);
          assert.equal(m.http_reqs, undefined, 'no HTTP request was made');
        }
      });
    }
  }

  for (const transport of ['websocket', 'bosh'] as const) {
    test(`churn over ${transport}: users arrive, each sends its messages to available peers, leaves cleanly; none lost`, async () => {
      const users = VUS * SESSIONS_PER_VU;
      const url = transport === 'bosh' ? server.boshUrl : server.websocketUrl;
      const r = await runCli(
        [
          'run',
          resolve('scenarios', 'churn.ts'),
          '--engine',
          'node',
          ...env({
            XMPP_URL: url,
            XMPP_TRANSPORT: transport,
            USERS: String(users),
            ARRIVAL_RATE: '40',
            MESSAGES: '3',
            THINK: '100ms',
          }),
        ],
        cwd,
      );
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const m = r.summary!.metrics;
      assert.equal(m.xmpp_sessions_opened!.values.count, users);
      assert.equal(m.xmpp_sessions_closed!.values.count, users);
      assert.equal(m.xmpp_clean_close!.values.rate, 1);
      // Every message ended as one loss sample: delivered (0) or lost (1); none lost.
      const loss = m.xmpp_message_loss!.values;
      assert.equal(loss.passes! + loss.fails!, users * 3);
      assert.equal(loss.passes, 0);
    });
  }

  test('XMPP_TRANSPORT that contradicts the URL fails at init with a clear error (exit 107)', async () => {
    const r = await runCli(
      [
        'run',
        resolve('scenarios', 'login.ts'),
        '--engine',
        'node',
        ...env({ XMPP_URL: server.websocketUrl, XMPP_TRANSPORT: 'bosh' }),
      ],
      cwd,
    );
    assert.equal(r.code, 107);
    assert.match(
      r.stderr + r.stdout,
      /XMPP_TRANSPORT=bosh but XMPP_URL is ws:\/\/.* \(a websocket URL\): give a http\(s\):\/\/…\/http-bind URL/,
    );
  });

  test('a fractional SESSIONS_PER_VU fails at init with a clear error (exit 107), not as user3.5 logins', async () => {
    const r = await runCli(
      [
        'run',
        resolve('scenarios', 'login.ts'),
        '--engine',
        'node',
        ...env({ XMPP_URL: server.websocketUrl, VUS: '4', SESSIONS_PER_VU: '2.5' }),
      ],
      cwd,
    );
    assert.equal(r.code, 107);
    assert.match(r.stderr + r.stdout, /SESSIONS_PER_VU='2\.5' is not a whole number: use e\.g\. 3/);
  });

  test('accounts can come from XMPP_ACCOUNTS_CSV instead of the patterns', async () => {
    const csv = join(cwd, 'accounts.csv');
    const lines = Array.from(
      { length: 10 },
      (_, i) => `${server.account(i + 101).username},${server.account(i + 101).password}`,
    );
    await writeFile(csv, `# user,password\n${lines.join('\n')}\n`);
    const r = await runCli(
      [
        'run',
        resolve('scenarios/login.ts'),
        '--engine',
        'node',
        ...env({ XMPP_ACCOUNTS_CSV: csv, XMPP_PASSWORD_PATTERN: 'wrong{n}', VUS: '2', SESSIONS_PER_VU: '5' }),
      ],
      cwd,
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.summary!.metrics.xmpp_sessions_opened!.values.count, 10);
    assert.doesNotMatch(r.stdout + r.stderr, /pass10[1-9]/, 'no password in the output');
  });

  /** The login scenario with XMPP_ACCOUNTS_CSV pointing at a file of `text`. */
  async function loginWithCsv(name: string, text: string): Promise<{ csv: string; r: RunResult }> {
    const csv = join(cwd, name);
    await writeFile(csv, text);
    const r = await runCli(
      ['run', resolve('scenarios/login.ts'), '--engine', 'node', ...env({ XMPP_ACCOUNTS_CSV: csv })],
      cwd,
    );
    return { csv, r };
  }

  test('a CSV line that is not user,password fails at init with its line number, never echoing it (exit 107)', async () => {
    const { csv, r } = await loginWithCsv(
      'broken.csv',
      '# user,password\nuser1,pass1\n\nuser2pass2-secret\n',
    );
    assert.equal(r.code, 107, r.stderr + r.stdout);
    assert.match(
      r.stderr,
      new RegExp(`XMPP_ACCOUNTS_CSV ${csv} line 4 has no comma: each line must be user,password`),
    );
    assert.doesNotMatch(
      r.stdout + r.stderr,
      /pass2-secret/,
      'the line (a password, perhaps) is never printed',
    );
  });

  test('a CSV of comments and blank lines fails at init: no account, no run (exit 107)', async () => {
    const { r } = await loginWithCsv('empty.csv', '# user,password\n\n# none yet\n');
    assert.equal(r.code, 107, r.stderr + r.stdout);
    assert.match(
      r.stderr,
      /XMPP_ACCOUNTS_CSV .*empty\.csv holds no account \(4 lines, all blank or comments\)/,
    );
  });

  test('SESSIONS_PER_VU=0 fails at init: a run of no sessions measures nothing (exit 107)', async () => {
    const r = await runCli(
      ['run', resolve('scenarios/chat.ts'), '--engine', 'node', ...env({ SESSIONS_PER_VU: '0' })],
      cwd,
    );
    assert.equal(r.code, 107, r.stderr + r.stdout);
    assert.match(r.stderr, /SESSIONS_PER_VU=0: the run would open no session; use 1 or more/);
  });

  test('a run in which every login fails exits 99 and says why', async () => {
    const r = await runCli(
      [
        'run',
        resolve('scenarios/login.ts'),
        '--engine',
        'node',
        ...env({ XMPP_PASSWORD_PATTERN: 'wrong{n}', VUS: '2', SESSIONS_PER_VU: '3' }),
      ],
      cwd,
    );
    assert.equal(r.code, 99, r.stderr + r.stdout);
    assert.match(r.stdout, /no session logged in: all 6 logins failed \(auth-failed:not-authorized ×6\)/);
    const m = r.summary!.metrics;
    assert.equal(m.xmpp_sessions_opened!.values.count, 0);
    assert.equal(m.xmpp_login_success!.values.rate, 0);
  });

  test('an impossible threshold fails the run with exit 99', async () => {
    const r = await runCli(
      [
        'run',
        resolve('scenarios/login.ts'),
        '--engine',
        'node',
        ...env({ THRESHOLDS: '{"xmpp_session_ready":["p(95)<0"]}' }),
      ],
      cwd,
    );
    assert.equal(r.code, 99, r.stderr + r.stdout);
  });

  test('SIGINT stops the run: sessions close with <close/>, exit 105, summary.json written', async () => {
    const r = await runCli(
      [
        'run',
        resolve('scenarios/idle.ts'),
        '--engine',
        'node',
        ...env({ DURATION: '60s', VUS: '5', SESSIONS_PER_VU: '10' }),
      ],
      cwd,
      (pid) => setTimeout(() => process.kill(pid, 'SIGINT'), 3000),
    );
    assert.equal(r.code, 105, r.stderr);
    assert.match(r.stderr, /stopping: closing sessions/);
    const m = r.summary!.metrics;
    assert.equal(m.xmpp_login_success!.values.rate, 1);
    assert.equal(m.ws_sessions!.values.count, 50);
    assert.equal(m.xmpp_sessions_closed!.values.count, 50, 'every session ended');
    assert.equal(m.xmpp_clean_close!.values.rate, 1, 'every session closed with <close/> and WebSocket 1000');
    assert.ok(r.summary!.state.testRunDurationMs < 20_000, 'the 60 s run stopped early');
  });

  test('a script that throws exits 107', async () => {
    const script = join(cwd, 'throws.js');
    await writeFile(script, "export default function () {}\nthrow new Error('boom in init');\n");
    const r = await runCli(['run', script, '--engine', 'node'], cwd);
    assert.equal(r.code, 107, r.stderr + r.stdout);
    assert.match(r.stderr, /boom in init/);
  });
});
