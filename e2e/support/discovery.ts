// The discovery API and DNS of a replica, as a client calls them: fetch for HTTP, the real dig
// for DNS. dig asks over TCP (+tcp), so the same calls work through a kubectl port-forward.

import type { EndpointJson } from "../../src/http/endpoint-json.ts";
import { run } from "./cluster.ts";

export interface DnsAddress {
  readonly host: string;
  readonly port: number;
}

/** One replica of the release: where its HTTP API and its DNS answer. */
export interface Replica {
  /** The pod it runs as (locally: the pod whose name, env and config the process took). */
  readonly pod: string;
  readonly url: string;
  /** The internal API (replica to replica), which admits only the chart's ServiceAccount. */
  readonly internalUrl: string;
  readonly dns: DnsAddress;
}

export interface PickJson {
  service: string;
  strategy: string;
  version: number;
  endpoint: EndpointJson;
}

export interface EndpointsJson {
  service: string;
  strategy: string;
  version: number;
  endpoints: EndpointJson[];
}

export interface ServiceSummary {
  namespace: string;
  name: string;
  strategy: string;
  policy: string | null;
  endpoints: { total: number; healthy: number };
}

export const DOMAIN = "lb.konsul.local";

export async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

function serviceUrl(base: string, service: string, route: string, query: string): string {
  return `${base}/v1/services/${service}/${route}${query ? `?${query}` : ""}`;
}

/** GET .../pick; `service` is "namespace/name". */
export function pick(base: string, service: string, query = ""): Promise<PickJson> {
  return getJson<PickJson>(serviceUrl(base, service, "pick", query));
}

export function endpoints(base: string, service: string, query = ""): Promise<EndpointsJson> {
  return getJson<EndpointsJson>(serviceUrl(base, service, "endpoints", query));
}

export async function services(base: string): Promise<ServiceSummary[]> {
  return (await getJson<{ services: ServiceSummary[] }>(`${base}/v1/services`)).services;
}

export async function serviceSummary(
  base: string,
  service: string,
): Promise<ServiceSummary | undefined> {
  return (await services(base)).find((s) => `${s.namespace}/${s.name}` === service);
}

/** `n` picks in a row, by endpoint identity. */
export async function tally(
  base: string,
  service: string,
  n: number,
  query = "",
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { endpoint } = await pick(base, service, query);
    counts.set(endpoint.identity, (counts.get(endpoint.identity) ?? 0) + 1);
  }
  return counts;
}

export interface DigAnswer {
  readonly name: string;
  readonly ttl: number;
  readonly type: string;
  readonly data: string;
}

/** `dig +tcp` against a replica; the answer section's records in order, and the status. */
export async function dig(
  dns: DnsAddress,
  name: string,
  options: { type?: string; extra?: readonly string[] } = {},
): Promise<{ status: string; answers: DigAnswer[] }> {
  const { stdout } = await run("dig", [
    `@${dns.host}`,
    "-p",
    String(dns.port),
    "+tcp",
    "+time=5",
    "+tries=1",
    "+noall",
    "+comments",
    "+answer",
    ...(options.extra ?? []),
    name,
    options.type ?? "A",
  ]);
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1];
  if (!status) throw new Error(`dig ${name}: no status in\n${stdout}`);
  const answers: DigAnswer[] = [];
  for (const line of stdout.split("\n")) {
    if (line.startsWith(";") || line.trim() === "") continue;
    const [owner, ttl, , type, ...data] = line.trim().split(/\s+/);
    if (owner && ttl && type) {
      answers.push({ name: owner, ttl: Number(ttl), type, data: data.join(" ") });
    }
  }
  return { status, answers };
}

/** The A records of a name, best first. */
export async function digA(
  dns: DnsAddress,
  name: string,
  extra: readonly string[] = [],
): Promise<string[]> {
  const { status, answers } = await dig(dns, name, { extra });
  if (status !== "NOERROR") throw new Error(`dig ${name}: ${status}`);
  return answers.filter((a) => a.type === "A").map((a) => a.data);
}
