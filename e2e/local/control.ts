// A loopback endpoint through which the tests, in vitest's worker processes, ask the runner to
// crash, reload, stop or start the replica processes it owns (the pattern of
// test/cluster/harness/control-server.ts). One owner keeps teardown and the watchdog whole.

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { LocalReplicas } from "./replicas.ts";

export interface Control {
  /** Base URL, with a random path segment so that other local users cannot drive it. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startControl(
  replicas: LocalReplicas,
  /** A kubeconfig with a token of the release's ServiceAccount as it is now. */
  serviceAccount: () => Promise<string>,
): Promise<Control> {
  const secret = randomBytes(16).toString("hex");
  // One change at a time: a reload racing a crash would leave a slot in either state.
  let queue: Promise<unknown> = Promise.resolve();

  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const parts = new URL(req.url ?? "/", "http://127.0.0.1").pathname.split("/").filter(Boolean);
    if (parts[0] !== secret) return reply(404, { error: "not found" });
    const route = `${req.method} /${parts.slice(1).join("/")}`;

    if (route === "GET /replicas") {
      replicas.list().then(
        (list) => reply(200, { replicas: list }),
        (error: unknown) => reply(500, { error: String(error) }),
      );
      return;
    }
    let action: (() => Promise<void>) | undefined;
    if (req.method === "POST" && parts[1] === "replicas" && parts[3] === "crash" && parts[2]) {
      const pod = decodeURIComponent(parts[2]);
      action = () => replicas.crash(pod);
    } else if (route === "POST /release/reload") {
      action = () => replicas.reload();
    } else if (route === "POST /release/stop") {
      action = () => replicas.stop();
    } else if (route === "POST /release/start") {
      action = async () => replicas.startInstalled(await serviceAccount());
    }
    if (!action) {
      return reply(404, {
        error:
          "expected GET /replicas, POST /replicas/<pod>/crash, POST /release/reload, POST /release/stop or POST /release/start",
      });
    }
    const run = action;
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
  server.unref();
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("control: no port");
  return {
    url: `http://127.0.0.1:${address.port}/${secret}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
