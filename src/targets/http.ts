import { Agent, request as httpRequestRaw } from 'node:http';
import { request as httpsRequestRaw } from 'node:https';
import WebSocket from 'ws';

/** TLS trust for probes of https:// and wss:// URLs. */
export interface ProbeTls {
  /** PEM of extra CA certificates to trust. */
  ca?: string | Buffer;
  /** false: do not verify the certificate (probing a server whose certificate is broken on purpose). */
  verify?: boolean;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  agent?: Agent;
  /** Abort when no response arrived in time; 0 waits forever (bulk imports). */
  timeoutMs?: number;
  tls?: ProbeTls;
}

export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const https = url.startsWith('https:');
    const request = https ? httpsRequestRaw : httpRequestRaw;
    const req = request(
      url,
      {
        ...(https ? tlsOptions(options.tls) : {}),
        method: options.method ?? 'GET',
        // One-off probes must not leave keep-alive sockets open to a server we may stop next.
        agent: options.agent ?? false,
        headers: { ...options.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    const timeoutMs = options.timeoutMs ?? 5000;
    if (timeoutMs > 0) {
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response from ${url} in ${timeoutMs} ms`)));
    }
    req.on('error', reject);
    req.end(body);
  });
}

export function postJson(
  url: string,
  payload: unknown,
  options: HttpRequestOptions = {},
): Promise<HttpResponse> {
  return httpRequest(url, {
    ...options,
    method: 'POST',
    body: JSON.stringify(payload),
    headers: { 'content-type': 'application/json' },
  });
}

/**
 * Opens a WebSocket offering subprotocol `xmpp` and closes it at once; resolves with the
 * subprotocol the server echoed ('' when none). RFC 7395 servers must echo `xmpp`.
 */
export function websocketHandshake(url: string, timeoutMs = 5000, tls?: ProbeTls): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'xmpp', { handshakeTimeout: timeoutMs, ...tlsOptions(tls) });
    ws.once('open', () => {
      resolve(ws.protocol);
      ws.close(1000);
      // Do not wait for a server that never answers the close frame.
      setTimeout(() => ws.terminate(), 1000).unref();
    });
    ws.once('error', (err) => {
      ws.terminate();
      reject(err);
    });
  });
}

function tlsOptions(tls: ProbeTls | undefined): { ca?: string | Buffer; rejectUnauthorized?: boolean } {
  if (!tls) return {};
  return { ...(tls.ca ? { ca: tls.ca } : {}), rejectUnauthorized: tls.verify !== false };
}
