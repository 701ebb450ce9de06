/**
 * Grafana's dashboard schema (classic JSON model, schemaVersion 41, Grafana 11.6) as a JSON Schema, for the
 * parts starling's dashboards use. Derived by hand from the schemas Grafana generates from its CUE kinds
 * (grafana-foundation-sdk, branch v11.6.x: jsonschema/dashboard, prometheus, timeseries, stat, bargauge,
 * common); not a copy. Kept as strict as those: every object below has additionalProperties: false where
 * Grafana's has, the same required fields, enums and bounds, so a field Grafana does not know, a missing
 * required one, or a wrong type fails here as it would there. Panel `targets` and `options` are free-form in
 * the dashboard kind; here they are checked against the Prometheus query and panel plugin schemas.
 */

const ref = (name: string) => ({ $ref: `#/definitions/${name}` });
const str = { type: 'string' };
const bool = { type: 'boolean' };
const int = { type: 'integer' };
const num = { type: 'number' };
const strings = { type: 'array', items: str };
const strict = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

const legend = strict(
  {
    displayMode: { enum: ['list', 'table', 'hidden'] },
    placement: { enum: ['bottom', 'right'] },
    showLegend: bool,
    asTable: bool,
    isVisible: bool,
    sortBy: str,
    sortDesc: bool,
    width: num,
    calcs: strings,
  },
  ['displayMode', 'placement', 'showLegend', 'calcs'],
);
const reduceOptions = strict({ values: bool, limit: num, calcs: strings, fields: str }, ['calcs']);
const orientation = { enum: ['auto', 'vertical', 'horizontal'] };
const text = strict({ titleSize: num, valueSize: num, percentSize: num });

const panelCommon = {
  id: int,
  pluginVersion: str,
  title: str,
  description: str,
  transparent: bool,
  datasource: ref('DataSourceRef'),
  gridPos: ref('GridPos'),
  repeat: str,
  repeatDirection: { enum: ['h', 'v'] },
  maxPerRow: num,
  maxDataPoints: num,
  interval: str,
  timeFrom: str,
  timeShift: str,
  hideTimeOverride: bool,
  cacheTimeout: str,
  queryCachingTTL: num,
  fieldConfig: ref('FieldConfigSource'),
  targets: { type: 'array', items: ref('PrometheusQuery') },
};

const panel = (type: string, options: unknown) =>
  strict({ type: { const: type }, ...panelCommon, options }, ['type']);

