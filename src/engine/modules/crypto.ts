/**
 * `k6/crypto` (internal/js/modules/k6/crypto): digests and HMAC over strings (UTF-8), ArrayBuffers and
 * Uint8Arrays, output as hex, base64, base64url, base64rawurl or binary (an ArrayBuffer, since k6 v0.32).
 * A Hasher can digest more than once and keep updating, as Go's hash.Hash.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { types } from 'node:util';
import { realmArrayBuffer } from '../globals.ts';
import { UnsupportedK6ApiError, type ModuleFactory, type VuRuntime } from '../runtime.ts';
import { jsError } from './k6.ts';

const ALGORITHMS: Record<string, string> = {
  md4: 'md4',
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  sha512_224: 'sha512-224',
  sha512_256: 'sha512-256',
  ripemd160: 'ripemd160',
};

function typeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  if (types.isTypedArray(v)) return Object.prototype.toString.call(v).slice(8, -1);
  return typeof v === 'object' ? 'map[string]interface {}' : typeof v;
}

/** common.ToBytes: string (UTF-8), ArrayBuffer or Uint8Array (Go's []byte). */
export function toBytes(rt: VuRuntime, v: unknown): Uint8Array {
  if (typeof v === 'string') return new Uint8Array(Buffer.from(v, 'utf8'));
  if (types.isAnyArrayBuffer(v)) return new Uint8Array((v as ArrayBuffer).slice(0));
  if (types.isUint8Array(v)) return new Uint8Array(v);
  throw jsError(rt, `invalid type ${typeName(v)}, expected string, []byte or ArrayBuffer`);
}

function nodeAlgorithm(rt: VuRuntime, alg: unknown): string {
  const name = ALGORITHMS[String(alg)];
  if (name === undefined) throw jsError(rt, `invalid algorithm: ${String(alg)}`);
  try {
    createHash(name);
  } catch {
    throw new UnsupportedK6ApiError(`k6/crypto algorithm ${String(alg)}`, "this Node's OpenSSL lacks it");
  }
  return name;
}

export const cryptoModule: ModuleFactory = (rt) => {
  if (rt.realm === undefined) throw new UnsupportedK6ApiError('k6/crypto without a VU context');
  const realm = rt.realm;

  const encode = (sum: Buffer, enc: unknown): unknown => {
    switch (enc) {
      case 'base64':
        return sum.toString('base64');
      case 'base64url':
        return sum.toString('base64url') + '='.repeat((4 - (sum.toString('base64url').length % 4)) % 4);
      case 'base64rawurl':
        return sum.toString('base64url');
      case 'hex':
        return sum.toString('hex');
      case 'binary':
        return realmArrayBuffer(realm, sum);
      default:
        throw jsError(rt, `invalid output encoding: ${String(enc)}`);
    }
  };

  const hasher = (make: () => { update(b: Uint8Array): unknown; digest(): Buffer }) => {
    const chunks: Uint8Array[] = [];
    const h = new realm.Object() as Record<string, unknown>;
    h.update = (input: unknown) => {
      chunks.push(toBytes(rt, input));
    };
    h.digest = (enc: unknown) => {
      const x = make();
      for (const c of chunks) x.update(c);
      return encode(x.digest(), enc);
    };
    return h;
  };

  const createHashFn = (alg: unknown) => {
    const name = nodeAlgorithm(rt, alg);
    return hasher(() => createHash(name));
  };
  const createHMAC = (alg: unknown, key: unknown) => {
    const name = nodeAlgorithm(rt, alg);
    const k = toBytes(rt, key);
    return hasher(() => createHmac(name, k));
  };
  const digestOf = (alg: string) => (input: unknown, enc: unknown) => {
    const h = createHashFn(alg);
    (h.update as (i: unknown) => void)(input);
    return (h.digest as (e: unknown) => unknown)(enc);
  };

  return {
    createHash: createHashFn,
    createHMAC,
    hmac: (alg: unknown, key: unknown, input: unknown, enc: unknown) => {
      const h = createHMAC(alg, key);
      (h.update as (i: unknown) => void)(input);
      return (h.digest as (e: unknown) => unknown)(enc);
    },
    md4: digestOf('md4'),
    md5: digestOf('md5'),
    sha1: digestOf('sha1'),
    sha256: digestOf('sha256'),
    sha384: digestOf('sha384'),
    sha512: digestOf('sha512'),
    sha512_224: digestOf('sha512_224'),
    sha512_256: digestOf('sha512_256'),
    ripemd160: digestOf('ripemd160'),
    randomBytes: (size: unknown) => {
      const n = Number(size);
      if (!(n >= 1)) throw jsError(rt, 'invalid size');
      return realmArrayBuffer(realm, randomBytes(Math.floor(n)));
    },
    hexEncode: (data: unknown) => Buffer.from(toBytes(rt, data)).toString('hex'),
  };
};
