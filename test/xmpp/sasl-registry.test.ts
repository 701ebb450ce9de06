/** SASL mechanisms registered from outside the negotiation (issue 17): SaslRegistry alone, then in a session. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeClock } from '../../src/node/clock.ts';
import { nodeCrypto } from '../../src/node/crypto.ts';
import { XmppError } from '../../src/xmpp/errors.ts';
import { defaultSaslRegistry, SUPPORTED_MECHANISMS } from '../../src/xmpp/sasl/defaults.ts';
import type { MechanismContext, SaslMechanism } from '../../src/xmpp/sasl/mechanism.ts';
import { SaslRegistry } from '../../src/xmpp/sasl/registry.ts';
import { XmppSession } from '../../src/xmpp/session.ts';
import { FEATURES_BIND, SERVER_OPEN } from '../helpers/fake-server.ts';

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const context: MechanismContext = { credentials: { username: 'alice', password: 'pw' }, crypto: nodeCrypto };

/** A made-up two-step mechanism: sends `hello <user>`, answers a challenge with `<challenge text>!`. */
class TokenMechanism implements SaslMechanism {
  readonly name = 'X-TOKEN';
  readonly calls: string[] = [];
  constructor(private readonly user: string) {}
  async initial(): Promise<string> {
    this.calls.push('initial');
    return Buffer.from(`hello ${this.user}`).toString('base64');
  }
  async challenge(data: string): Promise<string> {
    this.calls.push(`challenge ${data}`);
    return `${data}!`;
  }
  async success(additionalData: string | null): Promise<void> {
    this.calls.push(`success ${additionalData}`);
  }
}

function features(...mechanisms: string[]): string {
  return (
    "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>" +
    `<mechanisms xmlns='${SASL}'>${mechanisms.map((m) => `<mechanism>${m}</mechanism>`).join('')}</mechanisms>` +
    '</stream:features>'
  );
}

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), 'condition not reached');
}

function memorySession(o: { saslRegistry?: SaslRegistry; mechanisms?: string[] }) {
  const sent: string[] = [];
  const session = new XmppSession({
    domain: 'localhost',
    credentials: { username: 'alice', password: 'pw' },
    ...o,
    clock: nodeClock,
    crypto: nodeCrypto,
    timeouts: { close: 50 },
    transport: { send: (f) => sent.push(f), close: () => {} },
  });
  return { session, sent };
}

