/**
 * deploy/k8s: rendered with kustomize and validated with kubeconform against JSON schemas made
 * from the Kubernetes OpenAPI document and prometheus-operator's ServiceMonitor CRD (strict: an
 * unknown field fails), then checked against idem itself: the probes' endpoints and port, the
 * variables the ConfigMap and Secret set, the security settings the image allows.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../../src/config';

const REPO = path.resolve(__dirname, '..', '..');
const K8S = path.join(REPO, 'deploy', 'k8s');

function tool(name: string): string {
  const p = process.env[name];
  if (!p) throw new Error(`${name} is not set: the deploy project's global setup provides it`);
  return p;
}

function kubeconform(args: string[], input?: string) {
  const schemas = tool('IDEM_K8S_SCHEMAS');
  const r = spawnSync(
    tool('IDEM_KUBECONFORM'),
    [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-schema-location',
      `${schemas}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
      ...args,
    ],
    { input, encoding: 'utf8', timeout: 60_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface KubeconformReport {
  resources: { filename: string; kind: string; name: string; status: string; msg: string }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

type Manifest = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
};

let rendered = '';
let manifests: Manifest[] = [];

beforeAll(() => {
  const r = spawnSync(tool('IDEM_KUSTOMIZE'), ['build', K8S], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  rendered = r.stdout;
  manifests = parseAllDocuments(rendered).map((d) => d.toJS() as Manifest);
});

const byKind = (kind: string): Manifest => {
  const m = manifests.find((x) => x.kind === kind);
  if (!m) throw new Error(`kustomize build rendered no ${kind}`);
  return m;
};

// Plain property access into parsed YAML.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const at = (m: unknown): any => m;

test('kustomize build deploy/k8s passes kubeconform -strict, ServiceMonitor included, none skipped', () => {
  const r = kubeconform(['-'], rendered);
  const report = JSON.parse(r.stdout) as KubeconformReport;
  expect(report.resources.filter((x) => x.status !== 'statusValid')).toEqual([]);
  expect(report.summary).toEqual({ valid: 6, invalid: 0, errors: 0, skipped: 0 });
  expect(r.status).toBe(0);
  expect(manifests.map((m) => m.kind).sort()).toEqual([
    'ConfigMap',
    'Deployment',
    'HorizontalPodAutoscaler',
    'PodDisruptionBudget',
    'Service',
    'ServiceMonitor',
  ]);
});

test('the example Secret (not in the kustomization) is valid too', () => {
  const r = kubeconform([path.join(K8S, 'secret.example.yaml')]);
  expect((JSON.parse(r.stdout) as KubeconformReport).summary).toEqual({
    valid: 1,
    invalid: 0,
    errors: 0,
    skipped: 0,
  });
});

test('the validation catches mistakes: an unknown field, a wrong type, a ServiceMonitor typo', () => {
  const deployment = at(structuredClone(byKind('Deployment')));
  deployment.spec.template.spec.containers[0].livenessProbe.httpGett = { path: '/live' };
  const wrongType = at(structuredClone(byKind('HorizontalPodAutoscaler')));
  wrongType.spec.maxReplicas = 'twelve';
  const monitor = at(structuredClone(byKind('ServiceMonitor')));
  monitor.spec.endpoints[0].intervall = '15s';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-k8s-'));
  try {
    const file = path.join(dir, 'broken.yaml');
    fs.writeFileSync(file, [deployment, wrongType, monitor].map((m) => stringify(m)).join('---\n'));
    const r = kubeconform([file]);
    const report = JSON.parse(r.stdout) as KubeconformReport;
    expect(report.summary).toMatchObject({ valid: 0, invalid: 3 });
    expect(r.status).toBe(1);
    const msg = (kind: string) => report.resources.find((x) => x.kind === kind)?.msg ?? '';
    expect(msg('Deployment')).toMatch(/httpGett/);
    expect(msg('HorizontalPodAutoscaler')).toMatch(/maxReplicas/);
    expect(msg('ServiceMonitor')).toMatch(/intervall/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the probes, the metrics Service and the ServiceMonitor use the port idem serves /live and /ready on', () => {
  const configMap = at(byKind('ConfigMap'));
  const pod = at(byKind('Deployment')).spec.template;
  const container = pod.spec.containers[0];
  const port = container.ports.find((p: { name: string }) => p.name === 'metrics');
  expect(port.containerPort).toBe(parseConfig(configMap.data).metricsPort);
  expect(container.livenessProbe.httpGet).toEqual({ path: '/live', port: 'metrics' });
  expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'metrics' });

  const service = at(byKind('Service'));
  expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'metrics', targetPort: 'metrics' })]);
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);
  expect(matches(service.spec.selector, pod.metadata.labels)).toBe(true);
  const monitor = at(byKind('ServiceMonitor'));
  expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
  expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
  expect(matches(at(byKind('PodDisruptionBudget')).spec.selector.matchLabels, pod.metadata.labels)).toBe(
    true,
  );
  expect(at(byKind('HorizontalPodAutoscaler')).spec.scaleTargetRef).toEqual({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: at(byKind('Deployment')).metadata.name,
  });
});

test('the ConfigMap and the Secret set only variables idem knows, with values it accepts', () => {
  const configMap = at(byKind('ConfigMap')).data as Record<string, string>;
  const secret = at(parseYaml(fs.readFileSync(path.join(K8S, 'secret.example.yaml'), 'utf8')))
    .stringData as Record<string, string>;
  const container = at(byKind('Deployment')).spec.template.spec.containers[0];
  expect(container.envFrom).toEqual([
    { configMapRef: { name: at(byKind('ConfigMap')).metadata.name } },
    { secretRef: { name: 'idem-secrets' } },
  ]);
  // parseConfig ignores what it does not know: an unknown name would be a silent typo.
  const docs = fs.readFileSync(path.join(REPO, 'docs', 'configuration.md'), 'utf8');
  const undocumented = [...Object.keys(configMap), ...Object.keys(secret)].filter(
    (name) => !docs.includes(`\`${name}\``),
  );
  expect(undocumented).toEqual([]);
  const config = parseConfig({ ...configMap, ...secret });
  expect(config.dedup.retentionMs).toBe(30 * 86_400_000);
  expect(config.database.url).toBe(secret.DATABASE_URL);
  expect(container.args).toEqual(['consume', '--handlers', 'examples/ledger']);
});

test('the pod runs as the image user, non-root, read-only root, no privileges; its grace period covers idem stop', () => {
  const pod = at(byKind('Deployment')).spec.template.spec;
  const container = pod.containers[0];
  const dockerfile = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
  expect(user).not.toBeNull();
  expect(pod.securityContext).toMatchObject({
    runAsNonRoot: true,
    runAsUser: Number(user?.[1]),
    runAsGroup: Number(user?.[2]),
  });
  expect(container.securityContext).toMatchObject({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
  expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  // A stop: the ingester's settle (10 s), the worker's shutdownForceTime (15 s, src/app.ts), closing.
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(10 + 15 + 10);
  expect(container.resources.requests.cpu).toBeDefined();
});
