// A loopback HTTP endpoint through which tests, running in vitest worker processes, ask the
// process that owns long-lived child processes to act on them: the control plane's components
// (./control-server.ts) and the e2e suite's local replicas (e2e/local/control.ts). Keeping a
// single owner means teardown and the watchdog always know every pid. What the endpoint serves is
// the caller's; this is the common part: a random secret path segment, JSON replies, and one
// action at a time.

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";

export interface ControlRequest {
  readonly method: string;
  /** The segments of the path after the secret one, as sent (not decoded). */
  readonly parts: readonly string[];
  readonly query: URLSearchParams;
}

/**
 * A reply sent as it is, or an action run after those queued before it, replied with
 * `{"ok":true}` or a 500 with its error's message.
 */
export type ControlAnswer =
  | { readonly status: number; readonly body: unknown }
  | { readonly action: () => Promise<void> };

export interface LoopbackControl {
  /** Base URL, including a random path segment so other local users cannot drive it. */
  readonly url: string;
  close(): Promise<void>;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function startLoopbackControl(
  handle: (request: ControlRequest) => ControlAnswer | Promise<ControlAnswer>,
): Promise<LoopbackControl> {
  const secret = randomBytes(16).toString("hex");
  // One action at a time: a stop racing a start (or a reload racing a crash) would leave what
  // they act on in either state.
  let queue: Promise<unknown> = Promise.resolve();

  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [first, ...parts] = url.pathname.split("/").filter(Boolean);
    if (first !== secret) return reply(404, { error: "not found" });

    const request = { method: req.method ?? "", parts, query: url.searchParams };
    Promise.resolve()
      .then(() => handle(request))
      .then(
        (answer) => {
          if ("status" in answer) return reply(answer.status, answer.body);
          queue = queue.then(answer.action).then(
            () => reply(200, { ok: true }),
            (error: unknown) => reply(500, { error: message(error) }),
          );
        },
        (error: unknown) => reply(500, { error: message(error) }),
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
