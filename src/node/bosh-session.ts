/** Runs an XmppSession over BOSH with Node's fetch (keep-alive by default): for tests, tools and the CLI, not k6. */
import { BoshTransport, type BoshOptions } from '../xmpp/bosh.ts';
import { XmppSession, type SessionOptions } from '../xmpp/session.ts';
import { nodeClock } from './clock.ts';
import { nodeCrypto } from './crypto.ts';

export type BoshSessionOptions = Omit<SessionOptions, 'transport' | 'clock' | 'crypto'> &
  Partial<Pick<SessionOptions, 'clock' | 'crypto'>> &
  Pick<BoshOptions, 'wait' | 'hold' | 'httpTimeoutMs' | 'maxRetries' | 'onRetry' | 'orderGapMs'> & {
    url: string;
    /** Replaces the fetch-based POST (tests record or corrupt the wire with it). */
    post?: BoshOptions['post'];
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

export function openBoshSession(o: BoshSessionOptions): BoshSession {
  const clock = o.clock ?? nodeClock;
  const crypto = o.crypto ?? nodeCrypto;
  const bosh = new BoshTransport({
    domain: o.domain,
    lang: o.lang,
    post: o.post ?? fetchPost(o.url),
    clock,
    crypto,
    wait: o.wait,
    hold: o.hold,
    httpTimeoutMs: o.httpTimeoutMs,
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
