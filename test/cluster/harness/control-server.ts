// A loopback HTTP endpoint through which tests, running in vitest worker processes, ask the
// process that owns the control plane to stop or start one of its components. Keeping a single
// owner means teardown and the watchdog always know every pid.

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { ComponentName, ControlPlane } from "./control-plane.ts";

const ACTIONS = new Set(["stop", "start", "restart"]);
const SIGNALS = new Set(["SIGTERM", "SIGKILL", "SIGINT"]);

export interface ControlServer {
  /** Base URL, including a random path segment so other local users cannot drive it. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startControlServer(plane: ControlPlane): Promise<ControlServer> {
  const secret = randomBytes(16).toString("hex");
  // One request at a time: a stop racing a start would leave the component in either state.
  let queue: Promise<unknown> = Promise.resolve();

  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const parts = url.pathname.split("/").filter(Boolean);
    if (parts[0] !== secret) return reply(404, { error: "not found" });

    if (req.method === "GET" && parts[1] === "components" && parts.length === 2) {
      const state = Object.fromEntries(
        [...plane.components].map(([name, c]) => [name, { running: c.running, pid: c.pid }]),
      );
      return reply(200, state);
    }

    const [, kind, name, action] = parts;
    if (
      req.method !== "POST" ||
      kind !== "components" ||
      name === undefined ||
      !plane.components.has(name as ComponentName) ||
      action === undefined ||
      !ACTIONS.has(action)
    ) {
      return reply(404, { error: "expected POST /components/<name>/<stop|start|restart>" });
    }
    const signal = url.searchParams.get("signal") ?? "SIGTERM";
    if (!SIGNALS.has(signal)) return reply(400, { error: `unsupported signal ${signal}` });

    const component = name as ComponentName;
    const run = async () => {
      if (action === "stop") await plane.stopComponent(component, signal as NodeJS.Signals);
      else if (action === "start") await plane.startComponent(component);
      else await plane.restartComponent(component, signal as NodeJS.Signals);
    };
    queue = queue.then(run).then(
      () => reply(200, { ok: true }),
      (error: unknown) =>
        reply(500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  // The owner must be free to exit while the endpoint is open.
  server.unref();
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("control server: no port");
  return {
    url: `http://127.0.0.1:${address.port}/${secret}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
