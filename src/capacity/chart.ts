/**
 * The chart of a capacity run: per step, the main latency metric's p50/p95/p99 (left axis, ms) and
 * the achieved load (right axis, with the offered = achieved diagonal) against the offered load, the SLO's latency
 * bound, failed steps and each repeat's capacity. A vega-lite spec ({@link capacityChartSpec}, which the HTML
 * report can embed) rendered headless by vega into a standalone SVG that needs nothing from the network.
 */
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { importExternal } from '../build/import-external.ts';
import type { CapacityReport, SearchResult, Step } from './types.ts';

// Parts of a vega-lite spec, which vega-lite exports no names for.
type Layer = Extract<TopLevelSpec, { layer: unknown }>['layer'][number];
type Unit = Extract<Layer, { mark: unknown }>;
type Encoding = NonNullable<Unit['encoding']>;
type MarkDef = Exclude<Unit['mark'], string | { type: 'boxplot' | 'errorbar' | 'errorband' }>;

export interface CapacityChartOptions {
  /** The latency metric drawn; by default the first metric of the SLO that the steps measured. */
  latencyMetric?: string;
}

const WIDTH = 900;
const HEIGHT = 500;
const FONT = 'Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif';

const PERCENTILES = ['p50', 'p95', 'p99'] as const;
const ACHIEVED = 'achieved load';
const OFFERED = 'achieved = offered';
const SERIES = [...PERCENTILES, ACHIEVED];
/** p50 → p99 from light to dark blue; the achieved load in green, apart from them. */
const SERIES_COLOURS = ['#9ecae1', '#4292c6', '#08306b', '#2ca02c'];
const FAIL_COLOUR = '#d62728';
const FAILED = 'failed step';
const REFERENCE_COLOUR = '#555555';
const LABEL_LINE_HEIGHT = 14;

/** An SLO bound on a latency percentile, parsed from a threshold such as `p(99)<1000`. */
export interface LatencyBound {
  percentile: number;
  operator: '<' | '<=';
  ms: number;
  threshold: string;
}

export function parseLatencyBound(threshold: string): LatencyBound | undefined {
  const m = /^\s*p\(\s*(\d+(?:\.\d+)?)\s*\)\s*(<=?)\s*(\d+(?:\.\d+)?)\s*$/.exec(threshold);
  if (!m) return undefined;
  return {
    percentile: Number(m[1]),
    operator: m[2] as '<' | '<=',
    ms: Number(m[3]),
    threshold: threshold.trim(),
  };
}

/** Every step: each repeat's, then the verification's (numbered after the repeats, named `verification`). */
function allSteps(report: CapacityReport): { repeat: number; run: string; step: Step }[] {
  const verifying = report.verification?.steps ?? [];
  return [
    ...report.repeats.flatMap((r, i) =>
      r.steps.map((step) => ({ repeat: i + 1, run: `repeat ${i + 1}`, step })),
    ),
    ...verifying.map((step) => ({ repeat: report.repeats.length + 1, run: 'verification', step })),
  ];
}

/** The metric drawn: the option, else the first SLO metric some step measured, else the first one measured. */
export function mainLatencyMetric(report: CapacityReport, wanted?: string): string | undefined {
  if (wanted !== undefined) return wanted;
  const steps = allSteps(report).map((s) => s.step);
  const measured = (metric: string): boolean => steps.some((s) => s.latency[metric] !== undefined);
  return Object.keys(report.slo).find(measured) ?? steps.flatMap((s) => Object.keys(s.latency))[0];
}

/** Up to the next multiple of a tenth of its order of magnitude: 166 → 170, 1030 → 1100, 8.3 → 8.3. */
function roundUp(x: number): number {
  const tenth = 10 ** Math.floor(Math.log10(x)) / 10;
  return Number((Math.ceil(x / tenth - 1e-9) * tenth).toPrecision(12));
}

