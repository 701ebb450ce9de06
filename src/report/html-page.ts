/**
 * The HTML report's building blocks: escaping, number formats, table cells that carry their exact value
 * (`data-figure` / `data-value`, which the browser test reads back), charts as figures, and the page shell: one
 * self-contained document with a small inline style and a Content-Security-Policy that lets it load nothing.
 */
import { maskUrlPasswords } from '../xmpp/redact.ts';
import { renderChart, type Chart } from './charts.ts';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text as HTML text or attribute value. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** Latency in ms at a precision that reads well: 1234 ms, 81.9 ms, 4.25 ms. */
export function fmtMs(ms: number): string {
  const a = Math.abs(ms);
  return `${a >= 100 ? ms.toFixed(0) : a >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;
}

export function fmtCount(n: number): string {
  return Number.isInteger(n)
    ? n.toLocaleString('en-US')
    : n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/** A share (0–1) as a percentage. */
export function fmtShare(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)} %`;
}

/** A table cell holding a figure: its text, and its exact value for whoever checks the page against the files. */
export function figureCell(figure: string, value: number | undefined, text: (v: number) => string): string {
  if (value === undefined) return '<td class="num missing">–</td>';
  return `<td class="num" data-figure="${esc(figure)}" data-value="${value}">${esc(text(value))}</td>`;
}

export function textCell(text: string, cls?: string): string {
  return `<td${cls ? ` class="${cls}"` : ''}>${esc(text)}</td>`;
}

/** A table: header texts, then rows of cells already made (figureCell, textCell). */
export function table(head: readonly string[], rows: readonly string[][], attrs = ''): string {
  return (
    `<table${attrs ? ` ${attrs}` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`
  );
}

/** What a section could not show, and why: said in the page, never left blank. */
export function note(text: string, missing?: string): string {
  return `<p class="note"${missing ? ` data-missing="${esc(missing)}"` : ''}>${esc(text)}</p>`;
}

/** Charts drawn as inline SVG figures, side by side. */
export async function chartFigures(charts: readonly Chart[]): Promise<string> {
  if (charts.length === 0) return '';
  const figures: string[] = [];
  for (const chart of charts) {
    const { svg } = await renderChart(chart);
    figures.push(`<figure data-chart="${esc(chart.name)}" data-points="${chart.points}">${svg}</figure>`);
  }
  return `<div class="charts">${figures.join('')}</div>`;
}

/** A section with its heading, anchored for the page's contents. */
export function section(id: string, heading: string, body: string, level: 2 | 3 = 2): string {
  return `<section id="${esc(id)}"><h${level}>${esc(heading)}</h${level}>${body}</section>`;
}

/**
 * One run of a page that shows several (a comparison's runs, a capacity search's steps): a line that says which run
 * and how it went, always shown, and its full figures folded away under it until opened. A native `<details>`,
 * closed at first: no script, and the browser's find-in-page opens the one that holds what it found.
 */
export function runDetails(key: string, heading: string, headline: string, body: string): string {
  return (
    `<section class="run" id="${esc(key)}" data-run="${esc(key)}"><details>` +
    `<summary><h3>${heading}</h3>${headline ? ` <span class="headline">${headline}</span>` : ''}</summary>` +
    `<div class="run-body">${body}</div></details></section>`
  );
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, "Liberation Sans", sans-serif;
  color: #1b1b1b; background: #f7f7f7; margin: 0; }
header, nav, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 18px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d6d6d6; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.verdict { display: inline-block; padding: 1px 10px; border-radius: 4px; color: #fff; font-weight: 600; }
.verdict.passed { background: #2e7d32; } .verdict.failed { background: #c62828; } .verdict.unknown { background: #757575; }
.outcome { margin: 6px 0; } .error { color: #b71c1c; white-space: pre-wrap; }
nav ul { list-style: none; padding: 0; margin: 10px 0; display: flex; flex-wrap: wrap; gap: 4px 16px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 12px; }
th, td { border: 1px solid #dcdcdc; padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: #efefef; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.missing { color: #999; }
td.ok { color: #2e7d32; font-weight: 600; } td.fail { color: #c62828; font-weight: 600; }
.note { color: #555; font-style: italic; margin: 4px 0 10px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 12px; }
figure { margin: 0; background: #fff; border: 1px solid #e0e0e0; }
figure svg { display: block; max-width: 100%; height: auto; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; }
section.run { border-left: 4px solid #90a4ae; padding-left: 16px; margin: 10px 0; }
section.run > details > summary { cursor: pointer; padding: 6px 0; }
section.run > details > summary > h3 { display: inline; font-size: 16px; margin: 0; }
section.run > details > summary .headline { color: #444; margin-left: 6px; }
section.run > details[open] > summary { border-bottom: 1px solid #d6d6d6; }
@media print {
  details::details-content { content-visibility: visible; }
  section.run > details > summary { list-style: none; }
}
footer { color: #777; font-size: 12px; padding: 24px; }
`;

/**
 * The whole document. Every URL's password is masked once more over the finished page, as a last guard: the
 * page shows configuration, errors and file paths that came from users.
 */
export function page(
  title: string,
  header: string,
  contents: [id: string, label: string][],
  main: string,
): string {
  const nav = contents.length
    ? `<nav><ul>${contents.map(([id, label]) => `<li><a href="#${esc(id)}">${esc(label)}</a></li>`).join('')}</ul></nav>`
    : '';
  const html =
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` +
    '<link rel="icon" href="data:,">' +
    `<title>${esc(title)}</title><style>${STYLE}</style></head>\n<body>` +
    `<header>${header}</header>${nav}<main>${main}</main>` +
    `<footer>written by starling on ${esc(new Date().toISOString())}; self-contained: it loads nothing</footer>` +
    '</body></html>\n';
  return maskUrlPasswords(html);
}
