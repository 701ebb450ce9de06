/**
 * What a dashboard asks Prometheus: every panel target's PromQL, every query variable's selector, the metric
 * names they refer to, and Grafana's variable interpolation (for checking the dashboards outside Grafana).
 */

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

export interface VariableQuery {
  dashboard: string;
  name: string;
  /** The series selector inside `label_values(<selector>, <label>)`. */
  selector: string;
  label: string;
}

interface JsonPanel {
  type?: string;
  title?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: JsonPanel[];
}

interface JsonDashboard {
  title?: string;
  panels?: JsonPanel[];
  templating?: { list?: { type?: string; name?: string; query?: unknown }[] };
}

/** Every target expression of every panel, rows' nested panels included. */
export function panelQueries(d: unknown): PanelQuery[] {
  const dash = d as JsonDashboard;
  const out: PanelQuery[] = [];
  const walk = (panels: JsonPanel[] | undefined): void => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === 'string')
          out.push({ dashboard: dash.title ?? '', panel: p.title ?? '', refId: t.refId ?? '', expr: t.expr });
      }
      walk(p.panels);
    }
  };
  walk(dash.panels);
  return out;
}

/** Every query variable, as `label_values(selector, label)`; any other query form is an error. */
export function variableQueries(d: unknown): VariableQuery[] {
  const dash = d as JsonDashboard;
  return (dash.templating?.list ?? [])
    .filter((v) => v.type === 'query')
    .map((v) => {
      const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/s.exec(String(v.query));
      if (!m)
        throw new Error(`${dash.title}: variable ${v.name}: not label_values(selector, label): ${v.query}`);
      return { dashboard: dash.title ?? '', name: v.name ?? '', selector: m[1]!, label: m[2]! };
    });
}

/** Metric names an expression refers to: starling's and k6's series. */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:starling|k6)_[a-zA-Z0-9_]+\b/g) ?? [])].sort();
}

/** Grafana's interpolation of `$name` and `${name}` (the longest name first, so `$run` never eats `$runs`). */
export function interpolate(expr: string, values: Record<string, string>): string {
  let out = expr;
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    out = out.split(`\${${name}}`).join(values[name]!).split(`$${name}`).join(values[name]!);
  }
  const left = /\$\{?[a-zA-Z_]\w*/.exec(out);
  if (left) throw new Error(`no value for ${left[0]} in ${expr}`);
  return out;
}
