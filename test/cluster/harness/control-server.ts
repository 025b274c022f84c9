// A loopback HTTP endpoint through which tests, running in vitest worker processes, ask the
// process that owns the control plane to stop or start one of its components. Keeping a single
// owner means teardown and the watchdog always know every pid.

import type { ComponentName, ControlPlane } from "./control-plane.ts";
import { type LoopbackControl, startLoopbackControl } from "./loopback-control.ts";

const ACTIONS = new Set(["stop", "start", "restart"]);
const SIGNALS = new Set(["SIGTERM", "SIGKILL", "SIGINT"]);

export type ControlServer = LoopbackControl;

export function startControlServer(plane: ControlPlane): Promise<ControlServer> {
  return startLoopbackControl(({ method, parts, query }) => {
    if (method === "GET" && parts[0] === "components" && parts.length === 1) {
      const state = Object.fromEntries(
        [...plane.components].map(([name, c]) => [name, { running: c.running, pid: c.pid }]),
      );
      return { status: 200, body: state };
    }

    const [kind, name, action] = parts;
    if (
      method !== "POST" ||
      kind !== "components" ||
      name === undefined ||
      !plane.components.has(name as ComponentName) ||
      action === undefined ||
      !ACTIONS.has(action)
    ) {
      return {
        status: 404,
        body: { error: "expected POST /components/<name>/<stop|start|restart>" },
      };
    }
    const signal = query.get("signal") ?? "SIGTERM";
    if (!SIGNALS.has(signal)) {
      return { status: 400, body: { error: `unsupported signal ${signal}` } };
    }

    const component = name as ComponentName;
    return {
      action: async () => {
        if (action === "stop") await plane.stopComponent(component, signal as NodeJS.Signals);
        else if (action === "start") await plane.startComponent(component);
        else await plane.restartComponent(component, signal as NodeJS.Signals);
      },
    };
  });
}