/** Ticks of a log axis: 1, 2 and 5 times the powers of ten within the domain. */
function logTicks([lo, hi]: [number, number]): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const t = Number((m * 10 ** e).toPrecision(12));
      if (t >= lo && t <= hi) ticks.push(t);
    }
  return ticks;
}

const num = (x: number): string => String(Number(x.toFixed(2)));

/**
 * The text of a repeat's capacity: `capacity 120 logins/s`, or `capacity ≥ 300 logins/s` and why it is only a
 * lower bound (`generator-limited`, `no step failed`), or what resource bounded it (`open-files limit`).
 */
function capacityText(r: SearchResult, unit: string): { headline: string; qualifier?: string } {
  const n = `${num(r.highestPass ?? 0)} ${unit}`;
  if (r.limit === 'generator' && !r.isServerCapacity)
    return { headline: `capacity ≥ ${n}`, qualifier: 'generator-limited' };
  if (r.limit === 'machine' && !r.isServerCapacity)
    return { headline: `capacity ≥ ${n}`, qualifier: 'machine-limited' };
  if (r.limit === 'none') return { headline: `capacity ≥ ${n}`, qualifier: 'no step failed' };
  if (r.limitResource === 'open-files') return { headline: `capacity ${n}`, qualifier: 'open-files limit' };
  return { headline: `capacity ${n}` };
}

/**
 * Which side of its rule each capacity label goes: left, unless it would overlap the label or rule before it
 * (capacities a few percent apart, e.g. two repeats and a verification), then right.
 */
function placeLabels(
  rules: { offered: number; label: string[]; side?: 'left' | 'right' }[],
  top: number,
): void {
  const px = (offered: number): number => (offered / top) * WIDTH;
  const width = (r: { label: string[] }): number => r.label.length * LABEL_LINE_HEIGHT + 6;
  let taken = -Infinity;
  for (const r of rules.sort((a, b) => a.offered - b.offered)) {
    const x = px(r.offered);
    r.side = x - width(r) >= taken ? 'left' : 'right';
    taken = r.side === 'left' ? x : x + width(r);
  }
}

/** A text layer drawn twice, over a white outline of itself, so that it stays readable across lines. */
function haloText(name: string, mark: MarkDef, encoding: Encoding): Unit[] {
  return [
    { name: `${name}_halo`, mark: { ...mark, color: 'white', stroke: 'white', strokeWidth: 4 }, encoding },
    { name, mark, encoding },
  ];
}

const repeatsText = (repeats: number[]): string =>
  `${repeats.length > 1 ? 'repeats' : 'repeat'} ${repeats.join(', ')}`;

