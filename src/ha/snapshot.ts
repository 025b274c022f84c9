import type {
  CarriedState,
  Connection,
  EjectionRecord,
  Replication,
  SlotStates,
} from "../balancer/index.ts";

/**
 * The replicated balancer state as the leader writes it into ConfigMaps: per service, what its
 * pickers carry into a rebuild (round-robin cursors, smooth-WRR current weights, the fingerprint
 * of a ring-hash or Maglev table — never the table, which every replica builds identically from
 * the endpoints) and its open connections. Services are spread over `shards` ConfigMaps by a
 * hash of their key. Every shard carries the writer's identity and its epoch (the Lease's
 * transition count when it took over), so that a reader can refuse a deposed leader's writes.
 */

export const SNAPSHOT_FORMAT = 1;
/** The data key of a state ConfigMap. */
export const SNAPSHOT_KEY = "snapshot.json";

export interface ServiceState {
  /** Carried state by picker slot ("round-robin|healthy"). Absent when there is none. */
  readonly pickers?: SlotStates;
  /**
   * Open connections by endpoint identity, as [id, expiry] pairs; the expiry in milliseconds
   * after the snapshot's `baseTime`, which keeps numbers short.
   */
  readonly connections?: Readonly<Record<string, readonly (readonly [string, number])[]>>;
  /**
   * Ids released recently. A follower that forwarded one of them, and a successor told about
   * one by a follower, then know it was released even if they never saw it open.
   */
  readonly released?: readonly string[];
  /**
   * Outlier ejections decided by the leader, as [identity, ejections, until] with `until` in
   * milliseconds after `baseTime` (null: not ejected now, the count kept for the growing
   * ejection time). Added in a later version: readers without it ignore it.
   */
  readonly ejections?: readonly (readonly [string, number, number | null])[];
}

export interface SnapshotHeader {
  readonly format: number;
  readonly epoch: number;
  readonly leader: string;
  /** Grows with every write of this term, across shards: orders writes within an epoch. */
  readonly sequence: number;
  readonly shard: number;
  readonly shards: number;
  /** Wall-clock milliseconds of the write; connection expiries count from it. */
  readonly baseTime: number;
}

export interface Snapshot extends SnapshotHeader {
  readonly services: Readonly<Record<string, ServiceState>>;
}

const encoder = new TextEncoder();

/**
 * Which shard a service lives in when there are `shards` of them: 32-bit FNV-1a of the key's
 * UTF-8 bytes. Part of the snapshot format (replicas of different versions must agree), so it
 * is defined here rather than borrowed from the engine, whose hashes may be tuned.
 */
export function shardOf(serviceKey: string, shards: number): number {
  if (shards <= 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(serviceKey)) hash = Math.imul(hash ^ byte, 0x01000193);
  return (hash >>> 0) % shards;
}

/** True when (epoch, sequence) a is newer than b. */
export function isNewer(a: SnapshotHeader, b: SnapshotHeader): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.sequence > b.sequence);
}

/** One service's state from the manager; null when there is nothing worth replicating. */
export function exportService(
  manager: Replication,
  serviceKey: string,
  baseTime: number,
  released: readonly string[] = [],
): ServiceState | null {
  const pickers: Record<string, CarriedState> = {};
  let hasPickers = false;
  for (const [slot, state] of Object.entries(manager.exportState(serviceKey))) {
    if (state.cursor === undefined && !state.currentWeights && !state.tableFingerprint) continue;
    pickers[slot] = state;
    hasPickers = true;
  }
  const connections: Record<string, [string, number][]> = {};
  let hasConnections = false;
  for (const connection of manager.exportConnections(serviceKey)) {
    let list = connections[connection.identity];
    if (!list) {
      list = [];
      connections[connection.identity] = list;
    }
    list.push([connection.id, connection.expiresAt - baseTime]);
    hasConnections = true;
  }
  const ejections = manager
    .exportEjections(serviceKey)
    .map(
      (record) =>
        [
          record.identity,
          record.ejections,
          record.until === null ? null : record.until - baseTime,
        ] as const,
    );
  if (!hasPickers && !hasConnections && released.length === 0 && ejections.length === 0) {
    return null;
  }
  return {
    ...(hasPickers ? { pickers } : {}),
    ...(hasConnections ? { connections } : {}),
    ...(released.length > 0 ? { released } : {}),
    ...(ejections.length > 0 ? { ejections } : {}),
  };
}

