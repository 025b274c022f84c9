import type { Replication } from "../balancer/index.ts";
import type { Logger } from "../shared/logger.ts";
import {
  EPOCH_ANNOTATION,
  LEADER_ANNOTATION,
  SEQUENCE_ANNOTATION,
  type ShardApi,
  ShardConflictError,
  shardIndex,
  shardName,
} from "./configmaps.ts";
import type { HaMetrics } from "./ha-metrics.ts";
import type { LeaderTerm } from "./leader-election.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  exportService,
  SNAPSHOT_FORMAT,
  type SnapshotHeader,
  shardOf,
} from "./snapshot.ts";

/** Half the 1 MiB object limit: room for growth between two writes and for the metadata. */
export const DEFAULT_SHARD_TARGET_BYTES = 512 * 1024;
/** Past this a shard is not written whole: connections of its largest services are left out. */
export const SHARD_HARD_LIMIT_BYTES = 900 * 1024;
export const DEFAULT_MAX_SHARDS = 64;

export interface SnapshotWriterOptions {
  readonly api: ShardApi;
  readonly prefix: string;
  readonly manager: Replication;
  readonly logger: Pick<Logger, "info" | "warn">;
  readonly metrics?: HaMetrics;
  /** The term while the lease is valid, else null: asked again before every request. */
  readonly term: () => LeaderTerm | null;
  /** The highest epoch any replica has written, as far as this one has seen. */
  readonly highestEpoch: () => number;
  readonly targetBytes?: number;
  readonly maxShards?: number;
  readonly now?: () => number;
  /** Ids of a service's connections released recently (see ServiceState.released). */
  readonly released?: (serviceKey: string) => readonly string[];
}

export type WriteOutcome =
  | { readonly kind: "not-leader" }
  | { readonly kind: "fenced"; readonly by: number }
  | {
      readonly kind: "done";
      readonly written: number;
      readonly unchanged: number;
      readonly shards: number;
      readonly bytes: number;
    };

interface KnownShard {
  resourceVersion: string;
  /** True once this term wrote it and nothing in it changed since. */
  current: boolean;
}

interface ExportedService {
  /** The manager's change count when exported. */
  readonly changes: number;
  readonly json: string;
}

/**
 * The leader's side of the state store: every interval it exports the balancer state, spreads
 * services over as few shards as keep each under the target size, and writes the shards whose
 * content changed, each with the resourceVersion it last saw. Changes between two intervals
 * coalesce into one write per ConfigMap. Nothing is written unless the term is still valid at
 * the moment of the request, and a shard found written by a newer epoch fences this writer.
 */
export class SnapshotWriter {
  private readonly options: SnapshotWriterOptions;
  private readonly targetBytes: number;
  private readonly maxShards: number;
  private readonly now: () => number;
  private readonly known = new Map<string, KnownShard>();
  /** Each service's JSON as last exported: a pass stringifies only services that changed. */
  private readonly exported = new Map<string, ExportedService>();
  private epoch = -1;
  private identity = "";
  private baseTime = 0;
  private sequence = 0;
  private shards = 1;
  private fencedBy: number | null = null;
  private truncationLogged = false;