/** The vega-lite spec of the chart: its data are inline (named datasets), nothing is loaded. */
export function capacityChartSpec(report: CapacityReport, opts: CapacityChartOptions = {}): TopLevelSpec {
  const unit = report.unit;
  const metric = mainLatencyMetric(report, opts.latencyMetric);
  const many = report.repeats.length > 1;
  const steps = allSteps(report).sort((a, b) => a.repeat - b.repeat || a.step.offered - b.step.offered);

  const latency = steps.flatMap(({ repeat, run, step }) => {
    const p = metric === undefined ? undefined : step.latency[metric];
    if (p === undefined || p.count === 0) return [];
    return PERCENTILES.map((percentile) => ({
      repeat,
      run,
      step: step.index,
      offered: step.offered,
      series: percentile,
      ms: p[percentile],
      pass: step.pass,
    }));
  });
  const load = steps.map(({ repeat, run, step }) => ({
    repeat,
    run,
    step: step.index,
    offered: step.offered,
    series: ACHIEVED,
    achieved: step.achieved,
    pass: step.pass,
  }));
  // Room right of the last step for its marks; the achieved axis has the same domain, so y = x is the diagonal.
  const top = roundUp(Math.max(1, ...steps.map((s) => Math.max(s.step.offered, s.step.achieved))) * 1.03);
  const diagonal = [0, top].map((x) => ({ offered: x, achieved: x, reference: OFFERED }));

  const bounds = (metric === undefined ? [] : (report.slo[metric] ?? []))
    .map(parseLatencyBound)
    .filter((b): b is LatencyBound => b !== undefined)
    .map((b) => ({ ms: b.ms, label: `SLO ${b.threshold} ms` }));
  // A failing step's latency can be many times the rest (timeouts): a log scale then keeps the passing steps and
  // the SLO bound apart instead of flat at the bottom.
  const reference = Math.max(
    0,
    ...bounds.map((b) => b.ms),
    ...latency.filter((l) => l.pass).map((l) => l.ms),
  );
  const logScale =
    reference > 0 && latency.every((l) => l.ms > 0) && Math.max(...latency.map((l) => l.ms)) > 4 * reference;
  const all = [...latency.map((l) => l.ms), ...bounds.map((b) => b.ms)];
  const logDomain: [number, number] = [Math.min(...all) / 1.3, Math.max(...all) * 1.3];

  // One rule per distinct capacity; repeats that found the same one share it.
  const capacities = new Map<
    string,
    { offered: number; text: ReturnType<typeof capacityText>; repeats: number[] }
  >();
  const noPass: number[] = [];
  report.repeats.forEach((r, i) => {
    if (r.highestPass === undefined) return void noPass.push(i + 1);
    const text = capacityText(r, unit);
    const key = `${r.highestPass}\n${text.headline}\n${text.qualifier}`;
    const c = capacities.get(key) ?? { offered: r.highestPass, text, repeats: [] };
    c.repeats.push(i + 1);
    capacities.set(key, c);
  });
  const capacityRules = [...capacities.values()]
    .sort((a, b) => a.offered - b.offered)
    .map((c) => {
      // Two lines, so that a label drawn along its rule fits in the plot's height.
      const second = [c.text.qualifier, many ? repeatsText(c.repeats) : undefined].filter(
        (t) => t !== undefined,
      );
      return { offered: c.offered, label: [c.text.headline, ...(second.length ? [second.join(' · ')] : [])] };
    });
  const v = report.verification;
  if (v?.capacity !== undefined && v.over !== undefined) {
    const line = `verified; ${num(v.over.offered)} (${v.overFactor}×) ${v.over.pass ? 'passed too' : 'failed'}`;
    const same = capacityRules.find((c) => c.offered === v.capacity);
    if (same) same.label.push(line);
    else capacityRules.push({ offered: v.capacity, label: [`capacity ${num(v.capacity)} ${unit}`, line] });
  }
  placeLabels(capacityRules, top);
  const unverified =
    v && v.capacity === undefined
      ? [{ label: `not verified: ${v.skipped ?? 'every load tried failed again'}` }]
      : [];
  const notes = noPass.length
    ? [
        {
          label:
            `no passing step${many ? ` in ${repeatsText(noPass)}` : ''}: ` +
            `even the lowest load tried failed the SLO`,
        },
        ...unverified,
      ]
    : unverified;

  const sloTerms = Object.entries(report.slo).flatMap(([m, ts]) => ts.map((t) => `${m} ${t}`));
  const subtitle = [
    `SLO: ${sloTerms.join(', ') || 'none'}`,
    `${report.transport} · ${report.repeats.length} ${report.repeats.length === 1 ? 'repeat' : 'repeats'} · ` +
      `steps of ${report.settings.stepSeconds} s (${report.settings.warmupSeconds} s warm-up)` +
      (report.spread && many
        ? ` · capacity over repeats: min ${num(report.spread.min)}, median ${num(report.spread.median)}, ` +
          `max ${num(report.spread.max)} ${unit}`
        : ''),
  ];

  const x: Encoding['x'] = {
    field: 'offered',
    type: 'quantitative',
    title: `offered load (${unit})`,
    scale: { domain: [0, top], nice: false },
  };
  const colour: Encoding['color'] = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: SERIES, range: SERIES_COLOURS },
    legend: { orient: 'top', direction: 'horizontal', symbolType: 'stroke', symbolStrokeWidth: 3 },
  };
  const detail: Encoding['detail'] = { field: 'repeat', type: 'ordinal' };
  /** The points: per step, filled when it passed, hollow in a red ring (the legend's `failed step`) when not. */
  const points = (name: string, y: { field: string; title: string }, shape: 'circle' | 'square'): Unit[] => {
    const encoding: Encoding = {
      x,
      y,
      color: { field: 'series', type: 'nominal' },
      tooltip: [
        { field: 'run', type: 'nominal', title: 'search' },
        { field: 'step', type: 'ordinal' },
        { field: 'offered', type: 'quantitative', title: `offered load (${unit})` },
        { field: 'series', type: 'nominal' },
        { field: y.field, type: 'quantitative', title: y.title },
        { field: 'pass', type: 'nominal' },
      ],
    };
    const point = { type: 'point', size: 50, shape, opacity: 1 } as const;
    return [
      {
        name: `${name}_pass`,
        mark: { ...point, filled: true },
        transform: [{ filter: 'datum.pass' }],
        encoding,
      },
      {
        name: `${name}_fail`,
        mark: { ...point, filled: false, fill: 'white', strokeWidth: 2 },
        transform: [{ filter: '!datum.pass' }],
        encoding,
      },
      {
        name: `${name}_fail_ring`,
        mark: { type: 'point', size: 260, strokeWidth: 2, filled: false, opacity: 1 },
        transform: [{ filter: '!datum.pass' }],
        encoding: {
          x,
          y,
          stroke: { value: FAIL_COLOUR },
          shape: {
            datum: FAILED,
            type: 'nominal',
            title: null,
            scale: { domain: [FAILED], range: ['circle'] },
            legend: {
              orient: 'top',
              symbolStrokeColor: FAIL_COLOUR,
              symbolFillColor: 'transparent',
              symbolStrokeWidth: 2,
              symbolSize: 160,
            },
          },
        },
      },
    ];
  };

  const latencyY = {
    field: 'ms',
    type: 'quantitative',
    title: `${metric === undefined ? '' : `${metric} `}latency (ms${logScale ? ', log scale' : ''})`,
    scale: logScale ? { type: 'log', domain: logDomain, nice: false } : { type: 'linear', zero: true },
    axis: {
      orient: 'left',
      titleColor: SERIES_COLOURS[2],
      ...(logScale ? { values: logTicks(logDomain) } : {}),
    },
  } satisfies Encoding['y'];
  const latencyLayer: Layer = {
    layer: [
      {
        data: { name: 'latency' },
        layer: [
          { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: latencyY, color: colour, detail } },
          ...points('latency', latencyY, 'circle'),
        ],
      },
      ...(bounds.length
        ? [
            {
              data: { name: 'slo' },
              layer: [
                {
                  mark: { type: 'rule', color: FAIL_COLOUR, strokeDash: [8, 4], strokeWidth: 1.5 },
                  encoding: { y: latencyY },
                },
                ...haloText(
                  'slo_label',
                  {
                    type: 'text',
                    align: 'left',
                    baseline: 'bottom',
                    dx: 4,
                    dy: -3,
                    color: FAIL_COLOUR,
                    fontSize: 12,
                    fontWeight: 'bold',
                  },
                  { y: latencyY, x: { value: 0 }, text: { field: 'label' } },
                ),
              ],
            } satisfies Layer,
          ]
        : []),
    ],
  };

  const loadY = {
    field: 'achieved',
    type: 'quantitative',
    title: `achieved load (${unit})`,
    scale: { domain: [0, top], nice: false },
    axis: { orient: 'right', titleColor: SERIES_COLOURS[3], grid: false },
  } satisfies Encoding['y'];
  const loadLayer: Layer = {
    layer: [
      {
        name: 'offered_diagonal',
        data: { name: 'diagonal' },
        mark: { type: 'line', strokeWidth: 1.5, color: REFERENCE_COLOUR },
        encoding: {
          x,
          y: loadY,
          strokeDash: {
            field: 'reference',
            type: 'nominal',
            title: null,
            scale: { domain: [OFFERED], range: [[6, 4]] },
            legend: { orient: 'top', symbolStrokeColor: REFERENCE_COLOUR, symbolStrokeWidth: 2 },
          },
        },
      },
      {
        data: { name: 'load' },
        layer: [
          {
            mark: { type: 'line', strokeWidth: 2 },
            encoding: { x, y: loadY, color: colour, detail },
          },
          ...points('load', loadY, 'square'),
        ],
      },
    ],
  };

  const annotations: Layer[] = [];
  if (capacityRules.length)
    annotations.push({
      data: { name: 'capacity' },
      layer: [
        {
          name: 'capacity_rule',
          mark: { type: 'rule', color: '#222222', strokeWidth: 1.5 },
          encoding: { x },
        },
        ...(['left', 'right'] as const).flatMap((side) =>
          haloText(
            side === 'left' ? 'capacity_label' : 'capacity_label_right',
            {
              type: 'text',
              angle: 270,
              align: 'right',
              // Left of the rule: vega puts a label's first line there and the next ones towards the rule, so
              // the block is shifted by its other lines. Right of it: first line at the rule, the rest beyond.
              ...(side === 'left'
                ? {
                    baseline: 'bottom' as const,
                    dy:
                      -4 - LABEL_LINE_HEIGHT * (Math.max(1, ...capacityRules.map((c) => c.label.length)) - 1),
                  }
                : { baseline: 'top' as const, dy: 4 }),
              lineHeight: LABEL_LINE_HEIGHT,
              fontSize: 12,
              fontWeight: 'bold',
              color: '#222222',
            },
            { x, y: { value: 8 }, text: { field: 'label' } },
          ).map((layer) => ({ ...layer, transform: [{ filter: `datum.side === '${side}'` }] })),
        ),
      ],
    });
  if (notes.length)
    annotations.push({
      name: 'no_pass_note',
      data: { name: 'notes' },
      mark: {
        type: 'text',
        align: 'left',
        baseline: 'top',
        dx: 8,
        dy: 8,
        fontSize: 13,
        fontWeight: 'bold',
        color: FAIL_COLOUR,
      },
      encoding: { x: { value: 0 }, y: { value: 0 }, text: { field: 'label' } },
    });

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: `${report.dimension} capacity of ${report.server}`,
    title: {
      text: `${report.dimension} capacity — ${report.server}`,
      subtitle,
      anchor: 'start',
      fontSize: 18,
      subtitleFontSize: 12,
      subtitleColor: '#444444',
      offset: 10,
    },
    width: WIDTH,
    height: HEIGHT,
    autosize: { type: 'fit', contains: 'padding' },
    padding: 12,
    background: 'white',
    datasets: {
      latency,
      load,
      diagonal,
      slo: bounds,
      capacity: capacityRules,
      notes,
    },
    layer: [latencyLayer, loadLayer, ...annotations],
    resolve: { scale: { y: 'independent' } },
    config: {
      font: FONT,
      axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 8 },
      legend: { labelFontSize: 12, titleFontSize: 12, symbolSize: 120, labelLimit: 300 },
      view: { stroke: '#bbbbbb' },
    },
  };
}

/** The chart as a standalone SVG document. */
export async function capacityChartSvg(
  report: CapacityReport,
  opts: CapacityChartOptions = {},
): Promise<string> {
  const [vega, { compile }] = await Promise.all([
    importExternal<typeof Vega>('vega'),
    importExternal<typeof VegaLite>('vega-lite'),
  ]);
  const { spec } = compile(capacityChartSpec(report, opts));
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
