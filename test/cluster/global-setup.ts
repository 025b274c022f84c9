// Vitest global setup for the cluster suite: one control plane for the whole run, torn down at
// the end. Test files reach it through the environment (workers inherit it from this process):
// see test/cluster/support/kube.ts.

import type { TestProject } from "vitest/node";
import { ControlPlane } from "./harness/control-plane.ts";
import { startControlServer } from "./harness/control-server.ts";
import { CONTROL_URL_ENV, KUBE_VERSION_ENV, KUBECONFIG_ENV } from "./support/kube.ts";

const log = (line: string) => console.log(`[control-plane] ${line}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env[KUBECONFIG_ENV]) {
    // A cluster started by `npm run cluster:up`; it belongs to that process.
    log(`using the running cluster at ${process.env[KUBECONFIG_ENV]}`);
    return async () => {};
  }

  const plane = await ControlPlane.start({
    log,
    keepRunDir: process.env.KONSUL_LB_KEEP_CLUSTER === "1",
  });
  const control = await startControlServer(plane);
  process.env[KUBECONFIG_ENV] = plane.kubeconfig;
  process.env[CONTROL_URL_ENV] = control.url;
  process.env[KUBE_VERSION_ENV] = plane.expectedVersion ?? "";
  log(`kubeconfig ${plane.kubeconfig}`);

  return async () => {
    // The state API is marked experimental; without it a crashed component still shows logs.
    const failed = project.vitest.state?.getCountOfFailedTests?.() ?? 0;
    const crashed = plane.crashed();
    for (const c of crashed) log(`${c.name} exited unexpectedly (${c.unexpectedExit})`);
    if (failed > 0 || crashed.length > 0) console.log(await plane.logs());
    await control.close();
    await plane.stop();
  };
}
