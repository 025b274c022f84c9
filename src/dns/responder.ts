/**
 * DNS messages in, DNS messages out: reads a query (query-reader.ts), asks Discovery for the
 * decision the HTTP API would make, and encodes the answer with dns-packet, or copies it from
 * the answers already encoded (answer-cache.ts). No sockets here (see server.ts), so every
 * answer can be tested as a function of the bytes and the sender's address.
 *
 * Response codes: NXDOMAIN for names that do not exist (unknown services, ports, endpoints),
 * NOERROR with no records and the SOA in the authority section for names that exist without
 * records of the type asked (a service without endpoints, AAAA of an IPv4-only service), REFUSED
 * for names outside the domain and for zone transfers, NOTIMP for opcodes other than QUERY,
 * FORMERR only for messages that break the protocol, SERVFAIL only for faults of the server
 * (a policy naming a strategy the server disables). Messages too short for a header, and
 * responses, are dropped: answering a response could start a loop between two servers.
 */
import dnsPacket, {
  type Answer,
  type Packet,
  type PacketOpt,
  type Question,
  type SoaAnswer,
} from "dns-packet";
import type { Endpoint, SelectOptions } from "../balancer/index.ts";
import { isBalancerError } from "../balancer/index.ts";
import type { CatalogEntry } from "../catalog/catalog.ts";
import {
  type Discovery,
  type Decision as DiscoveryDecision,
  ServiceNotFoundError,
} from "../discovery/discovery.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { AnswerCache, type AnswerShape, type CachedAnswer } from "./answer-cache.ts";
import { clientSubnetReply } from "./client-subnet.ts";
import { DnsMetrics } from "./dns-metrics.ts";
import { fitAndEncode, TCP_LIMIT, UDP_EDNS_LIMIT, UDP_PLAIN_LIMIT } from "./fit.ts";
import { NameParser, type ParsedName, type ServiceName } from "./names.ts";
import { type QueryParts, QueryReader, qtype } from "./query-reader.ts";
import { answerTtl, dependsOnClientAddress, srvRanks } from "./record-policy.ts";
import { namedPort, type ServiceFacts, ServiceFactsCache } from "./service-facts.ts";

export type Transport = "udp" | "tcp";

/** Who sent a query and how. */
export interface QuerySource {
  readonly address: string;
  readonly transport: Transport;
}

export interface DnsResponderOptions {
  readonly discovery: Discovery;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Lowercase, without the trailing dot. */
  readonly domain: string;
  /** Seconds, for answers that do not rotate and for negative answers. */
  readonly ttl: number;
  readonly maxAnswers: number;
}

const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;
type RcodeName = keyof typeof RCODE | "BADVERS";

/** RCODE 16 (BADVERS) is split: 0 in the header, 1 in the OPT record's upper bits. */
const BADVERS_UPPER_BITS = 1;

// SOA timers for secondaries; nothing transfers this zone, so only `minimum` (the negative TTL)
// matters to anyone.
const SOA_REFRESH = 3600;
const SOA_RETRY = 600;
const SOA_EXPIRE = 86_400;

/** One query while it is being answered. */
interface Exchange extends QueryParts {
  readonly id: number;
  readonly source: QuerySource;
}

interface Outcome {
  readonly rcode: RcodeName;
  readonly answers?: Answer[];
  readonly authorities?: Answer[];
  readonly additionals?: Answer[];
  /** False outside the domain: the server has no authority there. */
  readonly authoritative?: boolean;
  /** Client subnet scope of the answer (RFC 7871): 0 = valid for every client. */
  readonly scope?: number;
  /** Set when the encoded answer may be reused: all its bytes depend on but the name and ID. */
  readonly shape?: AnswerShape;
  /** The answer, already encoded (from the cache). */
  readonly cached?: CachedAnswer;
}

interface FoundEntry {
  /** The catalog's index when the entry was found. */
  readonly index: number;
  readonly entry: CatalogEntry | undefined;
}

type Decision =
  | { readonly ok: true; readonly decision: DiscoveryDecision<"select"> }
  | { readonly ok: false; readonly outcome: Outcome };

