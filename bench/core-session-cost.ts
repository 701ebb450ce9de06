/**
 * What the XMPP core costs without the k6 layer: the flow of the former idle comparison against Tsung (log in
 * at 100/s with SASL PLAIN, three pings, close) written directly against `ws` and src/xmpp through src/node, at
 * two sizes against one throwaway Prosody. The difference from the Node engine's figure is what the k6 emulation
 * (VU contexts, k6/websockets, metrics) costs per session.
 *
 *   npm run bench -- core-session-cost [--sessions 1200]
 */
import { openWebSocketSession } from '../src/node/websocket-session.ts';
import type { LocalServer } from '../src/targets/index.ts';
import { benchArgs, BenchArgError, flag } from './lib/args.ts';
import { withLocalServer } from './lib/processes.ts';

const args = benchArgs({
  name: 'core-session-cost',
  flags: {
    sessions: flag.custom({
      help: 'sessions of the large size; the small one is a quarter of it',
      value: 'N',
      default: '1200',
      parse: (name, raw) => {
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 4 || n % 4 !== 0)
          throw new BenchArgError(`--${name}`, 'must be a whole multiple of 4, at least 4', raw);
        return n;
      },
    }),
  },
});
const N = args.sessions;

/** CPU seconds this process spends on `n` sessions, start-up excluded. */
async function cpuFor(server: LocalServer, n: number): Promise<number> {
  const c0 = process.cpuUsage();
  const starts: Promise<ReturnType<typeof openWebSocketSession>['session']>[] = [];
  for (let i = 1; i <= n; i++) {
    const acct = server.account(i);
    const { session } = openWebSocketSession({
      url: server.websocketUrl,
      domain: server.domain,
      credentials: { username: acct.username, password: acct.password },
      mechanisms: ['PLAIN'],
    });
    starts.push(session.start().then(() => session));
    if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1000)); // 100 logins/s
  }
  const ready = await Promise.all(starts);
  for (let k = 0; k < 3; k++) await Promise.all(ready.map((s) => s.ping()));
  const ends = await Promise.all(ready.map((s) => s.close()));
  if (ends.some((e) => !e.clean)) throw new Error('a session did not close cleanly');
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

await withLocalServer({ kind: 'prosody', users: N }, async (server) => {
  const small = await cpuFor(server, N / 4);
  const large = await cpuFor(server, N);
  console.log(
    `XMPP core over ws, no k6 layer: ${N / 4} sessions ${small.toFixed(2)} s CPU, ${N} sessions ${large.toFixed(2)} s`,
  );
  console.log(`per additional session: ${((1000 * (large - small)) / (N - N / 4)).toFixed(2)} ms CPU`);
});
