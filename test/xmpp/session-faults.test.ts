/** Session behaviour against a purpose-built misbehaving server (real WebSocket, loopback). */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, test } from 'node:test';
import { openWebSocketSession } from '../../src/node/websocket-session.ts';
import {
  FEATURES_BIND,
  FRAMING,
  loginThen,
  openThenFeatures,
  SERVER_OPEN,
  startFakeServer,
  type FakeServer,
} from '../helpers/fake-server.ts';
import { failureOf } from '../helpers/xmpp-assert.ts';

const credentials = { username: 'alice', password: 's3cret-pw' };
const fast = { connect: 500, open: 300, auth: 300, bind: 300, iq: 300, close: 300 };

const servers: FakeServer[] = [];
async function server(...args: Parameters<typeof startFakeServer>): Promise<FakeServer> {
  const s = await startFakeServer(...args);
  servers.push(s);
  return s;
}
after(async () => {
  for (const s of servers) await s.close();
});

function open(url: string, timeouts = fast) {
  return openWebSocketSession({ url, domain: 'localhost', credentials, timeouts });
}

describe('session against a misbehaving server', () => {
  test('a handshake without the xmpp subprotocol fails as subprotocol-missing and the socket is closed', async () => {
    const s = await server({ subprotocol: false });
    const { session, socket } = open(s.url);
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'subprotocol-missing');
    assert.match(err.message, /without the 'xmpp' subprotocol/);
    const end = await session.closed;
    assert.equal(end.clean, false);
    assert.equal(end.error?.reason, 'subprotocol-missing');
    assert.equal(socket.readyState, socket.CLOSED);
    assert.deepEqual(
      s.connections.flatMap((c) => c.received),
      [],
      'no XMPP frame is sent',
    );
  });

  test('a malformed frame is a framing violation; the client sends not-well-formed, <close/>, then closes 1000', async () => {
    const s2 = await server({
      onFrame: (conn, _f, n) => {
        if (n === 0) {
          conn.ws.send(SERVER_OPEN);
          conn.ws.send("<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms");
        }
      },
    });
    const { session } = open(s2.url);
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'framing-violation:truncated');
    const end = await session.closed;
    const conn = s2.connections[0]!;
    assert.equal(conn.received.length, 3);
    assert.match(conn.received[0]!, /^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost'/);
    assert.equal(
      conn.received[1],
      "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    );
    assert.equal(conn.received[2], `<close xmlns='${FRAMING}'/>`);
    assert.equal(await conn.closeCode, 1000);
    assert.equal(end.clean, false);
    assert.equal(end.initiator, 'client');
  });

  test('two top-level elements in one frame are a framing violation (multiple-roots)', async () => {
    const s = await server({
      onFrame: openThenFeatures((conn, frame) => {
        if (frame.startsWith('<auth'))
          conn.ws.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><x/>");
      }),
    });
    const { session } = open(s.url);
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'framing-violation:multiple-roots');
    assert.equal((await session.closed).error?.reason, 'framing-violation:multiple-roots');
  });

  test('a pre-RFC 7395 <stream:stream> answer is a framing violation naming the draft framing', async () => {
    const s = await server({
      onFrame: (conn, _f, n) => {
        if (n === 0)
          conn.ws.send(
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'/>",
          );
      },
    });
    const err = await failureOf(open(s.url).session.start());
    assert.equal(err.reason, 'framing-violation:expected-open');
    assert.match(err.message, /pre-RFC 7395 <stream:stream>/);
  });

  test('an <open> without the framing namespace is a framing violation', async () => {
    const s = await server({
      onFrame: (conn, _f, n) => {
        if (n === 0) conn.ws.send("<open from='localhost' id='x' version='1.0'/>");
      },
    });
    const err = await failureOf(open(s.url).session.start());
    assert.equal(err.reason, 'framing-violation:expected-open');
  });

  test('a binary WebSocket message is refused as a transport error', async () => {
    const s = await server({ onFrame: (conn) => conn.ws.send(Buffer.from(SERVER_OPEN)) });
    const err = await failureOf(open(s.url).session.start());
    assert.equal(err.reason, 'transport-error');
    assert.match(err.message, /RFC 7395 requires text frames/);
  });

  test('a server that never answers <open/> trips timeout:open, and the session still ends', async () => {
    const s = await server({});
    const { session } = open(s.url);
    const t0 = Date.now();
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'timeout:open');
    const end = await session.closed;
    assert.ok(Date.now() - t0 < 2000, 'open timeout + close timeout, nothing more');
    assert.equal(end.error?.reason, 'timeout:open');
    // The client closed the stream and then the socket, without waiting for a <close/> that never comes.
    assert.equal(s.connections[0]!.received.at(-1), `<close xmlns='${FRAMING}'/>`);
    assert.equal(await s.connections[0]!.closeCode, 1000);
  });

  test('a server that never answers the SASL <auth/> trips timeout:auth', async () => {
    const s = await server({ onFrame: openThenFeatures() });
    const err = await failureOf(open(s.url).session.start());
    assert.equal(err.reason, 'timeout:auth');
  });

  test('a server that never answers bind trips timeout:bind', async () => {
    const s = await server({
      onFrame: openThenFeatures((conn, frame) => {
        if (frame.startsWith('<auth')) conn.ws.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        else if (frame.startsWith('<open')) {
          conn.ws.send(SERVER_OPEN);
          conn.ws.send(FEATURES_BIND);
        }
      }),
    });
    const err = await failureOf(open(s.url).session.start());
    assert.equal(err.reason, 'timeout:bind');
  });

  test('a TCP listener that never completes the WebSocket handshake trips timeout:connect', async () => {
    const tcp: Server = createServer(() => {});
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as { port: number }).port;
    try {
      const { session } = open(`ws://127.0.0.1:${port}/`);
      const err = await failureOf(session.start());
      assert.equal(err.reason, 'timeout:connect');
      const end = await session.closed;
      assert.equal(end.clean, false);
    } finally {
      tcp.close();
    }
  });

  test('a refused connection is a transport error, then transport-closed end', async () => {
    const tcp: Server = createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as { port: number }).port;
    await new Promise<void>((r) => tcp.close(() => r()));
    const { session } = open(`ws://127.0.0.1:${port}/`);
    const err = await failureOf(session.start());
    assert.equal(err.reason, 'transport-error');
    assert.match(err.message, /ECONNREFUSED/);
  });

  test('a server that never answers our <close/> trips timeout:close and the session still ends', async () => {
    let closeSeen = false;
    const s = await server({
      onFrame: loginThen((_conn, frame) => {
        if (frame.startsWith('<close')) closeSeen = true;
      }),
    });
    const { session } = open(s.url);
    assert.equal(await session.start(), 'alice@localhost/r1');
    const end = await session.close();
    assert.ok(closeSeen);
    assert.equal(end.clean, false);
    assert.equal(end.error?.reason, 'timeout:close');
  });
});

