// helm uninstall: nothing of the release remains, not even the Lease and the state ConfigMaps
// the operator created at run time (they are owned by the chart's config ConfigMap, so the
// garbage collector removes them after it); the CRD and the policies stay by design.

import type { V1CustomResourceDefinition } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { STATE_LABEL } from "../src/ha/configmaps.ts";
import {
  clients,
  helm,
  isNotFound,
  kubectlJson,
  log,
  type PolicyObject,
  waitFor,
} from "./support/cluster.ts";
import { FULLNAME, LEASE_NAME, NAMESPACE, RELEASE, SHOP, STATE_PREFIX } from "./support/env.ts";
import { target } from "./support/target.ts";

const t = target();
afterAll(() => t.close());

async function gone(what: string, read: () => Promise<unknown>): Promise<void> {
  let missing = false;
  try {
    await read();
  } catch (error) {
    missing = isNotFound(error);
    if (!missing) throw error;
  }
  expect(missing, `${what} is gone`).toBe(true);
}

describe("helm uninstall", () => {
  it("removes every object of the chart; the CRD and the policies stay", async () => {
    const started = Date.now();
    await helm(["uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "3m"]);
    await t.uninstalled();
    log(`uninstalled in ${Date.now() - started} ms`);

    const { core, apps, rbac } = clients();
    const name = FULLNAME;
    const namespace = NAMESPACE;
    await gone("Deployment", () => apps.readNamespacedDeployment({ namespace, name }));
    await gone("Service", () => core.readNamespacedService({ namespace, name }));
    await gone("ServiceAccount", () => core.readNamespacedServiceAccount({ namespace, name }));
    await gone("ConfigMap -config", () =>
      core.readNamespacedConfigMap({ namespace, name: `${name}-config` }),
    );
    await gone("Role", () => rbac.readNamespacedRole({ namespace, name }));
    await gone("RoleBinding", () => rbac.readNamespacedRoleBinding({ namespace, name }));
    await gone("ClusterRole", () => rbac.readClusterRole({ name }));
    await gone("ClusterRoleBinding", () => rbac.readClusterRoleBinding({ name }));
    const releases = JSON.parse((await helm(["list", "-n", NAMESPACE, "-o", "json"])).stdout);
    expect(releases).toEqual([]);
    // The garbage collector deletes the ReplicaSet and its pods after the Deployment; the
    // kubelet (kwok, locally) lets each pod finish terminating.
    await waitFor(
      "the release's pods to be gone",
      async () =>
        (await core.listNamespacedPod({ namespace })).items.length === 0 ? true : undefined,
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    // Helm never deletes what it installed from crds/.
    const crd = await kubectlJson<V1CustomResourceDefinition>([
      "get",
      "crd",
      "loadbalancingpolicies.lb.konsul.io",
    ]);
    expect(crd.metadata?.name).toBe("loadbalancingpolicies.lb.konsul.io");
    const policies = await kubectlJson<{ items: PolicyObject[] }>(["-n", SHOP, "get", "lbp"]);
    expect(policies.items).toHaveLength(6);
  });

  it("the operator's Lease and state ConfigMaps go too: the garbage collector follows their owner", async () => {
    const { core, coordination } = clients();
    const selector = `${STATE_LABEL}=${STATE_PREFIX}`;
    const started = Date.now();
    await waitFor(
      "the Lease and the state ConfigMaps to be gone",
      async () => {
        const leases = await coordination.listNamespacedLease({ namespace: NAMESPACE });
        const state = await core.listNamespacedConfigMap({
          namespace: NAMESPACE,
          labelSelector: selector,
        });
        return leases.items.length === 0 && state.items.length === 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    log(`lease/${LEASE_NAME} and the state ConfigMaps collected after ${Date.now() - started} ms`);

    // Nothing of the release is left in its namespace: only what Kubernetes puts in every one
    // (the CA bundle, where the controller that publishes it runs, and the default account).
    const configMaps = await core.listNamespacedConfigMap({ namespace: NAMESPACE });
    expect(
      configMaps.items.map((c) => c.metadata?.name).filter((name) => name !== "kube-root-ca.crt"),
    ).toEqual([]);
    const accounts = await core.listNamespacedServiceAccount({ namespace: NAMESPACE });
    expect(accounts.items.map((a) => a.metadata?.name)).toEqual(["default"]);
  });
});
