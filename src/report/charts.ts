/**
 * The HTML report's charts: vega-lite specs with their data inline, compiled and rendered headless by vega into
 * SVG that the page embeds as it is (no script, nothing loaded). vega is imported only when a chart is drawn: a
 * run with nothing to draw does not pay for it.
 */
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { importExternal } from '../build/import-external.ts';

const WIDTH = 400;
const HEIGHT = 200;
const FONT =
  'system-ui, -apple-system, "Segoe UI", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif';
const CONFIG = {
  font: FONT,
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, orient: 'top' as const, symbolStrokeWidth: 2, labelLimit: 240 },
  title: { fontSize: 13, anchor: 'start' as const, fontWeight: 'bold' as const },
  view: { stroke: '#cccccc' },
};
/** Percentiles light to dark, as the capacity chart draws them; max in red. */
const PERCENTILE_COLOURS: Record<string, string> = {
  p50: '#6baed6',
  p95: '#2171b5',
  p99: '#08306b',
  max: '#d62728',
};

/** The colour scale of percentile series (p50 … max, light to dark), unknown ones grey. */
const percentileScale = (series: string[]) => ({
  scale: { domain: series, range: series.map((s) => PERCENTILE_COLOURS[s] ?? '#555555') },
});

/** A chart to draw: its spec, and how many data points it marks (the report's test counts the marks). */
export interface Chart {
  /** Unique in the page; `data-chart` of its figure. */
  name: string;
  spec: TopLevelSpec;
  points: number;
}

/** One latency distribution: (percentile, ms) pairs; `percentile` 100 is the maximum. */
export interface DistributionSeries {
  label: string;
  count: number | undefined;
  points: { percentile: number; ms: number }[];
}

/**
 * Where a percentile sits on the distribution chart's x axis: 1 / (1 − q), log scale, so 90 %, 99 % and 99.9 %
 * are equally far apart (as HdrHistogram's plots draw them). The maximum has no such place: it goes where the
 * last of `count` samples is (q = 1 − 1/count), or a fifth of a decade past the highest percentile before it.
 */
/** What every chart's spec shares: schema, title, size, a white background. */
const frame = (title: string) =>
  ({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    padding: 8,
  }) as const;

export function percentileX(percentile: number, before: number, count: number | undefined): number {
  if (percentile < 100) return 1 / (1 - percentile / 100);
  return Math.max(count ?? 0, before * 10 ** 0.2, 1);
}

/** Percentile distributions of one metric, one line per series (a run, or a transport). */
export function distributionChart(name: string, title: string, series: DistributionSeries[]): Chart {
  const values = series.flatMap((s) => {
    const sorted = [...s.points].sort((a, b) => a.percentile - b.percentile);
    let before = 1;
    return sorted.map((p) => {
      const x = percentileX(p.percentile, before, s.count);
      before = x;
      return {
        series: s.label,
        x,
        ms: p.ms,
        percentile: p.percentile === 100 ? 'max' : `p${p.percentile}`,
      };
    });
  });
  const top = Math.max(10, ...values.map((v) => v.x));
  // 0 %, 50 %, then 90 %, 99 %, 99.9 %, … as far as the data reach.
  const ticks = [1, 2];
  for (let t = 10; t <= top * 1.0001; t *= 10) ticks.push(t);
  return {
    name,
    points: values.length,
    spec: {
      ...frame(title),
      data: { values },
      mark: { type: 'line', interpolate: 'monotone', point: { filled: true, size: 28 }, strokeWidth: 2 },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative',
          title: 'percentile',
          scale: { type: 'log', domain: [1, top], nice: false },
          axis: {
            values: ticks,
            labelExpr: "datum.value <= 1 ? '0%' : format(100 - 100 / datum.value, '.4~f') + '%'",
          },
        },
        y: { field: 'ms', type: 'quantitative', title: 'latency (ms)', scale: { zero: true } },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          legend: series.length > 1 ? {} : null,
        },
      },
      config: CONFIG,
    },
  };
}

/** One metric over time: a value per interval and series. */
export interface TimePoint {
  /** Seconds since the run started (the interval's start). */
  t: number;
  series: string;
  value: number;
}