export class DnsResponder {
  private readonly discovery: Discovery;
  private readonly logger: Logger;
  private readonly ttl: number;
  private readonly maxAnswers: number;
  private readonly names: NameParser;
  private readonly facts: ServiceFactsCache;
  private readonly reader: QueryReader;
  private readonly answers = new AnswerCache();
  private readonly counts: DnsMetrics;
  private readonly warned = new WeakSet<CatalogEntry>();
  /**
   * The catalog entry a parsed name found, while the catalog is unchanged. Repeated questions
   * share their parsed name (query-reader.ts), so this spares building the service's key and
   * looking it up on every query.
   */
  private readonly found = new WeakMap<ServiceName, FoundEntry>();
  private namespaces: { index: number; names: ReadonlySet<string> } = {
    index: -1,
    names: new Set(),
  };

  constructor(options: DnsResponderOptions) {
    this.discovery = options.discovery;
    this.logger = options.logger;
    this.ttl = options.ttl;
    this.maxAnswers = options.maxAnswers;
    this.names = new NameParser(options.domain);
    this.reader = new QueryReader(this.names);
    this.facts = new ServiceFactsCache(options.discovery);
    this.counts = new DnsMetrics(options.metrics);
  }

  get domain(): string {
    return this.names.domain;
  }

  /** The answer to one message, or null when it gets none. Never throws. */
  answer(message: Buffer, source: QuerySource): Buffer | null {
    if (message.length < 12) return this.dropped("short");
    if (((message[2] as number) & 0x80) !== 0) return this.dropped("response");
    const reading = this.reader.read(message);
    if (reading.kind === "drop") return this.dropped(reading.reason);
    const exchange: Exchange = { ...reading.query, id: message.readUInt16BE(0), source };
    try {
      return this.finish(
        exchange,
        reading.kind === "reply"
          ? reading.outcome
          : this.outcomeFor(exchange, reading.question, reading.name),
      );
    } catch (error) {
      this.logger.error({ err: error, question: exchange.question }, "DNS query failed");
      return this.finishSafely(exchange, { rcode: "SERVFAIL" });
    }
  }

  private outcomeFor(exchange: Exchange, question: Question, name: ParsedName): Outcome {
    switch (name.kind) {
      case "outside":
        return { rcode: "REFUSED", authoritative: false };
      case "apex":
        return qtype(question) === "SOA" || qtype(question) === "ANY"
          ? { rcode: "NOERROR", answers: [this.soa()] }
          : this.noData();
      case "namespace":
        return this.namespaceExists(name.namespace) ? this.noData() : this.nxDomain();
      case "nonexistent":
        return this.nxDomain();
      case "empty":
        return this.discovery.find(name.namespace, name.service) ? this.noData() : this.nxDomain();
      case "endpoint":
        return this.endpointOutcome(question, name.namespace, name.service, name.label);
      case "service":
        return name.srv === undefined
          ? this.addressOutcome(exchange, question, name)
          : this.srvOutcome(exchange, question, name, name.srv.port);
    }
  }

  private entryOf(name: ServiceName): CatalogEntry | undefined {
    const index = this.discovery.index;
    const found = this.found.get(name);
    if (found !== undefined && found.index === index) return found.entry;
    const entry = this.discovery.find(name.namespace, name.service);
    this.found.set(name, { index, entry });
    return entry;
  }

