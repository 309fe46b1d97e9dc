/**
 * What the deployment tests validate deploy/k8s with, fetched once into the cache from the Go
 * module proxy (no release download, no GitHub):
 *
 * - kubeconform and kustomize, built with `go install <module>@<version>`;
 * - JSON schemas for kubeconform, which it would otherwise download from GitHub: made here from
 *   the Kubernetes OpenAPI document in the k8s.io/kubernetes module (api/openapi-spec/swagger.json)
 *   and from prometheus-operator's ServiceMonitor CRD (in its module), the way kubeconform's own
 *   openapi2jsonschema.py does (stand-alone, strict: no unknown fields).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from './layout';
import { run, StackError, which } from './proc';
import { step, type Reporter } from './progress';

export const KUBECONFORM = {
  name: 'kubeconform',
  module: 'github.com/yannh/kubeconform/cmd/kubeconform',
  version: 'v0.8.0',
};
/** v5.8.2 and later need Go 1.27. */
export const KUSTOMIZE = {
  name: 'kustomize',
  module: 'sigs.k8s.io/kustomize/kustomize/v5',
  version: 'v5.8.1',
};
/** The Kubernetes version whose API the manifests are checked against. */
export const KUBERNETES = { module: 'k8s.io/kubernetes', version: 'v1.35.4' };
export const PROMETHEUS_OPERATOR = {
  module: 'github.com/prometheus-operator/prometheus-operator',
  version: 'v0.85.0',
};

function requireGo(what: string): string {
  const go = which('go');
  if (!go) {
    throw new StackError(
      `${what} is built from the Go module proxy and Go is not installed.\n` +
        '  Install Go 1.25+ (https://go.dev/dl/), or put the tool on PATH.',
    );
  }
  return go;
}

/** A Go program at a pinned version, built once into <cache>/bin/<name>-<version>/. */
export async function ensureGoTool(
  layout: Layout,
  tool: { name: string; module: string; version: string },
  report: Reporter,
): Promise<string> {
  const dir = path.join(layout.binDir, `${tool.name}-${tool.version}`);
  const binary = path.join(dir, tool.name);
  if (fs.existsSync(binary)) return binary;
  const go = requireGo(tool.name);
  fs.mkdirSync(dir, { recursive: true });
  await step(
    `building ${tool.name} with go install ${tool.module}@${tool.version} (first run only)`,
    () =>
      run(go, ['install', `${tool.module}@${tool.version}`], {
        env: { ...process.env, GOBIN: dir, GOFLAGS: '-buildvcs=false' },
        logFile: path.join(layout.logDir, `${tool.name}-build.log`),
      }),
    report,
  );
  return binary;
}

/** The directory of a Go module's files (`go mod download`, into Go's module cache). */
async function moduleDir(go: string, module: string, version: string, layout: Layout): Promise<string> {
  const out = await run(go, ['mod', 'download', '-json', `${module}@${version}`], {
    logFile: path.join(layout.logDir, 'k8s-schemas.log'),
  });
  const dir = (JSON.parse(out) as { Dir?: string; Error?: string }).Dir;
  if (!dir) throw new StackError(`go mod download ${module}@${version} named no directory:\n${out}`);
  return dir;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every `$ref: #/definitions/X` replaced by X itself; a recursive reference becomes `{}`. */
function inline(node: Json, defs: Obj, stack: string[] = []): Json {
  if (Array.isArray(node)) return node.map((n) => inline(n, defs, stack));
  if (!isObj(node)) return node;
  const ref = node.$ref;
  if (typeof ref === 'string' && ref.startsWith('#/definitions/')) {
    const name = ref.slice('#/definitions/'.length);
    const target = defs[name];
    if (target === undefined) throw new StackError(`the OpenAPI document has no definition ${name}`);
    if (stack.includes(name)) return {};
    const { $ref: _ref, ...rest } = node;
    return { ...rest, ...(inline(target, defs, [...stack, name]) as Obj) };
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inline(v, defs, stack)]));
}

/** kubectl's and kubeconform's "strict": an object with properties allows no other field. */
function strict(node: Json, skipRoot = false): Json {
  if (Array.isArray(node)) return node.map((n) => strict(n));
  if (!isObj(node)) return node;
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, strict(v)]));
  if (!skipRoot && isObj(node.properties) && !('additionalProperties' in node))
    out.additionalProperties = false;
  return out;
}

/** int-or-string fields take either; quantities are strings or numbers (as kubectl accepts). */
function kubernetesFormats(node: Json): Json {
  if (Array.isArray(node)) return node.map(kubernetesFormats);
  if (!isObj(node)) return node;
  if (node.format === 'int-or-string') return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, kubernetesFormats(v)]));
}

