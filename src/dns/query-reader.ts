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
    const asked = query.questions?.length === 1 ? query.questions[0] : undefined;
    // An answer repeats the question, re-encoded from dns-packet's reading of it. A question it
    // cannot write back as it came (a label holding a dot, for one, is split in two) would frame
    // the rest of the answer wrongly: errors are then answered without the question.
    const unwritable = asked === undefined ? undefined : unwritableQuestion(asked, message);
    const parts: QueryParts = {
      ...bare,
      question: unwritable === undefined ? asked : undefined,
    };
    const reply = (outcome: FixedReply, read = parts): Reading => ({
      kind: "reply",
      query: read,
      outcome,
    });
    const opcode = ((query.flags ?? 0) >> 11) & 0xf;
    if (opcode !== OPCODE_QUERY) return reply({ rcode: "NOTIMP" });
    if (asked === undefined) return reply({ rcode: "FORMERR" });
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
    // A look-up cannot be answered without its question.
    if (unwritable !== undefined) return { kind: "drop", reason: unwritable };
    const question = asked;
    const klass = question.class ?? "IN";
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

/** Why dns-packet cannot write the question of `message` back as it came, if it cannot. */
function unwritableQuestion(
  question: Question,
  message: Buffer,
): "unrepresentable-name" | "unknown-class" | undefined {
  // A label holding a dot reads as two labels: "a.b" in one label would be asked as a.b.
  const labels = question.name === "." ? 0 : question.name.split(".").length;
  if (!carriesBack(question.name) || labels !== questionLabels(message)) {
    return "unrepresentable-name";
  }
  if (!KNOWN_CLASSES.has(question.class ?? "IN")) return "unknown-class";
  return undefined;
}

/** The header's size: the question's name starts right after it. */
const HEADER_BYTES = 12;
/** More jumps than a name can have labels: a loop of pointers. */
const MAX_NAME_JUMPS = 128;

/**
 * How many labels the wire form of the (first) question's name has, following compression
 * pointers; -1 if it cannot be walked (dns-packet, which decoded it, would not get here then).
 */
function questionLabels(message: Buffer): number {
  let offset = HEADER_BYTES;
  let labels = 0;
  for (let jumps = 0; jumps <= MAX_NAME_JUMPS && offset < message.length; ) {
    const length = message[offset] as number;
    if (length === 0) return labels;
    if ((length & 0xc0) === 0xc0) {
      if (offset + 1 >= message.length) return -1;
      offset = message.readUInt16BE(offset) & 0x3fff;
      jumps++;
    } else if ((length & 0xc0) === 0) {
      labels++;
      offset += length + 1;
    } else {
      return -1;
    }
  }
  return -1;
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
