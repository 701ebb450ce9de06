import {
  base64Decode,
  base64Encode,
  bytesEqual,
  concatBytes,
  EncodingError,
  utf8Decode,
  utf8Encode,
  xorBytes,
} from '../bytes.ts';
import type { CryptoProvider, HashAlg } from '../crypto.ts';
import { XmppError } from '../errors.ts';
import { decodeSaslData, encodeInitialResponse, encodeResponse } from './base64.ts';
import type { SaslCredentials, SaslMechanism } from './mechanism.ts';
import type { ScramCache, ScramKeys } from './scram-cache.ts';

// Re-exported: ScramCache was defined here, and hosts import it from this file.
export { ScramCache, type ScramKeys } from './scram-cache.ts';

const HASH_BYTES: Record<HashAlg, number> = { 'SHA-1': 20, 'SHA-256': 32 };

/** Client nonce length in random bytes; base64 of 18 bytes is 24 printable chars without ','. */
const NONCE_BYTES = 18;

// Code points as numbers: a regex character class of these trips no-misleading-character-class.
const MAPPED_TO_NOTHING = new Set([
  0xad, 0x34f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff,
]);
const NON_ASCII_SPACE = new Set([0xa0, 0x1680, 0x202f, 0x205f, 0x3000]);

/**
 * SASLprep (RFC 4013), the common subset: drop "commonly mapped to nothing" (B.1), map non-ASCII
 * spaces (C.1.2) to U+0020, then NFKC. Prohibited-output, bidi and unassigned checks are not done:
 * the strings are our own test credentials, and a server that rejects them fails auth visibly.
 */
export function saslprep(s: string): string {
  if (/^[\x20-\x7e]*$/.test(s)) return s; // ASCII printable is a fixed point.
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (MAPPED_TO_NOTHING.has(c) || (c >= 0xfe00 && c <= 0xfe0f)) continue;
    out += NON_ASCII_SPACE.has(c) || (c >= 0x2000 && c <= 0x200a) ? ' ' : s[i];
  }
  return out.normalize('NFKC');
}

