import { CoreV1Api, type KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import type { ListPage, ResourceKind, Trimmed, TrimmedMeta } from "../kubernetes/informer.ts";
import { isConflict, isNotFound, timeoutOptions } from "./api-calls.ts";
import type { ObjectOwner } from "./owner.ts";
import { decodeSnapshot, SNAPSHOT_KEY, type Snapshot } from "./snapshot.ts";

/** Label that marks the state ConfigMaps of one prefix, so replicas list and watch only those. */
export const STATE_LABEL = "lb.konsul.io/state";
export const EPOCH_ANNOTATION = "lb.konsul.io/epoch";
export const LEADER_ANNOTATION = "lb.konsul.io/leader";
export const SEQUENCE_ANNOTATION = "lb.konsul.io/sequence";

/** The name of shard `index`: "<prefix>-<index>". */
export function shardName(prefix: string, index: number): string {
  return `${prefix}-${index}`;
}

/** The shard index a name stands for under `prefix`, or null for another object. */
export function shardIndex(prefix: string, name: string): number | null {
  if (!name.startsWith(`${prefix}-`)) return null;
  const rest = name.slice(prefix.length + 1);
  return /^(0|[1-9]\d{0,3})$/.test(rest) ? Number(rest) : null;
}

export interface StoredShard {
  readonly name: string;
  readonly resourceVersion: string;
  readonly text: string | null;
}

/** Another writer got there first (409): the write did not happen. */
export class ShardConflictError extends Error {
  override readonly name = "ShardConflictError";
}

export interface ShardWrite {
  readonly name: string;
  readonly text: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** The few ConfigMap calls the state writer makes, each with a precondition. */
export interface ShardApi {
  get(name: string): Promise<StoredShard | null>;
  /** Every state ConfigMap of the prefix, read now from the API server (a quorum read). */
  list(): Promise<StoredShard[]>;
  /** Throws ShardConflictError when it exists. */
  create(write: ShardWrite): Promise<StoredShard>;
  /** Throws ShardConflictError when the object is not at `resourceVersion` or is gone. */
  replace(write: ShardWrite, resourceVersion: string): Promise<StoredShard>;
  /** Deletes only at `resourceVersion`; a missing object is not an error. */
  delete(name: string, resourceVersion: string): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 10_000;

function stored(map: V1ConfigMap): StoredShard {
  return {
    name: map.metadata?.name ?? "",
    resourceVersion: map.metadata?.resourceVersion ?? "",
    text: map.data?.[SNAPSHOT_KEY] ?? null,
  };
}

export class KubernetesShardApi implements ShardApi {
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly prefix: string;
  private readonly owner: ObjectOwner | undefined;

  constructor(config: KubeConfig, namespace: string, prefix: string, owner?: ObjectOwner) {
    this.api = config.makeApiClient(CoreV1Api);
    this.namespace = namespace;
    this.prefix = prefix;
    this.owner = owner;
  }

  async get(name: string): Promise<StoredShard | null> {
    try {
      return stored(
        await this.api.readNamespacedConfigMap(
          { name, namespace: this.namespace },
          timeoutOptions(REQUEST_TIMEOUT_MS),
        ),
      );
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async list(): Promise<StoredShard[]> {
    const found: StoredShard[] = [];
    let continueToken: string | undefined;
    do {
      const page = await this.api.listNamespacedConfigMap(
        {
          namespace: this.namespace,
          labelSelector: `${STATE_LABEL}=${this.prefix}`,
          limit: 100,
          _continue: continueToken,
        },
        timeoutOptions(REQUEST_TIMEOUT_MS),
      );
      for (const map of page.items) found.push(stored(map));
      continueToken = page.metadata?._continue || undefined;
    } while (continueToken !== undefined);
    return found;
  }

  async create(write: ShardWrite): Promise<StoredShard> {
    try {
      return stored(
        await this.api.createNamespacedConfigMap(
          { namespace: this.namespace, body: this.body(write, undefined) },
          timeoutOptions(REQUEST_TIMEOUT_MS),
        ),
      );
    } catch (error) {
      if (isConflict(error)) throw new ShardConflictError(`${write.name} exists already`);
      throw error;
    }
  }

  async replace(write: ShardWrite, resourceVersion: string): Promise<StoredShard> {
    try {
      return stored(
        await this.api.replaceNamespacedConfigMap(
          { name: write.name, namespace: this.namespace, body: this.body(write, resourceVersion) },
          timeoutOptions(REQUEST_TIMEOUT_MS),
        ),
      );
    } catch (error) {
      // A replace of a deleted object is a 404: for the writer, the same lost race.
      if (isConflict(error) || isNotFound(error)) {
        throw new ShardConflictError(
          `${write.name} changed since resourceVersion ${resourceVersion}`,
        );
      }
      throw error;
    }
  }

  async delete(name: string, resourceVersion: string): Promise<void> {
    try {
      await this.api.deleteNamespacedConfigMap(
        { name, namespace: this.namespace, body: { preconditions: { resourceVersion } } },
        timeoutOptions(REQUEST_TIMEOUT_MS),
      );
    } catch (error) {
      if (isNotFound(error)) return;
      if (isConflict(error)) throw new ShardConflictError(`${name} changed before its deletion`);
      throw error;
    }
  }

  private body(write: ShardWrite, resourceVersion: string | undefined): V1ConfigMap {
    return {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: write.name,
        namespace: this.namespace,
        resourceVersion,
        labels: {
          [STATE_LABEL]: this.prefix,
          "app.kubernetes.io/name": "konsul-lb",
          "app.kubernetes.io/component": "balancer-state",
        },
        annotations: { ...write.annotations },
        ownerReferences: this.owner?.referencesIn(this.namespace),
      },
      data: { [SNAPSHOT_KEY]: write.text },
    };
  }
}

/** A state ConfigMap as the follower keeps it: decoded once, when it arrives. */
export interface TrimmedShard extends Trimmed {
  readonly metadata: TrimmedMeta;
  /** Null when the object is not a readable shard of this prefix. */
  readonly snapshot: Snapshot | null;
  readonly problem: string | null;
  readonly bytes: number;
}

export function trimShard(prefix: string, object: unknown): TrimmedShard {
  const raw = object as {
    metadata?: { name?: string; namespace?: string; resourceVersion?: string };
    data?: Record<string, string>;
  };
  const metadata: TrimmedMeta = {
    name: raw?.metadata?.name ?? "",
    namespace: raw?.metadata?.namespace,
    resourceVersion: raw?.metadata?.resourceVersion,
  };
  const text = raw?.data?.[SNAPSHOT_KEY];
  if (shardIndex(prefix, metadata.name) === null) {
    return { metadata, snapshot: null, problem: "not a shard name", bytes: 0 };
  }
  if (typeof text !== "string") {
    return { metadata, snapshot: null, problem: `no ${SNAPSHOT_KEY}`, bytes: 0 };
  }
  try {
    return { metadata, snapshot: decodeSnapshot(text), problem: null, bytes: text.length };
  } catch (error) {
    return { metadata, snapshot: null, problem: (error as Error).message, bytes: text.length };
  }
}

/** The state ConfigMaps of one prefix in one namespace, for the resilient informer. */
export function shardKind(
  config: KubeConfig,
  namespace: string,
  prefix: string,
): ResourceKind<TrimmedShard> {
  const api = config.makeApiClient(CoreV1Api);
  const labelSelector = `${STATE_LABEL}=${prefix}`;
  return {
    name: "configmaps",
    // The watch takes its query from the path; the label keeps other ConfigMaps out.
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps?labelSelector=${encodeURIComponent(labelSelector)}`,
    async list(limit, continueToken): Promise<ListPage> {
      const result = await api.listNamespacedConfigMap({
        namespace,
        labelSelector,
        limit,
        _continue: continueToken,
      });
      return {
        items: result.items,
        resourceVersion: result.metadata?.resourceVersion ?? "",
        continueToken: result.metadata?._continue || undefined,
      };
    },
    trim: (object) => trimShard(prefix, object),
  };
}