describe('SaslRegistry', () => {
  test('registration order is preference order; names are kept upper-case; use() again replaces in place', async () => {
    const first = (): SaslMechanism => new TokenMechanism('first');
    const second = (): SaslMechanism => new TokenMechanism('second');
    const r = new SaslRegistry().use('x-token', first).use(' PLAIN ', first).use('X-Token', second);
    assert.deepEqual(r.names, ['X-TOKEN', 'PLAIN']);
    assert.equal(r.has('x-token'), true);
    assert.equal(r.has('SCRAM-SHA-1'), false);
    assert.deepEqual((r.create('x-token', context) as TokenMechanism).calls, []);
    const text = await r.create('X-TOKEN', context).initial();
    assert.equal(Buffer.from(text!, 'base64').toString(), 'hello second');
  });

  test('use() rejects a name that is not an RFC 4422 mechanism name', () => {
    const r = new SaslRegistry();
    for (const bad of ['', 'X TOKEN', 'X.TOKEN', 'ABCDEFGHIJKLMNOPQRSTU' /* 21 */]) {
      assert.throws(
        () => r.use(bad, () => new TokenMechanism('a')),
        (e: unknown) =>
          e instanceof RangeError && e.message === `invalid SASL mechanism name ${JSON.stringify(bad)}`,
      );
    }
    assert.deepEqual(r.names, []);
  });

  test('a registered custom name is chosen when offered; an unregistered one never is', () => {
    const r = new SaslRegistry()
      .use('X-TOKEN', () => new TokenMechanism('a'))
      .use('PLAIN', () => new TokenMechanism('p'));
    assert.equal(r.choose(['PLAIN', 'x-token']), 'X-TOKEN');
    assert.equal(r.choose(['PLAIN', 'X-OTHER']), 'PLAIN');
    assert.equal(r.choose(['X-OTHER', 'SCRAM-SHA-256']), undefined);
    // A preference may reorder and restrict, never add a name the registry lacks.
    assert.equal(r.choose(['PLAIN', 'X-TOKEN'], ['PLAIN', 'X-TOKEN']), 'PLAIN');
    assert.equal(r.choose(['X-OTHER', 'X-TOKEN'], ['X-OTHER']), undefined);
    assert.deepEqual(r.usable(['x-other', 'plain', 'X-TOKEN']), ['PLAIN', 'X-TOKEN']);
  });

  test('create and negotiate fail with auth-no-mechanism naming the registry, not the defaults', () => {
    const r = new SaslRegistry().use('X-TOKEN', () => new TokenMechanism('a'));
    assert.throws(
      () => r.create('PLAIN', context),
      (e: unknown) =>
        e instanceof XmppError &&
        e.kind === 'auth-no-mechanism' &&
        e.message === 'unsupported SASL mechanism PLAIN; we support X-TOKEN',
    );
    assert.throws(
      () => r.negotiate(['PLAIN', 'SCRAM-SHA-1'], context),
      (e: unknown) =>
        e instanceof XmppError &&
        e.kind === 'auth-no-mechanism' &&
        e.message === 'no usable SASL mechanism: server offers [PLAIN, SCRAM-SHA-1], we support [X-TOKEN]',
    );
    assert.equal(r.negotiate(['PLAIN', 'X-TOKEN'], context).name, 'X-TOKEN');
  });

  test('defaultSaslRegistry: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, a fresh registry per call', () => {
    const a = defaultSaslRegistry();
    assert.deepEqual(a.names, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.deepEqual(SUPPORTED_MECHANISMS, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.equal(a.create('SCRAM-SHA-1', context).name, 'SCRAM-SHA-1');
    a.use('X-TOKEN', () => new TokenMechanism('a'));
    assert.deepEqual(a.names, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN', 'X-TOKEN']);
    assert.deepEqual(defaultSaslRegistry().names, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.deepEqual(SUPPORTED_MECHANISMS, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
  });
});

describe('XmppSession with a saslRegistry', () => {
  test('a mechanism registered from outside is offered by the server, chosen, and runs the whole exchange', async () => {
    const mechs: TokenMechanism[] = [];
    const contexts: MechanismContext[] = [];
    const registry = defaultSaslRegistry().use('X-TOKEN', (c) => {
      contexts.push(c);
      const m = new TokenMechanism(c.credentials.username);
      mechs.push(m);
      return m;
    });
    // X-TOKEN is registered last, so it is picked only when preferred or when nothing stronger is offered.
    const { session, sent } = memorySession({ saslRegistry: registry, mechanisms: ['X-TOKEN', 'PLAIN'] });
    const ready = session.start();
    session.transportOpened('xmpp');
    session.transportFrame(SERVER_OPEN);
    session.transportFrame(features('SCRAM-SHA-1', 'PLAIN', 'X-TOKEN'));
    await waitFor(() => sent.some((f) => f.startsWith('<auth')));
    assert.equal(session.mechanism, 'X-TOKEN');
    assert.equal(sent.at(-1), `<auth xmlns='${SASL}' mechanism='X-TOKEN'>aGVsbG8gYWxpY2U=</auth>`);
    assert.equal(contexts.length, 1);
    assert.deepEqual(contexts[0]!.credentials, { username: 'alice', password: 'pw' });
    assert.equal(contexts[0]!.crypto, nodeCrypto);

    session.transportFrame(`<challenge xmlns='${SASL}'>abc</challenge>`);
    await waitFor(() => sent.some((f) => f.startsWith('<response')));
    assert.equal(sent.at(-1), `<response xmlns='${SASL}'>abc!</response>`);
    session.transportFrame(`<success xmlns='${SASL}'>ZG9uZQ==</success>`);
    await waitFor(() => sent.filter((f) => f.startsWith('<open')).length === 2); // the restart
    assert.deepEqual(mechs[0]!.calls, ['initial', 'challenge abc', 'success ZG9uZQ==']);

    session.transportFrame(SERVER_OPEN);
    session.transportFrame(FEATURES_BIND);
    await waitFor(() => sent.some((f) => f.includes('xmpp-bind')));
    const id = /id='([^']+)'/.exec(sent.at(-1)!)![1];
    session.transportFrame(
      `<iq xmlns='jabber:client' type='result' id='${id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r1</jid></bind></iq>`,
    );
    assert.equal(await ready, 'alice@localhost/r1');
    assert.equal(mechs.length, 1);
    void session.close();
  });

  test('without a preference the registry order decides: SCRAM-SHA-256 over a custom mechanism registered after it', async () => {
    const registry = defaultSaslRegistry().use('X-TOKEN', () => new TokenMechanism('a'));
    const { session, sent } = memorySession({ saslRegistry: registry });
    void session.start().catch(() => {});
    session.transportOpened('xmpp');
    session.transportFrame(SERVER_OPEN);
    session.transportFrame(features('X-TOKEN', 'SCRAM-SHA-256'));
    await waitFor(() => sent.some((f) => f.startsWith('<auth')));
    assert.equal(session.mechanism, 'SCRAM-SHA-256');
    assert.match(sent.at(-1)!, /^<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>/);
    session.transportClosed(1006);
  });

  test('a mechanism the session has not registered is not used, even when it is all the server offers', async () => {
    // The default registry (no saslRegistry given) does not know X-TOKEN.
    const { session, sent } = memorySession({});
    const started = session.start().then(
      () => assert.fail('start should fail'),
      (e: unknown) => e as XmppError,
    );
    session.transportOpened('xmpp');
    session.transportFrame(SERVER_OPEN);
    session.transportFrame(features('X-TOKEN'));
    const e = await started;
    assert.equal(e.kind, 'auth-no-mechanism');
    assert.equal(
      e.message,
      'no usable SASL mechanism for alice@localhost: server offered [X-TOKEN], we allow [SCRAM-SHA-256, SCRAM-SHA-1, PLAIN]',
    );
    assert.equal(session.mechanism, undefined);
    assert.equal(sent.filter((f) => f.startsWith('<auth')).length, 0);
  });

  test('mechanisms by name restrict the registry: X-TOKEN registered but not allowed falls back to PLAIN', async () => {
    const registry = defaultSaslRegistry().use('X-TOKEN', () => new TokenMechanism('a'));
    const { session, sent } = memorySession({ saslRegistry: registry, mechanisms: ['PLAIN'] });
    void session.start().catch(() => {});
    session.transportOpened('xmpp');
    session.transportFrame(SERVER_OPEN);
    session.transportFrame(features('X-TOKEN', 'PLAIN'));
    await waitFor(() => sent.some((f) => f.startsWith('<auth')));
    assert.equal(session.mechanism, 'PLAIN');
    assert.equal(sent.at(-1), `<auth xmlns='${SASL}' mechanism='PLAIN'>AGFsaWNlAHB3</auth>`);
    session.transportClosed(1006);
  });
});
