/**
 * What every scenario config shares (lib/executor/base_config.go): the common fields and their validation,
 * stages, and the strict reader that decodes a scenario's fields as Go's JSON decoding does.
 */
import { parseDuration } from '../duration.ts';
import { UnsupportedK6ApiError } from '../runtime.ts';

export interface Stage {
  durationMs: number;
  target: number;
}

export interface BaseScenario {
  name: string;
  startTimeMs: number;
  gracefulStopMs: number;
  exec: string;
  env: Record<string, string>;
  tags: Record<string, string>;
}

export const DEFAULT_GRACEFUL_STOP = 30_000;
/** The shortest `duration` / `maxDuration` k6 accepts. */
export const MIN_DURATION = 1000;
const SCENARIO_NAME_RE = /^[0-9a-zA-Z_-]+$/;

export type Raw = Record<string, unknown>;

export function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads scenario fields with Go's strict JSON decoding: unknown keys and wrong types are errors. */
export class FieldReader {
  readonly errors: string[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly raw: Raw) {}

  has(key: string): boolean {
    this.seen.add(key);
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  int(key: string, def: number): number {
    if (!this.has(key)) return def;
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type int64`,
      );
      return def;
    }
    return v;
  }

  duration(key: string, def: number): number {
    if (!this.has(key)) return def;
    try {
      return parseDuration(this.raw[key]);
    } catch (e) {
      this.errors.push((e as Error).message);
      return def;
    }
  }

  string(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.raw[key];
    if (typeof v !== 'string') {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type string`,
      );
      return undefined;
    }
    return v;
  }

  stringMap(key: string): Record<string, string> {
    if (!this.has(key)) return {};
    const v = this.raw[key];
    if (!isObject(v)) {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type map[string]string`,
      );
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') {
        this.errors.push(
          `json: cannot unmarshal ${JSON.stringify(val)} into Go struct field .${key} of type string`,
        );
        continue;
      }
      out[k] = val;
    }
    return out;
  }

  stages(key: string): Stage[] | undefined {
    if (!this.has(key)) return undefined;
    const v = this.raw[key];
    if (!Array.isArray(v)) {
      this.errors.push(
        `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field .${key} of type []executor.Stage`,
      );
      return undefined;
    }
    return v.map((s: unknown, i) => {
      const st = isObject(s) ? s : {};
      const stageNum = i + 1;
      let durationMs = NaN;
      let target = NaN;
      if (st.duration === undefined || st.duration === null) {
        this.errors.push(`stage ${stageNum} doesn't have a duration`);
      } else {
        try {
          durationMs = parseDuration(st.duration);
          if (durationMs < 0) this.errors.push(`the duration for stage ${stageNum} can't be negative`);
        } catch (e) {
          this.errors.push((e as Error).message);
        }
      }
      if (st.target === undefined || st.target === null) {
        this.errors.push(`stage ${stageNum} doesn't have a target`);
      } else if (typeof st.target !== 'number' || !Number.isInteger(st.target)) {
        this.errors.push(
          `json: cannot unmarshal ${JSON.stringify(st.target)} into Go struct field Stage.target of type int64`,
        );
      } else {
        target = st.target;
        if (target < 0) this.errors.push(`the target for stage ${stageNum} can't be negative`);
      }
      return { durationMs, target };
    });
  }

  /** Go's DisallowUnknownFields. */
  unknownKeys(): string[] {
    return Object.keys(this.raw).filter((k) => !this.seen.has(k));
  }
}

/** BaseConfig's fields, read with k6's defaults, and its Validate(): problems go to `errors`. */
export function readBaseConfig(name: string, raw: Raw, f: FieldReader, errors: string[]): BaseScenario {
  const base: BaseScenario = {
    name,
    startTimeMs: f.duration('startTime', 0),
    gracefulStopMs: f.duration('gracefulStop', DEFAULT_GRACEFUL_STOP),
    exec: f.string('exec') ?? 'default',
    env: f.stringMap('env'),
    tags: f.stringMap('tags'),
  };
  if (f.has('options')) {
    throw new UnsupportedK6ApiError(`scenario options (scenario ${name}: browser scenarios)`);
  }
  if (!SCENARIO_NAME_RE.test(name)) {
    errors.push('the scenario name should contain only numbers, latin letters, underscores, and dashes');
  }
  if (f.has('exec') && raw.exec === '') errors.push('exec value cannot be empty');
  if (base.startTimeMs < 0) errors.push("the startTime can't be negative");
  if (base.gracefulStopMs < 0) errors.push("the gracefulStop timeout can't be negative");
  return base;
}
