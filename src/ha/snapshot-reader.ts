import type { Connection, EjectionRecord, Replication, SlotStates } from "../balancer/index.ts";
import type { Logger } from "../shared/logger.ts";
import { shardIndex } from "./configmaps.ts";
import type { HaMetrics } from "./ha-metrics.ts";
import {
  connectionsOf,
  ejectionsOf,
  isNewer,
  type ServiceState,
  type Snapshot,
  type SnapshotHeader,
  shardOf,
} from "./snapshot.ts";

/** What a replica knows about connections that the leader's snapshots may not show yet. */
export interface LocalConnectionChanges {
  /**
   * A service's connections as a snapshot lists them (and the ids it says were released),
   * corrected by what this replica opened or released that the snapshot may not show yet.
   */
  merge(serviceKey: string, listed: Connection[], released: readonly string[]): Connection[];
}

export interface SnapshotReaderOptions {
  readonly prefix: string;
  readonly manager: Replication;
  /** While leading, the replica's own state is the truth: snapshots only inform fencing. */
  readonly isLeading: () => boolean;
  readonly local?: LocalConnectionChanges;
  readonly logger: Pick<Logger, "warn">;
  readonly metrics?: HaMetrics;
  /**
   * Told of a service's outlier ejections whenever the leader's snapshot changes them: a
   * follower leaves the same endpoints out of its answers.
   */
  readonly onEjections?: (serviceKey: string, records: EjectionRecord[]) => void;
}

export type ApplyResult = "loaded" | "stale" | "deleted" | "ignored";

/**
 * The follower's side of the state store: takes each shard the watch delivers, refuses any
 * with an older epoch than one already seen (a deposed leader's late write), keeps the newest
 * per ConfigMap, and mirrors the leader's open connections into the local manager so that
 * least-connections counts the same everywhere. Picker state (cursors, weights) is kept aside
 * and handed to the manager only on taking over: until then every replica rotates on its own.
 */
export class SnapshotReader {
  private readonly options: SnapshotReaderOptions;
  private readonly loaded = new Map<string, Snapshot>();
  private epochSeen = 0;

  constructor(options: SnapshotReaderOptions) {
    this.options = options;
  }

  highestEpoch(): number {
    return this.epochSeen;
  }

  /** Counts an epoch seen outside a snapshot: this replica's own term. */
  noteEpoch(epoch: number): void {
    if (epoch > this.epochSeen) {
      this.epochSeen = epoch;
      this.options.metrics?.stateEpoch.set(epoch);
    }
  }

  /** The newest header among the shards, or null before any. */
  newest(): SnapshotHeader | null {
    let newest: Snapshot | null = null;
    for (const snapshot of this.loaded.values()) {
      if (newest === null || isNewer(snapshot, newest)) newest = snapshot;
    }
    return newest;
  }

  /** The highest sequence loaded for `epoch` (0 when none): where a writer of it goes on. */
  highestSequence(epoch: number): number {
    let highest = 0;
    for (const snapshot of this.loaded.values()) {
      if (snapshot.epoch === epoch && snapshot.sequence > highest) highest = snapshot.sequence;
    }
    return highest;
  }

  /** How many shards the current leader writes (1 before any snapshot). */
  currentShards(): number {
    return this.newest()?.shards ?? 1;
  }

  /** Every service in the current set of shards, with the snapshot it comes from. */
  *services(): Generator<[string, ServiceState, Snapshot]> {
    const shards = this.currentShards();
    for (const snapshot of this.loaded.values()) {
      // A shard from before a change of the shard count holds services that moved.
      if (snapshot.shards !== shards) continue;
      for (const [key, state] of Object.entries(snapshot.services)) yield [key, state, snapshot];
    }
  }

  /** Picker state by service from the last snapshots: what a new leader continues from. */
  pickerStates(): Map<string, SlotStates> {
    const states = new Map<string, SlotStates>();
    for (const [key, state] of this.services()) {
      if (state.pickers && Object.keys(state.pickers).length > 0) states.set(key, state.pickers);
    }
    return states;
  }

