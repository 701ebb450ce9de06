/**
 * The shape of src/: which folder may import which, and no import circles.
 *
 * Every .ts/.js file under src/ is read with TypeScript's own import scanner (static imports, `import type`,
 * side-effect imports, `export … from` and dynamic `import('…')`; comments and strings ignored) and each
 * relative specifier is resolved to the file it names.
 *
 * The layering, bottom to top; a folder imports only the folders LAYERS lists for it, all of them below it:
 *
 *   contract    the facts every layer shares: metric names, the collector's snapshot format, the HDR factory.
 *               Imports nothing of src/, and no package but hdr-histogram-js (k6 bundles it: no Node built-ins).
 *   xmpp        the host-neutral XMPP core: imports nothing outside itself.
 *   k6          the k6 scenarios' library          → xmpp, contract
 *   engine      the Node engine that runs them     → xmpp, contract, build
 *   targets     local servers and their processes  → nothing
 *   node        Node transports and the probe      → engine, xmpp, contract
 *   collector   snapshots in, merged figures out   → engine, xmpp, contract
 *   capacity    the capacity search                → collector, engine, targets, xmpp, contract, build
 *   report      pages and tables                   → capacity, collector, engine, node, xmpp, contract, build
 *   dashboards  Grafana                            → collector, contract
 *   build       bundling, and the bundle's import() → nothing (engine, capacity and report load esbuild and vega
 *               through build/import-external.ts)
 *   cli         the commands, on top               → any folder
 *
 * Asserted: every folder edge is one LAYERS allows; the folder graph is acyclic whatever LAYERS says (no two
 * folders import each other, directly or round a longer loop); no file-level import cycle anywhere in src/;
 * contract and xmpp import nothing outside themselves. A failure names the edge or cycle and the files in it.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** The src/ folders each folder may import ('*': any); see the layering above. */
const LAYERS: Record<string, readonly string[] | '*'> = {
  contract: [],
  xmpp: [],
  k6: ['xmpp', 'contract'],
  engine: ['xmpp', 'contract', 'build'],
  targets: [],
  node: ['engine', 'xmpp', 'contract'],
  collector: ['engine', 'xmpp', 'contract'],
  capacity: ['collector', 'engine', 'targets', 'xmpp', 'contract', 'build'],
  report: ['capacity', 'collector', 'engine', 'node', 'xmpp', 'contract', 'build'],
  dashboards: ['collector', 'contract'],
  build: [],
  cli: '*',
};

/** Folders that must stand alone: nothing of src/ outside them, and only these packages. */
const SELF_CONTAINED: Record<string, readonly string[]> = {
  contract: ['hdr-histogram-js'],
  xmpp: [],
};

interface Graph {
  /** File (relative to src/, with '/') → the src/ files it imports. */
  files: Map<string, Set<string>>;
  /** File → the bare package specifiers it imports. */
  packages: Map<string, Set<string>>;
  /** Relative specifiers that name no file. */
  unresolved: string[];
}

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|js|mjs|cjs|mts|cts)$/.test(f) && statSync(join(SRC, f)).isFile())
    .map((f) => f.split(sep).join('/'))
    .sort();
}

