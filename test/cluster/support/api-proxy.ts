// A TCP proxy on loopback in front of kube-apiserver, one per replica, so that a test can cut or
// slow down that one replica's access to the API while the others keep theirs. It forwards bytes
// (TLS passes through untouched: the serving certificate is for 127.0.0.1, as is the proxy).

import { readFile, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { parse, stringify } from "yaml";

/**
 * pass: forward. refuse: reset every connection, existing and new (a fast failure).
 * blackhole: existing connections are reset, new ones are accepted and never answered (requests
 * run into their timeouts). delay: every chunk in both directions waits `delayMs`.
 */
export type ProxyMode =
  | { readonly kind: "pass" }
  | { readonly kind: "refuse" }
  | { readonly kind: "blackhole" }
  | { readonly kind: "delay"; readonly delayMs: number };

/** Bytes held back per direction of a delayed connection before its source is paused. */
const DELAY_BUFFER_LIMIT = 1024 * 1024;
/** Connections at once; a replica needs a handful (watches, lease, state, status). */
const MAX_CONNECTIONS = 256;

export class ApiProxy {
  private readonly server: Server;
  private readonly target: { host: string; port: number };
  private readonly sockets = new Set<Socket>();
  private mode: ProxyMode = { kind: "pass" };
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.target = target;
    this.server = createServer((client) => this.accept(client));
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  /** A proxy to `server` (an https://host:port URL) on a free loopback port. */
  static async start(server: string): Promise<ApiProxy> {
    const url = new URL(server);
    const proxy = new ApiProxy({ host: url.hostname, port: Number(url.port) });
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = proxy.server.address();
    if (address === null || typeof address === "string") throw new Error("api proxy: no port");
    proxy.port = address.port;
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  currentMode(): ProxyMode {
    return this.mode;
  }

  /** Changes what happens to traffic; refuse and blackhole also reset what is open now. */
  set(mode: ProxyMode): void {
    this.mode = mode;
    if (mode.kind === "refuse" || mode.kind === "blackhole") {
      for (const socket of this.sockets) socket.destroy();
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  }

  private accept(client: Socket): void {
    this.track(client);
    const mode = this.mode;
    if (mode.kind === "refuse") {
      client.resetAndDestroy();
      return;
    }
    if (mode.kind === "blackhole") {
      // Read and drop, so the client's writes do not block; never answer.
      client.on("data", () => {});
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    this.track(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", closeBoth);
    upstream.on("close", closeBoth);
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  /** Forwards `from` to `to`, delayed while the mode says so, in order, with bounded buffering. */
  private pipe(from: Socket, to: Socket): void {
    const queue: { due: number; chunk: Buffer }[] = [];
    let held = 0;
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && (queue[0] as { due: number }).due <= now) {
        const { chunk } = queue.shift() as { chunk: Buffer };
        held -= chunk.length;
        if (!to.destroyed) to.write(chunk);
      }
      if (held <= DELAY_BUFFER_LIMIT && from.isPaused()) from.resume();
      if (queue.length > 0) {
        timer = setTimeout(flush, (queue[0] as { due: number }).due - now);
      }
    };
    from.on("close", () => clearTimeout(timer));
    from.on("data", (chunk: Buffer) => {
      const mode = this.mode;
      if (mode.kind === "refuse" || mode.kind === "blackhole") {
        from.destroy();
        return;
      }
      if (mode.kind === "pass" && queue.length === 0) {
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
        return;
      }
      // Delayed, or behind chunks still delayed: queued, so that the order holds.
      const last = queue.at(-1)?.due ?? 0;
      const due = Math.max(last, Date.now() + (mode.kind === "delay" ? mode.delayMs : 0));
      queue.push({ due, chunk });
      held += chunk.length;
      if (held > DELAY_BUFFER_LIMIT) from.pause();
      if (timer === undefined) timer = setTimeout(flush, due - Date.now());
    });
  }
}

/** A copy of `kubeconfig` whose every cluster's server is `server`; returns the new path. */
export async function kubeconfigVia(
  kubeconfig: string,
  server: string,
  path: string,
): Promise<string> {
  const config = parse(await readFile(kubeconfig, "utf8")) as {
    clusters?: { cluster?: { server?: string } }[];
  };
  for (const entry of config.clusters ?? []) {
    if (entry.cluster) entry.cluster.server = server;
  }
  await writeFile(path, stringify(config), { mode: 0o600 });
  return path;
}