/** openapi2jsonschema's allow_null_optional_fields: a field nobody requires may be null. */
function allowNull(node: Json, parent?: Json, grandParent?: Json): Json {
  if (Array.isArray(node)) return node.map((n) => allowNull(n, node, parent));
  if (!isObj(node)) return node;
  const out: Obj = {};
  for (const [k, v] of Object.entries(node)) {
    if (
      k === 'type' &&
      typeof v === 'string' &&
      v !== 'null' &&
      !(isObj(grandParent) && 'required' in grandParent)
    )
      out[k] = [v, 'null'];
    else out[k] = isObj(v) || Array.isArray(v) ? allowNull(v, node, parent) : v;
  }
  return out;
}

/** kubeconform's file name for a kind: `<kind>-<first label of the group>-<version>.json`. */
export function schemaFileName(kind: string, group: string, version: string): string {
  const g = group === '' ? '' : `-${group.split('.')[0]}`;
  return `${kind}${g}-${version}.json`.toLowerCase();
}

/** Stand-alone strict schemas of every kind in a Kubernetes OpenAPI v2 document. */
export function schemasFromSwagger(swagger: Obj): Map<string, Obj> {
  const defs = { ...(swagger.definitions as Obj) };
  // Quantity is a string in the document, and a number in a manifest is accepted as one.
  defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  const out = new Map<string, Obj>();
  for (const [name, def] of Object.entries(defs)) {
    const gvks = isObj(def) ? def['x-kubernetes-group-version-kind'] : undefined;
    if (!Array.isArray(gvks)) continue;
    let schema = inline(def, defs, [name]) as Obj;
    schema = allowNull(kubernetesFormats(strict(schema)) as Obj) as Obj;
    for (const gvk of gvks) {
      if (!isObj(gvk)) continue;
      const group = String(gvk.group ?? '');
      const version = String(gvk.version);
      const kind = String(gvk.kind);
      const props = isObj(schema.properties) ? schema.properties : undefined;
      const s: Obj = props
        ? {
            ...schema,
            properties: {
              ...props,
              apiVersion: { type: 'string', enum: [group === '' ? version : `${group}/${version}`] },
              kind: { type: 'string', enum: [kind] },
            },
          }
        : schema;
      out.set(schemaFileName(kind, group, version), s);
    }
  }
  return out;
}

/** Strict schemas of a CustomResourceDefinition's versions (openapi2jsonschema.py's way). */
export function schemasFromCrd(crd: Obj): Map<string, Obj> {
  const spec = crd.spec as Obj;
  const names = spec.names as Obj;
  const out = new Map<string, Obj>();
  for (const v of spec.versions as Obj[]) {
    const schema = (v.schema as Obj | undefined)?.openAPIV3Schema;
    if (!isObj(schema)) continue;
    const converted = kubernetesFormats(strict(schema, true)) as Obj;
    out.set(schemaFileName(String(names.kind), String(spec.group), String(v.name)), converted);
  }
  return out;
}

/** The schema directory for kubeconform's `-schema-location <dir>/{{ .ResourceKind }}{{ .KindSuffix }}.json`. */
export async function ensureK8sSchemas(layout: Layout, report: Reporter): Promise<string> {
  const dir = path.join(
    layout.cacheDir,
    'k8s-schemas',
    `kubernetes-${KUBERNETES.version}_prometheus-operator-${PROMETHEUS_OPERATOR.version}`,
  );
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return dir;
  const go = requireGo('The Kubernetes JSON schemas');
  fs.mkdirSync(layout.logDir, { recursive: true });
  await step(
    `making Kubernetes ${KUBERNETES.version} and ServiceMonitor JSON schemas from the Go modules (first run only)`,
    async () => {
      const k8s = await moduleDir(go, KUBERNETES.module, KUBERNETES.version, layout);
      const po = await moduleDir(go, PROMETHEUS_OPERATOR.module, PROMETHEUS_OPERATOR.version, layout);
      const swagger = JSON.parse(
        fs.readFileSync(path.join(k8s, 'api', 'openapi-spec', 'swagger.json'), 'utf8'),
      ) as Obj;
      const crd = JSON.parse(
        fs.readFileSync(path.join(po, 'jsonnet', 'prometheus-operator', 'servicemonitors-crd.json'), 'utf8'),
      ) as Obj;
      // Written beside, renamed into place: a concurrent run never sees half a directory.
      const partial = `${dir}.${process.pid}.partial`;
      fs.rmSync(partial, { recursive: true, force: true });
      fs.mkdirSync(partial, { recursive: true });
      for (const [file, schema] of [...schemasFromSwagger(swagger), ...schemasFromCrd(crd)])
        fs.writeFileSync(path.join(partial, file), JSON.stringify(schema));
      fs.writeFileSync(path.join(partial, '.complete'), `${KUBERNETES.module}@${KUBERNETES.version}\n`);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      fs.renameSync(partial, dir);
    },
    report,
  );
  return dir;
}