  constructor(options: SnapshotWriterOptions) {
    this.options = options;
    this.targetBytes = options.targetBytes ?? DEFAULT_SHARD_TARGET_BYTES;
    this.maxShards = options.maxShards ?? DEFAULT_MAX_SHARDS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Starts a term: `existing` are the shards as the follower view last saw them, `shards` the
   * count the previous leader used, `sequenceSeen` the highest sequence of this epoch seen in
   * them. The first write then claims every shard for this epoch.
   */
  begin(
    term: LeaderTerm,
    shards: number,
    existing: Iterable<[string, string]>,
    sequenceSeen = 0,
  ): void {
    // Followers order snapshots by (epoch, sequence): within an epoch the sequence must only
    // grow, even if this epoch was begun before or other replicas saw a higher sequence of it.
    // Every term has an epoch of its own (see LeaderElector); this is the backstop.
    const sequence = Math.max(sequenceSeen, term.epoch === this.epoch ? this.sequence : 0);
    this.epoch = term.epoch;
    this.identity = term.identity;
    this.baseTime = this.now();
    this.sequence = sequence;
    this.shards = Math.max(1, Math.min(this.maxShards, shards));
    this.fencedBy = null;
    this.truncationLogged = false;
    this.known.clear();
    this.exported.clear();
    for (const [name, resourceVersion] of existing) {
      if (shardIndex(this.options.prefix, name) !== null) {
        this.known.set(name, { resourceVersion, current: false });
      }
    }
  }

  get shardCount(): number {
    return this.shards;
  }

  private valid(): boolean {
    const term = this.options.term();
    return term !== null && term.epoch === this.epoch && this.fencedBy === null;
  }

  async write(): Promise<WriteOutcome> {
    if (!this.valid()) {
      return this.fencedBy === null
        ? { kind: "not-leader" }
        : { kind: "fenced", by: this.fencedBy };
    }
    const seen = this.options.highestEpoch();
    if (seen > this.epoch) return this.fence(seen);

    const started = performance.now();
    const manager = this.options.manager;
    const changed = new Set<string>();
    const present = new Set<string>();
    for (const key of manager.serviceKeys()) {
      present.add(key);
      const changes = manager.changeCount(key);
      const before = this.exported.get(key);
      if (before?.changes === changes) continue;
      const state = exportService(manager, key, this.baseTime, this.options.released?.(key));
      const json = state ? JSON.stringify(state) : "";
      this.exported.set(key, { changes, json });
      if (json !== (before?.json ?? "")) changed.add(key);
    }
    for (const key of this.exported.keys()) {
      if (!present.has(key)) {
        this.exported.delete(key);
        changed.add(key);
      }
    }
    if (this.plan()) for (const known of this.known.values()) known.current = false;
    for (const key of changed) {
      const known = this.known.get(shardName(this.options.prefix, shardOf(key, this.shards)));
      if (known) known.current = false;
    }
    this.options.metrics?.stateEncodeSeconds.observe((performance.now() - started) / 1000);

    let written = 0;
    let unchanged = 0;
    let bytes = 0;
    let members: [string, string][][] | null = null;
    for (let index = 0; index < this.shards; index++) {
      const name = shardName(this.options.prefix, index);
      if (this.known.get(name)?.current) {
        unchanged++;
        continue;
      }
      members ??= this.byShard();
      const outcome = await this.writeShard(name, index, members[index] ?? []);
      if (outcome === "fenced" || outcome === "not-leader") {
        return this.fencedBy === null
          ? { kind: "not-leader" }
          : { kind: "fenced", by: this.fencedBy };
      }
      written++;
      bytes += outcome;
    }
    await this.deleteSurplus();
    return { kind: "done", written, unchanged, shards: this.shards, bytes };
  }

  /** Services with something to replicate, by shard, sorted by key so that output is stable. */
  private byShard(): [string, string][][] {
    const shards: [string, string][][] = Array.from({ length: this.shards }, () => []);
    const keys = [...this.exported.keys()].sort();
    for (const key of keys) {
      const json = (this.exported.get(key) as ExportedService).json;
      if (json !== "") shards[shardOf(key, this.shards)]?.push([key, json]);
    }
    return shards;
  }

  /**
   * Grows the shard count while a shard is over the target; shrinks it when half as many would
   * each be under half the target. True when the count changed.
   */
  private plan(): boolean {
    const largest = (shards: number) => {
      const sizes = new Array<number>(shards).fill(256);
      for (const [key, { json }] of this.exported) {
        if (json === "") continue;
        const index = shardOf(key, shards);
        sizes[index] = (sizes[index] as number) + key.length + json.length + 4;
      }
      return Math.max(...sizes);
    };
    const before = this.shards;
    while (this.shards < this.maxShards && largest(this.shards) > this.targetBytes) {
      this.shards = Math.min(this.maxShards, this.shards * 2);
    }
    while (this.shards > 1 && largest(this.shards / 2) < this.targetBytes / 2) {
      this.shards /= 2;
    }
    if (this.shards === before) return false;
    this.options.logger.info(
      { from: before, to: this.shards, services: this.exported.size },
      "balancer state: changed the number of ConfigMap shards",
    );
    return true;
  }

  /** Writes one shard; the bytes written, or why not. */
  private async writeShard(
    name: string,
    index: number,
    services: [string, string][],
  ): Promise<number | "fenced" | "not-leader"> {
    this.sequence++;
    const header: SnapshotHeader = {
      format: SNAPSHOT_FORMAT,
      epoch: this.epoch,
      leader: this.identity,
      sequence: this.sequence,
      shard: index,
      shards: this.shards,
      baseTime: this.baseTime,
    };
    let text = encodeSnapshot(header, services);
    if (text.length > SHARD_HARD_LIMIT_BYTES) text = this.truncated(header, services);
    const write = {
      name,
      text,
      annotations: {
        [EPOCH_ANNOTATION]: String(this.epoch),
        [LEADER_ANNOTATION]: this.identity,
        [SEQUENCE_ANNOTATION]: String(this.sequence),
      },
    };
    // Two tries: the second after reading back what a conflict was about.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.valid()) return "not-leader";
      const known = this.known.get(name);
      try {
        const stored = known
          ? await this.options.api.replace(write, known.resourceVersion)
          : await this.options.api.create(write);
        this.known.set(name, { resourceVersion: stored.resourceVersion, current: true });
        this.options.metrics?.stateWrites.inc({ result: "ok" });
        this.options.metrics?.stateBytes.set({ configmap: name }, text.length);
        return text.length;
      } catch (error) {
        if (!(error instanceof ShardConflictError)) {
          this.options.metrics?.stateWrites.inc({ result: "error" });
          throw error;
        }
        this.options.metrics?.stateWrites.inc({ result: "conflict" });
        const current = await this.options.api.get(name);
        if (current === null) {
          this.known.delete(name);
          continue;
        }
        const epoch = epochOf(current.text);
        if (epoch !== null && epoch > this.epoch) {
          this.fence(epoch);
          return "fenced";
        }
        // Ours from a lost response, or a deposed leader's late write: overwrite it.
        this.known.set(name, { resourceVersion: current.resourceVersion, current: false });
      }
    }
    throw new Error(`${name}: conflicting writes twice in a row`);
  }

