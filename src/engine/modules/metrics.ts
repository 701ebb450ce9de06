/**
 * `k6/metrics`: Counter, Gauge, Rate, Trend, as grafana/k6 internal/js/modules/k6/metrics/metrics.go.
 *
 * - Construction only in the init phase ("metrics must be declared in the init context"); `new Trend(name,
 *   isTime)` registers with `contains: "time"` when isTime is truthy, else "default" (always checked against an
 *   earlier definition of the same name, as k6 always passes the value type).
 * - own enumerable properties `name` (read-only, non-configurable) and `add(value, tags?)`, in that order.
 * - `add` in init code throws "Adding to metrics in the init context is not supported".
 * - Values: Number(value), except that a value converting to 0 but truthy counts as 1 (so `"0"` and `[]` add 1,
 *   booleans add 1/0). No argument, null, or NaN: k6 logs a warning and returns false, or throws when the `throw`
 *   option is set.
 * - Tags: the VU's current tags (rt.tags()) with the given ones over them; tag values must be strings, booleans
 *   or numbers (stringified), anything else throws.
 */
import type { MetricType, ModuleFactory, Tags, VuRuntime } from '../runtime.ts';

const WARN_VALUE_MAX = 100;

/** k6 limitValue: keeps the first and last 50 characters of long values in warnings. */
function limitValue(v: string): string {
  const runes = [...v];
  if (runes.length < WARN_VALUE_MAX) return v;
  const omitted = runes.length - WARN_VALUE_MAX;
  return (
    runes.slice(0, WARN_VALUE_MAX / 2).join('') +
    `... omitting ${omitted} characters ...` +
    runes.slice(runes.length - WARN_VALUE_MAX / 2).join('')
  );
}

function jsString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

export interface MetricsModuleOptions {
  /** Where k6 would log a warning (default: console.warn). */
  warn?: (message: string) => void;
}

export function createMetricsModule(opts: MetricsModuleOptions = {}): ModuleFactory {
  const warn = opts.warn ?? ((m: string) => console.warn(m));

  return (rt: VuRuntime) => {
    const makeClass = (type: MetricType) =>
      class K6Metric {
        declare readonly name: string;
        declare readonly add: (value?: unknown, tags?: unknown) => boolean;

        constructor(name?: unknown, ...isTime: unknown[]) {
          if (rt.phase !== 'init') throw scriptError(rt, 'metrics must be declared in the init context');
          const metricName = jsString(name);
          try {
            rt.metrics.define(metricName, type, isTime.length > 0 && Boolean(isTime[0]));
          } catch (err) {
            throw scriptError(rt, (err as Error).message);
          }
          // sobek DefineDataProperty("name", …, writable false, configurable false, enumerable true), then "add"
          Object.defineProperty(this, 'name', {
            value: metricName,
            writable: false,
            enumerable: true,
            configurable: false,
          });
          // `arguments`, not a rest parameter: no array per sample, and `add.length` stays 0 as for k6's Go function.
          this.add = function add(): boolean {
            // eslint-disable-next-line prefer-rest-params
            const a = arguments;
            return addSample(rt, metricName, a.length, a[0], a[1], warn);
          };
        }
      };

    const named = (cls: ReturnType<typeof makeClass>, name: string) => {
      // Instances live in the VU's context: make `metric instanceof Object` hold there, as for k6's objects.
      if (rt.realm !== undefined) Object.setPrototypeOf(cls.prototype, rt.realm.Object.prototype);
      return Object.defineProperty(cls, 'name', { value: name, configurable: true });
    };
    return {
      Counter: named(makeClass('counter'), 'Counter'),
      Gauge: named(makeClass('gauge'), 'Gauge'),
      Rate: named(makeClass('rate'), 'Rate'),
      Trend: named(makeClass('trend'), 'Trend'),
    };
  };
}

/** An Error of the VU's own context (so `e instanceof Error` holds in script code), or Node's in test doubles. */
function scriptError(rt: VuRuntime, message: string, type: 'Error' | 'TypeError' = 'Error'): Error {
  const Ctor = rt.realm?.[type] ?? (type === 'Error' ? Error : TypeError);
  return new Ctor(message);
}

function addSample(
  rt: VuRuntime,
  name: string,
  argc: number,
  v: unknown,
  custom: unknown,
  warn: (m: string) => void,
): boolean {
  if (rt.phase === 'init') throw scriptError(rt, 'Adding to metrics in the init context is not supported');
  if (argc === 0) {
    return refuse(
      rt,
      warn,
      `no value was provided for metric '${name}', a number or a boolean value is expected`,
    );
  }
  if (v === null) return invalidValue(rt, warn, name, v);
  let value: number;
  try {
    value = Number(v);
  } catch (err) {
    throw scriptError(rt, (err as Error).message, 'TypeError'); // symbols, as k6's ToFloat throws
  }
  if (value === 0 && Boolean(v)) value = 1;
  if (Number.isNaN(value)) return invalidValue(rt, warn, name, v);

  // The VU's tags as they are (a frozen object the VU keeps) unless the call adds its own.
  let tags: Tags = rt.tags();
  if (custom !== undefined && custom !== null) {
    // A frozen tag object cannot change: its merge with these VU tags is made (and checked) once, and kept frozen
    // for the sinks to recognise (CounterSink). Scenarios freeze the tag sets they add to every stanza.
    // Looked up before asking Object.isFrozen (a call into C++): an object kept here was frozen, and stays so.
    const kept = typeof custom === 'object' ? MERGED.get(custom) : undefined;
    if (kept !== undefined && kept.vuTags === tags) {
      rt.metrics.push(name, value, kept.merged);
      return true;
    }
    const frozen = kept !== undefined || (typeof custom === 'object' && Object.isFrozen(custom));
    const vuTags = tags;
    const obj = Object(custom) as Record<string, unknown>;
    let merged: Tags | undefined;
    // Own enumerable keys in Object.keys order, without its array (one sample per stanza comes through here).
    for (const key in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
      const tv = obj[key];
      if (typeof tv !== 'string' && typeof tv !== 'boolean' && typeof tv !== 'number') {
        throw scriptError(
          rt,
          `cannot add tags for the '${name}' custom metric: invalid value for metric tag '${key}': ` +
            'only String, Boolean and Number types are accepted as a metric tag values',
        );
      }
      merged ??= { ...tags };
      merged[key] = typeof tv === 'string' ? tv : String(tv);
    }
    if (merged !== undefined) tags = merged;
    if (frozen) MERGED.set(custom, { vuTags, merged: Object.freeze(tags) });
  }
  rt.metrics.push(name, value, tags); // no time: the sink takes it when an output needs one
  return true;
}

/** Frozen custom tag objects → their merge with the VU tags they were last merged with (see addSample). */
const MERGED = new WeakMap<object, { vuTags: Tags; merged: Tags }>();

/** A sample k6 refuses: thrown with the `throw` option, otherwise a warning and `false`. */
function refuse(rt: VuRuntime, warn: (m: string) => void, message: string): boolean {
  if (rt.execution.test.options['throw'] === true) throw scriptError(rt, message);
  warn(message);
  return false;
}

function invalidValue(rt: VuRuntime, warn: (m: string) => void, name: string, v: unknown): boolean {
  return refuse(
    rt,
    warn,
    `'${limitValue(jsString(v))}' is an invalid value for metric '${name}', a number or a boolean value is expected`,
  );
}

/** The `k6/metrics` module, warnings to console.warn. */
export const metricsModule: ModuleFactory = createMetricsModule();
