/** XEP-0156 host-meta parsing and endpoint choice (src/xmpp/discovery.ts), host-neutral. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkHostMetaSource,
  chooseEndpoint,
  DiscoveryError,
  discoveryDomain,
  domainWithoutPort,
  hostMetaLocations,
  HostMetaSearch,
  type HostMetaLocation,
  isDiscoveryTarget,
  parseHostMeta,
  parseHostMetaJson,
  parseHostMetaXrd,
} from '../../src/xmpp/discovery.ts';

const XRD = `<?xml version='1.0' encoding='utf-8'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <Link rel="urn:xmpp:alt-connections:xbosh"
        href="https://web.example.com:5280/bosh" />
  <Link rel="urn:xmpp:alt-connections:websocket"
        href="wss://web.example.com:443/ws" />
  <Link rel="lrdd" href="https://example.com/lrdd?uri={uri}" />
</XRD>
`;

const JSON_HOST_META = JSON.stringify({
  links: [
    { rel: 'urn:xmpp:alt-connections:xbosh', href: 'https://web.example.com:5280/bosh' },
    { rel: 'urn:xmpp:alt-connections:websocket', href: 'wss://web.example.com:443/ws' },
    { rel: 'urn:xmpp:alt-connections:websocket', href: 'wss://backup.example.com/ws' },
  ],
});

const SRC = 'https://example.com/.well-known/host-meta';

describe('host-meta parsing', () => {
  test('XRD with an XML declaration and both links', () => {
    assert.deepEqual(parseHostMetaXrd(XRD, SRC), {
      bosh: ['https://web.example.com:5280/bosh'],
      websocket: ['wss://web.example.com:443/ws'],
    });
    assert.deepEqual(parseHostMeta(XRD, SRC), parseHostMetaXrd(XRD, SRC));
  });

  test('JSON host-meta, links in document order', () => {
    assert.deepEqual(parseHostMetaJson(JSON_HOST_META), {
      bosh: ['https://web.example.com:5280/bosh'],
      websocket: ['wss://web.example.com:443/ws', 'wss://backup.example.com/ws'],
    });
    assert.deepEqual(parseHostMeta(JSON_HOST_META), parseHostMetaJson(JSON_HOST_META));
  });

  test('neither XRD nor JSON is a not-host-meta error', () => {
    assert.throws(
      () => parseHostMeta('<html><body>hi</body></html>', SRC),
      (e: unknown) =>
        e instanceof DiscoveryError &&
        e.kind === 'not-host-meta' &&
        e.message ===
          `${SRC} is not an XRD host-meta document: its root is <html>, not <XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>`,
    );
    assert.throws(() => parseHostMeta('hello', SRC), /is neither an XRD nor a JSON host-meta document/);
    assert.throws(() => parseHostMetaJson('[1]', SRC), /not a JSON object/);
    assert.throws(() => parseHostMetaJson('{"links":3}', SRC), /"links" is not an array/);
    assert.throws(() => parseHostMetaXrd('<XRD', SRC), /is not an XRD host-meta document/);
  });
});

describe('choosing an endpoint', () => {
  test('the first TLS link for the transport', () => {
    const links = parseHostMetaXrd(XRD, SRC);
    assert.equal(chooseEndpoint(links, 'websocket', SRC), 'wss://web.example.com:443/ws');
    assert.equal(chooseEndpoint(links, 'bosh', SRC), 'https://web.example.com:5280/bosh');
  });

  test('no WebSocket link: a no-link error with exact text', () => {
    const links = { bosh: ['https://web.example.com:5280/bosh'] };
    assert.throws(
      () => chooseEndpoint(links, 'websocket', SRC),
      (e: unknown) =>
        e instanceof DiscoveryError &&
        e.kind === 'no-link' &&
        e.reason === 'discovery:no-link' &&
        e.message ===
          'no websocket endpoint discovered: https://example.com/.well-known/host-meta has no urn:xmpp:alt-connections:websocket link (it lists bosh: use XMPP_TRANSPORT=bosh)',
    );
    assert.throws(() => chooseEndpoint({}, 'bosh', SRC), {
      message:
        'no bosh endpoint discovered: https://example.com/.well-known/host-meta has no urn:xmpp:alt-connections:xbosh link',
    });
  });

  test('ws:// only with the flag', () => {
    const links = { websocket: ['ws://example.com/ws'] };
    assert.throws(() => chooseEndpoint(links, 'websocket', SRC), {
      message:
        'https://example.com/.well-known/host-meta lists only ws://example.com/ws for websocket, which is not TLS; set XMPP_DISCOVERY_INSECURE=true to use it',
    });
    assert.equal(chooseEndpoint(links, 'websocket', SRC, true), 'ws://example.com/ws');
  });
});

describe('where to look', () => {
  test('http:// host-meta is refused without the flag', () => {
    assert.doesNotThrow(() => checkHostMetaSource(SRC, false));
    assert.throws(
      () => checkHostMetaSource('http://example.com/.well-known/host-meta', false),
      (e: unknown) =>
        e instanceof DiscoveryError &&
        e.kind === 'insecure' &&
        e.message ===
          'refusing host-meta from http://example.com/.well-known/host-meta: only HTTPS answers are trusted for XMPP endpoints; set XMPP_DISCOVERY_INSECURE=true to accept an http:// host-meta',
    );
    assert.doesNotThrow(() => checkHostMetaSource('http://example.com/.well-known/host-meta', true));
  });

  test('targets and domains', () => {
    for (const t of ['xmpp://example.org', 'example.org', '127.0.0.1:8443', 'localhost:5281'])
      assert.ok(isDiscoveryTarget(t), t);
    for (const t of ['ws://a/b', 'wss://a/b', 'https://a/http-bind']) assert.ok(!isDiscoveryTarget(t), t);
    assert.equal(discoveryDomain('xmpp://Example.org'), 'example.org');
    assert.equal(discoveryDomain('xmpp://example.org/'), 'example.org');
    assert.equal(discoveryDomain('127.0.0.1:8443'), '127.0.0.1:8443');
    assert.equal(discoveryDomain('wss://chat.example.org:5281/xmpp-websocket'), 'chat.example.org:5281');
    assert.throws(() => discoveryDomain('xmpp://example.org/path'), /no path/);
    assert.throws(() => discoveryDomain('xmpp://'), /is not a domain to discover/);
    assert.equal(domainWithoutPort('localhost:8443'), 'localhost');
    assert.deepEqual(hostMetaLocations('localhost:8443'), [
      { url: 'https://localhost:8443/.well-known/host-meta', format: 'xrd' },
      { url: 'https://localhost:8443/.well-known/host-meta.json', format: 'json' },
    ]);
  });
});

describe('HostMetaSearch (the lookup both hosts share)', () => {
  const WS = 'urn:xmpp:alt-connections:websocket';
  const doc = (href: string): string =>
    `<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'><Link rel='${WS}' href='${href}'/></XRD>`;

  test('locations: XRD then JSON over HTTPS, and over HTTP only when allowed', () => {
    const strict = new HostMetaSearch('example.org', 'websocket', false, 'X=true', () => {});
    assert.deepEqual(
      strict.locations.map((l) => l.url),
      ['https://example.org/.well-known/host-meta', 'https://example.org/.well-known/host-meta.json'],
    );
    const lax = new HostMetaSearch('example.org', 'websocket', true, 'X=true', () => {});
    assert.equal(lax.locations.length, 4);
    assert.equal(lax.locations[2]!.url, 'http://example.org/.well-known/host-meta');
  });

  test('a 404, then an answer: the endpoint and where it came from', () => {
    const s = new HostMetaSearch('example.org', 'websocket', false, 'X=true', () => {});
    const [xrdLoc, jsonLoc] = s.locations as [HostMetaLocation, HostMetaLocation];
    assert.equal(s.answer(xrdLoc, { status: 404, body: '', url: xrdLoc.url }), undefined);
    const found = s.answer(jsonLoc, {
      status: 200,
      body: JSON.stringify({ links: [{ rel: WS, href: 'wss://x.example/ws' }] }),
      url: jsonLoc.url,
    });
    assert.equal(found?.url, 'wss://x.example/ws');
    assert.equal(found?.source, jsonLoc.url);
  });

  test('a plain host-meta and a plain endpoint are used when allowed, each with a warning naming the setting', () => {
    const warnings: string[] = [];
    const s = new HostMetaSearch('example.org', 'websocket', true, 'X=true', (w) => warnings.push(w));
    const plain = s.locations[2]!;
    const found = s.answer(plain, { status: 200, body: doc('ws://x.example/ws'), url: plain.url });
    assert.equal(found?.url, 'ws://x.example/ws');
    assert.deepEqual(warnings, [
      `starling: warning: host-meta from ${plain.url} over plain HTTP (X=true): the endpoint it names is not authenticated`,
      `starling: warning: ws://x.example/ws (for websocket from ${plain.url}) is not TLS (X=true): credentials go in the clear`,
    ]);
  });

  test('failure: a missing link is reported before missing documents, with every URL looked at', () => {
    const s = new HostMetaSearch('example.org', 'bosh', false, 'X=true', () => {});
    const [xrdLoc, jsonLoc] = s.locations as [HostMetaLocation, HostMetaLocation];
    s.answer(xrdLoc, { status: 200, body: doc('wss://x.example/ws'), url: xrdLoc.url });
    s.unanswered(jsonLoc, 'ECONNRESET');
    const e = s.failure();
    assert.equal(e.kind, 'no-link');
    assert.match(
      e.message,
      /looked at: https:\/\/example\.org\/\.well-known\/host-meta: no bosh link; .*json: ECONNRESET\)$/,
    );
    const none = new HostMetaSearch('example.org', 'bosh', false, 'X=true', () => {});
    none.unanswered(none.locations[0]!, 'ECONNREFUSED');
    assert.equal(
      none.failure().message,
      'no host-meta found for example.org: https://example.org/.well-known/host-meta: ECONNREFUSED (http:// host-meta is not tried: X=true allows it)',
    );
  });
});
