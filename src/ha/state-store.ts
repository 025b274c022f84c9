import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Replication } from "../balancer/index.ts";
import { type InformerTiming, ResilientInformer } from "../kubernetes/informer.ts";
import type { Logger } from "../shared/logger.ts";
import { KubernetesShardApi, type ShardApi, shardKind, type TrimmedShard } from "./configmaps.ts";
import { DEFAULT_STATE_INTERVAL_MS } from "./defaults.ts";
import { GroupCommit } from "./group-commit.ts";
import type { HaMetrics } from "./ha-metrics.ts";
import type { LeaderTerm } from "./leader-election.ts";
import type { ObjectOwner } from "./owner.ts";
import { decodeSnapshot, type Snapshot } from "./snapshot.ts";
import {
  type LocalConnectionChanges,
  SnapshotReader,
  type SnapshotReaderOptions,
} from "./snapshot-reader.ts";
import { SnapshotWriter, type WriteOutcome } from "./snapshot-writer.ts";

/** Requests held open for a state write at once; more are refused rather than queued. */
export const MAX_DURABLE_WAITERS = 10_000;
/** A change whose state write has not landed by then is answered as not durable. */
export const DURABLE_TIMEOUT_MS = 5_000;

export interface StateStoreOptions {
  readonly config: KubeConfig;
  readonly namespace: string;
  readonly prefix: string;
  readonly manager: Replication;
  readonly logger: Pick<Logger, "info" | "warn">;
  readonly metrics?: HaMetrics;
  /** The valid term of this replica, else null (LeaderElector.currentTerm). */
  readonly term: () => LeaderTerm | null;
  /** At most one write per ConfigMap this often; changes in between coalesce. */
  readonly intervalMs?: number;
  readonly targetBytes?: number;
  readonly maxShards?: number;
  readonly local?: LocalConnectionChanges;
  /** Told of the leader's outlier ejections of a service as its snapshots change them. */
  readonly onEjections?: SnapshotReaderOptions["onEjections"];
  /** Ids of a service's connections released recently, written into the snapshots. */
  readonly released?: (serviceKey: string) => readonly string[];
  /**
   * Told after a write pass that left every shard current, with the time the pass was asked
   * for: changes made before then are in the ConfigMaps.
   */
  readonly written?: (startedAt: number) => void;
  /** Owner of the ConfigMaps the leader creates or replaces, once known. */
  readonly owner?: ObjectOwner;
  /** For tests: a ShardApi other than the cluster's. */
  readonly api?: ShardApi;
  readonly timing?: InformerTiming;
}

/** How soon a successor that could not read the state ConfigMaps tries again. */
const TAKEOVER_RETRY_MS = 250;

/**
 * Reads every state ConfigMap afresh and hands each to the reader (which keeps the newest per
 * ConfigMap and mirrors its connections while this replica does not lead yet). Returns each
 * ConfigMap's name and resourceVersion, for the writer's first write. One that cannot be read
 * as a snapshot is left out, as the watch leaves it out.
 */
export async function readAfresh(
  api: ShardApi,
  reader: SnapshotReader,
): Promise<[string, string][]> {
  const existing: [string, string][] = [];
  for (const shard of await api.list()) {
    existing.push([shard.name, shard.resourceVersion]);
    if (shard.text === null) continue;
    let snapshot: Snapshot;
    try {
      snapshot = decodeSnapshot(shard.text);
    } catch {
      continue;
    }
    reader.apply(shard.name, snapshot);
  }
  return existing;
}

/**
 * The replicated balancer state in ConfigMaps of the operator's namespace. Every replica
 * watches them (the reader); the leader alone writes them (the writer), once per interval.
 * A replica that takes over first loads what its predecessor wrote last, so it continues from
 * at most one interval ago.
 */
export class StateStore {
  readonly reader: SnapshotReader;
  private readonly writer: SnapshotWriter;
  private readonly informer: ResilientInformer<TrimmedShard>;
  private readonly commit: GroupCommit;
  private readonly api: ShardApi;
  private readonly options: StateStoreOptions;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private leadingEpoch: number | null = null;
  private stopped = false;

  constructor(options: StateStoreOptions) {
    this.options = options;
    this.intervalMs = options.intervalMs ?? DEFAULT_STATE_INTERVAL_MS;
    this.reader = new SnapshotReader({
      prefix: options.prefix,
      manager: options.manager,
      isLeading: () => this.leadingEpoch !== null,
      local: options.local,
      logger: options.logger,
      metrics: options.metrics,
      onEjections: options.onEjections,
    });
    this.api =
      options.api ??
      new KubernetesShardApi(options.config, options.namespace, options.prefix, options.owner);
    this.writer = new SnapshotWriter({
      api: this.api,
      prefix: options.prefix,
      manager: options.manager,
      logger: options.logger,
      metrics: options.metrics,
      term: options.term,
      highestEpoch: () => this.reader.highestEpoch(),
      targetBytes: options.targetBytes,
      maxShards: options.maxShards,
      released: options.released,
    });
    this.commit = new GroupCommit({
      write: async () => (await this.serialized()).kind === "done",
      maxWaiters: MAX_DURABLE_WAITERS,
      timeoutMs: DURABLE_TIMEOUT_MS,
    });
    this.commit.stop();
    this.informer = new ResilientInformer(
      options.config,
      shardKind(options.config, options.namespace, options.prefix),
      (key, _previous, current) => this.onShard(key, current),
      { logger: options.logger },
      options.timing,
    );
  }

