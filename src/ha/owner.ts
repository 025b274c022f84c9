import { CoreV1Api, type KubeConfig, type V1OwnerReference } from "@kubernetes/client-node";
import { timeoutOptions } from "./api-calls.ts";

/**
 * The owner the Lease and the state ConfigMaps carry, once known. The replicas create those
 * objects themselves, so an uninstall of what created the replicas (a Helm release) would leave
 * them behind; owned by one of the release's ConfigMaps, they go with it through Kubernetes'
 * garbage collector. Every create and replace writes the reference again: a replace carries the
 * whole object, and objects written before an owner was configured gain one on their next write.
 */
export class ObjectOwner {
  /** The owner's namespace: an owner reference cannot point across namespaces. */
  readonly namespace: string;
  #references: V1OwnerReference[] | undefined;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  /** The ownerReferences for an object in `namespace`, if it can have this owner. */
  referencesIn(namespace: string): V1OwnerReference[] | undefined {
    return this.namespace === namespace ? this.#references : undefined;
  }

  set(reference: V1OwnerReference): void {
    this.#references = [reference];
  }
}

/** The owner reference to ConfigMap `name` in `namespace`, read from the API server. */
export async function configMapOwnerReference(
  config: KubeConfig,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<V1OwnerReference> {
  const map = await config
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({ name, namespace }, timeoutOptions(timeoutMs));
  const uid = map.metadata?.uid;
  if (!uid) throw new Error(`ConfigMap ${namespace}/${name} has no uid`);
  // Neither controller nor blockOwnerDeletion: the owner only decides when these objects go,
  // and setting blockOwnerDeletion would need update rights on the owner's finalizers.
  return { apiVersion: "v1", kind: "ConfigMap", name, uid };
}
