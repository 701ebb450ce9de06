import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decideRedirect,
  parseFollowRedirects,
  parseSeeOtherHost,
  RedirectError,
  resolveRedirect,
} from '../../src/xmpp/redirect.ts';

describe('parseSeeOtherHost (RFC 6120 §4.9.3.19)', () => {
  test('names, IPv4 and bracketed IPv6, with and without a port', () => {
    assert.deepEqual(parseSeeOtherHost('node2.example.org'), { host: 'node2.example.org', port: undefined });
    assert.deepEqual(parseSeeOtherHost(' node2.example.org:5443 '), {
      host: 'node2.example.org',
      port: '5443',
    });
    assert.deepEqual(parseSeeOtherHost('192.0.2.7:5280'), { host: '192.0.2.7', port: '5280' });
    assert.deepEqual(parseSeeOtherHost('[2001:db8::7]:5443'), { host: '[2001:db8::7]', port: '5443' });
    assert.deepEqual(parseSeeOtherHost('2001:db8::7'), { host: '[2001:db8::7]', port: undefined });
  });

  test('refuses what is not a host', () => {
    for (const bad of [
      '',
      'wss://x.example/ws',
      'user@x.example',
      'x.example/path',
      '-x.example',
      'x .example',
    ])
      assert.equal(parseSeeOtherHost(bad), undefined, bad);
  });
});

describe('resolveRedirect', () => {
  test('see-other-host keeps scheme, path and query, and the port unless one is given', () => {
    assert.deepEqual(
      resolveRedirect('wss://a.example:5443/xmpp-websocket?x=1', { kind: 'see-other-host', to: 'b.example' }),
      { url: 'wss://b.example:5443/xmpp-websocket?x=1', transport: 'websocket' },
    );
    assert.deepEqual(
      resolveRedirect('https://a.example/http-bind', { kind: 'see-other-host', to: '[2001:db8::2]:8443' }),
      { url: 'https://[2001:db8::2]:8443/http-bind', transport: 'bosh' },
    );
  });

  test('see-other-uri may change transport (RFC 7395 §3.6.1)', () => {
    assert.deepEqual(
      resolveRedirect('ws://127.0.0.1:5280/xmpp-websocket', {
        kind: 'see-other-uri',
        to: 'http://127.0.0.1:5281/http-bind',
      }),
      { url: 'http://127.0.0.1:5281/http-bind', transport: 'bosh' },
    );
  });

  test('never from TLS to plain text, either kind; plain to TLS is fine', () => {
    const downgrade = (current: string, kind: 'see-other-uri' | 'see-other-host', to: string): void =>
      assert.throws(
        () => resolveRedirect(current, { kind, to }),
        (e: unknown) =>
          e instanceof RedirectError &&
          e.refusal === 'downgrade' &&
          /a redirect never drops TLS/.test(e.message),
      );
    downgrade('wss://a.example/ws', 'see-other-uri', 'ws://b.example/ws');
    downgrade('https://a.example/bind', 'see-other-uri', 'http://b.example/bind');
    downgrade('wss://a.example/ws', 'see-other-uri', 'http://b.example/bind');
    assert.equal(
      resolveRedirect('ws://a.example/ws', { kind: 'see-other-uri', to: 'wss://b.example/ws' }).url,
      'wss://b.example/ws',
    );
  });

  test('refuses URIs that are not ws(s)/http(s), carry credentials, or name an impossible port', () => {
    for (const to of [
      'xmpp:b.example',
      'ftp://b.example/',
      'wss://user:pw@b.example/ws',
      'wss://b.example:70000/',
    ]) {
      assert.throws(
        () => resolveRedirect('wss://a.example/ws', { kind: 'see-other-uri', to }),
        (e: unknown) => e instanceof RedirectError && e.refusal === 'invalid' && e.message.includes(to),
        to,
      );
    }
    assert.throws(
      () => resolveRedirect('wss://a.example/ws', { kind: 'see-other-host', to: 'b.example:0' }),
      (e: unknown) => e instanceof RedirectError && e.refusal === 'invalid',
    );
  });
});

describe('decideRedirect', () => {
  const r = { kind: 'see-other-host', to: 'b.example' } as const;

  test('off by default, naming the setting', () => {
    const d = decideRedirect('wss://a.example/ws', r, 0, 0);
    assert.equal(d.outcome, 'off');
    assert.match(d.message, /set XMPP_FOLLOW_REDIRECTS=1/);
  });

  test('followed within the budget, refused at it', () => {
    const d = decideRedirect('wss://a.example/ws', r, 1, 2);
    assert.deepEqual(d, {
      outcome: 'followed',
      target: { url: 'wss://b.example/ws', transport: 'websocket' },
      message: 'following see-other-host b.example from wss://a.example/ws to wss://b.example/ws',
    });
    const spent = decideRedirect('wss://a.example/ws', r, 2, 2);
    assert.equal(spent.outcome, 'limit');
    assert.match(spent.message, /after 2 redirects: XMPP_FOLLOW_REDIRECTS=2 allows no more/);
  });

  test('a downgrade is refused even with budget left', () => {
    const d = decideRedirect('wss://a.example/ws', { kind: 'see-other-uri', to: 'ws://b.example/ws' }, 0, 3);
    assert.equal(d.outcome, 'downgrade');
  });
});

describe('parseFollowRedirects', () => {
  test('numbers, and the words for on and off', () => {
    assert.equal(parseFollowRedirects(undefined), 0);
    assert.equal(parseFollowRedirects(''), 0);
    assert.equal(parseFollowRedirects('false'), 0);
    assert.equal(parseFollowRedirects('0'), 0);
    assert.equal(parseFollowRedirects('2'), 2);
    assert.equal(parseFollowRedirects('true'), 3);
  });

  test('anything else is a clear error', () => {
    assert.throws(
      () => parseFollowRedirects('-1'),
      /XMPP_FOLLOW_REDIRECTS='-1' is not a number of redirects/,
    );
    assert.throws(() => parseFollowRedirects('lots'), /use 0 \(off\), true \(3\) or a number/);
  });
});
