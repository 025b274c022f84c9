import {
  type ShardApi,
  ShardConflictError,
  type ShardWrite,
  type StoredShard,
} from "../../src/ha/configmaps.ts";

/** ConfigMaps in memory with the API server's precondition rules. */
export class MemoryShards implements ShardApi {
  readonly objects = new Map<string, StoredShard>();
  readonly log: string[] = [];
  private version = 0;

  async get(name: string): Promise<StoredShard | null> {
    return this.objects.get(name) ?? null;
  }

  async list(): Promise<StoredShard[]> {
    return [...this.objects.values()];
  }

  async create(write: ShardWrite): Promise<StoredShard> {
    if (this.objects.has(write.name)) throw new ShardConflictError("exists");
    return this.put(write, "create");
  }

  async replace(write: ShardWrite, resourceVersion: string): Promise<StoredShard> {
    if (this.objects.get(write.name)?.resourceVersion !== resourceVersion) {
      throw new ShardConflictError("changed");
    }
    return this.put(write, "replace");
  }

  async delete(name: string, resourceVersion: string): Promise<void> {
    const current = this.objects.get(name);
    if (!current) return;
    if (current.resourceVersion !== resourceVersion) throw new ShardConflictError("changed");
    this.objects.delete(name);
    this.log.push(`delete ${name}`);
  }

  /** Someone else writes, as a competing leader would. */
  overwrite(name: string, text: string): void {
    this.put({ name, text, annotations: {} }, "overwrite");
  }

  private put(write: ShardWrite, how: string): StoredShard {
    this.version++;
    const stored = { name: write.name, resourceVersion: String(this.version), text: write.text };
    this.objects.set(write.name, stored);
    this.log.push(`${how} ${write.name}`);
    return stored;
  }
}