  /** A and AAAA records of the service's endpoints, best first. */
  private addressOutcome(exchange: Exchange, question: Question, name: ServiceName): Outcome {
    const entry = this.entryOf(name);
    if (entry === undefined) return this.nxDomain();
    const wantV4 = qtype(question) === "A" || qtype(question) === "ANY";
    const wantV6 = qtype(question) === "AAAA" || qtype(question) === "ANY";
    if (!wantV4 && !wantV6) return this.noData();
    const facts = this.facts.of(entry);
    const eligible = (wantV4 ? facts.ipv4 : 0) + (wantV6 ? facts.ipv6 : 0);
    // No decision for a family the service lacks: resolvers ask A and AAAA together, and an
    // AAAA query must not move a rotation that only A answers show.
    if (eligible === 0 && entry.endpoints.length > 0) return this.noData();
    const decided = this.decide(exchange, entry, name, facts, eligible);
    if (!decided.ok) return decided.outcome;
    const { decision } = decided;
    const selection = decision.result;
    const chosen: Endpoint[] = [];
    for (const endpoint of selection.endpoints) {
      if (chosen.length >= this.maxAnswers) break;
      const family = facts.families.get(endpoint.address);
      if ((wantV4 && family === 4) || (wantV6 && family === 6)) chosen.push(endpoint);
    }
    if (chosen.length === 0) return this.noData();
    const scope = this.scopeOf(exchange, decision, name);
    const shape = this.answerShape(exchange, facts, scope, chosen);
    const cached = this.answers.take(question.name, shape, exchange.id);
    if (cached !== null) return { rcode: "NOERROR", cached };
    const ttl = answerTtl(decision.strategy, this.ttl);
    const answers = chosen.map(
      (endpoint) =>
        addressRecord(question.name, endpoint.address, ttl, facts, true, true) as Answer,
    );
    return { rcode: "NOERROR", answers, scope, shape };
  }

  /** SRV records of one named port, with the targets' addresses as additional records. */
  private srvOutcome(
    exchange: Exchange,
    question: Question,
    name: ServiceName,
    port: string,
  ): Outcome {
    const entry = this.entryOf(name);
    if (entry === undefined) return this.nxDomain();
    const facts = this.facts.of(entry);
    const eligible = facts.ports.get(port) ?? 0;
    if (eligible === 0) return this.nxDomain();
    if (qtype(question) !== "SRV" && qtype(question) !== "ANY") return this.noData();
    const decided = this.decide(exchange, entry, name, facts, eligible);
    if (!decided.ok) return decided.outcome;
    const { decision } = decided;
    const selection = decision.result;
    const chosen: { endpoint: Endpoint; port: number }[] = [];
    for (const endpoint of selection.endpoints) {
      if (chosen.length >= this.maxAnswers) break;
      const number = namedPort(endpoint, port);
      if (number !== undefined) chosen.push({ endpoint, port: number });
    }
    if (chosen.length === 0) return this.noData();
    const scope = this.scopeOf(exchange, decision, name);
    const shape = this.answerShape(
      exchange,
      facts,
      scope,
      chosen.map((c) => c.endpoint),
    );
    const cached = this.answers.take(question.name, shape, exchange.id);
    if (cached !== null) return { rcode: "NOERROR", cached };
    const ttl = answerTtl(decision.strategy, this.ttl);
    const ranks = srvRanks(
      decision.strategy,
      chosen.map((c) => c.endpoint),
      decision.policy,
      { clientRegion: this.regionOf(name, facts) },
    );
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const targets = new Set<string>();
    chosen.forEach(({ endpoint, port: number }, i) => {
      const target = this.names.endpointName(entry.namespace, entry.name, endpoint.address);
      const rank = ranks[i] ?? { priority: i, weight: 1 };
      answers.push({
        name: question.name,
        type: "SRV",
        ttl,
        data: { priority: rank.priority, weight: rank.weight, port: number, target },
      });
      if (targets.has(target)) return;
      targets.add(target);
      const record = addressRecord(target, endpoint.address, this.ttl, facts, true, true);
      if (record !== null) additionals.push(record);
    });
    return { rcode: "NOERROR", answers, additionals, scope, shape };
  }

  /** The address of one endpoint of a service: what SRV records point at. */
  private endpointOutcome(
    question: Question,
    namespace: string,
    service: string,
    label: string,
  ): Outcome {
    const entry = this.discovery.find(namespace, service);
    const facts = entry === undefined ? undefined : this.facts.of(entry);
    const endpoint = facts?.byLabel.get(label);
    if (facts === undefined || endpoint === undefined) return this.nxDomain();
    const record = addressRecord(
      question.name,
      endpoint.address,
      this.ttl,
      facts,
      qtype(question) === "A" || qtype(question) === "ANY",
      qtype(question) === "AAAA" || qtype(question) === "ANY",
    );
    return record === null ? this.noData() : { rcode: "NOERROR", answers: [record] };
  }

