/** The k6 WebSocket transport (src/k6/websocket.ts) in the engine: a throwing session handler ends as client-error. */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { buildScenarios } from '../../src/build/scenarios.ts';
import { runScriptText } from '../helpers/engine-run.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** `source` (TypeScript importing src/k6) bundled as the scenarios are, as k6 script text. */
async function bundled(source: string): Promise<string> {
  const dir = await tempDir('starling-transport-');
  await writeFile(join(dir, 'script.ts'), source);
  await buildScenarios([join(dir, 'script.ts')], join(dir, 'out'));
  return readFile(join(dir, 'out', 'script.js'), 'utf8');
}

test('an exception in the session while handling a frame fails it as client-error, and later events still arrive', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'xmpp' });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => {
    ws.send('<first/>');
    ws.on('message', () => ws.close(1000));
  });
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
  const transport = resolve('src/k6/websocket.ts');
  try {
    const script = await bundled(`
      import { webSocketTransport } from ${JSON.stringify(transport)};
      export default async function () {
        const t = webSocketTransport(${JSON.stringify(url)});
        await new Promise<void>((done) => {
          t.start({
            timings: { connected: 1 },
            transportOpened(p: string) { console.log('opened ' + p); },
            transportFrame(f: string) { throw new Error('boom on ' + f); },
            transportFailed(e: { reason: string; message: string }) {
              console.log('failed ' + e.reason + ': ' + e.message.split('\\n')[0]);
              t.send('<bye/>');
            },
            transportError(text: string) { console.log('error ' + text); },
            transportClosed(code: number) { console.log('closed ' + code); done(); },
          } as never);
        });
      }
    `);
    const { outcome, lines } = await runScriptText(script);
    const msgs = lines.flatMap((l) => /\[VU 1\] (.*)$/.exec(l)?.slice(1) ?? []);
    assert.deepEqual(msgs, [
      'opened xmpp',
      'failed client-error: starling failed handling a WebSocket event: Error: boom on <first/>',
      'closed 1000',
    ]);
    assert.equal(outcome.exitCode, 0);
  } finally {
    wss.close();
  }
});