  /** Takes one shard as the watch delivers it; null when it was deleted. */
  apply(name: string, snapshot: Snapshot | null): ApplyResult {
    if (shardIndex(this.options.prefix, name) === null) return "ignored";
    const previous = this.loaded.get(name);
    if (snapshot === null) {
      this.loaded.delete(name);
      return "deleted";
    }
    if (snapshot.epoch < this.epochSeen || (previous && !isNewer(snapshot, previous))) {
      this.options.metrics?.stateLoads.inc({ result: "stale" });
      // The same snapshot delivered again (a relist) is routine; anything else refused means a
      // deposed leader's late write, or a writer that broke the (epoch, sequence) order.
      const redelivered =
        previous !== undefined &&
        previous.epoch === snapshot.epoch &&
        previous.sequence === snapshot.sequence &&
        previous.leader === snapshot.leader;
      if (!redelivered) {
        this.options.logger.warn(
          {
            configmap: name,
            refused: {
              epoch: snapshot.epoch,
              sequence: snapshot.sequence,
              leader: snapshot.leader,
            },
            kept: previous
              ? { epoch: previous.epoch, sequence: previous.sequence, leader: previous.leader }
              : null,
            highestEpoch: this.epochSeen,
          },
          "balancer state: refused a snapshot older than the one already loaded",
        );
      }
      return "stale";
    }
    this.noteEpoch(snapshot.epoch);
    this.loaded.set(name, snapshot);
    this.options.metrics?.stateLoads.inc({ result: "loaded" });
    if (!this.options.isLeading()) this.mirror(snapshot, previous);
    return "loaded";
  }

  /** Applies one shard's connections to the manager and checks its table fingerprints. */
  private mirror(snapshot: Snapshot, previous: Snapshot | undefined): void {
    const { manager } = this.options;
    for (const [key, state] of Object.entries(snapshot.services)) {
      manager.replaceConnections(
        key,
        this.withLocalChanges(key, connectionsOf(snapshot, key, state), state.released ?? []),
      );
      this.checkFingerprints(key, state);
      const before = previous?.services[key]?.ejections;
      if (JSON.stringify(before ?? []) !== JSON.stringify(state.ejections ?? [])) {
        this.options.onEjections?.(key, ejectionsOf(snapshot, state));
      }
    }
    // Services the shard no longer lists have no connections left, unless they moved shards.
    for (const key of Object.keys(previous?.services ?? {})) {
      if (key in snapshot.services || shardOf(key, snapshot.shards) !== snapshot.shard) continue;
      manager.replaceConnections(key, this.withLocalChanges(key, [], []));
      if (previous?.services[key]?.ejections) this.options.onEjections?.(key, []);
    }
  }

  private withLocalChanges(
    key: string,
    records: Connection[],
    released: readonly string[],
  ): Connection[] {
    return this.options.local ? this.options.local.merge(key, records, released) : records;
  }

  /** Ids the last snapshots say were released, by service: a successor's tombstones. */
  releasedIds(): Map<string, readonly string[]> {
    const result = new Map<string, readonly string[]>();
    for (const [key, state] of this.services()) {
      if (state.released && state.released.length > 0) result.set(key, state.released);
    }
    return result;
  }

  /**
   * Tables are functions of the endpoint set: the same endpoints (the first half of the
   * fingerprint) with a different table (the second half) is a defect worth shouting about.
   */
  private checkFingerprints(key: string, state: ServiceState): void {
    const pickers = state.pickers;
    if (!pickers) return;
    let local: Record<string, { tableFingerprint?: string }> | undefined;
    for (const [slot, carried] of Object.entries(pickers)) {
      const theirs = carried.tableFingerprint;
      if (!theirs) continue;
      local ??= this.options.manager.exportState(key);
      const ours = local[slot]?.tableFingerprint;
      if (!ours || ours === theirs || ours.slice(0, 16) !== theirs.slice(0, 16)) continue;
      this.options.metrics?.fingerprintMismatches.inc();
      this.options.logger.warn(
        { service: key, slot, leader: theirs, local: ours },
        "hash table differs from the leader's for the same endpoints",
      );
    }
  }
}