  /**
   * The balancer's decision (Discovery records its metrics, one in 16 timed). The client IP is
   * the client subnet when the query has one, else the sender. A plain name of a service that
   * hashes on the session key hashes the client IP instead: DNS has no parameters to demand a
   * key with, and a sticky answer per client is what such a service wants.
   */
  private decide(
    exchange: Exchange,
    entry: CatalogEntry,
    name: ServiceName,
    facts: ServiceFacts,
    eligible: number,
  ): Decision {
    const clientIp = exchange.subnet?.address ?? exchange.source.address;
    const options: SelectOptions = {
      clientIp,
      sessionKey: name.sessionKey ?? clientIp,
      clientRegion: this.regionOf(name, facts),
      subset: name.subset,
      // When some endpoints cannot be answered (another family, no such port), select them all
      // and filter, so the answer still holds up to maxAnswers records.
      limit: eligible === entry.endpoints.length ? this.maxAnswers : 0,
    };
    try {
      const decision = this.discovery.decide({
        namespace: entry.namespace,
        name: entry.name,
        // Found by entryOf at the catalog's current index.
        entry,
        kind: "select",
        options,
        timing: "sampled",
      });
      return { ok: true, decision };
    } catch (error) {
      return { ok: false, outcome: this.failure(error, entry) };
    }
  }

  private failure(error: unknown, entry: CatalogEntry): Outcome {
    if (error instanceof ServiceNotFoundError) return this.nxDomain();
    if (isBalancerError(error)) {
      if (error.code === "NoEndpoints") return this.noData();
      // A subset the policy does not define names nothing.
      if (error.code === "UnknownSubset") return this.nxDomain();
      if (error.code === "UnknownStrategy") {
        if (!this.warned.has(entry)) {
          this.warned.add(entry);
          this.logger.warn(
            { service: `${entry.namespace}/${entry.name}`, err: error },
            "DNS answers SERVFAIL: the service's policy names a strategy this server does not offer",
          );
        }
        return { rcode: "SERVFAIL" };
      }
    }
    this.logger.error(
      { service: `${entry.namespace}/${entry.name}`, err: error },
      "DNS decision failed",
    );
    return { rcode: "SERVFAIL" };
  }

  /** The region label, spelt as the latency map spells it (labels arrive lowercased). */
  private regionOf(name: ServiceName, facts: ServiceFacts): string | undefined {
    if (name.clientRegion === undefined) return undefined;
    return facts.regions.get(name.clientRegion) ?? name.clientRegion;
  }

  private scopeOf(
    exchange: Exchange,
    decision: DiscoveryDecision<"select">,
    name: ServiceName,
  ): number {
    if (exchange.subnet === undefined) return 0;
    return dependsOnClientAddress(decision.strategy, decision.policy, name.sessionKey !== undefined)
      ? exchange.subnet.sourcePrefixLength
      : 0;
  }

  private namespaceExists(namespace: string): boolean {
    const discovery = this.discovery;
    if (this.namespaces.index !== discovery.index) {
      this.namespaces = {
        index: discovery.index,
        names: new Set(discovery.entries().map((entry) => entry.namespace)),
      };
    }
    return this.namespaces.names.has(namespace);
  }

  private soa(): SoaAnswer {
    const domain = this.names.domain;
    return {
      name: domain,
      type: "SOA",
      ttl: this.ttl,
      data: {
        mname: domain,
        rname: `hostmaster.${domain}`,
        serial: this.discovery.index % 2 ** 32,
        refresh: SOA_REFRESH,
        retry: SOA_RETRY,
        expire: SOA_EXPIRE,
        minimum: this.ttl,
      },
    };
  }

  /** NOERROR, no records: the name exists, but not with the type asked. */
  private noData(): Outcome {
    return { rcode: "NOERROR", authorities: [this.soa()] };
  }

  private nxDomain(): Outcome {
    return { rcode: "NXDOMAIN", authorities: [this.soa()] };
  }

