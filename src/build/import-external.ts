/**
 * import() of a package the CLI bundle leaves out (esbuild, vega). A Node built-in loaded late needs none of this:
 * `createRequire(import.meta.url)` works in the bundle as from source (run-target.ts, run.ts).
 *
 * dist/cli/main.cjs is compiled from V8's code cache (src/build/cli.js), and Node 20 loses a script's
 * dynamic-import callback when its code comes from that cache: `import()` written inside the bundle then fails
 * with "A dynamic import callback was not specified". So the bundle imports through this function, which
 * bin/starling.js (an ES module, where import() works) sets to its own at start-up. From source (tsx, tests) the
 * default, this module's own import(), is the right one.
 */
type Importer = (specifier: string) => Promise<unknown>;

let importer: Importer = (specifier) => import(specifier);

export function setExternalImporter(use: Importer): void {
  importer = use;
}

export function importExternal<T>(specifier: string): Promise<T> {
  return importer(specifier) as Promise<T>;
}
