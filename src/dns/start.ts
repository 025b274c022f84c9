/** The DNS interface as `konsul-lb serve` starts it: the responder on its sockets, and a log line. */
import type { Discovery } from "../discovery/discovery.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { DnsResponder } from "./responder.ts";
import { type DnsListening, startDnsServer } from "./server.ts";

export interface DnsSettings {
  readonly host: string;
  readonly port: number;
  readonly domain: string;
  readonly ttl: number;
  readonly maxAnswers: number;
}

export async function startDns(
  settings: DnsSettings,
  discovery: Discovery,
  metrics: Metrics,
  logger: Logger,
): Promise<DnsListening> {
  const responder = new DnsResponder({
    discovery,
    metrics,
    logger,
    domain: settings.domain,
    ttl: settings.ttl,
    maxAnswers: settings.maxAnswers,
  });
  const shown = (host: string, port: number) =>
    host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  let listening: DnsListening;
  try {
    listening = await startDnsServer({ ...settings, responder, logger });
  } catch (error) {
    throw new Error(
      `the DNS server cannot listen on ${shown(settings.host, settings.port)} ` +
        `(${(error as Error).message}); choose another --dns-addr (KONSUL_LB_DNS_ADDR)`,
    );
  }
  // A wildcard address is not something to pass to dig; loopback reaches it.
  const local =
    listening.host === "0.0.0.0" ? "127.0.0.1" : listening.host === "::" ? "::1" : listening.host;
  const example = discovery.entries()[0];
  const name =
    example === undefined
      ? `<service>.<namespace>.${settings.domain}`
      : `${example.name}.${example.namespace}.${settings.domain}`;
  logger.info(
    { dns: shown(listening.host, listening.port), domain: settings.domain },
    `konsul-lb DNS on ${shown(listening.host, listening.port)} (UDP and TCP) for ${settings.domain}; ` +
      `try: dig @${local} -p ${listening.port} ${name}`,
  );
  return listening;
}
