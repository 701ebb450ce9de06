import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Where outgoing connections get their local ports, from the kernel; Linux's default when unreadable. */
export function ephemeralPortRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] {
  try {
    const [low, high] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return [low!, high!];
  } catch {
    // not Linux, or /proc not mounted
  }
  return [32768, 60999];
}

/** Lowest port handed out: above the usual fixed service ports (Prometheus 9090, Grafana 3000, …). */
const LOWEST_SERVER_PORT = 10000;
/** Fewer free ports than this below the ephemeral range: let the kernel pick instead. */
const MIN_SERVER_RANGE = 1000;
const MAX_PICKS = 200;

/**
 * `count` distinct free TCP ports on 127.0.0.1 for a server to bind, below the kernel's ephemeral
 * range. A port inside that range can be taken between this check and the server's bind by any
 * outgoing connection (a load run's thousands of sockets), or by a readiness probe that connects to
 * it before the server listens and gets the same port as its own source (a TCP self-connect): the
 * server then cannot listen and never becomes ready. All are held open together so no two are the
 * same, then released for the server to bind.
 */
export async function freePorts(count: number, range = ephemeralPortRange()): Promise<number[]> {
  const [ephemeralLow] = range;
  const span = ephemeralLow - LOWEST_SERVER_PORT;
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let picks = 0; ports.length < count; picks++) {
      // Too few ports outside the ephemeral range, or too many taken: the kernel's choice (port 0).
      const wanted = span >= MIN_SERVER_RANGE && picks < MAX_PICKS ? LOWEST_SERVER_PORT + randomInt(span) : 0;
      if (ports.includes(wanted)) continue;
      const server = createServer();
      servers.push(server); // closed in the end whether it listened or not
      const port = await new Promise<number | undefined>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          err.code === 'EADDRINUSE' && wanted !== 0 ? resolve(undefined) : reject(err),
        );
        server.listen(wanted, LOOPBACK, () => {
          const address = server.address();
          resolve(address !== null && typeof address !== 'string' ? address.port : undefined);
        });
      });
      if (port !== undefined) ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function isPortOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
