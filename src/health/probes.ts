import { request } from "node:http";
import { connect, isIP } from "node:net";
import { isValidPort, resolvePort } from "./port.ts";
import type { HealthCheckSpec, ProbeDestination, ProbeOutcome, ProbeTarget } from "./types.ts";

export const USER_AGENT = "konsul-lb-health-check";

/**
 * Body bytes read from a passing HTTP answer before the probe is done with it. Like the
 * Kubernetes prober, a long or endless body does not fail the check: it is cut short here.
 */
export const MAX_BODY_BYTES = 10 * 1024;

/**
 * How long a probe waits for its destroyed socket to report "close". It normally comes within a
 * tick; this only bounds the wait should it never come, so a probe can not hold its slot forever.
 */
const CLOSE_GRACE_MS = 1000;

function passed(reason: string): ProbeOutcome {
  return { healthy: true, reason };
}

function failed(reason: string): ProbeOutcome {
  return { healthy: false, reason };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Checks what would otherwise make node:net resolve a name or throw. */
function invalidDestination(destination: ProbeDestination): ProbeOutcome | null {
  if (isIP(destination.address) === 0) {
    return failed(`address "${destination.address}" is not an IP address`);
  }
  if (!isValidPort(destination.port)) return failed(`invalid port ${destination.port}`);
  return null;
}

/** A request or socket: something that can be torn down and says when it has closed. */
interface Closable {
  destroy(): unknown;
  once(event: "close", listener: () => void): unknown;
}

/**
 * Runs one connection attempt under a deadline and a cancel signal. The first outcome wins; the
 * connection is then destroyed, and the promise settles only once it has closed, so whoever
 * awaits a probe (stop() does) knows that no socket of it is left.
 */
function attempt(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  open: (finish: (outcome: ProbeOutcome) => void) => Closable,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let outcome: ProbeOutcome | null = null;
    let connection: Closable | null = null;
    let closed = false;
    let guard: NodeJS.Timeout | undefined;
    let delivered = false;

    const deliver = (): void => {
      if (delivered || outcome === null) return;
      delivered = true;
      clearTimeout(guard);
      resolve(outcome);
    };
    const finish = (result: ProbeOutcome): void => {
      if (outcome !== null) return;
      outcome = result;
      clearTimeout(deadline);
      signal?.removeEventListener("abort", onAbort);
      if (connection === null || closed) {
        deliver();
        return;
      }
      connection.destroy();
      guard = setTimeout(deliver, CLOSE_GRACE_MS);
      guard.unref();
    };
    const onAbort = (): void => finish(failed("probe cancelled"));

    const deadline = setTimeout(
      () => finish(failed(`no answer within ${timeoutMs} ms`)),
      Math.max(1, timeoutMs),
    );
    deadline.unref();
    if (signal?.aborted) {
      finish(failed("probe cancelled"));
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const opened = open(finish);
      connection = opened;
      opened.once("close", () => {
        closed = true;
        finish(failed("connection closed before an answer"));
        deliver();
      });
      // open() may already have finished synchronously, before the connection was known.
      if (outcome !== null && !closed) opened.destroy();
    } catch (error) {
      finish(failed(describe(error)));
    }
  });
}

/** "/" for no path; a path without its leading slash gets one, as a URL would. */
export function requestPath(path: string | null): string {
  if (path === null || path === "") return "/";
  return path.startsWith("/") ? path : `/${path}`;
}

/**
 * GET http://address:port/path. Passes on a status of 200–399 (redirects are not followed, as in
 * Kubernetes: a 3xx shows the server is up). The connection is not kept alive — a fresh socket per
 * probe, so probes of many endpoints never accumulate idle sockets.
 */
export function probeHttp(
  destination: ProbeDestination,
  path: string | null,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const invalid = invalidDestination(destination);
  if (invalid !== null) return Promise.resolve(invalid);
  const { address, port } = destination;
  const host = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  return attempt(timeoutMs, signal, (finish) => {
    const req = request({
      host: address,
      port,
      path: requestPath(path),
      method: "GET",
      agent: false,
      setHost: false,
      headers: {
        host,
        "user-agent": USER_AGENT,
        accept: "*/*",
        connection: "close",
      },
    });
    req.on("error", (error) => finish(failed(describe(error))));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 400) {
        finish(failed(`HTTP status ${status}`));
        return;
      }
      // The body is read and dropped: the verdict waits for the whole answer (up to the cap)
      // so that a server dying mid-response is not counted as healthy.
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read >= MAX_BODY_BYTES) finish(passed(`HTTP status ${status}`));
      });
      res.on("end", () => finish(passed(`HTTP status ${status}`)));
      res.on("error", (error) =>
        finish(failed(`HTTP status ${status}, body cut off: ${describe(error)}`)),
      );
    });
    req.end();
    return req;
  });
}

/** Connects and closes at once: the check is only that something accepts on the port. */
export function probeTcp(
  destination: ProbeDestination,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const invalid = invalidDestination(destination);
  if (invalid !== null) return Promise.resolve(invalid);
  return attempt(timeoutMs, signal, (finish) => {
    const socket = connect({ host: destination.address, port: destination.port });
    socket.on("connect", () => finish(passed("connected")));
    socket.on("error", (error) => finish(failed(describe(error))));
    return socket;
  });
}

/** Runs the check the spec asks for against a resolved destination. Never rejects. */
export async function check(
  spec: HealthCheckSpec,
  destination: ProbeDestination,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  try {
    return spec.kind === "http"
      ? await probeHttp(destination, spec.path, spec.timeoutMs, signal)
      : await probeTcp(destination, spec.timeoutMs, signal);
  } catch (error) {
    return failed(describe(error));
  }
}

/** Resolves the port of one target, then checks it. Never rejects. */
export function probe(
  spec: HealthCheckSpec,
  target: ProbeTarget,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const port = resolvePort(spec.port, target);
  if (!port.ok) return Promise.resolve(failed(port.reason));
  return check(spec, { address: target.address, port: port.port }, signal);
}