  start(): void {
    this.informer.start();
  }

  /** Resolves once the shards have been listed: before that, a leader would start from nothing. */
  whenSynced(): Promise<void> {
    return this.informer.whenSynced();
  }

  highestEpoch(): number {
    return this.reader.highestEpoch();
  }

  /**
   * Resolves once every change made before the call is in a state write that landed: what a
   * leader waits for before acknowledging a change that no other replica holds a copy of.
   * Rejects with CommitRefusedError when not leading, overloaded, failed or timed out.
   */
  durable(): Promise<void> {
    return this.commit.durable();
  }

  /**
   * Becomes the writer for `term`: waits for the follower view, hands the last snapshot's
   * cursors and weights to the manager, then writes every shard at once (claiming them for this
   * epoch) and every interval after.
   */
  async takeOver(term: LeaderTerm): Promise<void> {
    await this.whenSynced();
    const stillLeading = () => {
      const current = this.options.term();
      return !this.stopped && current !== null && current.epoch === term.epoch;
    };
    // What the predecessor wrote last, read now rather than taken from the watch: a watch that
    // broke or hung (this replica's API traffic was cut a while) can be many intervals behind,
    // and this term's first write would then overwrite the newer snapshots as if they were a
    // deposed leader's late writes, bringing back connections released since.
    let existing: [string, string][] | null = null;
    while (existing === null) {
      if (!stillLeading()) return;
      try {
        existing = await readAfresh(this.api, this.reader);
      } catch (error) {
        this.options.logger.warn(
          { epoch: term.epoch, err: error },
          "balancer state: reading the state ConfigMaps before leading failed; retrying",
        );
        await sleep(TAKEOVER_RETRY_MS);
      }
    }
    if (!stillLeading()) return;
    this.reader.noteEpoch(term.epoch);
    const states = this.reader.pickerStates();
    for (const [key, slots] of states) this.options.manager.importState(key, slots);
    this.leadingEpoch = term.epoch;
    this.writer.begin(
      term,
      this.reader.currentShards(),
      existing,
      this.reader.highestSequence(term.epoch),
    );
    this.options.logger.info(
      {
        epoch: term.epoch,
        services: states.size,
        shards: this.reader.currentShards(),
        from: this.reader.newest()?.leader ?? null,
      },
      "balancer state: continuing from the last snapshot",
    );
    clearTimeout(this.timer);
    this.commit.start();
    this.tick();
  }

  /** Stops writing at once: leadership ended. The follower view goes on. */
  stepDown(): void {
    this.leadingEpoch = null;
    clearTimeout(this.timer);
    this.commit.stop();
  }

  /** One write now, after any in progress: the last words of a leader stopping gracefully. */
  async flush(): Promise<WriteOutcome | null> {
    if (this.leadingEpoch === null) return null;
    clearTimeout(this.timer);
    return this.serialized();
  }

  /** Writes one after the other, never two passes at once. */
  private serialized(): Promise<WriteOutcome> {
    const next = this.writing.catch(() => {}).then(() => this.writer.write());
    this.writing = next;
    return next;
  }

  stop(): void {
    this.stopped = true;
    this.stepDown();
    this.informer.stop();
  }

  private tick(): void {
    if (this.leadingEpoch === null || this.stopped) return;
    const epoch = this.leadingEpoch;
    const startedAt = Date.now();
    void this.serialized()
      .then((outcome) => {
        if (outcome.kind === "fenced") this.stepDown();
        if (outcome.kind === "done") this.options.written?.(startedAt);
      })
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, "balancer state: writing a snapshot failed");
      })
      .finally(() => {
        if (this.leadingEpoch === epoch && !this.stopped) {
          this.timer = setTimeout(() => this.tick(), this.intervalMs);
        }
      });
  }

  private onShard(key: string, current: TrimmedShard | undefined): void {
    const name = key.slice(key.indexOf("/") + 1);
    if (current && current.snapshot === null) {
      if (current.problem !== "not a shard name") {
        this.options.metrics?.stateLoads.inc({ result: "invalid" });
        this.options.logger.warn(
          { configmap: name, problem: current.problem },
          "balancer state: a state ConfigMap cannot be read; ignoring it",
        );
      }
      return;
    }
    this.reader.apply(name, current?.snapshot ?? null);
    if (current) this.options.metrics?.stateBytes.set({ configmap: name }, current.bytes);
  }
}
