/**
 * A VU's JS context with k6's globals only: the ECMAScript built-ins k6's JS runtime (sobek) has, plus
 * `__ENV`, `__VU`, `__ITER`, `console`, timers, `crypto` and `open`. V8 adds more (Intl, WebAssembly,
 * SharedArrayBuffer, …) and Node's vm adds a console; those are deleted so scripts that rely on them fail
 * here as they would on k6.
 */
import { createHash, createHmac, pbkdf2, randomFillSync, randomUUID, timingSafeEqual } from 'node:crypto';
import { types } from 'node:util';
import vm from 'node:vm';
import { UnsupportedK6ApiError, type VuPhase, type VuRealm } from './runtime.ts';

/** V8 globals sobek lacks: removed from every VU context. */
const NOT_IN_K6 = [
  'Intl',
  'WebAssembly',
  'SharedArrayBuffer',
  'Atomics',
  'WeakRef',
  'FinalizationRegistry',
  'console',
];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

/** What the globals need from their VU. */
export interface GlobalsHost {
  readonly id: number;
  readonly phase: VuPhase;
  readonly realm: VuRealm;
  beginOp(kind: 'timer' | 'socket' | 'http' | 'other'): () => void;
  /** beginOp without a closure: returns the epoch to end the op with, once. */
  opStarted(): number;
  opEnded(epoch: number): void;
  /** Runs a script callback; an exception fails the running iteration. */
  invoke(fn: (...a: unknown[]) => unknown, thisArg: unknown, args: unknown[]): void;
  log: Logger;
  /** File contents for `open()`, cached per run. */
  readFile(absPath: string): Buffer;
  readonly scriptDir: string;
}

export function createVuContext(): { context: vm.Context; realm: VuRealm } {
  // DONT_CONTEXTIFY: the context's own global object, with no interceptor between script code and its globals.
  // A contextified sandbox routes every global lookup (Date, Math, Promise…) through C++ callbacks, ~8× slower.
  const context = vm.createContext(vm.constants.DONT_CONTEXTIFY, { name: 'k6 VU' });
  const realm = vm.runInContext(
    `({ global: globalThis, Object, Array, Error, TypeError, Promise, ArrayBuffer, Uint8Array, JSON })`,
    context,
  ) as VuRealm;
  vm.runInContext(NOT_IN_K6.map((n) => `delete globalThis.${n};`).join(''), context);
  return { context, realm };
}

/** A realm error with a DOMException-like name (k6's webcrypto and timers throw such named errors). */
export function realmError(realm: VuRealm, message: string, name = 'Error'): Error {
  const e = new realm.Error(message);
  if (name !== 'Error') Object.defineProperty(e, 'name', { value: name, configurable: true, writable: true });
  return e;
}

/** Bytes of a string (UTF-8), ArrayBuffer or ArrayBuffer view from any realm, copied. */
export function bufferSourceBytes(v: unknown): Uint8Array | undefined {
  if (types.isAnyArrayBuffer(v)) return new Uint8Array((v as ArrayBuffer).slice(0));
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  return undefined;
}

/** An ArrayBuffer of the VU's own realm (so `instanceof ArrayBuffer` holds in script code). */
export function realmArrayBuffer(realm: VuRealm, bytes: Uint8Array): ArrayBuffer {
  const out = new realm.Uint8Array(bytes.length);
  out.set(bytes);
  return out.buffer as ArrayBuffer;
}

// ---- console -----------------------------------------------------------------------------------------

const hex2 = (b: number) => b.toString(16).padStart(2, '0');

