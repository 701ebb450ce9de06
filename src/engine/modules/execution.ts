/**
 * `k6/execution` (internal/js/modules/k6/execution/execution.go): one default object whose `vu`, `scenario`,
 * `instance` and `test` are read at access time, throwing where k6 does (init context; `scenario` outside an
 * iteration).
 */
import { UnsupportedK6ApiError, type ModuleFactory, type Tags, type VuRuntime } from '../runtime.ts';
import { jsError } from './k6.ts';

interface TagsHost {
  customTags: Tags;
  /** Bumped on every change to customTags (the VU keeps its tags until then). */
  customTagsVersion: number;
}

function vuTags(rt: VuRuntime): Record<string, unknown> {
  const host = rt as Partial<TagsHost>;
  const custom = host.customTags;
  const changed = (): void => {
    if (host.customTagsVersion !== undefined) host.customTagsVersion++;
  };
  return new Proxy({} as Record<string, unknown>, {
    get(_t, key) {
      if (typeof key !== 'string') return undefined;
      return rt.tags()[key];
    },
    set(_t, key, value) {
      if (typeof key !== 'string') return false;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw jsError(
          rt,
          `invalid value for metric tag '${key}': only String, Boolean and Number types are accepted as a metric tag value`,
          'TypeError',
        );
      }
      if (custom === undefined) throw new UnsupportedK6ApiError('exec.vu.tags without the engine VU');
      custom[key] = String(value);
      changed();
      return true;
    },
    deleteProperty(_t, key) {
      if (typeof key === 'string' && custom !== undefined) {
        delete custom[key];
        changed();
      }
      return true;
    },
    has(_t, key) {
      return typeof key === 'string' && key in rt.tags();
    },
    ownKeys() {
      return Object.keys(rt.tags());
    },
    getOwnPropertyDescriptor(_t, key) {
      const tags = rt.tags();
      if (typeof key !== 'string' || !(key in tags)) return undefined;
      return { value: tags[key], writable: true, enumerable: true, configurable: true };
    },
  });
}

export const executionModule: ModuleFactory = (rt) => {
  const inInit = () => rt.phase === 'init';
  const info = (props: Record<string, () => unknown>, extra: Record<string, unknown> = {}) => {
    const o = new (rt.realm?.Object ?? Object)() as Record<string, unknown>;
    for (const [k, get] of Object.entries(props)) {
      Object.defineProperty(o, k, { get, enumerable: true, configurable: false });
    }
    return Object.assign(o, extra);
  };
  const ex = rt.execution;
  let options: unknown;

  const exec = new (rt.realm?.Object ?? Object)() as Record<string, unknown>;
  const def = (name: string, make: () => unknown) =>
    Object.defineProperty(exec, name, { get: make, enumerable: true, configurable: false });

  def('vu', () => {
    if (inInit()) throw jsError(rt, 'getting VU information in the init context is not supported');
    const tags = vuTags(rt);
    const metrics = info({
      tags: () => tags,
      metadata: () => {
        throw new UnsupportedK6ApiError('exec.vu.metrics.metadata');
      },
    });
    return info(
      {
        idInInstance: () => ex.vu.idInInstance,
        idInTest: () => ex.vu.idInTest,
        iterationInInstance: () => ex.vu.iterationInInstance,
        iterationInScenario: () => ex.vu.iterationInScenario,
      },
      { tags, metrics },
    );
  });
  def('scenario', () => {
    if (inInit() || rt.phase !== 'iteration') {
      throw jsError(rt, 'getting scenario information outside of the VU context is not supported');
    }
    return info({
      name: () => ex.scenario.name,
      executor: () => ex.scenario.executor,
      startTime: () => ex.scenario.startTime,
      progress: () => ex.scenario.progress,
      iterationInInstance: () => ex.scenario.iterationInInstance,
      iterationInTest: () => ex.scenario.iterationInTest,
    });
  });
  def('instance', () => {
    if (inInit()) throw jsError(rt, 'getting instance information in the init context is not supported');
    return info({
      currentTestRunDuration: () => ex.instance.currentTestRunDuration ?? 0,
      iterationsCompleted: () => ex.instance.iterationsCompleted,
      iterationsInterrupted: () => ex.instance.iterationsInterrupted,
      vusActive: () => ex.instance.vusActive,
      vusInitialized: () => ex.instance.vusInitialized,
    });
  });
  def('test', () =>
    info({
      abort: () => (reason?: unknown) =>
        ex.test.abort(reason === undefined || reason === null ? undefined : String(reason)),
      fail: () => (reason?: unknown) => {
        if (inInit()) throw jsError(rt, 'execution.test.fail() called outside of VU context');
        if (ex.test.fail === undefined) throw new UnsupportedK6ApiError('exec.test.fail()');
        ex.test.fail(reason === undefined || reason === null ? undefined : String(reason));
      },
      options: () => {
        if (inInit()) throw jsError(rt, 'getting test options in the init context is not supported');
        const json = rt.realm?.JSON ?? JSON;
        options ??= json.parse(JSON.stringify(ex.test.options));
        return options;
      },
    }),
  );
  return { default: exec };
};
