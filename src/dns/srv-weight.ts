/**
 * SRV weights on the wire. RFC 2782 weights are relative, but clients read them at a resolution
 * of their own: HAProxy turns an SRV weight w into a server weight of w / 256 + 1, so endpoint
 * weights 1, 3 and 1 written as they are would all arrive as 1. Scaling each answer's weights so
 * the largest is 65535 keeps their ratios and lets every client read them in the full 16 bits.
 */

/** The largest weight an SRV record can carry (a 16-bit field). */
export const MAX_SRV_WEIGHT = 65_535;

/**
 * `ranks` with each weight w replaced by round(w × 65535 / the largest weight), at least 1: weight
 * 0 means "almost never" in RFC 2782, which no endpoint asks for. Equal weights all become 65535.
 */
export function scaleSrvWeights<T extends { readonly weight: number }>(ranks: readonly T[]): T[] {
  const largest = Math.max(...ranks.map((rank) => rank.weight));
  return ranks.map((rank) => ({
    ...rank,
    weight: Math.max(1, Math.round((rank.weight * MAX_SRV_WEIGHT) / largest)),
  }));
}