describe('server-initiated close (purpose-built server)', () => {
  test('a server <close/> is answered with <close/>; the server closes 1000: a clean end initiated by the server', async () => {
    const s = await server({
      onFrame: loginThen((conn, frame) => {
        if (frame.startsWith('<close')) conn.ws.close(1000);
      }),
    });
    const { session } = open(s.url);
    await session.start();
    s.connections[0]!.ws.send(`<close xmlns='${FRAMING}'/>`);
    const end = await session.closed;
    assert.deepEqual(end, { clean: true, initiator: 'server', code: 1000, reason: '', error: undefined });
    assert.equal(s.connections[0]!.received.at(-1), `<close xmlns='${FRAMING}'/>`);
  });

  test('a <close see-other-uri/> ends the session as see-other-uri and records the new endpoint', async () => {
    const s = await server({
      onFrame: loginThen((conn, frame) => {
        if (frame.startsWith('<close')) conn.ws.close(1000);
      }),
    });
    const { session } = open(s.url);
    await session.start();
    s.connections[0]!.ws.send(`<close xmlns='${FRAMING}' see-other-uri='wss://other.example/xmpp'/>`);
    const end = await session.closed;
    assert.equal(end.error?.reason, 'see-other-uri');
    assert.deepEqual(session.redirect, { kind: 'see-other-uri', to: 'wss://other.example/xmpp' });
    assert.equal(end.clean, false);
  });

  test('a <see-other-host/> stream error ends the session and records the host it names', async () => {
    const s = await server({
      onFrame: loginThen((conn, frame) => {
        if (frame.startsWith('<close')) conn.ws.close(1000);
      }),
    });
    const { session } = open(s.url);
    await session.start();
    s.connections[0]!.ws.send(
      "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>" +
        "<see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>[2001:db8::2]:5443</see-other-host>" +
        '</stream:error>',
    );
    s.connections[0]!.ws.send(`<close xmlns='${FRAMING}'/>`);
    const end = await session.closed;
    assert.equal(end.error?.reason, 'stream-error:see-other-host');
    assert.deepEqual(session.redirect, { kind: 'see-other-host', to: '[2001:db8::2]:5443' });
    assert.match(end.error!.message, /see-other-host: \[2001:db8::2\]:5443/);
  });

  test('a server IQ ping is answered with a result; an unknown IQ get gets service-unavailable', async () => {
    const replies: string[] = [];
    const s = await server({ onFrame: loginThen((_c, frame) => replies.push(frame)) });
    const { session } = open(s.url);
    await session.start();
    const ws = s.connections[0]!.ws;
    ws.send(
      "<iq xmlns='jabber:client' type='get' id='p1' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    ws.send(
      "<iq xmlns='jabber:client' type='get' id='v1' from='localhost'><query xmlns='jabber:iq:version'/></iq>",
    );
    while (replies.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(replies, [
      "<iq xmlns='jabber:client' type='result' id='p1' to='localhost'/>",
      "<iq xmlns='jabber:client' type='error' id='v1' to='localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    ]);
    await session.close();
  });
});