  /** Leaves out connections, largest services first, until the shard fits. */
  private truncated(header: SnapshotHeader, services: [string, string][]): string {
    const kept = new Map(services);
    const largestFirst = [...services].sort((a, b) => b[1].length - a[1].length);
    let dropped = 0;
    let text = encodeSnapshot(header, kept);
    for (const [key, json] of largestFirst) {
      if (text.length <= SHARD_HARD_LIMIT_BYTES) break;
      const { pickers } = JSON.parse(json) as { pickers?: unknown };
      kept.set(key, JSON.stringify(pickers === undefined ? {} : { pickers }));
      dropped++;
      text = encodeSnapshot(header, kept);
    }
    if (!this.truncationLogged) {
      this.truncationLogged = true;
      this.options.logger.warn(
        { shard: header.shard, shards: header.shards, servicesWithoutConnections: dropped },
        "balancer state: a shard is over the ConfigMap size limit even at the most shards; open connections of its largest services are not replicated",
      );
    }
    this.options.metrics?.stateWrites.inc({ result: "truncated" });
    return text;
  }

  private async deleteSurplus(): Promise<void> {
    for (const [name, known] of [...this.known]) {
      const index = shardIndex(this.options.prefix, name);
      if (index === null || index < this.shards) continue;
      if (!this.valid()) return;
      try {
        await this.options.api.delete(name, known.resourceVersion);
        this.known.delete(name);
      } catch (error) {
        if (!(error instanceof ShardConflictError)) throw error;
        const current = await this.options.api.get(name);
        if (current === null) this.known.delete(name);
        else this.known.set(name, { resourceVersion: current.resourceVersion, current: false });
      }
    }
  }

  private fence(epoch: number): WriteOutcome {
    if (this.fencedBy === null) {
      this.options.metrics?.stateWrites.inc({ result: "fenced" });
      this.options.logger.warn(
        { epoch: this.epoch, newerEpoch: epoch },
        "balancer state: a newer leader has written; this replica stops writing",
      );
    }
    this.fencedBy = epoch;
    return { kind: "fenced", by: epoch };
  }
}

function epochOf(text: string | null): number | null {
  if (text === null) return null;
  try {
    return decodeSnapshot(text).epoch;
  } catch {
    return null;
  }
}
