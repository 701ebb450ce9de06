/**
 * A real browser for the HTML report's tests: Debian's chromium (`apt-get install chromium`), driven by
 * playwright-core, headless, with background networking off, so that the only request a page can cause is one the
 * page itself makes. Every other request is aborted and recorded, and so is every console error and page error.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots are kept (git ignores it). */
export const TEST_OUTPUT = resolve('test-output');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export interface OpenedPage {
  page: Page;
  /** The file's own URL. */
  url: string;
  /** Console errors and uncaught page errors, in order. */
  errors: string[];
  /** Every request other than the file itself (each was aborted). */
  requests: string[];
  close(): Promise<void>;
}

/** Opens `file` over file:// in a fresh context and waits for it to load. */
export async function openFile(browser: Browser, file: string): Promise<OpenedPage> {
  const url = pathToFileURL(resolve(file)).href;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (r.url() !== url) requests.push(r.url());
  });
  await context.route(
    (u) => u.href !== url,
    (route) => route.abort(),
  );
  await page.goto(url, { waitUntil: 'load' });
  return { page, url, errors, requests, close: () => context.close() };
}

/** A full-page screenshot under test-output/; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const path = resolve(TEST_OUTPUT, name);
  await mkdir(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The figures a page shows: every `data-figure` element's `data-value`, by figure name, inside `scope`. */
export async function pageFigures(page: Page, scope = 'body'): Promise<Map<string, number>> {
  const cells = page.locator(`${scope} [data-figure][data-value]`);
  const out = new Map<string, number>();
  for (const cell of await cells.all()) {
    const name = await cell.getAttribute('data-figure');
    const value = await cell.getAttribute('data-value');
    if (name !== null && value !== null) out.set(name, Number(value));
  }
  return out;
}

/** The page's height in CSS pixels, as laid out now (document.body.scrollHeight). */
export async function pageHeight(page: Page): Promise<number> {
  return page.evaluate<number>('document.body.scrollHeight');
}

/** Every `<details>` inside `scope`, in order: whether it is open and its summary's text. */
export async function foldedSections(
  page: Page,
  scope = 'body',
): Promise<{ open: boolean; summary: string }[]> {
  const out: { open: boolean; summary: string }[] = [];
  for (const d of await page.locator(`${scope} details`).all())
    out.push({
      open: (await d.getAttribute('open')) !== null,
      summary: (await d.locator(':scope > summary').textContent()) ?? '',
    });
  return out;
}

/** Opens every closed `<details>` inside `scope` as a reader does: a click on its summary. Returns how many. */
export async function unfold(page: Page, scope = 'body'): Promise<number> {
  // By index among all of them: a locator of the closed ones would shift with each one opened.
  let opened = 0;
  for (const d of await page.locator(`${scope} details`).all()) {
    if ((await d.getAttribute('open')) !== null) continue;
    await d.locator(':scope > summary').click();
    assert.notEqual(await d.getAttribute('open'), null, 'a click on its summary did not open it');
    opened++;
  }
  return opened;
}

export interface DrawnChart {
  name: string;
  /** Data points the report says it drew. */
  points: number;
  /** Point marks in the SVG. */
  pointMarks: number;
  /** Line paths with a non-empty outline. */
  lines: number;
  width: number;
  height: number;
}

/** Every chart of the page as the browser laid it out. */
export async function drawnCharts(page: Page, scope = 'body'): Promise<DrawnChart[]> {
  const out: DrawnChart[] = [];
  for (const figure of await page.locator(`${scope} figure[data-chart]`).all()) {
    const svg = figure.locator('svg').first();
    const box = await svg.boundingBox();
    const lines = await figure.locator('g.mark-line.role-mark path').all();
    let drawnLines = 0;
    for (const l of lines) if (((await l.getAttribute('d')) ?? '').length > 2) drawnLines++;
    out.push({
      name: (await figure.getAttribute('data-chart')) ?? '',
      points: Number(await figure.getAttribute('data-points')),
      pointMarks: await figure.locator('g.mark-symbol.role-mark path').count(),
      lines: drawnLines,
      width: box?.width ?? 0,
      height: box?.height ?? 0,
    });
  }
  return out;
}