/** The file a relative specifier names: as written, or the .ts behind a .js, or with an extension added. */
function resolveSpecifier(from: string, spec: string): string | undefined {
  const base = resolve(dirname(join(SRC, from)), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}.js`, join(base, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

function buildGraph(): Graph {
  const files = new Map<string, Set<string>>();
  const packages = new Map<string, Set<string>>();
  const unresolved: string[] = [];
  for (const file of sourceFiles()) {
    const out = new Set<string>();
    const pkgs = new Set<string>();
    const info = ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true);
    for (const { fileName: spec } of info.importedFiles) {
      if (!spec.startsWith('.')) {
        pkgs.add(spec);
        continue;
      }
      const target = resolveSpecifier(file, spec);
      if (target === undefined) {
        unresolved.push(`${file}: '${spec}'`);
        continue;
      }
      const rel = relative(SRC, target).split(sep).join('/');
      if (!rel.startsWith('../')) out.add(rel);
    }
    files.set(file, out);
    packages.set(file, pkgs);
  }
  return { files, packages, unresolved };
}

const folderOf = (file: string): string => file.split('/')[0]!.replace(/\.[cm]?[jt]s$/, '');

/** Strongly connected components with more than one node, or a node importing itself (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)?.has(v)) found.push(scc.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** One shortest loop through the component's first node, staying inside the component: [a, b, …, a]. */
function loopThrough(graph: Map<string, Set<string>>, scc: string[]): string[] {
  const members = new Set(scc);
  const start = scc[0]!;
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(parent.get(path[0]!)!);
        return [...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

const graph = buildGraph();

/** Folder → folders it imports, and the file pairs behind each folder edge. */
const folders = new Map<string, Set<string>>();
const edgeFiles = new Map<string, string[]>();
for (const [file, targets] of graph.files) {
  const a = folderOf(file);
  if (!folders.has(a)) folders.set(a, new Set());
  for (const target of targets) {
    const b = folderOf(target);
    if (a === b) continue;
    folders.get(a)!.add(b);
    const key = `${a} -> ${b}`;
    edgeFiles.set(key, [...(edgeFiles.get(key) ?? []), `${file} imports ${target}`]);
  }
}

const describeEdge = (a: string, b: string): string =>
  `  ${a} -> ${b}:\n${(edgeFiles.get(`${a} -> ${b}`) ?? []).map((l) => `      ${l}`).join('\n')}`;

describe('src/ layout', () => {
  test('the import scan sees the tree: files, folder edges, and every relative import resolves', (t) => {
    // The folder graph, printed with the results (`node --import tsx --test test/layout.test.ts`).
    for (const [a, bs] of [...folders].sort(([x], [y]) => x.localeCompare(y))) {
      for (const b of [...bs].sort()) t.diagnostic(`${a} -> ${b} (${edgeFiles.get(`${a} -> ${b}`)!.length})`);
    }
    assert.ok(graph.files.size > 100, `only ${graph.files.size} files found under ${SRC}`);
    assert.ok(folders.get('cli')?.has('engine'), 'cli -> engine not seen: the import scan is broken');
    assert.ok(folders.get('k6')?.has('xmpp'), 'k6 -> xmpp not seen: the import scan is broken');
    assert.deepEqual(
      graph.unresolved,
      [],
      `relative imports that name no file:\n  ${graph.unresolved.join('\n  ')}`,
    );
  });

  test('every folder imports only the folders its layer allows', () => {
    const problems: string[] = [];
    for (const [a, targets] of [...folders].sort(([x], [y]) => (x < y ? -1 : 1))) {
      const allowed = LAYERS[a];
      if (allowed === undefined) {
        problems.push(`  src/${a} is not in LAYERS: give it a place in the layering`);
        continue;
      }
      if (allowed === '*') continue;
      for (const b of [...targets].sort()) if (!allowed.includes(b)) problems.push(describeEdge(a, b));
    }
    assert.equal(
      problems.length,
      0,
      `imports the layering does not allow (move the shared code down, or add the edge to LAYERS if it keeps ` +
        `the graph acyclic):\n${problems.join('\n')}`,
    );
  });

  test('the folder graph has no cycle (no two-way pair, no longer loop)', () => {
    const problems = cycles(folders).map((scc) => {
      const loop = loopThrough(folders, scc);
      const hops = loop.slice(1).map((b, i) => describeEdge(loop[i]!, b));
      return `folder cycle ${loop.join(' -> ')} (folders in the loop: ${scc.join(', ')})\n${hops.join('\n')}`;
    });
    assert.equal(problems.length, 0, `back-edges between src/ folders:\n${problems.join('\n')}`);
  });

  test('no file-level import cycle anywhere in src/', () => {
    const problems = cycles(graph.files).map(
      (scc) =>
        `cycle ${loopThrough(graph.files, scc).join(' -> ')}\n    (all files in it: ${scc.join(', ')})`,
    );
    assert.equal(problems.length, 0, `import cycles in src/:\n  ${problems.join('\n  ')}`);
  });

  for (const [folder, allowedPackages] of Object.entries(SELF_CONTAINED)) {
    test(`src/${folder} imports nothing outside itself`, () => {
      assert.ok(folders.has(folder), `src/${folder} has no source files`);
      const outside = [...(folders.get(folder) ?? [])].sort().map((b) => describeEdge(folder, b));
      assert.equal(outside.length, 0, `src/${folder} must import only itself:\n${outside.join('\n')}`);
      const foreign: string[] = [];
      for (const [file, pkgs] of graph.packages) {
        if (folderOf(file) !== folder) continue;
        for (const p of pkgs) {
          if (!allowedPackages.some((a) => p === a || p.startsWith(`${a}/`)))
            foreign.push(`${file} imports '${p}'`);
        }
      }
      assert.deepEqual(
        foreign,
        [],
        `src/${folder} may import only ${allowedPackages.join(', ') || 'no package'} (it is bundled for k6):\n  ` +
          foreign.join('\n  '),
      );
    });
  }
});
