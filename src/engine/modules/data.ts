/**
 * `k6/data` SharedArray (internal/js/modules/k6/data): built once per run from the first VU's callback, stored
 * as JSON strings; every element read is parsed anew in the reading VU's realm and deep-frozen; writes throw.
 */
import { types } from 'node:util';
import { UnsupportedK6ApiError, type ModuleFactory, type VuRuntime } from '../runtime.ts';
import { jsError } from './k6.ts';

function deepFreeze(freeze: (o: object) => unknown, v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  freeze(v);
  for (const k of Object.keys(v)) deepFreeze(freeze, (v as Record<string, unknown>)[k]);
}

function isIndex(key: string, length: number): number | undefined {
  if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
  const i = Number(key);
  return i < length ? i : undefined;
}

function wrap(rt: VuRuntime, items: readonly string[]): unknown {
  const realm = rt.realm!;
  const n = items.length;
  const target = new realm.Array(n);
  const element = (i: number) => {
    const v: unknown = realm.JSON.parse(items[i]!);
    deepFreeze((o) => realm.Object.freeze(o), v);
    return v;
  };
  const immutable = () => {
    throw jsError(rt, 'SharedArray is immutable', 'TypeError');
  };
  return new Proxy(target, {
    get(t, key, recv) {
      if (typeof key === 'string') {
        if (key === 'length') return n;
        const i = isIndex(key, n);
        if (i !== undefined) return element(i);
      }
      return Reflect.get(t, key, recv) as unknown;
    },
    has(t, key) {
      return (typeof key === 'string' && isIndex(key, n) !== undefined) || Reflect.has(t, key);
    },
    getOwnPropertyDescriptor(t, key) {
      if (typeof key === 'string') {
        const i = isIndex(key, n);
        if (i !== undefined)
          return { value: element(i), writable: false, enumerable: true, configurable: true };
      }
      return Reflect.getOwnPropertyDescriptor(t, key);
    },
    ownKeys() {
      return [...Array.from({ length: n }, (_, i) => String(i)), 'length'];
    },
    set: immutable,
    defineProperty: immutable,
    deleteProperty: immutable,
    setPrototypeOf: immutable,
  });
}

export const dataModule: ModuleFactory = (rt) => {
  const shared = rt.shared;
  if (shared === undefined || rt.realm === undefined)
    throw new UnsupportedK6ApiError('k6/data without the engine VU');
  function SharedArray(this: unknown, name: unknown, fn: unknown): unknown {
    if (new.target === undefined)
      throw jsError(rt, "Class constructor SharedArray cannot be invoked without 'new'", 'TypeError');
    if (rt.phase !== 'init') throw jsError(rt, 'new SharedArray must be called in the init context');
    const key = String(name ?? '');
    if (name === undefined || key === '')
      throw jsError(rt, "empty name provided to SharedArray's constructor");
    if (types.isAsyncFunction(fn)) {
      throw jsError(rt, 'SharedArray constructor does not support async functions as second argument');
    }
    if (typeof fn !== 'function') {
      throw jsError(rt, "a function is expected as the second argument of SharedArray's constructor");
    }
    const storeKey = `k6/data.SharedArray:${key}`;
    let items = shared!.get(storeKey) as string[] | undefined;
    if (items === undefined) {
      const arr: unknown = (fn as () => unknown)();
      if (!Array.isArray(arr)) throw jsError(rt, 'only arrays can be made into SharedArray');
      items = Array.from({ length: arr.length }, (_, i) => String(JSON.stringify(arr[i])));
      shared!.set(storeKey, items);
    }
    return wrap(rt, items);
  }
  return { SharedArray };
};