function traverse(v: unknown, seen: Set<object>): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'function') return '[object Function]';
  if (typeof v !== 'object') return typeof v === 'string' ? JSON.stringify(v) : String(v);
  if (seen.has(v)) return '[Circular]';
  seen.add(v);
  try {
    if (types.isNativeError(v)) return String(v);
    if (types.isAnyArrayBuffer(v)) {
      const bytes = new Uint8Array(v as ArrayBuffer);
      return `ArrayBuffer { [Uint8Contents]: <${[...bytes].map(hex2).join(' ')}>, byteLength: ${bytes.length} }`;
    }
    if (types.isTypedArray(v)) {
      const arr = v as unknown as ArrayLike<number | bigint>;
      const name = Object.prototype.toString.call(v).slice(8, -1);
      return arr.length === 0 ? `${name}(0) []` : `${name}(${arr.length}) [ ${Array.from(arr).join(', ')} ]`;
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[ ${Array.from({ length: v.length }, (_, i) => traverse(v[i], seen)).join(', ')} ]`;
    }
    const keys = Object.keys(v);
    if (keys.length === 0) return types.isDate(v) ? JSON.stringify((v as Date).toISOString()) : '{}';
    return `{ ${keys.map((k) => `${k}: ${traverse((v as Record<string, unknown>)[k], seen)}`).join(', ')} }`;
  } finally {
    seen.delete(v);
  }
}

/** k6's console formatting (internal/js/console.go): strings bare at top level, objects traversed. */
export function formatConsoleArgs(args: unknown[]): string {
  return args
    .map((a) => {
      if (typeof a === 'function') return '[object Function]';
      if (typeof a !== 'object' || a === null) return String(a);
      if (types.isNativeError(a)) return String(a);
      return traverse(a, new Set());
    })
    .join(' ');
}

function makeConsole(host: GlobalsHost): Record<string, unknown> {
  const c = new host.realm.Object() as Record<string, unknown>;
  const level = (lv: LogLevel) =>
    function (...args: unknown[]) {
      host.log(lv, formatConsoleArgs(args));
    };
  c.log = level('info');
  c.info = level('info');
  c.debug = level('debug');
  c.warn = level('warn');
  c.error = level('error');
  return c;
}

// ---- timers ------------------------------------------------------------------------------------------

const MAX_DELAY = 2 ** 31 - 1;

/** setTimeout/setInterval of one VU (k6 tc55/timers): ids from 1, each pending timer is an op. */
/** A pending setTimeout/setInterval: one object per timer, no closure (a VU sets one or two per think). */
class PendingTimer {
  handle: NodeJS.Timeout | undefined;
  constructor(
    readonly timers: Timers,
    readonly id: number,
    readonly cb: (...a: unknown[]) => unknown,
    readonly args: unknown[],
    readonly repeat: boolean,
    readonly name: string,
    /** The op's epoch (GlobalsHost.opStarted). */
    readonly epoch: number,
  ) {}
}

/** What Node calls for every timer, with the timer as its argument. */
function firePending(t: PendingTimer): void {
  t.timers.fire(t);
}

const NO_ARGS: unknown[] = [];

export class Timers {
  private nextId = 0;
  private readonly active = new Map<number, PendingTimer>();

  constructor(private readonly host: GlobalsHost) {}

  private schedule(name: string, repeat: boolean, cb: unknown, delay: unknown, args: unknown[]): number {
    if (typeof cb !== 'function') {
      throw new this.host.realm.TypeError(`${name}'s callback isn't a callable function`);
    }
    let ms = Number(delay);
    if (!(ms > 0)) ms = 0;
    ms = Math.min(ms, MAX_DELAY);
    const id = ++this.nextId;
    const t = new PendingTimer(
      this,
      id,
      cb as (...a: unknown[]) => unknown,
      args,
      repeat,
      name,
      this.host.opStarted(),
    );
    t.handle = repeat ? setInterval(firePending, ms, t) : setTimeout(firePending, ms, t);
    this.active.set(id, t);
    return id;
  }

  /** A timer is due: a timeout ends its op before its callback runs, an interval stays until cleared. */
  fire(t: PendingTimer): void {
    if (!this.active.has(t.id)) return;
    if (!t.repeat) {
      this.active.delete(t.id);
      this.host.opEnded(t.epoch);
    }
    this.host.invoke(t.cb, this.host.realm.global, t.args);
  }

  clear(id: unknown): void {
    const t = this.active.get(Number(id));
    if (t === undefined) return;
    this.active.delete(t.id);
    clearTimeout(t.handle);
    this.host.opEnded(t.epoch);
  }

  /** On interruption: k6 drops pending timers and warns about each one. */
  clearAll(warn: boolean): void {
    for (const [id, t] of [...this.active]) {
      if (warn) this.host.log('warn', `${t.name} ${id} was stopped because the VU iteration was interrupted`);
      this.clear(id);
    }
  }

  get pending(): number {
    return this.active.size;
  }

  install(target: Record<string, unknown>): void {
    // Extra arguments are rare: no array is made for a call without them.
    const argsFrom = (a: IArguments): unknown[] =>
      a.length > 2 ? Array.prototype.slice.call(a, 2) : NO_ARGS;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- function expressions (for `arguments`) have their own this
    const timers = this;
    target.setTimeout = function setTimeout(cb: unknown, delay?: unknown): number {
      // eslint-disable-next-line prefer-rest-params
      return timers.schedule('setTimeout', false, cb, delay, argsFrom(arguments));
    };
    target.setInterval = function setInterval(cb: unknown, delay?: unknown): number {
      // eslint-disable-next-line prefer-rest-params
      return timers.schedule('setInterval', true, cb, delay, argsFrom(arguments));
    };
    target.clearTimeout = (id: unknown) => this.clear(id);
    target.clearInterval = (id: unknown) => this.clear(id);
  }
}

// ---- crypto (WebCrypto subset k6 ≥ v1.6 has for the XMPP scenarios) ---------------------------------------

const HASHES: Record<string, string> = {
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

interface KeyData {
  bytes: Uint8Array;
  name: 'HMAC' | 'PBKDF2';
  hash?: string;
  usages: string[];
}

function algName(alg: unknown): string {
  if (typeof alg === 'string') return alg;
  if (typeof alg === 'object' && alg !== null && typeof (alg as { name?: unknown }).name === 'string') {
    return (alg as { name: string }).name;
  }
  return '';
}

function makeCrypto(host: GlobalsHost): Record<string, unknown> {
  const { realm } = host;
  const keys = new WeakMap<object, KeyData>();
  const fail = (message: string, name: string) => realmError(realm, message, name);
  const rejected = (e: unknown) => realm.Promise.reject(e);
  const normalizeHash = (h: unknown): string => {
    const name = algName(h).toUpperCase();
    if (HASHES[name] === undefined)
      throw fail(`hash algorithm ${algName(h) || String(h)} is not supported`, 'NotSupportedError');
    return name;
  };
  const bytesOf = (v: unknown, what: string): Uint8Array => {
    const b = bufferSourceBytes(v);
    if (b === undefined) throw fail(`${what} must be an ArrayBuffer, TypedArray or DataView`, 'TypeError');
    return b;
  };
  /** Async in k6: runs off the VU and resolves on its event loop. */
  const async = <T>(work: () => T | Promise<T>): Promise<T> => {
    try {
      const v = work();
      if (!(v instanceof Promise)) return realm.Promise.resolve(v);
      const end = host.beginOp('other');
      return new realm.Promise<T>((resolve, reject) => {
        v.then(
          (x) => {
            end();
            resolve(x);
          },
          (e: unknown) => {
            end();
            reject(e);
          },
        );
      });
    } catch (e) {
      return rejected(e);
    }
  };
  const keyOf = (key: unknown, alg: string, usage: string): KeyData => {
    const k = typeof key === 'object' && key !== null ? keys.get(key) : undefined;
    if (k === undefined) throw fail('key is not a CryptoKey', 'TypeError');
    if (k.name !== alg) throw fail(`key algorithm ${k.name} does not match ${alg}`, 'InvalidAccessError');
    if (!k.usages.includes(usage)) throw fail(`key usages do not permit ${usage}`, 'InvalidAccessError');
    return k;
  };
  const unsupported = (what: string) => () => {
    throw new UnsupportedK6ApiError(`crypto.subtle.${what}`);
  };

  const subtle = {
    digest(algorithm: unknown, data: unknown) {
      return async(() => {
        const name = normalizeHash(algorithm);
        const d = bytesOf(data, 'data');
        return realmArrayBuffer(realm, createHash(HASHES[name]!).update(d).digest());
      });
    },
    importKey(format: unknown, keyData: unknown, algorithm: unknown, extractable: unknown, usages: unknown) {
      return async(() => {
        const name = algName(algorithm).toUpperCase();
        if (format !== 'raw' || (name !== 'HMAC' && name !== 'PBKDF2')) {
          throw new UnsupportedK6ApiError(
            `crypto.subtle.importKey('${String(format)}', …, ${algName(algorithm) || '?'})`,
          );
        }
        const list = Array.isArray(usages) ? usages.map(String) : [];
        const allowed = name === 'HMAC' ? ['sign', 'verify'] : ['deriveBits', 'deriveKey'];
        if (list.length === 0 || list.some((u) => !allowed.includes(u))) {
          throw fail(`invalid key usages for ${name}: ${list.join(', ')}`, 'SyntaxError');
        }
        if (name === 'PBKDF2' && extractable) throw fail('PBKDF2 keys cannot be extractable', 'SyntaxError');
        const bytes = bytesOf(keyData, 'keyData');
        const data: KeyData = { bytes, name, usages: list };
        const keyAlg = new realm.Object() as Record<string, unknown>;
        keyAlg.name = name;
        if (name === 'HMAC') {
          data.hash = normalizeHash((algorithm as { hash?: unknown }).hash);
          const hashObj = new realm.Object() as Record<string, unknown>;
          hashObj.name = data.hash;
          keyAlg.hash = hashObj;
          keyAlg.length = bytes.length * 8;
        }
        const key = new realm.Object() as Record<string, unknown>;
        key.type = 'secret';
        key.extractable = Boolean(extractable);
        key.algorithm = keyAlg;
        key.usages = realm.Array.from(list);
        keys.set(key, data);
        return key;
      });
    },
    sign(algorithm: unknown, key: unknown, data: unknown) {
      return async(() => {
        const k = keyOf(key, algName(algorithm).toUpperCase(), 'sign');
        const mac = createHmac(HASHES[k.hash!]!, k.bytes).update(bytesOf(data, 'data')).digest();
        return realmArrayBuffer(realm, mac);
      });
    },
    verify(algorithm: unknown, key: unknown, signature: unknown, data: unknown) {
      return async(() => {
        const k = keyOf(key, algName(algorithm).toUpperCase(), 'verify');
        const mac = createHmac(HASHES[k.hash!]!, k.bytes).update(bytesOf(data, 'data')).digest();
        const sig = bytesOf(signature, 'signature');
        return sig.length === mac.length && timingSafeEqual(sig, mac);
      });
    },
    deriveBits(algorithm: unknown, key: unknown, length: unknown) {
      return async(() => {
        const name = algName(algorithm).toUpperCase();
        if (name !== 'PBKDF2')
          throw new UnsupportedK6ApiError(`crypto.subtle.deriveBits(${algName(algorithm)})`);
        const k = keyOf(key, 'PBKDF2', 'deriveBits');
        const p = algorithm as { hash?: unknown; salt?: unknown; iterations?: unknown };
        const hash = normalizeHash(p.hash);
        const salt = bytesOf(p.salt, 'salt');
        const iterations = Number(p.iterations);
        const bits = Number(length);
        if (!(iterations > 0)) throw fail('iterations must be greater than 0', 'OperationError');
        if (!(bits > 0) || bits % 8 !== 0)
          throw fail('length must be a positive multiple of 8', 'OperationError');
        return new Promise<ArrayBuffer>((resolve, reject) => {
          pbkdf2(k.bytes, salt, iterations, bits / 8, HASHES[hash]!, (err, out) => {
            if (err) reject(fail(err.message, 'OperationError'));
            else resolve(realmArrayBuffer(realm, out));
          });
        });
      });
    },
    encrypt: unsupported('encrypt'),
    decrypt: unsupported('decrypt'),
    generateKey: unsupported('generateKey'),
    deriveKey: unsupported('deriveKey'),
    exportKey: unsupported('exportKey'),
    wrapKey: unsupported('wrapKey'),
    unwrapKey: unsupported('unwrapKey'),
  };

  const c = new realm.Object() as Record<string, unknown>;
  c.getRandomValues = (arr: unknown) => {
    if (!types.isTypedArray(arr) || types.isFloat32Array(arr) || types.isFloat64Array(arr)) {
      throw fail('data must be an integer-typed array', 'TypeMismatchError');
    }
    if ((arr as ArrayBufferView).byteLength > 65536) {
      throw fail('data byteLength exceeds 65536', 'QuotaExceededError');
    }
    randomFillSync(arr as Uint8Array);
    return arr;
  };
  c.randomUUID = () => randomUUID();
  c.subtle = Object.assign(new realm.Object(), subtle);
  return c;
}

// ---- install -----------------------------------------------------------------------------------------

const INIT_ONLY = (name: string) =>
  `the "${name}" function is only available in the init stage (i.e. the global scope), ` +
  'see https://grafana.com/docs/k6/latest/using-k6/test-lifecycle/ for more information';

/** Puts k6's globals into a fresh context; returns the VU's timers. */
export function installGlobals(host: GlobalsHost, env: Record<string, string>): Timers {
  const g = host.realm.global as Record<string, unknown>;
  const timers = new Timers(host);
  setEnv(host.realm, env);
  g.__VU = host.id;
  g.console = makeConsole(host);
  timers.install(g);
  g.crypto = makeCrypto(host);
  g.open = function open(filename: unknown, mode?: unknown) {
    if (host.phase !== 'init') throw realmError(host.realm, INIT_ONLY('open'));
    const name = String(filename ?? '');
    if (name === '') throw realmError(host.realm, "open() can't be used with an empty filename");
    const abs = name.startsWith('file://')
      ? new URL(name).pathname
      : name.startsWith('/')
        ? name
        : `${host.scriptDir}/${name}`;
    let data: Buffer;
    try {
      data = host.readFile(abs);
    } catch {
      throw realmError(host.realm, `open ${abs}: no such file or directory`);
    }
    return mode === 'b' ? realmArrayBuffer(host.realm, data) : data.toString('utf8');
  };
  return timers;
}

/** `__ENV`: a per-VU copy (k6's default, mutable and isolated from other VUs). */
export function setEnv(realm: VuRealm, env: Record<string, string>): void {
  const obj = new realm.Object() as Record<string, string>;
  for (const [k, v] of Object.entries(env)) obj[k] = v;
  (realm.global as Record<string, unknown>).__ENV = obj;
}