/** The outlier ejections of one service in a snapshot, with absolute times. */
export function ejectionsOf(snapshot: Snapshot, state: ServiceState | undefined): EjectionRecord[] {
  return (state?.ejections ?? []).map(([identity, ejections, until]) => ({
    identity,
    ejections,
    until: until === null ? null : snapshot.baseTime + until,
  }));
}

/** The connections of one service in a snapshot, with absolute expiries. */
export function connectionsOf(
  snapshot: Snapshot,
  serviceKey: string,
  state: ServiceState | undefined = snapshot.services[serviceKey],
): Connection[] {
  const result: Connection[] = [];
  for (const [identity, list] of Object.entries(state?.connections ?? {})) {
    for (const [id, expiry] of list) {
      result.push({ id, service: serviceKey, identity, expiresAt: snapshot.baseTime + expiry });
    }
  }
  return result;
}

/**
 * The JSON of a shard, built from per-service JSON texts that the writer keeps between
 * intervals: only the services that changed are stringified again.
 */
export function encodeSnapshot(
  header: SnapshotHeader,
  services: Iterable<[string, string]>,
): string {
  const parts: string[] = [];
  for (const [key, json] of services) parts.push(`${JSON.stringify(key)}:${json}`);
  const head = JSON.stringify(header);
  return `${head.slice(0, -1)},"services":{${parts.join(",")}}}`;
}

export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function integer(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) throw new SnapshotError(`${field}: expected an integer`);
  return value as number;
}

function validCarried(value: unknown): CarriedState | null {
  if (!isRecord(value)) return null;
  const state: {
    cursor?: string;
    currentWeights?: Record<string, number>;
    tableFingerprint?: string;
  } = {};
  if (typeof value.cursor === "string") state.cursor = value.cursor;
  if (typeof value.tableFingerprint === "string") state.tableFingerprint = value.tableFingerprint;
  if (isRecord(value.currentWeights)) {
    const weights: Record<string, number> = {};
    for (const [identity, weight] of Object.entries(value.currentWeights)) {
      if (Number.isSafeInteger(weight)) weights[identity] = weight as number;
    }
    state.currentWeights = weights;
  }
  return state;
}

/**
 * Reads a shard's JSON. The header must be right or the whole shard is refused; a service
 * entry of the wrong shape is skipped, so one bad entry does not cost the others.
 */
export function decodeSnapshot(text: string): Snapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new SnapshotError(`not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(raw)) throw new SnapshotError("expected an object");
  if (raw.format !== SNAPSHOT_FORMAT) {
    throw new SnapshotError(`format ${JSON.stringify(raw.format)} is not ${SNAPSHOT_FORMAT}`);
  }
  if (typeof raw.leader !== "string") throw new SnapshotError("leader: expected a string");
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    epoch: integer(raw.epoch, "epoch"),
    leader: raw.leader,
    sequence: integer(raw.sequence, "sequence"),
    shard: integer(raw.shard, "shard"),
    shards: integer(raw.shards, "shards"),
    baseTime: integer(raw.baseTime, "baseTime"),
  };
  if (header.shards < 1 || header.shard < 0 || header.shard >= header.shards) {
    throw new SnapshotError(`shard ${header.shard} of ${header.shards} is not possible`);
  }
  if (!isRecord(raw.services)) throw new SnapshotError("services: expected an object");
  const services: Record<string, ServiceState> = {};
  for (const [key, value] of Object.entries(raw.services)) {
    if (!isRecord(value)) continue;
    const pickers: Record<string, CarriedState> = {};
    if (isRecord(value.pickers)) {
      for (const [slot, state] of Object.entries(value.pickers)) {
        const carried = validCarried(state);
        if (carried) pickers[slot] = carried;
      }
    }
    const connections: Record<string, [string, number][]> = {};
    if (isRecord(value.connections)) {
      for (const [identity, list] of Object.entries(value.connections)) {
        if (!Array.isArray(list)) continue;
        connections[identity] = list.filter(
          (pair): pair is [string, number] =>
            Array.isArray(pair) && typeof pair[0] === "string" && Number.isSafeInteger(pair[1]),
        );
      }
    }
    const released = Array.isArray(value.released)
      ? value.released.filter((id): id is string => typeof id === "string")
      : [];
    const ejections = Array.isArray(value.ejections)
      ? value.ejections.filter(
          (entry): entry is [string, number, number | null] =>
            Array.isArray(entry) &&
            typeof entry[0] === "string" &&
            Number.isSafeInteger(entry[1]) &&
            (entry[2] === null || Number.isSafeInteger(entry[2])),
        )
      : [];
    services[key] = {
      pickers,
      connections,
      released,
      ...(ejections.length > 0 ? { ejections } : {}),
    };
  }
  return { ...header, services };
}
