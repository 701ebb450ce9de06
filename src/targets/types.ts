import type { LocalCertificateKind } from './tls.ts';

export type ServerKind = 'prosody' | 'ejabberd';

export const SERVER_KINDS: readonly ServerKind[] = ['prosody', 'ejabberd'];

export type ServerLogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * How Prosody stores passwords. `internal_hashed` (the default) stores SCRAM-SHA-1 keys, so every login
 * costs the server PBKDF2 (4096 iterations) even over PLAIN. `internal_plain` stores the password itself:
 * a PLAIN login is a string comparison, for benchmarks that measure the client rather than the hashing.
 */
export type ProsodyAuth = 'internal_hashed' | 'internal_plain';

export const PROSODY_AUTHS: readonly ProsodyAuth[] = ['internal_hashed', 'internal_plain'];

export interface LocalServerOptions {
  kind: ServerKind;
  /** Number of accounts to provision, numbered 1..users. */
  users: number;
  /** Account name pattern; `{n}` is replaced by the account number. Default `user{n}`. */
  userPattern?: string;
  /** Password pattern; `{n}` is replaced by the account number. Default `pass{n}`. */
  passwordPattern?: string;
  /** XMPP domain served. Default `localhost`. */
  domain?: string;
  /** Working directory (config, data, logs). Default: a fresh temp dir. */
  dir?: string;
  /** Keep `dir` when the server stops (for reading its logs). Default: true when `dir` is given, else false. */
  keepDir?: boolean;
  /**
   * Leave the server running when this Node process exits (the CLI's `server up`).
   * Default false: an exit hook kills the server so tests never leak processes.
   */
  persist?: boolean;
  /** Server log level. Default `warn`: per-connection info lines cost the server more than the logins themselves. */
  logLevel?: ServerLogLevel;
  /** How long to wait for the server to accept logins. Default 60 s. */
  startTimeoutMs?: number;
  /** Install the Debian package when missing and running as root. Default true. */
  install?: boolean;
  /**
   * Serve https:// BOSH and wss:// WebSocket (Prosody only) with a certificate from a throwaway CA made in
   * the server's dir; the record's `caFile` is the PEM a run must trust. `true` = 'valid'; 'expired' and
   * 'wrong-hostname' serve a certificate broken in that way (for tests of the client's errors).
   */
  tls?: boolean | LocalCertificateKind;
  /**
   * Prosody only: load these Prosody modules from `dir` with these global options (Lua values written as
   * given). For behaviour Debian's modules do not have, such as redirecting sessions (test/fixtures/prosody).
   */
  prosodyPlugins?: ProsodyPlugins;
  /** Prosody only: the password store (`authentication` option). Default `internal_hashed`. */
  prosodyAuth?: ProsodyAuth;
  /**
   * How long the server keeps a session whose transport broke for a stream management resumption (XEP-0198),
   * seconds: Prosody's smacks_hibernation_time, ejabberd's resume_timeout. Default 300.
   */
  resumeTimeoutSec?: number;
  /**
   * Pin the server to these CPUs (a `taskset -c` list, e.g. `'1'` or `'0-1'`), set when it starts so that an
   * Erlang VM sizes its schedulers to them. Undefined: every CPU this process may use.
   */
  cpus?: string;
}

export interface ProsodyPlugins {
  dir: string;
  modules: string[];
  /** Global options: name → Lua expression, e.g. `'"127.0.0.1:5281"'`. */
  options?: Record<string, string>;
}

export interface Account {
  /** Bare JID, `user17@localhost`. */
  jid: string;
  username: string;
  password: string;
}

/** Everything needed to find and stop a running server later, from another process. */
export interface LocalServerRecord {
  kind: ServerKind;
  domain: string;
  websocketUrl: string;
  boshUrl: string;
  c2sPort: number;
  httpPort: number;
  /** Leader of the server's process group (Prosody's Lua process, ejabberd's beam). */
  pid: number;
  /** Erlang distribution port (ejabberd only; it runs without epmd). */
  distributionPort?: number;
  dir: string;
  keepDir: boolean;
  logFile: string;
  users: number;
  userPattern: string;
  passwordPattern: string;
  startedAt: string;
  /** Milliseconds from start until the server accepted logins with all accounts provisioned. */
  readyMs: number;
  /** With TLS: the throwaway CA's certificate (PEM) that signed the server's certificate. */
  caFile?: string;
  /** With TLS: what the server's certificate is like ('valid' unless a test asked for a broken one). */
  tlsCertificate?: LocalCertificateKind;
}

export interface LocalServer extends Readonly<LocalServerRecord> {
  /** The `n`-th account (1-based), from the user and password patterns. */
  account(n: number): Account;
  /** Stop the server (SIGTERM, then SIGKILL), check no process is left, remove `dir` unless kept. */
  stop(): Promise<void>;
  /** Plain data for a state file; `attachLocalServer` turns it back into a LocalServer. */
  toRecord(): LocalServerRecord;
}
