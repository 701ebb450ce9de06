/**
 * starling's Grafana dashboards, built from the metric names' single sources: src/contract/metric-names.ts
 * (XMPP), src/contract/tap-metric-names.ts (tap), the collector's name builders in src/collector/prometheus.ts, and
 * k6-names.ts for the series k6's `experimental-prometheus-rw` output writes. No metric name is typed here.
 * `npm run dashboards` (src/dashboards/write.ts) writes them to dashboards/*.json.
 *
 * One file per dashboard (overview.ts with overview-rows.ts, frames.ts, transports.ts, k6-dashboard.ts), the
 * shared scopes, query builders and panels in panels.ts; this module lists them.
 *
 * Variables: `$run` (label `run_id`: one STARLING_RUN_ID), `$scenario` (k6 scenario name) and `$transport`
 * (websocket | bosh). "All" is `.*`, which also matches a series without the label.
 */
import { format, resolveConfig } from 'prettier';
import { frames } from './frames.ts';
import { buildDashboard, type Dashboard } from './grafana.ts';
import { k6 } from './k6-dashboard.ts';
import { overview } from './overview.ts';
import { transports } from './transports.ts';

export { RATE_WINDOW, selector } from './panels.ts';

/** Every dashboard, by the file it is written to under dashboards/. */
export function buildDashboards(): { file: string; dashboard: Dashboard }[] {
  return [
    { file: 'starling-overview.json', dashboard: buildDashboard(overview()) },
    { file: 'starling-frames.json', dashboard: buildDashboard(frames()) },
    { file: 'starling-transports.json', dashboard: buildDashboard(transports()) },
    { file: 'starling-k6.json', dashboard: buildDashboard(k6()) },
  ];
}

/** A dashboard as written to `path`: JSON as the project's prettier config formats it (`npm run format:check`). */
export async function dashboardText(d: Dashboard, path: string): Promise<string> {
  const config = (await resolveConfig(path)) ?? {};
  return format(JSON.stringify(d, null, 2), { ...config, parser: 'json' });
}
