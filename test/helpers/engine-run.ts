/** Runs a k6 script given as text through the Node engine, recording every sample and log line. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runScript, type RunScriptOptions } from '../../src/engine/run.ts';
import type { MetricSink, Tags } from '../../src/engine/runtime.ts';
import { tempDir } from './temp-dir.ts';

export interface RecordedSample {
  name: string;
  value: number;
  tags: Tags;
  time: number;
}

export async function runScriptText(code: string, extra: Partial<RunScriptOptions> = {}) {
  const dir = await tempDir('starling-engine-');
  const file = join(dir, 'script.js');
  await writeFile(file, code);
  const samples: RecordedSample[] = [];
  const lines: string[] = [];
  const metrics: MetricSink = {
    define() {},
    push(name, value, tags = {}, time = Date.now()) {
      samples.push({ name, value, tags, time });
    },
  };
  const started = Date.now();
  const outcome = await runScript({ scriptPath: file, metrics, log: (l) => lines.push(l), ...extra });
  const count = (name: string) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
  const values = (name: string) => samples.filter((s) => s.name === name).map((s) => s.value);
  return { outcome, samples, lines, count, values, wallMs: Date.now() - started };
}
