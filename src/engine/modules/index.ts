/** The k6 modules the Node engine implements, by import specifier. Any other `k6/...` import fails at load. */
import type { ModuleFactory } from '../runtime.ts';
import { cryptoModule } from './crypto.ts';
import { dataModule } from './data.ts';
import { encodingModule } from './encoding.ts';
import { executionModule } from './execution.ts';
import { httpModule } from './http.ts';
import { k6Module } from './k6.ts';
import { metricsModule } from './metrics.ts';
import { timersModule } from './timers.ts';
import { websocketsModule } from './websockets.ts';

/** Modules implemented in this part of the engine (no network, no metric store of their own). */
export const coreModules: ReadonlyMap<string, ModuleFactory> = new Map([
  ['k6', k6Module],
  ['k6/execution', executionModule],
  ['k6/timers', timersModule],
  ['k6/data', dataModule],
  ['k6/crypto', cryptoModule],
  ['k6/encoding', encodingModule],
]);

export const k6Modules: ReadonlyMap<string, ModuleFactory> = new Map([
  ...coreModules,
  ['k6/metrics', metricsModule],
  ['k6/websockets', websocketsModule],
  ['k6/http', httpModule],
]);