/**
 * Lines over time; `percentiles` colours p50/p99/max (light to dark, max in red), else the series get a palette;
 * `seconds` is the time axis's length.
 */
export function timeChart(
  name: string,
  title: string,
  yTitle: string,
  points: TimePoint[],
  opts: { percentiles?: boolean; seconds?: number } = {},
): Chart {
  return lineChart(
    name,
    title,
    yTitle,
    points,
    opts.percentiles,
    { size: 16, strokeWidth: 1.5 },
    {
      field: 't',
      type: 'quantitative',
      title: 'seconds since the start',
      // The run's whole span, so that charts of one run line up and a single interval still has an axis.
      scale: opts.seconds ? { domain: [0, opts.seconds], nice: false } : { zero: true },
    },
  );
}

/** One value of a series at a point of a quantitative x axis that is not time (a room size, …). */
export interface XyPoint {
  x: number;
  series: string;
  value: number;
}

/**
 * Lines against a quantitative x that is not time, each x the data have marked on the axis; `percentiles`
 * colours p50/p95/p99/max light to dark (max in red), as timeChart does.
 */
export function xyChart(
  name: string,
  title: string,
  xTitle: string,
  yTitle: string,
  points: XyPoint[],
  opts: { percentiles?: boolean } = {},
): Chart {
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  return lineChart(
    name,
    title,
    yTitle,
    points,
    opts.percentiles,
    { size: 28, strokeWidth: 2 },
    {
      field: 'x',
      type: 'quantitative',
      title: xTitle,
      scale: { zero: true },
      axis: { values: xs, format: 'd' },
    },
  );
}

/** One line per series of `points` (their `value` on y from 0), against the x encoding given. */
function lineChart(
  name: string,
  title: string,
  yTitle: string,
  points: { series: string; value: number }[],
  percentiles: boolean | undefined,
  /** Point size and line width. */
  mark: { size: number; strokeWidth: number },
  x: Record<string, unknown>,
): Chart {
  const series = [...new Set(points.map((p) => p.series))];
  return {
    name,
    points: points.length,
    spec: {
      ...frame(title),
      data: { values: points },
      mark: { type: 'line', point: { filled: true, size: mark.size }, strokeWidth: mark.strokeWidth },
      encoding: {
        x,
        y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: true } },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          ...(percentiles ? percentileScale(series) : {}),
        },
      },
      config: CONFIG,
    },
  };
}

/**
 * Element ids made unique in the page: vega numbers its clip paths and gradients per process, and an id two
 * inline SVGs share would make the second use the first's clip.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1] as string));
  if (ids.size === 0) return svg;
  return svg.replace(/(\bid="|url\(#|href="#)([^")]+)/g, (m, lead: string, id: string) =>
    ids.has(id) ? `${lead}${prefix}-${id}` : m,
  );
}

export class ChartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChartError';
  }
}

/** A chart drawn: the SVG element, and what vega and vega-lite warned about while drawing it (nothing, normally). */
export interface RenderedChart {
  svg: string;
  warnings: string[];
}

/** Draws a chart as an SVG element (no XML prolog, ids prefixed with its name). */
export async function renderChart(chart: Chart): Promise<RenderedChart> {
  const [vega, vegaLite] = await Promise.all([
    importExternal<typeof Vega>('vega'),
    importExternal<typeof VegaLite>('vega-lite'),
  ]);
  const warnings: string[] = [];
  const errors: string[] = [];
  const logger = vega.logger(vega.Warn, undefined, (_method, level, args) =>
    (level === 'ERROR' ? errors : warnings).push(args.map(String).join(' ')),
  );
  const { spec } = vegaLite.compile(chart.spec, { logger });
  const view = new vega.View(vega.parse(spec), { renderer: 'none', logger });
  let svg: string;
  try {
    svg = (await view.toSVG()).replace(/^<\?xml[^>]*>\s*/, '');
  } finally {
    view.finalize();
  }
  if (errors.length > 0) throw new ChartError(`chart ${chart.name} did not draw: ${errors.join('; ')}`);
  return { svg: scopeSvgIds(svg, chart.name.replace(/[^A-Za-z0-9_-]/g, '_')), warnings };
}
