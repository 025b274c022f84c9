// A loopback endpoint through which the tests, in vitest's worker processes, ask the runner to
// crash, reload, stop or start the replica processes it owns (the pattern of
// test/cluster/harness/control-server.ts). One owner keeps teardown and the watchdog whole.

import {
  type LoopbackControl,
  startLoopbackControl,
} from "../../test/cluster/harness/loopback-control.ts";
import type { LocalReplicas } from "./replicas.ts";

export type Control = LoopbackControl;

export function startControl(
  replicas: LocalReplicas,
  /** A kubeconfig with a token of the release's ServiceAccount as it is now. */
  serviceAccount: () => Promise<string>,
): Promise<Control> {
  return startLoopbackControl(({ method, parts }) => {
    const route = `${method} /${parts.join("/")}`;
    if (route === "GET /replicas") {
      return replicas.list().then(
        (list) => ({ status: 200, body: { replicas: list } }),
        (error: unknown) => ({ status: 500, body: { error: String(error) } }),
      );
    }
    if (method === "POST" && parts[0] === "replicas" && parts[2] === "crash" && parts[1]) {
      const pod = decodeURIComponent(parts[1]);
      return { action: () => replicas.crash(pod) };
    }
    if (route === "POST /release/reload") return { action: () => replicas.reload() };
    if (route === "POST /release/stop") return { action: () => replicas.stop() };
    if (route === "POST /release/start") {
      return { action: async () => replicas.startInstalled(await serviceAccount()) };
    }
    return {
      status: 404,
      body: {
        error:
          "expected GET /replicas, POST /replicas/<pod>/crash, POST /release/reload, POST /release/stop or POST /release/start",
      },
    };
  });
}
