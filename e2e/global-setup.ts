// Vitest global setup of the end-to-end suite. Local mode (the default) builds the whole
// environment here and tears it down at the end (e2e/local/environment.ts); kind mode finds it
// ready, made by e2e/kind.sh, and only checks that the variables are there.

import type { TestProject } from "vitest/node";
import { startLocal } from "./local/environment.ts";
import { ENV, mode, required } from "./support/env.ts";

const began = Date.now();
const log = (line: string) =>
  console.log(`[e2e +${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s] ${line}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (mode() === "kind") {
    for (const name of [ENV.kubeconfig, ENV.url, ENV.dns, ENV.helm]) required(name);
    log(`kind: using ${process.env[ENV.url]} and the cluster of ${process.env[ENV.kubeconfig]}`);
    return async () => {};
  }
  log("local: starting the control plane, kube-scheduler and kwok");
  const local = await startLocal(log);
  // Workers inherit the environment of this process.
  Object.assign(process.env, local.env);
  log(`local: ready; the suite runs against ${local.env[ENV.url]}`);
  return async () => {
    const failed = project.vitest.state?.getCountOfFailedTests?.() ?? 0;
    const crashed = local.crashed();
    for (const line of crashed) log(`exited unexpectedly: ${line}`);
    if (failed > 0 || crashed.length > 0) console.log(await local.logs());
    log("local: stopping replicas and the control plane");
    await local.stop();
    log("local: done");
  };
}
