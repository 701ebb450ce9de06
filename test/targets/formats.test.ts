import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { accountFor, validateAccountOptions } from '../../src/targets/accounts.ts';
import { piefxisUser } from '../../src/targets/ejabberd.ts';
import { LocalServerOptionError } from '../../src/targets/errors.ts';
import { startLocalServer } from '../../src/targets/index.ts';
import {
  accountFileContent,
  accountFilePath,
  plainAccountFileContent,
  prosodyPathEncode,
  renderProsodyConfig,
  type ProsodyConfig,
} from '../../src/targets/prosody.ts';
import { deriveScram } from '../../src/targets/scram.ts';

// RFC 6070 PBKDF2-HMAC-SHA1 vector: P="password", S="salt", c=4096, dkLen=20.
const RFC6070_SALTED = Buffer.from('4b007901b765489abead49d926f721d065a429c1', 'hex');

describe('SCRAM-SHA-1 credentials', () => {
  test('derive StoredKey and ServerKey from PBKDF2-HMAC-SHA1 with 4096 iterations', async () => {
    const credentials = await deriveScram('sha1', 'password', 'salt');
    const clientKey = createHmac('sha1', RFC6070_SALTED).update('Client Key').digest();
    assert.equal(credentials.iterationCount, 4096);
    assert.deepEqual(credentials.storedKey, createHash('sha1').update(clientKey).digest());
    assert.deepEqual(credentials.serverKey, createHmac('sha1', RFC6070_SALTED).update('Server Key').digest());
  });
});

describe('Prosody account files', () => {
  test('paths %-encode every non-alphanumeric byte like util.datamanager', () => {
    assert.equal(prosodyPathEncode('user.1_a-b'), 'user%2e1%5fa%2db');
    assert.equal(accountFilePath('/d', 'xmpp.test', 'user7'), '/d/xmpp%2etest/accounts/user7.dat');
  });

  test('hold the raw salt and hex keys mod_auth_internal_hashed reads', () => {
    const content = accountFileContent({
      hash: 'sha1',
      salt: 'abc-123',
      iterationCount: 4096,
      storedKey: Buffer.from('0a0b', 'hex'),
      serverKey: Buffer.from('ff00', 'hex'),
    });
    assert.equal(
      content,
      'return {\n\t["iteration_count"] = 4096;\n\t["salt"] = "abc-123";\n' +
        '\t["server_key"] = "ff00";\n\t["stored_key"] = "0a0b";\n};\n',
    );
  });
});

describe('Prosody with plain passwords (internal_plain)', () => {
  const config: ProsodyConfig = {
    domain: 'localhost',
    dir: '/d',
    dataDir: '/d/data',
    c2sPort: 5222,
    httpPort: 5280,
    logFile: '/d/prosody.log',
    logLevel: 'warn',
    runAsRoot: false,
  };

  test('account files hold the password itself, as mod_auth_internal_plain reads it', () => {
    assert.equal(plainAccountFileContent('pass17'), 'return {\n\t["password"] = "pass17";\n};\n');
  });

  test('quotes and backslashes in a password are escaped for Lua', () => {
    assert.equal(plainAccountFileContent('a"b\\c'), 'return {\n\t["password"] = "a\\"b\\\\c";\n};\n');
  });

  test('the config names the provider, hashed by default', () => {
    assert.match(renderProsodyConfig(config), /^authentication = "internal_hashed"$/m);
    assert.match(renderProsodyConfig(config), /^gc = \{ mode = "generational" \}$/m);
    assert.match(
      renderProsodyConfig({ ...config, authentication: 'internal_plain' }),
      /^authentication = "internal_plain"$/m,
    );
  });

  test('startLocalServer refuses an unknown store, or one for ejabberd, before starting anything', async () => {
    await assert.rejects(
      startLocalServer({ kind: 'prosody', users: 1, prosodyAuth: 'plain' as 'internal_plain' }),
      /unknown prosodyAuth 'plain' \(use internal_hashed or internal_plain\)/,
    );
    await assert.rejects(
      startLocalServer({ kind: 'ejabberd', users: 1, prosodyAuth: 'internal_plain' }),
      /prosodyAuth needs kind prosody, not ejabberd/,
    );
  });
});

describe('ejabberd PIEFXIS accounts', () => {
  test('carry each SCRAM field base64-encoded twice, as ejabberd 23.01 exports them', () => {
    const xml = piefxisUser('user1', {
      hash: 'sha256',
      salt: 'ab',
      iterationCount: 4096,
      storedKey: Buffer.from([1, 2]),
      serverKey: Buffer.from([3, 4]),
    });
    const twice = (b: Buffer | string) => Buffer.from(Buffer.from(b).toString('base64')).toString('base64');
    assert.match(
      xml,
      /^<user name='user1'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-256'>/,
    );
    assert.ok(xml.includes(`<salt>${twice('ab')}</salt>`));
    assert.ok(xml.includes(`<stored-key>${twice(Buffer.from([1, 2]))}</stored-key>`));
    assert.ok(xml.includes(`<server-key>${twice(Buffer.from([3, 4]))}</server-key>`));
    assert.ok(xml.includes('<iter-count>4096</iter-count>'));
  });
});

describe('account options', () => {
  test('patterns expand {n} into name, password and JID', () => {
    assert.deepEqual(accountFor(3, 'bot{n}', 'secret', 'xmpp.test'), {
      jid: 'bot3@xmpp.test',
      username: 'bot3',
      password: 'secret',
    });
  });

  test('reject names nodeprep would change, shared names, and bad domains', () => {
    assert.throws(() => validateAccountOptions(10, 'User{n}', 'p', 'localhost'), LocalServerOptionError);
    assert.throws(() => validateAccountOptions(10, 'user', 'p', 'localhost'), /has no \{n\}/);
    assert.throws(() => validateAccountOptions(10, 'user{n}', 'pä{n}', 'localhost'), /printable ASCII/);
    assert.throws(() => validateAccountOptions(10, 'user{n}', 'p', 'Local_Host'), /domain/);
    assert.doesNotThrow(() => validateAccountOptions(1, 'admin', 'same password', 'localhost'));
  });
});
