import type { ServerKind } from './types.ts';

/** The server's Debian package is missing and we could not (or may not) install it. */
export class ServerNotInstalledError extends Error {
  readonly kind: ServerKind;
  readonly installCommand: string;

  constructor(kind: ServerKind, installCommand: string, detail?: string) {
    super(
      `${kind} is not installed${detail ? ` (${detail})` : ''}: install it with \`${installCommand}\`` +
        ' or run starling as root to have it installed',
    );
    this.name = 'ServerNotInstalledError';
    this.kind = kind;
    this.installCommand = installCommand;
  }
}

/** The server process exited or never became ready; the message carries the tail of its logs. */
export class ServerStartError extends Error {
  readonly kind: ServerKind;
  readonly logTail: string;
  /** It could not listen on a port it was given: starting again on other ports may succeed. */
  readonly portInUse: boolean;

  constructor(kind: ServerKind, reason: string, logTail: string, portInUse = false) {
    super(`${kind} failed to start: ${reason}\n${logTail || '(it wrote no log)'}`);
    this.name = 'ServerStartError';
    this.kind = kind;
    this.logTail = logTail;
    this.portInUse = portInUse;
  }
}

/** A process of the server survived SIGKILL (or belongs to a server we cannot verify). */
export class ServerStopError extends Error {
  readonly pids: number[];

  constructor(message: string, pids: number[]) {
    super(message);
    this.name = 'ServerStopError';
    this.pids = pids;
  }
}

/** An option that cannot produce valid accounts or a valid server config. */
export class LocalServerOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalServerOptionError';
  }
}
