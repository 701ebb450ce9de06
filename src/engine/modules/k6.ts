/**
 * `k6`: check, group, sleep, fail, randomSeed — as grafana/k6 internal/js/modules/k6/k6.go.
 */
import { types } from 'node:util';
import { performance } from 'node:perf_hooks';
import { UnsupportedK6ApiError, type ModuleFactory, type Tags, type VuRuntime } from '../runtime.ts';
import { mulberry32 } from '../random.ts';
import { runGroupSummary } from '../summary.ts';

/** The part of the engine's VU that group() needs; test doubles without it get no group tag. */
interface GroupHost {
  groupPath: string;
}

function hasGroup(rt: VuRuntime): rt is VuRuntime & GroupHost {
  return typeof (rt as Partial<GroupHost>).groupPath === 'string';
}

export function jsError(rt: VuRuntime, message: string, type: 'Error' | 'TypeError' = 'Error'): Error {
  const ctor = rt.realm?.[type] ?? (type === 'Error' ? Error : TypeError);
  return new ctor(message);
}

const GROUP_SEPARATOR = '::';

/** common.ApplyCustomUserTags: tag values must be strings, numbers or booleans. */
export function userTags(rt: VuRuntime, tags: unknown): Tags {
  const out: Tags = {};
  if (tags === undefined || tags === null) return out;
  if (typeof tags !== 'object') throw jsError(rt, 'invalid tags: expected an object');
  for (const [k, v] of Object.entries(tags)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw jsError(
        rt,
        `invalid value for metric tag '${k}': only String, Boolean and Number types are accepted as a metric tag value`,
      );
    }
    out[k] = String(v);
  }
  return out;
}

/** Blocks the thread: exact for the one VU that runs, but it would stall every other VU of this process. */
function blockFor(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export const k6Module: ModuleFactory = (rt) => {
  // The run-wide tree behind the summary's root_group, fed the same `checks` / `group_duration` samples (and tags)
  // the metrics get, as k6's GroupSummary output is. k6 docs (Checks): "failed checks do not cause the test to abort
  // or finish with a failed status. Instead, k6 keeps track of the rate of failed checks"; the classic summary lists
  // each check under its group with its passes and fails.
  const groups = rt.shared === undefined ? undefined : runGroupSummary(rt.shared);

  function check(val: unknown, sets: unknown, tags?: unknown): boolean {
    if (rt.phase === 'init') throw jsError(rt, 'Using check() in the init context is not supported');
    if (sets === undefined || sets === null) throw jsError(rt, 'no checks provided to `check`');
    const common = { ...rt.tags(), ...userTags(rt, tags) };
    const obj = Object(sets) as Record<string, unknown>;
    let ok = true;
    for (const name of Object.keys(obj)) {
      if (name.includes(GROUP_SEPARATOR)) throw jsError(rt, "group and check names may not contain '::'");
      let v = obj[name];
      if (types.isAsyncFunction(v)) {
        throw jsError(
          rt,
          'the built-in check() does not support async functions as arguments. Use the JavaScript utils library as ' +
            'a replacement. Refer to https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/check/ for more info',
        );
      }
      let exc: { e: unknown } | undefined;
      if (typeof v === 'function') {
        try {
          v = (v as (x: unknown) => unknown)(val);
        } catch (e) {
          v = false;
          exc = { e };
        }
      }
      const pass = Boolean(v);
      if (!pass) ok = false;
      const sampleTags = { ...common, check: name };
      rt.metrics.push('checks', pass ? 1 : 0, sampleTags, Date.now());
      groups?.add('checks', pass ? 1 : 0, sampleTags);
      if (exc !== undefined) throw exc.e;
    }
    return ok;
  }

  function group(name: unknown, fn: unknown): unknown {
    if (rt.phase === 'init') throw jsError(rt, 'Using group() in the init context is not supported');
    if (typeof fn !== 'function') throw jsError(rt, 'group() requires a callback as a second argument');
    if (types.isAsyncFunction(fn)) {
      throw jsError(
        rt,
        'group() does not support async functions as arguments, please see ' +
          'https://grafana.com/docs/k6/latest/javascript-api/k6/group/ for more info',
      );
    }
    const groupName = String(name);
    if (groupName.includes(GROUP_SEPARATOR)) throw jsError(rt, "group and check names may not contain '::'");
    const host = hasGroup(rt) ? rt : undefined;
    const old = host?.groupPath ?? '';
    const path = old === '' && groupName === '' ? '' : `${old}${GROUP_SEPARATOR}${groupName}`;
    if (host) host.groupPath = path;
    const start = performance.now();
    try {
      return (fn as () => unknown)();
    } finally {
      const tags = rt.tags();
      const duration = performance.now() - start;
      rt.metrics.push('group_duration', duration, tags, Date.now());
      groups?.add('group_duration', duration, tags);
      if (host) host.groupPath = old;
    }
  }

  function sleep(secs: unknown): void {
    const ms = Number(secs) * 1000;
    if (rt.phase === 'iteration' && rt.execution.instance.vusInitialized > 1) {
      throw new UnsupportedK6ApiError(
        'sleep() in a test with more than one VU',
        "starling's VUs share one thread, so a blocking sleep would stall them all; " +
          'pace with `await new Promise((r) => setTimeout(r, ms))` instead, which k6 runs the same way',
      );
    }
    blockFor(ms);
  }

  function fail(msg?: unknown): never {
    throw jsError(rt, msg === undefined ? '' : String(msg));
  }

  function randomSeed(seed: unknown): void {
    const math = rt.realm?.global.Math as { random: () => number } | undefined;
    if (math === undefined) throw new UnsupportedK6ApiError('randomSeed() without a VU context');
    math.random = mulberry32(Number(seed)); // k6 seeds Go's math/rand: only determinism is kept
  }

  return { check, group, sleep, fail, randomSeed };
};
