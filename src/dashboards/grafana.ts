/**
 * Grafana's classic dashboard JSON model (schemaVersion 41, Grafana 11.6), only the parts starling's dashboards
 * use: Prometheus targets, timeseries / stat / bargauge panels, rows, and query variables. Every object is
 * written with all the fields Grafana's schema requires (test/dashboards/grafana-schema.ts checks them), so a
 * provisioned dashboard loads without Grafana having to migrate it.
 */

export const SCHEMA_VERSION = 41;

/** The provisioned Prometheus datasource (dashboards/provisioning/datasources/prometheus.yml), by fixed uid. */
export const DATASOURCE = { type: 'prometheus', uid: 'starling-prometheus' } as const;

export interface DataSourceRef {
  type: string;
  uid: string;
}

export interface Target {
  refId: string;
  datasource: DataSourceRef;
  expr: string;
  legendFormat: string;
  range: boolean;
  instant: boolean;
  editorMode: 'code';
}

export interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

export interface FieldConfigSource {
  defaults: { unit?: string; min?: number; max?: number; decimals?: number };
  overrides: never[];
}

export interface Panel {
  type: 'timeseries' | 'stat' | 'bargauge';
  id: number;
  title: string;
  description: string;
  datasource: DataSourceRef;
  gridPos: GridPos;
  targets: Target[];
  fieldConfig: FieldConfigSource;
  options: Record<string, unknown>;
}

export interface RowPanel {
  type: 'row';
  id: number;
  title: string;
  collapsed: false;
  gridPos: GridPos;
  panels: never[];
}

export interface Variable {
  type: 'query';
  name: string;
  label: string;
  description: string;
  datasource: DataSourceRef;
  query: string;
  refresh: 2;
  sort: 1;
  multi: boolean;
  includeAll: boolean;
  allValue?: string;
  current: { text: string | string[]; value: string | string[] };
  options: never[];
  hide: 0;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: 'browser';
  editable: boolean;
  graphTooltip: 1;
  time: { from: string; to: string };
  refresh: string;
  schemaVersion: number;
  version: number;
  fiscalYearStartMonth: 0;
  liveNow: false;
  links: DashboardLink[];
  annotations: { list: AnnotationQuery[] };
  templating: { list: Variable[] };
  panels: (Panel | RowPanel)[];
}

interface DashboardLink {
  title: string;
  type: 'dashboards';
  icon: string;
  tooltip: string;
  tags: string[];
  asDropdown: boolean;
  targetBlank: boolean;
  includeVars: boolean;
  keepTime: boolean;
}

interface AnnotationQuery {
  name: string;
  datasource: DataSourceRef;
  enable: boolean;
  hide: boolean;
  iconColor: string;
  type: string;
  builtIn: number;
}

/** One query of a panel: an expression and how its series are named in the legend. */
export interface Query {
  expr: string;
  legend: string;
}

export type Unit = 'short' | 's' | 'bytes' | 'percentunit' | 'reqps' | 'ops' | 'Bps';

/** What a panel is before it is placed on the grid. */
export interface PanelSpec {
  kind: 'timeseries' | 'stat' | 'bargauge';
  title: string;
  /** What the panel answers; shown as the panel's info tooltip. */
  description: string;
  queries: Query[];
  unit: Unit;
  /** Grid columns out of 24 (default 12). */
  width?: number;
  /** Grid rows (default 8). */
  height?: number;
  min?: number;
  max?: number;
}

export interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  variables: Variable[];
  rows: RowSpec[];
}

const TAGS = ['starling', 'xmpp'];

/** A query variable listing one label's values: `label_values(<selector>, <label>)`. */
export function labelValuesVariable(
  name: string,
  label: string,
  selector: string,
  o: { title: string; description: string; multi: boolean },
): Variable {
  const v: Variable = {
    type: 'query',
    name,
    label: o.title,
    description: o.description,
    datasource: DATASOURCE,
    query: `label_values(${selector}, ${label})`,
    refresh: 2,
    sort: 1,
    multi: o.multi,
    includeAll: o.multi,
    current: o.multi ? { text: ['All'], value: ['$__all'] } : { text: '', value: '' },
    options: [],
    hide: 0,
  };
  // "All" matches every value, and a series without the label (e.g. the tap's, which has no scenario).
  if (o.multi) v.allValue = '.*';
  return v;
}

function options(kind: PanelSpec['kind']): Record<string, unknown> {
  const legend = {
    displayMode: 'table',
    placement: 'bottom',
    showLegend: true,
    calcs: ['lastNotNull', 'max'],
  };
  const reduceOptions = { values: false, calcs: ['lastNotNull'], fields: '' };
  switch (kind) {
    case 'timeseries':
      return { legend, tooltip: { mode: 'multi', sort: 'desc' } };
    case 'stat':
      return {
        graphMode: 'none',
        colorMode: 'none',
        justifyMode: 'auto',
        textMode: 'value_and_name',
        wideLayout: true,
        showPercentChange: false,
        reduceOptions,
        percentChangeColorMode: 'standard',
        orientation: 'auto',
      };
    case 'bargauge':
      return {
        displayMode: 'basic',
        valueMode: 'text',
        namePlacement: 'auto',
        showUnfilled: true,
        sizing: 'auto',
        minVizWidth: 8,
        minVizHeight: 16,
        maxVizHeight: 300,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: false, calcs: [] },
        reduceOptions,
        orientation: 'horizontal',
      };
  }
}

function refId(i: number): string {
  return String.fromCharCode(65 + i);
}

/** Lays the rows out top to bottom, panels left to right, wrapping at 24 columns; ids count from 1. */
export function buildDashboard(spec: DashboardSpec, links: { tags: string[] } = { tags: TAGS }): Dashboard {
  const panels: (Panel | RowPanel)[] = [];
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    panels.push({
      type: 'row',
      id: id++,
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      const w = p.width ?? 12;
      const h = p.height ?? 8;
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      const defaults: FieldConfigSource['defaults'] = { unit: p.unit };
      if (p.min !== undefined) defaults.min = p.min;
      if (p.max !== undefined) defaults.max = p.max;
      panels.push({
        type: p.kind,
        id: id++,
        title: p.title,
        description: p.description,
        datasource: DATASOURCE,
        gridPos: { h, w, x, y },
        targets: p.queries.map((q, i) => ({
          refId: refId(i),
          datasource: DATASOURCE,
          expr: q.expr,
          legendFormat: q.legend,
          range: p.kind === 'timeseries',
          instant: p.kind !== 'timeseries',
          editorMode: 'code',
        })),
        fieldConfig: { defaults, overrides: [] },
        options: options(p.kind),
      });
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: TAGS,
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    time: { from: 'now-30m', to: 'now' },
    refresh: '10s',
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    links: [
      {
        title: 'starling',
        type: 'dashboards',
        icon: 'external link',
        tooltip: 'the other starling dashboards',
        tags: links.tags,
        asDropdown: true,
        targetBlank: false,
        includeVars: true,
        keepTime: true,
      },
    ],
    annotations: {
      list: [
        {
          name: 'Annotations & Alerts',
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          type: 'dashboard',
          builtIn: 1,
        },
      ],
    },
    templating: { list: spec.variables },
    panels,
  };
}
