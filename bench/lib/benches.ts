/**
 * Every bench in bench/, by the name `npm run bench -- <name>` takes (its file is bench/<name>.ts), with the one
 * line `npm run bench -- --list` prints for it and its --help starts with. test/bench/args.test.ts checks that it
 * names every bench file and no other.
 */
export const BENCHES = {
  'collector-ingest': "the collector's ingest rate: snapshots/s and POST latency from a fleet of producers",
  'collector-memory': "the collector's RSS over a long stream of runs (bounded memory, RSS slope per run)",
  'core-session-cost':
    'CPU per session of the XMPP core on ws, without the k6 layer, against a local Prosody',
  instructions:
    'instructions per session of the standard flow under callgrind: starling, k6-raw and the floor, repeatable',
  faults: 'the fault suite at size: chat against failing servers, one row per fault and transport',
  'raw-ws-flow':
    'the floor of standard-flow: the flow in plain Node on ws (standard-flow builds and runs it)',
  'standard-flow': 'the standard flow: starling against Tsung and the raw floor, CPU and RSS per session',
  startup: 'CPU and RSS of the starling command before it does any work (--help, run to 1st connection)',
  'tap-latency': "the tap's added latency per frame, against a direct connection and a bare ws relay",
} as const satisfies Record<string, string>;

export type BenchName = keyof typeof BENCHES;

export const BENCH_NAMES = Object.keys(BENCHES) as BenchName[];
