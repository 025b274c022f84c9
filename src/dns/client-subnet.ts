/**
 * The EDNS Client Subnet option (RFC 7871): a recursive resolver passes on the network of the
 * client it asks for, so a client-IP strategy can balance on the client rather than on the
 * resolver. The option's fields come decoded by dns-packet; this module checks them as the RFC
 * requires and builds the option that goes back in the answer.
 */
import type { PacketOpt } from "dns-packet";

const FAMILY_BITS: Readonly<Record<number, number>> = { 1: 32, 2: 128 };
export const CLIENT_SUBNET_CODE = 8;

export interface ClientSubnet {
  /** 1 = IPv4, 2 = IPv6 (address family numbers). */
  readonly family: number;
  readonly sourcePrefixLength: number;
  /** The network address, as text: what the strategies see as the client IP. */
  readonly address: string;
}

export type ClientSubnetResult =
  | { readonly kind: "none" }
  | { readonly kind: "subnet"; readonly subnet: ClientSubnet }
  /** The option breaks RFC 7871 section 6; the answer is FORMERR. */
  | { readonly kind: "malformed"; readonly reason: string };

interface DecodedClientSubnet {
  readonly code: number;
  readonly data?: Buffer | undefined;
  readonly family?: number | undefined;
  readonly sourcePrefixLength?: number | undefined;
  readonly ip?: string | undefined;
}

/** The client subnet among a query's EDNS options. */
export function clientSubnetOf(options: readonly PacketOpt[]): ClientSubnetResult {
  const found = options.filter((option) => option.code === CLIENT_SUBNET_CODE);
  if (found.length === 0) return { kind: "none" };
  if (found.length > 1) return { kind: "malformed", reason: "more than one client subnet option" };
  const option = found[0] as DecodedClientSubnet;
  const data = option.data ?? Buffer.alloc(0);
  if (data.length < 4) return { kind: "malformed", reason: "client subnet option too short" };
  const family = option.family ?? 0;
  const maxBits = FAMILY_BITS[family];
  if (maxBits === undefined) return { kind: "malformed", reason: `address family ${family}` };
  const source = option.sourcePrefixLength ?? 0;
  if (source > maxBits) return { kind: "malformed", reason: `source prefix length ${source}` };
  const addressBytes = data.subarray(4);
  if (addressBytes.length !== Math.ceil(source / 8)) {
    return { kind: "malformed", reason: "address length does not match the prefix length" };
  }
  const spare = source % 8;
  const last = addressBytes[addressBytes.length - 1] ?? 0;
  if (spare !== 0 && (last & (0xff >> spare)) !== 0) {
    return { kind: "malformed", reason: "address bits set beyond the prefix length" };
  }
  // A prefix length of 0 is the client asking that its address not be used (section 7.1.2).
  if (source === 0 || option.ip === undefined) return { kind: "none" };
  return { kind: "subnet", subnet: { family, sourcePrefixLength: source, address: option.ip } };
}

/**
 * The option for the answer: the query's subnet with the scope the answer is valid for. Scope 0
 * tells caching resolvers that the answer holds for every client; the source prefix length,
 * that it holds only for that network.
 */
export function clientSubnetReply(subnet: ClientSubnet, scopePrefixLength: number): PacketOpt {
  return {
    code: CLIENT_SUBNET_CODE,
    family: subnet.family,
    sourcePrefixLength: subnet.sourcePrefixLength,
    scopePrefixLength,
    ip: subnet.address,
  };
}
