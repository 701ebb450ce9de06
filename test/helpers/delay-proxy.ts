/**
 * A TCP relay on 127.0.0.1 that holds every chunk it reads for a fixed delay before passing it on, both ways and
 * in order: a slower network (or server) of known size, in front of a real one. At a light load each chunk is one
 * WebSocket frame (or the HTTP upgrade), so a WebSocket round trip gains twice the delay.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface DelayProxy {
  /** The port to connect to instead of the upstream's. */
  port: number;
  /** Chunks relayed so far, both directions. */
  chunks(): number;
  close(): Promise<void>;
}

export async function startDelayProxy(upstreamPort: number, delayMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  let chunks = 0;
  // Timers of one duration fire in the order they were set, so a fixed delay keeps each direction in order.
  const relay = (from: Socket, to: Socket): void => {
    from.on('data', (chunk) => {
      chunks++;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, delayMs);
    });
    let ended = false;
    from.on('end', () => {
      ended = true;
      setTimeout(() => to.end(), delayMs);
    });
    from.on('error', () => to.destroy());
    // A side that went away without a clean end takes the other with it (after what it sent before).
    from.on('close', () => {
      if (!ended) setTimeout(() => to.destroy(), delayMs);
    });
  };
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('delay proxy: no TCP address');
  return {
    port: address.port,
    chunks: () => chunks,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
