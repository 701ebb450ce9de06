/**
 * Credentials never leave a run: the account passwords, a password in the endpoint URL and the collector token
 * appear in none of the run's outputs (stdout, stderr, every file it writes, the collector's results and
 * /metrics) — while the run really used each of them. Against real Prosody, over BOSH (a ws:// URL cannot
 * carry userinfo: gorilla refuses it).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCollector, type Collector } from '../../src/collector/server.ts';
import { startLocalServer, type LocalServer } from '../../src/targets/index.ts';
import { envArgs, runStarling } from '../helpers/cli.ts';

const PASSWORDS = (n: number): string => `Zq${n}-acct-secret`;
const URL_PASSWORD = 'Url-Pw-77x';
const TOKEN = 'tok-5e3c-never-printed';

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

describe('credentials never appear in what a run prints or stores', () => {
  let server: LocalServer;
  let collector: Collector;
  let tmp: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'starling-credentials-'));
    server = await startLocalServer({ kind: 'prosody', users: 6, passwordPattern: 'Zq{n}-acct-secret' });
    collector = await startCollector({
      port: 0,
      token: TOKEN,
      resultsRoot: join(tmp, 'collected'),
      autoFinishMs: 0,
    });
  });

  after(async () => {
    await collector?.close();
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  test('passwords from a CSV, a URL password and a token exported in the shell: used, and nowhere in the outputs', async () => {
    const csv = join(tmp, 'accounts.csv');
    const lines = Array.from({ length: 6 }, (_, i) => `user${i + 1},${PASSWORDS(i + 1)}`);
    await writeFile(csv, `# user,password\n${lines.join('\n')}\n`);
    const url = server.boshUrl.replace('http://', `http://loadtester:${URL_PASSWORD}@`);
    const results = join(tmp, 'results');
    const r = await runStarling(
      [
        'run',
        'chat',
        '--engine',
        'node',
        '--target',
        url,
        '--results-root',
        results,
        '--out',
        `json=${join(results, 'samples.json')}`,
        ...envArgs({
          XMPP_ACCOUNTS_CSV: csv,
          XMPP_DOMAIN: server.domain,
          VUS: '2',
          SESSIONS_PER_VU: '3',
          DURATION: '2s',
          MESSAGE_RATE: '2',
          STARLING_RUN_ID: 'credentials-1',
        }),
      ],
      // The collector's address and token come from the shell, as an operator exports them (k6 reads them too).
      { env: { ...process.env, STARLING_COLLECTOR_URL: collector.url, STARLING_COLLECTOR_TOKEN: TOKEN } },
    );
    assert.equal(r.code, 0, r.output);

    // They were used: every CSV account logged in through the URL with userinfo, and the collector took the token.
    const [runDir] = (await readdir(results)).filter((d) => d !== 'samples.json');
    const summary = JSON.parse(await readFile(join(results, runDir!, 'summary.json'), 'utf8')) as {
      metrics: Record<string, { values: Record<string, number> }>;
    };
    assert.equal(summary.metrics.xmpp_sessions_opened!.values.count, 6);
    assert.equal(summary.metrics.starling_collector_lost?.values.count ?? 0, 0);
    const metricsText = await (await fetch(`${collector.url}/metrics`)).text();
    assert.match(metricsText, /starling_xmpp_sessions_opened_total\{[^}]*run_id="credentials-1"[^}]*\} 6/);
    await collector.finish('credentials-1');

    const secrets = [...Array.from({ length: 6 }, (_, i) => PASSWORDS(i + 1)), URL_PASSWORD, TOKEN];
    const outputs: [string, string][] = [
      ['stdout', r.stdout],
      ['stderr', r.stderr],
      ['/metrics', metricsText],
    ];
    for (const f of [...(await filesUnder(results)), ...(await filesUnder(join(tmp, 'collected')))])
      outputs.push([f, await readFile(f, 'latin1')]);
    assert.ok(outputs.length >= 8, outputs.map(([n]) => n).join(', '));
    const leaks = outputs.flatMap(([name, text]) =>
      secrets.filter((s) => text.includes(s)).map((s) => `${s} in ${name}`),
    );
    assert.deepEqual(leaks, []);
    // The URL is still there for the record, its password masked as Go masks it.
    const run = await readFile(join(results, runDir!, 'run.json'), 'utf8');
    assert.match(run, /http:\/\/loadtester:\*\*\*@127\.0\.0\.1:\d+\/http-bind/);
  });
});
