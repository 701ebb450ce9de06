/**
 * Validates a JUnit XML file against the Ant JUnit schema CI systems read (test/fixtures/junit/JUnit.xsd, see the
 * README beside it) with xmllint (Debian libxml2-utils, which .ci/run installs).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

export const JUNIT_XSD = resolve('test/fixtures/junit/JUnit.xsd');

/** xmllint's verdict on `file`: ok, and what it printed (it names each element or attribute that is wrong). */
export function validateJUnit(file: string): { ok: boolean; output: string } {
  const r = spawnSync('xmllint', ['--noout', '--schema', JUNIT_XSD, file], { encoding: 'utf8' });
  if (r.error !== undefined) {
    throw new Error(
      `cannot run xmllint (${r.error.message}): install it with apt-get install libxml2-utils (.ci/run does)`,
    );
  }
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}
