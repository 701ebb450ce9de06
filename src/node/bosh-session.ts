/** Runs an XmppSession over BOSH with Node's fetch (keep-alive by default): for tests, tools and the CLI, not k6. */
import { Agent, request } from 'node:https';
import { BoshTransport, creationTimeout, type BoshOptions } from '../xmpp/bosh.ts';
import { XmppSession, type SessionOptions } from '../xmpp/session.ts';
import { nodeClock } from './clock.ts';
import { nodeCrypto } from './crypto.ts';
import { withDefaultRoots } from './websocket-session.ts';

export type BoshSessionOptions = Omit<SessionOptions, 'transport' | 'clock' | 'crypto'> &
  Partial<Pick<SessionOptions, 'clock' | 'crypto'>> &
  Pick<BoshOptions, 'wait' | 'hold' | 'httpTimeoutMs' | 'maxRetries' | 'onRetry' | 'orderGapMs'> & {
    url: string;
    /** Replaces the fetch-based POST (tests record or corrupt the wire with it). */
    post?: BoshOptions['post'];
    /** Extra CA certificates (PEM) to trust for https://, besides Node's roots: e.g. a local server's `caFile` content. */
    ca?: string | Buffer;
    /** false: no certificate verification (a test of a broken certificate). Default true. */
    verifyTls?: boolean;
  };

export interface BoshSession {
  session: XmppSession;
  bosh: BoshTransport;
}

/** POSTs a BOSH body with fetch; network failures and timeouts come back as status 0, as k6/http reports them. */
export function fetchPost(url: string): BoshOptions['post'] {
  return async (body, timeoutMs) => {
    try {
      const res = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'text/xml; charset=utf-8' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: res.status, body: await res.text() };
    } catch (e) {
      const err = e as Error & { cause?: Error };
      const text = err.name === 'TimeoutError' ? 'request timeout' : (err.cause?.message ?? err.message);
      return { status: 0, body: '', error: text };
    }
  };
}

/**
 * POSTs a BOSH body with node:https and its own keep-alive agent (fetch cannot be given a CA without undici):
 * for https:// servers with a private CA, or with verification off. Failures come back as status 0.
 */
export function httpsPost(url: string, tls: { ca?: string | Buffer; verify?: boolean }): BoshOptions['post'] {
  const agent = new Agent({
    keepAlive: true,
    ...(tls.ca !== undefined ? { ca: withDefaultRoots(tls.ca) } : {}),
    rejectUnauthorized: tls.verify !== false,
  });
  return (body, timeoutMs) =>
    new Promise((resolve) => {
      const payload = Buffer.from(body);
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': String(payload.length) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
          res.on('error', (err) => resolve({ status: 0, body: '', error: err.message }));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error('request timeout')));
      req.on('error', (err) => resolve({ status: 0, body: '', error: err.message }));
      req.end(payload);
    });
}

export function openBoshSession(o: BoshSessionOptions): BoshSession {
  const clock = o.clock ?? nodeClock;
  const crypto = o.crypto ?? nodeCrypto;
  const bosh = new BoshTransport({
    domain: o.domain,
    lang: o.lang,
    post:
      o.post ??
      (o.ca !== undefined || o.verifyTls === false
        ? httpsPost(o.url, { ca: o.ca, verify: o.verifyTls })
        : fetchPost(o.url)),
    clock,
    crypto,
    wait: o.wait,
    hold: o.hold,
    httpTimeoutMs: o.httpTimeoutMs,
    createTimeoutMs: creationTimeout(o.timeouts),
    maxRetries: o.maxRetries,
    onRetry: o.onRetry,
    orderGapMs: o.orderGapMs,
  });
  const session = new XmppSession({
    ...o,
    clock,
    crypto,
    transport: { send: (frame) => bosh.send(frame), close: () => bosh.close() },
  });
  bosh.start(session);
  return { session, bosh };
}
