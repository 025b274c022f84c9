/**
 * Fitting an answer into the size its transport allows, the way RFC 2181 (section 9) and
 * RFC 1035 want it: records of the additional section go first and need no TC flag, since the
 * answer is complete without them; when the answer section itself does not fit, records are
 * taken off its end and TC is set, so the client asks again over TCP for the whole answer. The
 * EDNS OPT record always stays.
 */
import dnsPacket, { type Answer, type Packet } from "dns-packet";

export const UDP_PLAIN_LIMIT = 512;
/** The largest UDP answer sent to EDNS clients: what DNS Flag Day 2020 settled on to avoid fragmentation. */
export const UDP_EDNS_LIMIT = 1232;
/** A TCP message carries its length in two bytes. */
export const TCP_LIMIT = 65_535;

export interface Fitted {
  readonly bytes: Buffer;
  readonly truncated: boolean;
}

const HEADER_BYTES = 12;

function recordBytes(record: Answer): number {
  return dnsPacket.encodingLength({ answers: [record] }) - HEADER_BYTES;
}

/** Encodes `packet` into a buffer of exactly `size` bytes (its encoding length). */
function encode(packet: Packet, size: number): Buffer {
  // Every byte is written, so the buffer need not be zeroed first.
  return dnsPacket.encode(packet, Buffer.allocUnsafe(size), 0);
}

/** Encodes `packet` within `limit` bytes; `packet` is changed in the process. */
export function fitAndEncode(packet: Packet, limit: number): Fitted {
  let size = dnsPacket.encodingLength(packet);
  if (size <= limit) return { bytes: encode(packet, size), truncated: false };

  const additionals = packet.additionals ?? [];
  const kept = additionals.filter((record) => record.type === "OPT");
  for (const record of additionals) if (record.type !== "OPT") size -= recordBytes(record);
  packet.additionals = kept;
  if (size <= limit) return { bytes: encode(packet, size), truncated: false };

  packet.flags = (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE;
  const answers = packet.answers ?? [];
  while (answers.length > 0 && size > limit) size -= recordBytes(answers.pop() as Answer);
  const authorities = packet.authorities ?? [];
  while (authorities.length > 0 && size > limit) {
    size -= recordBytes(authorities.pop() as Answer);
  }
  return { bytes: encode(packet, size), truncated: true };
}
