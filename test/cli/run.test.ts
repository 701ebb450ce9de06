/** `starling run` with the Node engine, as a user runs it: __ENV, run.json, summary.json, limits, no passwords shown. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { parseByteLimit } from '../../src/cli/run.ts';
import { redactEnv } from '../../src/xmpp/redact.ts';
import { includeSystemEnv, RunInputError } from '../../src/cli/run-target.ts';
import { envArgs, runStarling, type CliResult } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

let dir = '';
let base = '';
/** Every Authorization header the server saw. */
const auth: string[] = [];
const server = createServer((req, res) => {
  auth.push(req.headers.authorization ?? '');
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/bytes') res.end(Buffer.alloc(Number(url.searchParams.get('n')), 'b'));
  else if (url.pathname === '/missing') res.writeHead(404).end('no');
  else res.end('ok');
});
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => ws.send('m'.repeat(2000)));

before(async () => {
  dir = await tempDir('starling-run-');
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  for (const c of wss.clients) c.terminate();
  server.closeAllConnections();
  server.close();
});

interface Run extends CliResult {
  runJson: Record<string, unknown>;
  summaryJson: string;
  runJsonText: string;
  reportHtml: string;
}

let scripts = 0;

/** Writes `code` as a k6 script and runs it with `starling run`; returns what it printed and wrote. */
async function starlingRun(
  code: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Run> {
  const n = ++scripts;
  const script = join(dir, `s${n}.js`);
  await writeFile(script, code);
  const root = join(dir, `results-${n}`);
  const r = await runStarling(['run', script, '--engine', 'node', '--results-root', root, ...args], { env });
  const [runDir] = await readdir(root);
  const runJsonText = await readFile(join(root, runDir!, 'run.json'), 'utf8');
  const summaryJson = await readFile(join(root, runDir!, 'summary.json'), 'utf8');
  const reportHtml = await readFile(join(root, runDir!, 'report.html'), 'utf8');
  return {
    ...r,
    runJsonText,
    runJson: JSON.parse(runJsonText) as Record<string, unknown>,
    summaryJson,
    reportHtml,
  };
}

/** The script's console lines (INFO), without their time stamps. */
function infoLines(output: string): string[] {
  return output.split('\n').flatMap((l) => {
    const m = /^INFO\[\d+\] \[VU \d+\] (.*)$/.exec(l);
    return m ? [m[1]!] : [];
  });
}

const ONE_ITERATION = `export const options = { iterations: 1 };`;

describe('starling run: __ENV', () => {
  test("the shell's environment reaches __ENV under the -e pairs (-e wins); run.json records only -e, masked", async () => {
    const r = await starlingRun(
      `${ONE_ITERATION}
      export default function () {
        console.log(JSON.stringify([__ENV.STARLING_T_SHELL, __ENV.STARLING_T_BOTH, __ENV.XMPP_URL]));
      }`,
      envArgs({
        STARLING_T_BOTH: 'from -e',
        XMPP_URL: 'http://alice:s3cret@127.0.0.1:1/http-bind',
        XMPP_PASSWORD_PATTERN: 'pw{n}',
      }),
      { ...process.env, STARLING_T_SHELL: 'from the shell', STARLING_T_BOTH: 'from the shell' },
    );
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(infoLines(r.stderr), [
      JSON.stringify(['from the shell', 'from -e', 'http://alice:s3cret@127.0.0.1:1/http-bind']),
    ]);
    assert.deepEqual(r.runJson.env, {
      STARLING_T_BOTH: 'from -e',
      XMPP_URL: 'http://alice:***@127.0.0.1:1/http-bind',
      XMPP_PASSWORD_PATTERN: '[redacted]',
    });
  });

  test("--include-system-env-vars=false, or K6_INCLUDE_SYSTEM_ENV_VARS=false, keeps the shell's environment out", async () => {
    const code = `${ONE_ITERATION}
      export default function () { console.log(String(__ENV.STARLING_T_SHELL)); }`;
    const shell = { ...process.env, STARLING_T_SHELL: 'from the shell' };
    const byFlag = await starlingRun(code, ['--include-system-env-vars=false'], shell);
    const byEnv = await starlingRun(code, [], { ...shell, K6_INCLUDE_SYSTEM_ENV_VARS: 'false' });
    const flagWins = await starlingRun(code, ['--include-system-env-vars'], {
      ...shell,
      K6_INCLUDE_SYSTEM_ENV_VARS: 'false',
    });
    assert.deepEqual(infoLines(byFlag.stderr), ['undefined']);
    assert.deepEqual(infoLines(byEnv.stderr), ['undefined']);
    assert.deepEqual(infoLines(flagWins.stderr), ['from the shell']);
  });

  test('whether to include it: the flag, else K6_INCLUDE_SYSTEM_ENV_VARS as Go parses booleans, else true', () => {
    assert.equal(includeSystemEnv(undefined, {}), true);
    assert.equal(includeSystemEnv(false, { K6_INCLUDE_SYSTEM_ENV_VARS: 'true' }), false);
    assert.equal(includeSystemEnv(undefined, { K6_INCLUDE_SYSTEM_ENV_VARS: '0' }), false);
    assert.equal(includeSystemEnv(undefined, { K6_INCLUDE_SYSTEM_ENV_VARS: 'T' }), true);
    assert.throws(
      () => includeSystemEnv(undefined, { K6_INCLUDE_SYSTEM_ENV_VARS: 'yes' }),
      (e: unknown) =>
        e instanceof RunInputError &&
        e.message ===
          `env var 'K6_INCLUDE_SYSTEM_ENV_VARS' is not a valid boolean value: strconv.ParseBool: parsing "yes": invalid syntax`,
    );
  });
});

describe('starling run: run.json and summary.json tell the truth', () => {
  test("thresholds crossed at the end: exit 99 in run.json too, with k6's error", async () => {
    const r = await starlingRun(`
      export const options = { iterations: 1, thresholds: { iterations: ['count>5'] } };
      export default function () {}`);
    assert.equal(r.code, 99);
    assert.equal(r.runJson.exitCode, 99);
    assert.equal(r.runJson.error, "thresholds on metrics 'iterations' have been crossed");
    assert.match(r.stderr, /^starling: thresholds on metrics 'iterations' have been crossed$/m);
    const summary = JSON.parse(r.summaryJson) as { metrics: Record<string, { thresholds?: unknown }> };
    assert.deepEqual(summary.metrics.iterations!.thresholds, { 'count>5': { ok: false } });
  });

  const early: [string, string, number, string][] = [
    [
      'an init error',
      `throw new Error('no endpoint at http://alice:s3cret@127.0.0.1:1/x');
       export default function () {}`,
      107,
      'Error: no endpoint at http://alice:***@127.0.0.1:1/x\n',
    ],
    [
      'invalid options',
      `export const options = { scenarios: { s: { executor: 'nope' } } };
       export default function () {}`,
      104,
      "There were problems with the specified script configuration:\n\t- unknown executor type 'nope'",
    ],
    [
      'a threshold on no metric',
      `export const options = { iterations: 1, thresholds: { nosuch: ['p(95)<1'] } };
       export default function () {}`,
      104,
      'invalid threshold defined on nosuch; reason: no metric name "nosuch" found',
    ],
    [
      'a setup() error',
      `${ONE_ITERATION}
       export function setup() { throw new Error('setup failed at http://alice:s3cret@127.0.0.1:1/'); }
       export default function () { console.log('iteration'); }`,
      107,
      'Error: setup failed at http://alice:***@127.0.0.1:1/\n',
    ],
  ];
  for (const [what, code, exitCode, error] of early) {
    test(`${what}: exit ${exitCode}, and run.json and summary.json are written all the same`, async () => {
      const r = await starlingRun(code, envArgs({ XMPP_URL: 'ws://bob:hunter2@127.0.0.1:1/ws' }));
      assert.equal(r.code, exitCode, r.output);
      assert.deepEqual(Object.keys(r.runJson), ['runId', 'script', 'env', 'exitCode', 'error']);
      assert.equal(r.runJson.exitCode, exitCode);
      assert.deepEqual(r.runJson.env, { XMPP_URL: 'ws://bob:***@127.0.0.1:1/ws' });
      const text = r.runJson.error as string;
      assert.ok(error.endsWith('\n') ? text.startsWith(error) : text === error, text);
      assert.deepEqual(JSON.parse(r.summaryJson).metrics, {});
      assert.deepEqual(infoLines(r.stderr), [], 'no iteration ran');
      assert.doesNotMatch(r.output + r.runJsonText + r.summaryJson, /s3cret|hunter2/);
    });
  }
});

describe('starling run: credentials', () => {
  test('a password in a URL appears in none of stdout, stderr, run.json, summary.json, --out json', async () => {
    const out = join(dir, 'credentials.json');
    const r = await starlingRun(
      `${ONE_ITERATION}
      import http from 'k6/http';
      export default async function () {
        const url = __ENV.BOSH_URL;
        await http.asyncRequest('POST', url + '/ok', '<body/>');
        await http.asyncRequest('GET', url + '/missing');
        await http.asyncRequest('GET', 'http://alice:s3cret@127.0.0.1:1/refused');
        const big = await http.asyncRequest('GET', url + '/bytes?n=2000');
        if (big.status === 0) await http.asyncRequest('GET', 'http://alice:s3cret@127.0.0.1:1/again', null, { throw: true });
      }`,
      [
        ...envArgs({ BOSH_URL: `http://alice:s3cret@${base}` }),
        '--max-response-body',
        '1000',
        '--out',
        `json=${out}`,
      ],
    );
    assert.equal(r.code, 0, r.output);
    // The requests did carry the credentials, and every failure was reported.
    assert.equal(
      auth.filter((a) => a === `Basic ${Buffer.from('alice:s3cret').toString('base64')}`).length,
      3,
    );
    assert.match(
      r.stderr,
      /WARN.*Request Failed error="Get \\"http:\/\/alice:\*\*\*@127\.0\.0\.1:1\/refused\\"/,
    );
    assert.match(r.stderr, /ERRO.*GoError: Get "http:\/\/alice:\*\*\*@127\.0\.0\.1:1\/again": dial tcp/);
    assert.match(r.stdout, /http_req_failed/);
    for (const [where, text] of [
      ['stdout', r.stdout],
      ['stderr', r.stderr],
      ['run.json', r.runJsonText],
      ['summary.json', r.summaryJson],
      ['report.html', r.reportHtml],
      ['--out json', await readFile(out, 'utf8')],
    ] as const) {
      assert.doesNotMatch(text, /s3cret/, `${where} shows the password`);
    }
  });

  test('run.json env: names that say password, secret or token are redacted, URL passwords masked', () => {
    assert.deepEqual(
      redactEnv({
        XMPP_URL: 'wss://u:p@x/ws',
        STARLING_COLLECTOR_TOKEN: 't',
        DB_SECRET: 's',
        XMPP_DOMAIN: 'example.org',
        USER_PATTERN: 'user{n}',
      }),
      {
        XMPP_URL: 'wss://u:***@x/ws',
        STARLING_COLLECTOR_TOKEN: '[redacted]',
        DB_SECRET: '[redacted]',
        XMPP_DOMAIN: 'example.org',
        USER_PATTERN: 'user{n}',
      },
    );
  });
});

describe('starling run: the engine limits', () => {
  test('--max-ws-message and --max-response-body reach the engine', async () => {
    const r = await starlingRun(
      `${ONE_ITERATION}
      import http from 'k6/http';
      import { WebSocket } from 'k6/websockets';
      export default async function () {
        const res = await http.asyncRequest('GET', 'http://${base}/bytes?n=2000');
        console.log(res.status + ' ' + res.error);
        const ws = new WebSocket('ws://${base}/');
        ws.onerror = (e) => console.log(e.error);
        ws.onclose = (e) => console.log('close ' + e.code);
      }`,
      ['--max-ws-message', '1KiB', '--max-response-body', '1000'],
    );
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(infoLines(r.stderr), [
      "0 response body larger than 1000 bytes (Content-Length 2000), the Node engine's limit for one response body " +
        '(a safety limit, k6 has none): raise it with starling run --max-response-body <bytes>',
      "websocket: message larger than 1024 bytes, the Node engine's limit for one WebSocket message " +
        '(a safety limit, k6 has none): raise it with starling run --max-ws-message <bytes>',
      'close 1009',
    ]);
  });

  test('a limit is a size from 1 B to 2 GiB − 1 B; anything else is refused naming the flag', async () => {
    assert.equal(parseByteLimit('max-ws-message', undefined), undefined);
    assert.equal(parseByteLimit('max-ws-message', '4MiB'), 4 * 1024 * 1024);
    assert.equal(parseByteLimit('max-response-body', '1048576'), 1048576);
    assert.throws(
      () => parseByteLimit('max-response-body', '2GiB'),
      (e: unknown) =>
        e instanceof RunInputError &&
        e.message === '--max-response-body 2GiB: at most 2147483647 bytes (2 GiB − 1)',
    );
    const script = join(dir, 'limits.js');
    await writeFile(script, 'export default function () {}');
    const r = await runStarling(['run', script, '--engine', 'node', '--max-ws-message', '0']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "starling: --max-ws-message expects a size such as 4194304, 512KiB or 4MiB, got '0'\n",
    );
  });
});