  private finish(exchange: Exchange, outcome: Outcome): Buffer {
    if (outcome.cached !== undefined) {
      return this.sent(exchange, outcome, outcome.cached.bytes, outcome.cached.truncated);
    }
    const rcode = outcome.rcode === "BADVERS" ? 0 : RCODE[outcome.rcode];
    const authoritative = outcome.authoritative ?? outcome.rcode !== "FORMERR";
    // A copy: outcomes may be shared (remembered readings), and the OPT record is added here.
    const additionals = [...(outcome.additionals ?? [])];
    if (exchange.opt !== undefined) {
      const options: PacketOpt[] = [];
      if (exchange.subnet !== undefined) {
        options.push(clientSubnetReply(exchange.subnet, outcome.scope ?? 0));
      }
      additionals.push({
        name: ".",
        type: "OPT",
        udpPayloadSize: UDP_EDNS_LIMIT,
        extendedRcode: outcome.rcode === "BADVERS" ? BADVERS_UPPER_BITS : 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options,
      });
    }
    const packet: Packet = {
      type: "response",
      id: exchange.id,
      flags: exchange.echoedFlags | (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rcode,
      questions: exchange.question === undefined ? [] : [exchange.question],
      answers: outcome.answers ?? [],
      authorities: outcome.authorities ?? [],
      additionals,
    };
    const fitted = fitAndEncode(packet, this.sizeLimit(exchange));
    if (outcome.shape !== undefined && exchange.question !== undefined) {
      this.answers.put(exchange.question.name, outcome.shape, fitted.bytes, fitted.truncated);
    }
    return this.sent(exchange, outcome, fitted.bytes, fitted.truncated);
  }

  /** Counts an answer on its way out. */
  private sent(exchange: Exchange, outcome: Outcome, bytes: Buffer, truncated: boolean): Buffer {
    if (truncated) this.counts.truncated(exchange.source.transport);
    this.counts.query(exchange.question?.type, outcome.rcode, exchange.source.transport);
    return bytes;
  }

  /**
   * What, besides the name, decides the bytes of a positive answer. Within one version of a
   * service, the records follow from the question and the endpoints chosen, in order: TTLs, SRV
   * priorities, ports and targets are the strategy's and the service's, and the hash and region
   * labels are in the name. The header bits repeated from the query, the size limit (it decides
   * truncation) and the EDNS option echoed complete it.
   */
  private answerShape(
    exchange: Exchange,
    facts: ServiceFacts,
    scope: number,
    chosen: readonly Endpoint[],
  ): AnswerShape {
    const question = exchange.question as Question;
    const subnet = exchange.subnet;
    const edns =
      exchange.opt === undefined
        ? "-"
        : subnet === undefined
          ? "E"
          : `E${subnet.family}/${subnet.address}/${subnet.sourcePrefixLength}/${scope}`;
    return {
      version: facts,
      header: exchange.echoedFlags,
      limit: this.sizeLimit(exchange),
      edns,
      type: qtype(question),
      klass: question.class ?? "IN",
      endpoints: chosen,
    };
  }

  /** `finish`, for use where `finish` itself may be what failed. */
  private finishSafely(exchange: Exchange, outcome: Outcome): Buffer | null {
    try {
      return this.finish({ ...exchange, question: undefined, subnet: undefined }, outcome);
    } catch (error) {
      this.logger.error({ err: error }, "DNS answer could not be encoded");
      return null;
    }
  }

  private sizeLimit(exchange: Exchange): number {
    if (exchange.source.transport === "tcp") return TCP_LIMIT;
    if (exchange.opt === undefined) return UDP_PLAIN_LIMIT;
    return Math.min(Math.max(exchange.opt.udpPayloadSize, UDP_PLAIN_LIMIT), UDP_EDNS_LIMIT);
  }

  private dropped(reason: string): null {
    this.counts.dropped(reason);
    return null;
  }
}

/**
 * An A or AAAA record for `address` when its family is wanted, else null (also for an address
 * that is a host name, which an EndpointSlice of type FQDN may hold).
 */
function addressRecord(
  name: string,
  address: string,
  ttl: number,
  facts: ServiceFacts,
  wantV4: boolean,
  wantV6: boolean,
): Answer | null {
  const family = facts.families.get(address);
  if (wantV4 && family === 4) return { name, type: "A", ttl, data: address };
  if (wantV6 && family === 6) return { name, type: "AAAA", ttl, data: address };
  return null;
}
