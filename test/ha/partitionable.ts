import type { LeaseApi } from "../../src/ha/lease.ts";

/** A Lease client that can be cut off, as a network partition would cut a replica off. */
export function partitionable(api: LeaseApi): LeaseApi & { cut: boolean } {
  const wrapped = {
    cut: false,
    async get(timeout: number) {
      if (wrapped.cut) throw new Error("partitioned");
      return api.get(timeout);
    },
    async create(...args: Parameters<LeaseApi["create"]>) {
      if (wrapped.cut) throw new Error("partitioned");
      return api.create(...args);
    },
    async update(...args: Parameters<LeaseApi["update"]>) {
      if (wrapped.cut) throw new Error("partitioned");
      return api.update(...args);
    },
  };
  return wrapped;
}
