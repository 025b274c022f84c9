import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from "node:net";
import type { HealthCheckSpec, ProbeTarget } from "../../src/health/index.ts";

/** Polls until the check stops throwing; generous deadlines keep it steady on a loaded machine. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

export interface Served {
  readonly port: number;
  readonly host: string;
  /** Connections accepted so far. */
  connections: number;
  /** Connections open right now. */
  open: number;
  close(): Promise<void>;
}

function track(server: Server, host: string): Promise<Served> {
  const sockets = new Set<Socket>();
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      server.off("error", reject);
      const served: Served = {
        port: (server.address() as AddressInfo).port,
        host,
        connections: 0,
        open: 0,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      };
      server.on("connection", (socket: Socket) => {
        served.connections += 1;
        served.open += 1;
        sockets.add(socket);
        socket.on("close", () => {
          served.open -= 1;
          sockets.delete(socket);
        });
      });
      resolve(served);
    });
  });
}

export interface HttpServed extends Served {
  /** Requests received, in order. */
  readonly requests: IncomingMessage[];
}

export async function httpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  host = "127.0.0.1",
): Promise<HttpServed> {
  const requests: IncomingMessage[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  const served = await track(server, host);
  return Object.assign(served, { requests });
}

export function tcpListener(host = "127.0.0.1"): Promise<Served> {
  return track(
    createTcpServer((socket) => socket.end()),
    host,
  );
}

/** A port that was free a moment ago and has nothing listening: connecting to it is refused. */
export async function closedPort(host = "127.0.0.1"): Promise<number> {
  const served = await tcpListener(host);
  await served.close();
  return served.port;
}

export async function ipv6Available(): Promise<boolean> {
  try {
    const served = await tcpListener("::1");
    await served.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Short intervals keep the tests quick. The timeout is deliberately above the interval, which
 * policies do not allow: a probe never overlaps the next one of its target, so this only lets a
 * loopback answer stalled by a busy machine still count as the answer it is, instead of turning
 * into a spurious failure. Timeouts themselves are tested with a server that never answers.
 */
export function httpSpec(overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return {
    kind: "http",
    path: "/healthz",
    port: "http",
    intervalMs: 50,
    timeoutMs: 2000,
    unhealthyThreshold: 3,
    healthyThreshold: 2,
    ...overrides,
  };
}

export function tcpSpec(overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return httpSpec({ kind: "tcp", path: null, ...overrides });
}

export function target(
  identity: string,
  port: number,
  extra: Partial<ProbeTarget> = {},
): ProbeTarget {
  return { identity, address: "127.0.0.1", ports: { http: port }, port, ...extra };
}

export interface Change {
  readonly service: string;
  readonly identity: string;
  readonly healthy: boolean;
}

export interface LogLine {
  readonly level: "warn" | "info";
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

export function memoryLogger(): { lines: LogLine[]; warn: Logger; info: Logger } {
  const lines: LogLine[] = [];
  const at =
    (level: "warn" | "info"): Logger =>
    (fields, msg) =>
      lines.push({ level, fields: fields as Record<string, unknown>, msg });
  return { lines, warn: at("warn"), info: at("info") };
}

type Logger = (fields: object, msg: string) => void;
