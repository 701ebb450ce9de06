/** The k6-operator example manifests: they parse, and what they set is what starling reads. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { COLLECTOR_TOKEN_ENV, COLLECTOR_URL_ENV, RUN_ID_ENV } from '../../src/contract/snapshot.ts';
import { listScenarios } from '../../src/build/scenarios.ts';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}

async function docs(file: string): Promise<Record<string, unknown>[]> {
  const parsed = parseAllDocuments(await readFile(file, 'utf8'));
  for (const d of parsed) assert.deepEqual(d.errors, [], `${file}: ${d.errors.join('; ')}`);
  return parsed.map((d) => d.toJS() as Record<string, unknown>);
}

test('the TestRun runs a built scenario in parallel pods that all report to the one collector', async () => {
  const [run] = await docs('deploy/k6-operator/testrun.yaml');
  assert.equal(run!.apiVersion, 'k6.io/v1alpha1');
  assert.equal(run!.kind, 'TestRun');
  const spec = run!.spec as {
    parallelism: number;
    script: { configMap: { name: string; file: string } };
    runner: { env: EnvVar[] };
  };
  assert.ok(spec.parallelism > 1);
  const scenarios = (await listScenarios()).map((f) => f.replace(/^scenarios\//, '').replace(/\.ts$/, '.js'));
  assert.ok(
    scenarios.includes(spec.script.configMap.file),
    `${spec.script.configMap.file} is a built scenario`,
  );
  const env = new Map(spec.runner.env.map((e) => [e.name, e]));
  assert.equal(env.get(COLLECTOR_URL_ENV)?.value, 'http://starling-collector:9464');
  assert.deepEqual(env.get(COLLECTOR_TOKEN_ENV)?.valueFrom?.secretKeyRef, {
    name: 'starling-collector',
    key: 'token',
  });
  assert.ok(env.get(RUN_ID_ENV)?.value, 'one run id for every pod');
  assert.deepEqual(env.get('STARLING_INSTANCE')?.valueFrom?.fieldRef, { fieldPath: 'metadata.name' });
  // Passwords come from a Secret, never a literal in the manifest.
  assert.equal(env.get('XMPP_PASSWORD_PATTERN')?.value, undefined);
});

test('the collector Deployment listens where the TestRun sends, with the token from the same Secret', async () => {
  const all = await docs('deploy/k6-operator/collector.yaml');
  const byKind = new Map(all.map((d) => [d.kind as string, d]));
  const service = byKind.get('Service') as {
    metadata: { name: string };
    spec: { ports: { port: number }[] };
  };
  assert.equal(service.metadata.name, 'starling-collector');
  assert.equal(service.spec.ports[0]!.port, 9464);
  const deployment = byKind.get('Deployment') as {
    spec: { replicas: number; template: { spec: { containers: { args: string[]; env: EnvVar[] }[] } } };
  };
  assert.equal(deployment.spec.replicas, 1);
  const [container] = deployment.spec.template.spec.containers;
  assert.deepEqual(container!.args.slice(0, 5), ['collect', '--host', '0.0.0.0', '--port', '9464']);
  assert.deepEqual(container!.env.find((e) => e.name === COLLECTOR_TOKEN_ENV)?.valueFrom?.secretKeyRef, {
    name: 'starling-collector',
    key: 'token',
  });
  assert.equal((byKind.get('Secret') as { metadata: { name: string } }).metadata.name, 'starling-collector');
});
