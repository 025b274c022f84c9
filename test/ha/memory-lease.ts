import {
  type LeaseApi,
  LeaseConflictError,
  type LeaseRecord,
  type ObservedLease,
} from "../../src/ha/lease.ts";

/** A Lease held in memory with the API server's rules: resourceVersion preconditions, 409s. */
export class MemoryLease {
  current: ObservedLease | null = null;
  private version = 0;
  readonly writes: { by: string; record: LeaseRecord }[] = [];

  /** A client for one replica; `down()` makes its calls fail as if the API were unreachable. */
  client(name: string): LeaseApi & { down(value: boolean): void } {
    let isDown = false;
    const check = () => {
      if (isDown) throw new Error(`${name}: connection refused`);
    };
    return {
      down: (value: boolean) => {
        isDown = value;
      },
      get: async () => {
        check();
        return this.current;
      },
      create: async (record) => {
        check();
        if (this.current) throw new LeaseConflictError("exists");
        return this.write(name, record);
      },
      update: async (record, resourceVersion) => {
        check();
        if (!this.current || this.current.resourceVersion !== resourceVersion) {
          throw new LeaseConflictError("changed");
        }
        return this.write(name, record);
      },
    };
  }

  private write(by: string, record: LeaseRecord): ObservedLease {
    this.version += 1;
    this.current = { record, resourceVersion: String(this.version) };
    this.writes.push({ by, record });
    return this.current;
  }
}
