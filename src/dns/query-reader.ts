/**
 * Reading a query: decoding it with dns-packet and checking what the protocol asks of it, up to
 * the parsed name. All of it follows from the message's bytes (its ID aside), and resolvers and
 * clients ask the same few questions over and over, so readings are remembered by those bytes:
 * most queries skip decoding, checking and name parsing.
 */
import dnsPacket, { type DecodedPacket, type OptAnswer, type Question } from "dns-packet";
import { type ClientSubnet, clientSubnetOf } from "./client-subnet.ts";
import type { NameParser, ParsedName } from "./names.ts";

/** What the answer takes from a query's bytes, ID aside. Shared between queries: read only. */
export interface QueryParts {
  /** Opcode and RD bits of the query, in dns-packet's flags layout. */
  readonly echoedFlags: number;
  readonly question: Question | undefined;
  /** The query's OPT record: the answer then carries one too. */
  readonly opt: OptAnswer | undefined;
  readonly subnet: ClientSubnet | undefined;
}

/** An answer the bytes alone decide. */
export interface FixedReply {
  readonly rcode: "FORMERR" | "NOTIMP" | "BADVERS" | "REFUSED";
  /** False outside the domain: the server has no authority there. */
  readonly authoritative?: boolean;
}

/** What a message's bytes (ID aside) call for: no answer, an answer fixed by them, or a look-up. */
export type Reading =
  | { readonly kind: "drop"; readonly reason: string }
  | { readonly kind: "reply"; readonly query: QueryParts; readonly outcome: FixedReply }
  | {
      readonly kind: "ask";
      readonly query: QueryParts;
      readonly question: Question;
      readonly name: ParsedName;
    };

/** Header byte 2 without QR, AA and TC: the opcode and RD, which an answer repeats. */
const OPCODE_AND_RD = 0x79;
const OPCODE_QUERY = 0;
const ZONE_TRANSFERS = new Set(["AXFR", "IXFR"]);
const ANSWERED_CLASSES = new Set(["IN", "ANY"]);
const KNOWN_CLASSES = new Set(["IN", "ANY", "CH", "HS", "CS"]);

/** Messages up to this size are remembered (a UDP query without EDNS fits 512 bytes). */
const MAX_REMEMBERED_QUERY = 512;
const MAX_REMEMBERED_QUERIES = 4096;

/** A remembered reading and the bytes it was read from (ID aside), to tell hash collisions apart. */
interface Remembered {
  readonly bytes: Buffer;
  readonly reading: Reading;
}

/** FNV-1a of the message's bytes after the ID: a Map key without making a string per query. */
function hashAfterId(message: Buffer): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 2; i < message.length; i++) {
    hash = Math.imul(hash ^ (message[i] as number), 0x01000193);
  }
  return hash;
}

export class QueryReader {
  private readonly names: NameParser;
  private readonly readings = new Map<number, Remembered>();

  constructor(names: NameParser) {
    this.names = names;
  }

  /** The reading of a message of at least a header's 12 bytes that is not a response. */
  read(message: Buffer): Reading {
    if (message.length > MAX_REMEMBERED_QUERY) return this.readAfresh(message);
    const hash = hashAfterId(message);
    const remembered = this.readings.get(hash);
    if (
      remembered !== undefined &&
      remembered.bytes.length === message.length - 2 &&
      message.compare(remembered.bytes, 0, remembered.bytes.length, 2) === 0
    ) {
      return remembered.reading;
    }
    const reading = this.readAfresh(message);
    // A colliding message takes the slot: the later question is the likelier to come again.
    if (remembered === undefined && this.readings.size >= MAX_REMEMBERED_QUERIES) {
      const oldest = this.readings.keys().next();
      if (!oldest.done) this.readings.delete(oldest.value);
    }
    this.readings.set(hash, { bytes: Buffer.from(message.subarray(2)), reading });
    return reading;
  }

  private readAfresh(message: Buffer): Reading {
    const bare: QueryParts = {
      echoedFlags: ((message[2] as number) & OPCODE_AND_RD) << 8,
      question: undefined,
      opt: undefined,
      subnet: undefined,
    };
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return { kind: "reply", query: bare, outcome: { rcode: "FORMERR" } };
    }
    const parts: QueryParts = {
      ...bare,
      question: query.questions?.length === 1 ? query.questions[0] : undefined,
    };
    const reply = (outcome: FixedReply, read = parts): Reading => ({
      kind: "reply",
      query: read,
      outcome,
    });
    const opcode = ((query.flags ?? 0) >> 11) & 0xf;
    if (opcode !== OPCODE_QUERY) return reply({ rcode: "NOTIMP" });
    if (parts.question === undefined) return reply({ rcode: "FORMERR" });
    const opts = (query.additionals ?? []).filter((record) => record.type === "OPT");
    if (opts.length > 1 || (opts[0] !== undefined && opts[0].name !== ".")) {
      return reply({ rcode: "FORMERR" });
    }
    const opt = opts[0] as OptAnswer | undefined;
    let withOpt: QueryParts = { ...parts, opt };
    if (opt !== undefined) {
      if (opt.ednsVersion !== 0) return reply({ rcode: "BADVERS" }, withOpt);
      const subnet = clientSubnetOf(opt.options ?? []);
      if (subnet.kind === "malformed") return reply({ rcode: "FORMERR" }, withOpt);
      if (subnet.kind === "subnet") withOpt = { ...withOpt, subnet: subnet.subnet };
    }
    const question = parts.question;
    if (!carriesBack(question.name)) return { kind: "drop", reason: "unrepresentable-name" };
    const klass = question.class ?? "IN";
    // dns-packet cannot write an unknown class back: such a query cannot get a proper answer.
    if (!KNOWN_CLASSES.has(klass)) return { kind: "drop", reason: "unknown-class" };
    if (!ANSWERED_CLASSES.has(klass)) {
      return reply({ rcode: "REFUSED", authoritative: false }, withOpt);
    }
    const name = this.names.parse(question.name);
    if (name.kind === "outside") {
      return reply({ rcode: "REFUSED", authoritative: false }, withOpt);
    }
    if (ZONE_TRANSFERS.has(qtype(question))) return reply({ rcode: "REFUSED" }, withOpt);
    return { kind: "ask", query: withOpt, question, name };
  }
}

/** The question's type as text: dns-packet also decodes "ANY" and "UNKNOWN_<n>", beyond its typings. */
export function qtype(question: Question): string {
  return question.type;
}

/**
 * Whether dns-packet can write the name back as it came: its labels arrive as UTF-8 text, so a
 * label of other bytes comes back changed (and possibly longer than a label may be).
 */
function carriesBack(name: string): boolean {
  if (name === ".") return true;
  if (!PRINTABLE_ASCII.test(name)) {
    if (name.includes("\uFFFD") || Buffer.byteLength(name) > 253) return false;
    return name.split(".").every((label) => label !== "" && Buffer.byteLength(label) <= 63);
  }
  // ASCII: one byte a character, so lengths can be read off the string.
  if (name.length > 253) return false;
  let start = 0;
  for (let dot = name.indexOf("."); ; dot = name.indexOf(".", start)) {
    const end = dot === -1 ? name.length : dot;
    if (end === start || end - start > 63) return false;
    if (dot === -1) return true;
    start = dot + 1;
  }
}

const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;