export const GRAFANA_DASHBOARD_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $ref: '#/definitions/Dashboard',
  definitions: {
    Dashboard: strict(
      {
        id: { anyOf: [int, { type: 'null' }] },
        uid: str,
        title: str,
        description: str,
        revision: int,
        gnetId: str,
        tags: strings,
        timezone: str,
        editable: bool,
        graphTooltip: { enum: [0, 1, 2] },
        time: strict({ from: str, to: str }, ['from', 'to']),
        timepicker: strict({ hidden: bool, refresh_intervals: strings, nowDelay: str }),
        fiscalYearStartMonth: { type: 'integer', minimum: 0, exclusiveMaximum: 12 },
        liveNow: bool,
        weekStart: str,
        refresh: str,
        schemaVersion: int,
        version: int,
        panels: { type: 'array', items: { oneOf: [ref('Panel'), ref('RowPanel')] } },
        templating: strict({ list: { type: 'array', items: ref('VariableModel') } }),
        annotations: ref('AnnotationContainer'),
        links: { type: 'array', items: ref('DashboardLink') },
        preload: bool,
      },
      ['schemaVersion', 'templating', 'annotations'],
    ),
    DataSourceRef: strict({ type: str, uid: str }),
    GridPos: strict(
      {
        h: { type: 'integer', exclusiveMinimum: 0 },
        w: { type: 'integer', exclusiveMinimum: 0, maximum: 24 },
        x: { type: 'integer', minimum: 0, exclusiveMaximum: 24 },
        y: { type: 'integer', minimum: 0 },
        static: bool,
      },
      ['h', 'w', 'x', 'y'],
    ),
    DashboardLink: strict(
      {
        title: str,
        type: { enum: ['link', 'dashboards'] },
        icon: str,
        tooltip: str,
        url: str,
        tags: strings,
        asDropdown: bool,
        targetBlank: bool,
        includeVars: bool,
        keepTime: bool,
      },
      ['title', 'type', 'icon', 'tooltip', 'tags', 'asDropdown', 'targetBlank', 'includeVars', 'keepTime'],
    ),
    AnnotationContainer: strict({ list: { type: 'array', items: ref('AnnotationQuery') } }),
    AnnotationQuery: strict(
      {
        name: str,
        datasource: ref('DataSourceRef'),
        enable: bool,
        hide: bool,
        iconColor: str,
        type: str,
        builtIn: num,
        expr: str,
      },
      ['name', 'datasource', 'enable', 'iconColor'],
    ),
    VariableOption: strict(
      {
        selected: bool,
        text: { oneOf: [str, strings] },
        value: { oneOf: [str, strings] },
      },
      ['text', 'value'],
    ),
    VariableModel: strict(
      {
        type: {
          enum: [
            'query',
            'adhoc',
            'groupby',
            'constant',
            'datasource',
            'interval',
            'textbox',
            'custom',
            'system',
            'snapshot',
          ],
        },
        name: str,
        label: str,
        hide: { enum: [0, 1, 2] },
        skipUrlSync: bool,
        description: str,
        query: { oneOf: [str, { type: 'object' }] },
        datasource: ref('DataSourceRef'),
        current: strict(
          { selected: bool, text: { oneOf: [str, strings] }, value: { oneOf: [str, strings] } },
          ['text', 'value'],
        ),
        multi: bool,
        allowCustomValue: bool,
        options: { type: 'array', items: ref('VariableOption') },
        refresh: { enum: [0, 1, 2] },
        sort: { enum: [0, 1, 2, 3, 4, 5, 6, 7, 8] },
        includeAll: bool,
        allValue: str,
        regex: str,
      },
      ['type', 'name'],
    ),
    FieldConfigSource: strict(
      {
        defaults: strict({
          displayName: str,
          description: str,
          unit: str,
          decimals: num,
          min: num,
          max: num,
          noValue: str,
          custom: { type: 'object' },
        }),
        overrides: { type: 'array', maxItems: 0 },
      },
      ['defaults', 'overrides'],
    ),
    /** Grafana's Prometheus dataquery. */
    PrometheusQuery: strict(
      {
        expr: str,
        instant: bool,
        range: bool,
        exemplar: bool,
        editorMode: { enum: ['code', 'builder'] },
        format: { enum: ['time_series', 'table', 'heatmap'] },
        legendFormat: str,
        intervalFactor: num,
        refId: str,
        hide: bool,
        queryType: str,
        datasource: ref('DataSourceRef'),
        interval: str,
      },
      ['expr', 'refId'],
    ),
    RowPanel: strict(
      {
        type: { const: 'row' },
        collapsed: bool,
        title: str,
        datasource: ref('DataSourceRef'),
        gridPos: ref('GridPos'),
        id: int,
        panels: { type: 'array', items: ref('Panel') },
        repeat: str,
      },
      ['type', 'collapsed', 'id', 'panels'],
    ),
    Panel: { oneOf: [ref('TimeseriesPanel'), ref('StatPanel'), ref('BarGaugePanel')] },
    TimeseriesPanel: panel(
      'timeseries',
      strict(
        {
          timezone: strings,
          legend,
          tooltip: strict(
            {
              mode: { enum: ['single', 'multi', 'none'] },
              sort: { enum: ['asc', 'desc', 'none'] },
              maxWidth: num,
              maxHeight: num,
              hideZeros: bool,
            },
            ['mode', 'sort'],
          ),
          orientation,
        },
        ['legend', 'tooltip'],
      ),
    ),
    StatPanel: panel(
      'stat',
      strict(
        {
          graphMode: { enum: ['none', 'line', 'area'] },
          colorMode: { enum: ['value', 'background', 'background_solid', 'none'] },
          justifyMode: { enum: ['auto', 'center'] },
          textMode: { enum: ['auto', 'value', 'value_and_name', 'name', 'none'] },
          wideLayout: bool,
          showPercentChange: bool,
          reduceOptions,
          text,
          percentChangeColorMode: { enum: ['standard', 'inverted', 'same_as_value'] },
          orientation,
        },
        [
          'graphMode',
          'colorMode',
          'justifyMode',
          'textMode',
          'wideLayout',
          'showPercentChange',
          'reduceOptions',
          'percentChangeColorMode',
          'orientation',
        ],
      ),
    ),
    BarGaugePanel: panel(
      'bargauge',
      strict(
        {
          displayMode: { enum: ['basic', 'lcd', 'gradient'] },
          valueMode: { enum: ['color', 'text', 'hidden'] },
          namePlacement: { enum: ['auto', 'top', 'left', 'hidden'] },
          showUnfilled: bool,
          sizing: { enum: ['auto', 'manual'] },
          minVizWidth: int,
          minVizHeight: int,
          legend,
          reduceOptions,
          text,
          maxVizHeight: int,
          orientation,
        },
        [
          'displayMode',
          'valueMode',
          'namePlacement',
          'showUnfilled',
          'sizing',
          'minVizWidth',
          'minVizHeight',
          'legend',
          'reduceOptions',
          'maxVizHeight',
          'orientation',
        ],
      ),
    ),
  },
} as const;
