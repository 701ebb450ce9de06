import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCrypto } from '../../src/node/crypto.ts';
import { base64Decode } from '../../src/xmpp/bytes.ts';
import type { CryptoProvider } from '../../src/xmpp/crypto.ts';
import { XmppError, type FailureKind } from '../../src/xmpp/errors.ts';
import { chooseMechanism, createMechanism, negotiateMechanism } from '../../src/xmpp/sasl/defaults.ts';
import type { SaslCredentials, SaslMechanism } from '../../src/xmpp/sasl/mechanism.ts';
import { escapeSaslname, saslprep, ScramCache } from '../../src/xmpp/sasl/scram.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

const user: SaslCredentials = { username: 'user', password: 'pencil' };

// RFC 5802 §5 (SCRAM-SHA-1).
const SHA1 = {
  nonce: 'fyko+d2lbbFgONRv9qkxdawL',
  clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
  serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
  clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
  serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
};

// RFC 7677 §3 (SCRAM-SHA-256).
const SHA256 = {
  nonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function sha1Mech(
  credentials: SaslCredentials = user,
  cache?: ScramCache,
  crypto: CryptoProvider = nodeCrypto,
) {
  return createMechanism('SCRAM-SHA-1', credentials, crypto, cache, { clientNonce: () => SHA1.nonce });
}

/** Runs the mechanism up to (not including) success; returns the decoded client-final message. */
async function toClientFinal(mech: SaslMechanism, serverFirst = SHA1.serverFirst): Promise<string> {
  await mech.initial();
  return unb64(await mech.challenge(b64(serverFirst)));
}

async function rejectsWith(p: Promise<unknown>, kind: FailureKind, condition?: string): Promise<XmppError> {
  let caught: unknown;
  await p.catch((e: unknown) => (caught = e));
  assert.ok(caught instanceof XmppError, `expected XmppError ${kind}, got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  assert.equal(caught.condition, condition);
  return caught;
}

/** nodeCrypto that counts pbkdf2 calls. */
function countingCrypto(): CryptoProvider & { pbkdf2Calls: number } {
  const c = {
    pbkdf2Calls: 0,
    hash: nodeCrypto.hash,
    hmac: nodeCrypto.hmac,
    randomBytes: nodeCrypto.randomBytes,
    pbkdf2(...args: Parameters<CryptoProvider['pbkdf2']>) {
      c.pbkdf2Calls++;
      return nodeCrypto.pbkdf2(...args);
    },
  };
  return c;
}

describe('SCRAM test vectors', () => {
  test('SCRAM-SHA-1 reproduces the RFC 5802 §5 exchange and accepts its server signature', async () => {
    const mech = sha1Mech();
    assert.equal(mech.name, 'SCRAM-SHA-1');
    assert.equal(unb64((await mech.initial())!), SHA1.clientFirst);
    assert.equal(unb64(await mech.challenge(b64(SHA1.serverFirst))), SHA1.clientFinal);
    await mech.success(b64(SHA1.serverFinal));
  });

  test('SCRAM-SHA-256 reproduces the RFC 7677 §3 exchange and accepts its server signature', async () => {
    const mech = createMechanism('SCRAM-SHA-256', user, nodeCrypto, undefined, {
      clientNonce: () => SHA256.nonce,
    });
    assert.equal(mech.name, 'SCRAM-SHA-256');
    assert.equal(unb64((await mech.initial())!), SHA256.clientFirst);
    assert.equal(unb64(await mech.challenge(b64(SHA256.serverFirst))), SHA256.clientFinal);
    await mech.success(b64(SHA256.serverFinal));
  });

  test('the default client nonce is base64 of 18 bytes from crypto.randomBytes', async () => {
    const seeded: CryptoProvider = {
      ...nodeCrypto,
      randomBytes: (n) => base64Decode(SHA1.nonce).slice(0, n),
    };
    const mech = createMechanism('SCRAM-SHA-1', user, seeded);
    assert.equal(unb64((await mech.initial())!), SHA1.clientFirst);
    assert.equal(unb64(await mech.challenge(b64(SHA1.serverFirst))), SHA1.clientFinal);
  });

  test('random client nonces are printable, comma-free and differ between attempts', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const first = unb64((await createMechanism('SCRAM-SHA-256', user, nodeCrypto).initial())!);
      const m = /^n,,n=user,r=([\x21-\x2b\x2d-\x7e]{24})$/.exec(first);
      assert.ok(m, first);
      nonces.add(m[1]!);
    }
    assert.equal(nonces.size, 50);
  });

  test('the password is SASLprep-ed: a soft hyphen in it does not change the proof', async () => {
    const mech = sha1Mech({ username: 'user', password: 'pen\u00adcil' });
    assert.equal(await toClientFinal(mech), SHA1.clientFinal);
  });

  test('server-final sent as a <challenge> is verified, answered with an empty response, then empty success passes', async () => {
    const mech = sha1Mech();
    await toClientFinal(mech);
    assert.equal(await mech.challenge(b64(SHA1.serverFinal)), '');
    await mech.success(null);
  });

  test('the first message is sent as base64 with no "=" placeholder since it is never empty', async () => {
    assert.equal(await sha1Mech().initial(), 'biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM');
  });
});

describe('SCRAM failures', () => {
  test('a wrong server signature fails with auth-server-signature', async () => {
    const mech = sha1Mech();
    await toClientFinal(mech);
    await rejectsWith(mech.success(b64('v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=')), 'auth-server-signature');
  });

  test('a server signature from the other hash (right bytes, wrong length) fails with auth-server-signature', async () => {
    const mech = sha1Mech();
    await toClientFinal(mech);
    await rejectsWith(mech.success(b64(SHA256.serverFinal)), 'auth-server-signature');
  });

  test('a server nonce that does not extend the client nonce fails with auth-protocol', async () => {
    const mech = sha1Mech();
    await mech.initial();
    await rejectsWith(
      mech.challenge(b64('r=XXXXd2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096')),
      'auth-protocol',
    );
  });

  test('a server nonce equal to the client nonce (no server part) fails with auth-protocol', async () => {
    const mech = sha1Mech();
    await mech.initial();
    await rejectsWith(mech.challenge(b64(`r=${SHA1.nonce},s=QSXCR+Q6sek8bf92,i=4096`)), 'auth-protocol');
  });

  test('e=invalid-proof in <success> fails with auth-failed:invalid-proof', async () => {
    const mech = sha1Mech();
    await toClientFinal(mech);
    const err = await rejectsWith(mech.success(b64('e=invalid-proof')), 'auth-failed', 'invalid-proof');
    assert.equal(err.reason, 'auth-failed:invalid-proof');
  });

  test('e=other-error in a final <challenge> fails with auth-failed:other-error', async () => {
    const mech = sha1Mech();
    await toClientFinal(mech);
    await rejectsWith(mech.challenge(b64('e=other-error')), 'auth-failed', 'other-error');
  });

  test('malformed server-first messages fail with auth-protocol', async () => {
    const r = 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j';
    const bad = [
      '',
      'garbage',
      `${r}`,
      `${r},i=4096`, // no salt
      `${r},s=QSXCR+Q6sek8bf92`, // no iterations
      `s=QSXCR+Q6sek8bf92,${r},i=4096`, // out of order
      `${r},s=QSXCR+Q6sek8bf92,i=0`,
      `${r},s=QSXCR+Q6sek8bf92,i=-1`,
      `${r},s=QSXCR+Q6sek8bf92,i=4096x`,
      `${r},s=QSXCR+Q6sek8bf92,i=`,
      `${r},s=,i=4096`, // empty salt
      `${r},s=QSXCR+Q6sek8bf9,i=4096`, // salt not base64
      `m=ext,${r},s=QSXCR+Q6sek8bf92,i=4096`, // mandatory extension
    ];
    for (const msg of bad) {
      const mech = sha1Mech();
      await mech.initial();
      const err = await rejectsWith(mech.challenge(b64(msg)), 'auth-protocol');
      assert.match(err.message, /^SCRAM: /, msg);
    }
  });

  test('a challenge that is not base64 fails with auth-protocol', async () => {
    const mech = sha1Mech();
    await mech.initial();
    await rejectsWith(mech.challenge('not base64!'), 'auth-protocol');
  });

  test('optional extensions after i= are accepted', async () => {
    const mech = sha1Mech();
    assert.match(await toClientFinal(mech, `${SHA1.serverFirst},x=ext`), /^c=biws,r=fyko\S+,p=\S+$/);
  });

  test('success with no server-final data fails with auth-protocol (server never proved itself)', async () => {
    const mech = sha1Mech();
    await toClientFinal(mech);
    await rejectsWith(mech.success(null), 'auth-protocol');
  });

  test('success before the server-first challenge fails with auth-protocol', async () => {
    const mech = sha1Mech();
    await mech.initial();
    await rejectsWith(mech.success(b64(SHA1.serverFinal)), 'auth-protocol');
  });

  test('a third challenge after verification fails with auth-protocol', async () => {
    const mech = sha1Mech();
    await toClientFinal(mech);
    await mech.challenge(b64(SHA1.serverFinal));
    await rejectsWith(mech.challenge(b64(SHA1.serverFinal)), 'auth-protocol');
  });
});

describe('SCRAM names and SASLprep', () => {
  test('escapeSaslname turns = into =3D and , into =2C', () => {
    assert.equal(escapeSaslname('a,b=c'), 'a=2Cb=3Dc');
    assert.equal(escapeSaslname('=,'), '=3D=2C');
    assert.equal(escapeSaslname('plain'), 'plain');
  });

  test('the username is escaped in client-first', async () => {
    const mech = sha1Mech({ username: 'a,b=c', password: 'p' });
    assert.equal(unb64((await mech.initial())!), `n,,n=a=2Cb=3Dc,r=${SHA1.nonce}`);
  });

  test('an authzid goes into the gs2 header, escaped, and c= carries that header', async () => {
    const mech = sha1Mech({ username: 'user', password: 'pencil', authzid: 'adm,in' });
    assert.equal(unb64((await mech.initial())!), `n,a=adm=2Cin,n=user,r=${SHA1.nonce}`);
    assert.match(
      unb64(await mech.challenge(b64(SHA1.serverFirst))),
      /^c=bixhPWFkbT0yQ2luLA==,r=fyko\S+,p=\S+$/,
    );
  });

  test('saslprep maps the RFC 4013 §3 examples it covers', () => {
    assert.equal(saslprep('I\u00adX'), 'IX');
    assert.equal(saslprep('user'), 'user');
    assert.equal(saslprep('USER'), 'USER');
    assert.equal(saslprep('\u00aa'), 'a');
    assert.equal(saslprep('\u2168'), 'IX');
  });

  test('saslprep maps non-ASCII spaces to U+0020 and drops zero-width characters', () => {
    assert.equal(saslprep('a\u00a0b\u3000c\u2003d'), 'a b c d');
    assert.equal(saslprep('a\u200bb\ufeffc\u200dd'), 'abcd');
  });
});

describe('PLAIN', () => {
  test('PLAIN without authzid sends NUL user NUL password', async () => {
    const mech = createMechanism('PLAIN', user, nodeCrypto);
    assert.equal(mech.name, 'PLAIN');
    assert.equal(await mech.initial(), 'AHVzZXIAcGVuY2ls');
    await mech.success(null);
  });

  test('PLAIN with authzid sends authzid NUL user NUL password', async () => {
    const mech = createMechanism('PLAIN', { ...user, authzid: 'admin@example.com' }, nodeCrypto);
    assert.equal(await mech.initial(), 'YWRtaW5AZXhhbXBsZS5jb20AdXNlcgBwZW5jaWw=');
  });

  test('PLAIN encodes non-ASCII credentials as UTF-8', async () => {
    const mech = createMechanism('PLAIN', { username: 'jürgen', password: 'pässwörd😀' }, nodeCrypto);
    assert.equal(await mech.initial(), 'AGrDvHJnZW4AcMOkc3N3w7ZyZPCfmIA=');
  });

  test('PLAIN rejects a challenge with auth-protocol', async () => {
    const mech = createMechanism('PLAIN', user, nodeCrypto);
    await mech.initial();
    await rejectsWith(mech.challenge(''), 'auth-protocol');
  });
});

describe('mechanism choice', () => {
  test('chooseMechanism prefers SCRAM-SHA-256 over SCRAM-SHA-1 over PLAIN', () => {
    assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256']), 'SCRAM-SHA-256');
    assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-1']), 'SCRAM-SHA-1');
  });

  test('chooseMechanism never picks -PLUS variants, even when preferred', () => {
    assert.equal(chooseMechanism(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1']), 'SCRAM-SHA-1');
    assert.equal(chooseMechanism(['SCRAM-SHA-256-PLUS', 'PLAIN'], ['SCRAM-SHA-256-PLUS', 'PLAIN']), 'PLAIN');
  });

  test('chooseMechanism falls back to PLAIN', () => {
    assert.equal(chooseMechanism(['DIGEST-MD5', 'PLAIN', 'SCRAM-SHA-256-PLUS']), 'PLAIN');
  });

  test('chooseMechanism returns undefined when nothing is in common', () => {
    assert.equal(chooseMechanism(['EXTERNAL', 'SCRAM-SHA-512', 'ANONYMOUS']), undefined);
    assert.equal(chooseMechanism([]), undefined);
    assert.equal(chooseMechanism(['SCRAM-SHA-256'], ['PLAIN']), undefined);
  });

  test('chooseMechanism honours a custom preference and ignores case and whitespace', () => {
    assert.equal(chooseMechanism(['SCRAM-SHA-256', 'PLAIN'], ['PLAIN', 'SCRAM-SHA-256']), 'PLAIN');
    assert.equal(chooseMechanism([' scram-sha-1\n']), 'SCRAM-SHA-1');
    assert.equal(chooseMechanism(['SCRAM-SHA-1'], ['DIGEST-MD5', 'scram-sha-1']), 'SCRAM-SHA-1');
  });

  test('createMechanism rejects an unknown name with auth-no-mechanism naming what we support', () => {
    assert.throws(
      () => createMechanism('DIGEST-MD5', user, nodeCrypto),
      (e: unknown) =>
        e instanceof XmppError &&
        e.kind === 'auth-no-mechanism' &&
        e.message === 'unsupported SASL mechanism DIGEST-MD5; we support SCRAM-SHA-256, SCRAM-SHA-1, PLAIN',
    );
    assert.throws(() => createMechanism('SCRAM-SHA-256-PLUS', user, nodeCrypto), XmppError);
  });

  test('negotiateMechanism names the offered list and ours when nothing is in common', () => {
    assert.throws(
      () => negotiateMechanism(['EXTERNAL', 'SCRAM-SHA-256-PLUS'], user, nodeCrypto),
      (e: unknown) =>
        e instanceof XmppError &&
        e.kind === 'auth-no-mechanism' &&
        e.message ===
          'no usable SASL mechanism: server offers [EXTERNAL, SCRAM-SHA-256-PLUS], we support [SCRAM-SHA-256, SCRAM-SHA-1, PLAIN]',
    );
    assert.equal(negotiateMechanism(['PLAIN', 'SCRAM-SHA-1'], user, nodeCrypto).name, 'SCRAM-SHA-1');
  });
});

describe('ScramCache', () => {
  test('a second login with the same password, salt and iterations runs no PBKDF2', async () => {
    const crypto = countingCrypto();
    const cache = new ScramCache();
    assert.equal(await toClientFinal(sha1Mech(user, cache, crypto)), SHA1.clientFinal);
    assert.equal(crypto.pbkdf2Calls, 1);
    const second = sha1Mech(user, cache, crypto);
    assert.equal(await toClientFinal(second), SHA1.clientFinal);
    await second.success(b64(SHA1.serverFinal));
    assert.equal(crypto.pbkdf2Calls, 1);
    assert.deepEqual([cache.hits, cache.misses, cache.size], [1, 1, 1]);
  });

  test('a different salt misses and runs PBKDF2 again', async () => {
    const crypto = countingCrypto();
    const cache = new ScramCache();
    await toClientFinal(sha1Mech(user, cache, crypto));
    await toClientFinal(
      sha1Mech(user, cache, crypto),
      SHA1.serverFirst.replace('s=QSXCR+Q6sek8bf92', 's=AAAAAAAAAAAAAAAA'),
    );
    assert.equal(crypto.pbkdf2Calls, 2);
    assert.deepEqual([cache.hits, cache.misses, cache.size], [0, 2, 2]);
  });

  test('different iterations or password miss', async () => {
    const crypto = countingCrypto();
    const cache = new ScramCache();
    await toClientFinal(sha1Mech(user, cache, crypto));
    await toClientFinal(sha1Mech(user, cache, crypto), SHA1.serverFirst.replace('i=4096', 'i=4097'));
    await toClientFinal(sha1Mech({ username: 'user', password: 'pencil2' }, cache, crypto));
    assert.equal(crypto.pbkdf2Calls, 3);
    assert.equal(cache.misses, 3);
  });

  test('concurrent logins needing the same keys share one PBKDF2', async () => {
    const crypto = countingCrypto();
    const cache = new ScramCache();
    const finals = await Promise.all([1, 2, 3].map(() => toClientFinal(sha1Mech(user, cache, crypto))));
    assert.deepEqual(finals, [SHA1.clientFinal, SHA1.clientFinal, SHA1.clientFinal]);
    assert.equal(crypto.pbkdf2Calls, 1);
    assert.deepEqual([cache.hits, cache.misses], [2, 1]);
  });

  test('the cache is bounded and evicts the least recently used entry', async () => {
    const cache = new ScramCache(2);
    const keys = {
      saltedPassword: new Uint8Array(),
      clientKey: new Uint8Array(),
      storedKey: new Uint8Array(),
      serverKey: new Uint8Array(),
    };
    let derived = 0;
    const derive = async () => (derived++, keys);
    const salt = (n: number) => new Uint8Array([n]);
    await cache.getOrDerive('SHA-1', 'p', salt(1), 1, derive);
    await cache.getOrDerive('SHA-1', 'p', salt(2), 1, derive);
    await cache.getOrDerive('SHA-1', 'p', salt(1), 1, derive); // touch 1: 2 is now oldest
    await cache.getOrDerive('SHA-1', 'p', salt(3), 1, derive); // evicts 2
    assert.equal(cache.size, 2);
    await cache.getOrDerive('SHA-1', 'p', salt(1), 1, derive);
    assert.equal(derived, 3);
    await cache.getOrDerive('SHA-1', 'p', salt(2), 1, derive);
    assert.equal(derived, 4);
  });

  test('a failed derivation is not cached', async () => {
    const cache = new ScramCache();
    const fail = () => Promise.reject(new Error('boom'));
    await assert.rejects(cache.getOrDerive('SHA-256', 'p', new Uint8Array([1]), 1, fail), /boom/);
    assert.equal(cache.size, 0);
  });
});
