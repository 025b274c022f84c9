/**
 * The DNS names the server answers, all under one domain (default lb.konsul.local):
 *
 *   <service>.<namespace>.<domain>                        A / AAAA, best first by the strategy
 *   <key>.hash.<service>.<namespace>.<domain>             ... with <key> as the session key
 *   <region>.region.<service>.<namespace>.<domain>        ... with <region> as the client region
 *   <subset>.subset.<service>.<namespace>.<domain>        ... over the policy's subset <subset>
 *   _<port>._<protocol>.<service>.<namespace>.<domain>    SRV of the named port
 *   <address>.ep.<service>.<namespace>.<domain>           one endpoint's address (SRV targets)
 *
 * The `hash`, `region` and `subset` qualifiers combine with each other and with the SRV form
 * (`_http._tcp.user-42.hash.checkout.shop.<domain>`). Names compare without regard to ASCII case
 * (RFC 4343), so everything is read lowercased, session keys included: resolvers may randomise
 * the case of a name they forward (the "0x20" defence against spoofing), and a key must land on
 * the same endpoint however it is spelt.
 */

/** What a query name asks for. */
export type ParsedName =
  /** Not under the domain: not ours to answer (REFUSED). */
  | { readonly kind: "outside" }
  /** The domain itself: SOA. */
  | { readonly kind: "apex" }
  /** <namespace>.<domain>: exists while a service of the namespace does. */
  | { readonly kind: "namespace"; readonly namespace: string }
  /** Under the domain, but no form of the grammar: NXDOMAIN. */
  | { readonly kind: "nonexistent" }
  /**
   * A name with no records of its own but names below it while the service exists
   * (`hash.<service>...`, `_tcp.<service>...`): it must not be NXDOMAIN, or resolvers that trust
   * NXDOMAIN for the whole subtree (RFC 8020) would stop asking for the names below.
   */
  | { readonly kind: "empty"; readonly namespace: string; readonly service: string }
  | ServiceName
  | {
      readonly kind: "endpoint";
      readonly namespace: string;
      readonly service: string;
      /** The endpoint's address as a label (see addressLabel). */
      readonly label: string;
    };

export interface ServiceName {
  readonly kind: "service";
  readonly namespace: string;
  readonly service: string;
  readonly sessionKey: string | undefined;
  readonly clientRegion: string | undefined;
  /** The policy's subset the name asks for; undefined = its default subset, else all. */
  readonly subset: string | undefined;
  /** Present for the SRV form. */
  readonly srv: { readonly port: string; readonly protocol: string } | undefined;
}

/** Protocols of the SRV form. The catalog keeps port names, not their protocols (see README). */
export const SRV_PROTOCOLS: readonly string[] = ["tcp", "udp", "sctp"];

const QUALIFIERS = new Set(["hash", "region", "subset", "ep"]);
const UPPER = /[A-Z]/;

/** ASCII-only lowercasing, as DNS compares names; other characters are left alone. */
export function asciiLower(text: string): string {
  return UPPER.test(text) ? text.replace(/[A-Z]+/g, (run) => run.toLowerCase()) : text;
}

/**
 * An endpoint address as one DNS label: "10.42.1.17" → "10-42-1-17", "fd00::1" → "fd00--1"
 * (the form Kubernetes DNS uses for pods). Addresses are unique within a service, unlike pod
 * names, which may hold dots, or "address:port" identities, which hold a colon.
 */
export function addressLabel(address: string): string {
  return asciiLower(address.replaceAll(/[.:%]/g, "-"));
}

/** Reads query names relative to one domain (lowercase, no trailing dot). */
export class NameParser {
  readonly domain: string;
  private readonly suffix: string;

  constructor(domain: string) {
    this.domain = domain;
    this.suffix = `.${domain}`;
  }

  parse(queryName: string): ParsedName {
    const name = asciiLower(queryName.endsWith(".") ? queryName.slice(0, -1) : queryName);
    if (name === this.domain) return { kind: "apex" };
    if (!name.endsWith(this.suffix)) return { kind: "outside" };
    const labels = name.slice(0, -this.suffix.length).split(".");
    if (labels.includes("")) return { kind: "nonexistent" };
    const namespace = labels.pop() as string;
    if (labels.length === 0) return { kind: "namespace", namespace };
    const service = labels.pop() as string;
    // The plain form, by far the most asked.
    if (labels.length === 0) {
      return {
        kind: "service",
        namespace,
        service,
        sessionKey: undefined,
        clientRegion: undefined,
        subset: undefined,
        srv: undefined,
      };
    }

    // Qualifier pairs, read from the right: <value>.<qualifier>.
    const values = new Map<string, string>();
    while (labels.length >= 2 && QUALIFIERS.has(labels[labels.length - 1] as string)) {
      const qualifier = labels.pop() as string;
      const value = labels.pop() as string;
      if (values.has(qualifier)) return { kind: "nonexistent" };
      values.set(qualifier, value);
    }
    const endpoint = values.get("ep");
    if (endpoint !== undefined) {
      return labels.length === 0 && values.size === 1
        ? { kind: "endpoint", namespace, service, label: endpoint }
        : { kind: "nonexistent" };
    }
    if (labels.length === 1) {
      const [only] = labels as [string];
      const isProtocol = only.startsWith("_") && SRV_PROTOCOLS.includes(only.slice(1));
      // A qualifier still free to take a value (ep only alone) has names below it.
      const openQualifier =
        QUALIFIERS.has(only) && !values.has(only) && (only !== "ep" || values.size === 0);
      return openQualifier || isProtocol
        ? { kind: "empty", namespace, service }
        : { kind: "nonexistent" };
    }
    let srv: ServiceName["srv"];
    if (labels.length === 2) {
      const [port, protocol] = labels as [string, string];
      if (!port.startsWith("_") || !protocol.startsWith("_") || port.length < 2) {
        return { kind: "nonexistent" };
      }
      if (!SRV_PROTOCOLS.includes(protocol.slice(1))) return { kind: "nonexistent" };
      srv = { port: port.slice(1), protocol: protocol.slice(1) };
    } else if (labels.length > 2) {
      return { kind: "nonexistent" };
    }
    return {
      kind: "service",
      namespace,
      service,
      sessionKey: values.get("hash"),
      clientRegion: values.get("region"),
      subset: values.get("subset"),
      srv,
    };
  }

  /** The canonical name of a service (lowercase, no trailing dot). */
  serviceName(namespace: string, service: string): string {
    return `${service}.${namespace}.${this.domain}`;
  }

  /** The name an SRV record targets for one endpoint; `parse` reads it back as "endpoint". */
  endpointName(namespace: string, service: string, address: string): string {
    return `${addressLabel(address)}.ep.${service}.${namespace}.${this.domain}`;
  }
}