/** RFC 5802 saslname: ',' and '=' must not appear raw in a username or authzid. */
export function escapeSaslname(s: string): string {
  return s.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export async function deriveScramKeys(
  crypto: CryptoProvider,
  alg: HashAlg,
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<ScramKeys> {
  const saltedPassword = await crypto.pbkdf2(alg, utf8Encode(password), salt, iterations, HASH_BYTES[alg]);
  const clientKey = await crypto.hmac(alg, saltedPassword, utf8Encode('Client Key'));
  const storedKey = await crypto.hash(alg, clientKey);
  const serverKey = await crypto.hmac(alg, saltedPassword, utf8Encode('Server Key'));
  return { saltedPassword, clientKey, storedKey, serverKey };
}

export interface ScramOptions {
  cache?: ScramCache | undefined;
  /** Client nonce override (test vectors). Default: base64 of 18 bytes from crypto.randomBytes. */
  clientNonce?: (() => string) | undefined;
}

function protocolError(message: string): XmppError {
  return new XmppError('auth-protocol', undefined, `SCRAM: ${message}`);
}

/** Split `a=v,b=w` into [name, value] pairs; every part must look like `x=...`. */
function parseAttributes(msg: string, what: string): [string, string][] {
  return msg.split(',').map((part) => {
    if (!/^[a-zA-Z]=/.test(part)) throw protocolError(`malformed ${what} ${JSON.stringify(msg)}`);
    return [part[0]!, part.slice(2)];
  });
}

type State = 'start' | 'first-sent' | 'final-sent' | 'verified' | 'failed';

/**
 * RFC 5802 SCRAM-SHA-1 / RFC 7677 SCRAM-SHA-256 client without channel binding (gs2 flag `n`).
 * Wire format as in SaslMechanism. The server-final message is accepted in `<success>` (RFC 6120)
 * or, from servers that send it as a last `<challenge>`, there (answered with an empty response).
 */
export class ScramMechanism implements SaslMechanism {
  readonly name: string;
  private readonly alg: HashAlg;
  private readonly credentials: SaslCredentials;
  private readonly crypto: CryptoProvider;
  private readonly options: ScramOptions;
  private state: State = 'start';
  private gs2Header = '';
  private clientNonce = '';
  private clientFirstBare = '';
  private expectedServerSignature: Uint8Array | undefined;

  constructor(
    alg: HashAlg,
    credentials: SaslCredentials,
    crypto: CryptoProvider,
    options: ScramOptions = {},
  ) {
    this.alg = alg;
    this.name = `SCRAM-${alg}`;
    this.credentials = credentials;
    this.crypto = crypto;
    this.options = options;
  }

  async initial(): Promise<string> {
    if (this.state !== 'start') throw protocolError('initial() called twice');
    const nonce = this.options.clientNonce?.() ?? base64Encode(this.crypto.randomBytes(NONCE_BYTES));
    // Printable ASCII except ',' (RFC 5802 §7 "printable"); our own bug if violated.
    if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce))
      throw new RangeError(`SCRAM: invalid client nonce ${JSON.stringify(nonce)}`);
    const { authzid } = this.credentials;
    this.clientNonce = nonce;
    this.gs2Header = authzid ? `n,a=${escapeSaslname(saslprep(authzid))},` : 'n,,';
    this.clientFirstBare = `n=${escapeSaslname(saslprep(this.credentials.username))},r=${nonce}`;
    this.state = 'first-sent';
    return encodeInitialResponse(utf8Encode(this.gs2Header + this.clientFirstBare));
  }

  async challenge(data: string): Promise<string> {
    try {
      if (this.state === 'first-sent') return await this.serverFirst(decodeSaslData(data));
      if (this.state === 'final-sent') {
        this.serverFinal(decodeSaslData(data));
        return encodeResponse(new Uint8Array(0));
      }
      throw protocolError(`unexpected challenge in state ${this.state}`);
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  async success(additionalData: string | null): Promise<void> {
    try {
      const data = decodeSaslData(additionalData);
      if (this.state === 'final-sent') {
        if (data.length === 0) throw protocolError('success without server-final message (no v=)');
        this.serverFinal(data);
      } else if (this.state === 'verified') {
        // Already verified from a challenge; if the server repeats v=, it must still match.
        if (data.length > 0) this.serverFinal(data);
      } else {
        throw protocolError(`success in state ${this.state}, before the exchange finished`);
      }
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  private async serverFirst(raw: Uint8Array): Promise<string> {
    const msg = utf8Decode(raw);
    if (msg.startsWith('m=')) throw protocolError('server requires an unsupported mandatory extension (m=)');
    const attrs = parseAttributes(msg, 'server-first-message');
    const [r, s, i] = attrs;
    if (r?.[0] !== 'r') throw protocolError(`server-first-message has no nonce (r=): ${JSON.stringify(msg)}`);
    if (s?.[0] !== 's') throw protocolError(`server-first-message has no salt (s=): ${JSON.stringify(msg)}`);
    if (i?.[0] !== 'i')
      throw protocolError(`server-first-message has no iteration count (i=): ${JSON.stringify(msg)}`);
    const serverNonce = r[1];
    if (!serverNonce.startsWith(this.clientNonce) || serverNonce.length === this.clientNonce.length) {
      throw protocolError('server nonce does not extend the client nonce');
    }
    let salt: Uint8Array;
    try {
      salt = base64Decode(s[1]);
    } catch (e) {
      if (e instanceof EncodingError) throw protocolError(`salt: ${e.message}`);
      throw e;
    }
    if (salt.length === 0) throw protocolError('empty salt');
    if (!/^[1-9][0-9]*$/.test(i[1]) || !Number.isSafeInteger(Number(i[1]))) {
      throw protocolError(`invalid iteration count i=${i[1]} (must be an integer >= 1)`);
    }
    const iterations = Number(i[1]);

    const password = saslprep(this.credentials.password);
    const derive = () => deriveScramKeys(this.crypto, this.alg, password, salt, iterations);
    const keys = this.options.cache
      ? await this.options.cache.getOrDerive(this.alg, password, salt, iterations, derive)
      : await derive();

    const withoutProof = `c=${base64Encode(utf8Encode(this.gs2Header))},r=${serverNonce}`;
    // AuthMessage uses the server's bytes verbatim, so a non-UTF-8 oddity cannot change the signature input.
    const authMessage = concatBytes(
      utf8Encode(this.clientFirstBare + ','),
      raw,
      utf8Encode(',' + withoutProof),
    );
    const clientSignature = await this.crypto.hmac(this.alg, keys.storedKey, authMessage);
    const proof = xorBytes(keys.clientKey, clientSignature);
    this.expectedServerSignature = await this.crypto.hmac(this.alg, keys.serverKey, authMessage);
    this.state = 'final-sent';
    return encodeResponse(utf8Encode(`${withoutProof},p=${base64Encode(proof)}`));
  }

  private serverFinal(raw: Uint8Array): void {
    const msg = utf8Decode(raw);
    if (msg.startsWith('e=')) {
      const err = msg.slice(2).split(',')[0] ?? '';
      throw new XmppError('auth-failed', err || undefined, `SCRAM: server-final error e=${err}`);
    }
    const [v] = parseAttributes(msg, 'server-final-message');
    if (v?.[0] !== 'v')
      throw protocolError(`server-final-message has no verifier (v=): ${JSON.stringify(msg)}`);
    let signature: Uint8Array;
    try {
      signature = base64Decode(v[1]);
    } catch (e) {
      if (e instanceof EncodingError) throw protocolError(`server signature: ${e.message}`);
      throw e;
    }
    if (!this.expectedServerSignature || !bytesEqual(signature, this.expectedServerSignature)) {
      throw new XmppError(
        'auth-server-signature',
        undefined,
        'SCRAM: server signature does not match (server does not know the password, or the exchange was altered)',
      );
    }
    this.state = 'verified';
  }
}
