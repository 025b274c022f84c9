import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { promisify } from "node:util";
import type { ServiceEntry } from "../../src/catalog/catalog.ts";
import type { ServerSettings } from "../../src/config/settings.ts";
import { manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";
import { decode, type Response, standardServices } from "./fixtures.ts";

const run = promisify(execFile);

export interface DnsTestService extends TestService {
  readonly dnsPort: number;
}

/** The real server with DNS on a free loopback port, serving `services`. */
export async function startDnsTestService(
  services: ServiceEntry[] = standardServices(),
  settings: Partial<ServerSettings> = {},
): Promise<DnsTestService> {
  const service = await startTestService(manifestYaml([]), {
    dnsAddr: { host: "127.0.0.1", port: 0 },
    ...settings,
  });
  // The manifest file does not change during a test, so the source leaves these in place.
  service.catalog.replaceAll(services);
  if (service.dns === null) throw new Error("the DNS server did not start");
  return { ...service, dnsPort: service.dns.port };
}

/** Runs dig against the server; fails with a clear message when dig is missing. */
export async function dig(port: number, args: readonly string[], server = "127.0.0.1") {
  try {
    const { stdout } = await run("dig", [
      `@${server}`,
      "-p",
      String(port),
      "+tries=1",
      "+time=3",
      ...args,
    ]);
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error(
        "dig is not installed; install it (Debian: apt-get install bind9-dnsutils) to run the DNS tests",
      );
    }
    throw error;
  }
}

/** Non-empty lines of `dig +short`. */
export async function digShort(port: number, args: readonly string[]): Promise<string[]> {
  return (await dig(port, [...args, "+short"])).split("\n").filter((line) => line.trim() !== "");
}

/** The status dig reports ("NOERROR", "NXDOMAIN", ...). */
export async function digStatus(port: number, args: readonly string[]): Promise<string> {
  const output = await dig(port, args);
  const match = /status: ([A-Z]+)/.exec(output);
  if (!match) throw new Error(`no status in dig output:\n${output}`);
  return match[1] as string;
}

/** Sends one UDP datagram and waits for the answer; null after `timeoutMs` of silence. */
export function udpExchange(
  port: number,
  message: Buffer,
  timeoutMs = 500,
  host = "127.0.0.1",
): Promise<Response | null> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      socket.close();
      resolve(null);
    }, timeoutMs);
    socket.once("message", (bytes) => {
      clearTimeout(timer);
      socket.close();
      try {
        resolve(decode(bytes));
      } catch (error) {
        // Both messages in full: a fuzzed query that gets such an answer can be replayed.
        reject(
          new Error(
            `the server sent a message dns-packet cannot decode: ${error}; query ${message.toString("hex")}, answer ${bytes.toString("hex")}`,
          ),
        );
      }
    });
    socket.send(message, port, host);
  });
}
