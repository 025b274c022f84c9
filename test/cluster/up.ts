// `npm run cluster:up`: a control plane for a person at a terminal. Runs until Ctrl-C.

import { ControlPlane } from "./harness/control-plane.ts";
import { startControlServer } from "./harness/control-server.ts";
import { CONTROL_URL_ENV, KUBECONFIG_ENV } from "./support/kube.ts";

const log = (line: string) => console.log(`[control-plane] ${line}`);

let plane: ControlPlane;
try {
  plane = await ControlPlane.start({ log, keepRunDir: process.env.KONSUL_LB_KEEP_CLUSTER === "1" });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
const control = await startControlServer(plane);

console.log(`
Control plane is up (API ${plane.server}).

  export KUBECONFIG=${plane.kubeconfig}
  kubectl get --raw /version
  kubectl get nodes,pods,endpointslices -A

Run the cluster tests against it from another terminal:

  export ${KUBECONFIG_ENV}=${plane.kubeconfig}
  export ${CONTROL_URL_ENV}=${control.url}
  npm run test:cluster

Component logs: ${plane.runDir}/*.log
Press Ctrl-C to stop; everything under ${plane.runDir} is removed.
`);

const reported = new Set<string>();
// Keeps the process alive (the components and the control endpoint do not) and reports a
// component that dies, with its log, rather than leaving a half-working cluster unexplained.
const monitor = setInterval(async () => {
  for (const c of plane.crashed()) {
    if (reported.has(c.name)) continue;
    reported.add(c.name);
    console.error(`${c.name} exited unexpectedly (${c.unexpectedExit}):\n${await c.tail()}`);
  }
}, 1000);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping`);
  clearInterval(monitor);
  await control.close();
  await plane.stop();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGHUP", () => void shutdown("SIGHUP"));
