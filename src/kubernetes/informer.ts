import type { KubeConfig } from "@kubernetes/client-node";
import { Watch } from "@kubernetes/client-node";

/** Metadata every watched object has, after trimming. */
export interface TrimmedMeta {
  readonly name: string;
  readonly namespace?: string | undefined;
  readonly resourceVersion?: string | undefined;
}

export interface Trimmed {
  readonly metadata: TrimmedMeta;
}

/** One page of a list call. */
export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  readonly continueToken: string | undefined;
}

/** What an informer needs to know about one kind of object. */
export interface ResourceKind<T extends Trimmed> {
  /** Plural name, for logs and metric labels ("pods"). */
  readonly name: string;
  /** Path of the cluster-wide collection ("/api/v1/pods"), for watching. */
  readonly path: string;
  readonly fieldSelector?: string;
  /**
   * Watch metadata alone (PartialObjectMetadata), as controller-runtime's metadata watches do:
   * for kinds of which only labels and annotations are read, the API server sends and the
   * operator parses a fraction of each object. The list must ask for it too (see metadataOnly).
   */
  readonly metadataOnly?: boolean;
  list(limit: number, continueToken: string | undefined): Promise<ListPage>;
  /** Keeps only the fields the operator reads, so a large cluster costs little memory. */
  trim(object: unknown): T;
}

export type ChangeHandler<T> = (
  key: string,
  previous: T | undefined,
  current: T | undefined,
) => void;

export interface InformerHooks {
  readonly onWatchRestart?: (resource: string, reason: string) => void;
  readonly logger?: {
    warn(fields: object, message: string): void;
    info(fields: object, message: string): void;
  };
}

export interface InformerTiming {
  /** Watches are closed by the server this often and resumed from the last version. */
  readonly watchTimeoutSeconds: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_INFORMER_TIMING: InformerTiming = {
  // Under the client's 30 s inactivity timeout, so a quiet watch ends cleanly, not in error.
  watchTimeoutSeconds: 25,
  backoffInitialMs: 500,
  backoffMaxMs: 30_000,
};

/**
 * Objects per list page. Each page is one JSON.parse and one pass of trimming on the event loop,
 * and its text and parsed objects are held at once: at 500 a page of Pods was 1.6 MB and an
 * EndpointSlice page up to 2.9 MB. At 100 a page blocks a fifth as long and a relist's burst of
 * memory is a fifth as high; the extra requests go over one kept-alive connection.
 */
export const LIST_PAGE_SIZE = 100;

/**
 * Accept headers for metadata alone. A watch must ask for the single-object form and a list for
 * the list form: the server refuses to encode a watch event as a list.
 */
const PARTIAL_OBJECT_METADATA = {
  list: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;q=0.9",
  watch: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;q=0.9",
} as const;

/**
 * The same cluster and credentials, asking for PartialObjectMetadata: every request it
 * authenticates gets the Accept header of `use`, after the client set its own.
 */
export function metadataOnly(config: KubeConfig, use: "list" | "watch"): KubeConfig {
  const asking = Object.create(config) as KubeConfig;
  asking.applySecurityAuthentication = async (context) => {
    await config.applySecurityAuthentication(context);
    context.setHeaderParam("Accept", PARTIAL_OBJECT_METADATA[use]);
  };
  return asking;
}

export function objectKey(meta: TrimmedMeta): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}

function statusCodeOf(error: unknown): number | undefined {
  const candidate = error as { statusCode?: unknown; code?: unknown } | null;
  if (typeof candidate?.statusCode === "number") return candidate.statusCode;
  if (typeof candidate?.code === "number") return candidate.code;
  return undefined;
}

/**
 * List-then-watch cache of one kind of object, that does not give up. The client library's
 * informer stops on most errors and never relists; this one
 * - resumes a watch that closed from the last resourceVersion it saw (bookmarks keep it fresh),
 * - restarts a failed watch or list with exponential backoff, forever, until stopped,
 * - relists only when it must: at start, when the server says the version is gone (410), and
 *   after a failed watch or list, diffing against its cache so that what changed meanwhile
 *   reaches the handlers. As in client-go there is no periodic relist: a watch resumed from the
 *   last version it saw misses no event, and at 10,000 Pods every full list was a burst of
 *   megabytes of JSON that the process kept as RSS.
 * Handlers receive keys with the previous and current trimmed object; they should only enqueue.
 */
export class ResilientInformer<T extends Trimmed> {
  readonly kind: ResourceKind<T>;
  private readonly watcher: Watch;
  private readonly onChange: ChangeHandler<T>;
  private readonly hooks: InformerHooks;
  private readonly timing: InformerTiming;
  private readonly store = new Map<string, T>();
  private resourceVersion: string | undefined;
  private running = false;
  private watchAbort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private syncedOnce = false;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(
    config: KubeConfig,
    kind: ResourceKind<T>,
    onChange: ChangeHandler<T>,
    hooks: InformerHooks = {},
    timing: InformerTiming = DEFAULT_INFORMER_TIMING,
  ) {
    this.kind = kind;
    this.watcher = new Watch(kind.metadataOnly ? metadataOnly(config, "watch") : config);
    this.onChange = onChange;
    this.hooks = hooks;
    this.timing = timing;
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  values(): IterableIterator<T> {
    return this.store.values();
  }

  get size(): number {
    return this.store.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.relistThenWatch();
  }

  /** Resolves once the first full list has been loaded. */
  whenSynced(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.watchAbort?.abort();
    this.watchAbort = undefined;
  }

  private async relistThenWatch(): Promise<void> {
    try {
      await this.relist();
      this.failures = 0;
      this.watch();
    } catch (error) {
      this.retryLater("list failed", error, () => this.relistThenWatch());
    }
  }

  /** Lists everything, page by page, and reports what differs from the cache. */
  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let token: string | undefined;
    let version = "";
    do {
      const page = await this.kind.list(LIST_PAGE_SIZE, token);
      for (const item of page.items) {
        // An object the cache holds at the same version is kept as it is: a relist of a large
        // cluster then allocates (and promotes to the old generation) almost nothing, and the
        // translation's caches, which hold on to the object, stay valid.
        const meta = (item as { metadata?: Partial<TrimmedMeta> } | null)?.metadata;
        const key = objectKey({ name: meta?.name ?? "", namespace: meta?.namespace });
        const held = this.store.get(key);
        const trimmed =
          held !== undefined &&
          meta?.resourceVersion !== undefined &&
          held.metadata.resourceVersion === meta.resourceVersion
            ? held
            : this.kind.trim(item);
        fresh.set(objectKey(trimmed.metadata), trimmed);
      }
      token = page.continueToken;
      version = page.resourceVersion;
    } while (token);
    if (!this.running) return;
    for (const [key, previous] of this.store) {
      if (!fresh.has(key)) {
        this.store.delete(key);
        this.notify(key, previous, undefined);
      }
    }
    for (const [key, current] of fresh) {
      const previous = this.store.get(key);
      if (previous?.metadata.resourceVersion === current.metadata.resourceVersion && previous)
        continue;
      this.store.set(key, current);
      this.notify(key, previous, current);
    }
    this.resourceVersion = version;
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private watch(): void {
    if (!this.running) return;
    // Why the server ended the watch with an ERROR event, if it did.
    let failure: "gone" | "error" | null = null;
    const handleEvent = (type: string, object: unknown) => {
      if (type === "BOOKMARK") {
        const version = (object as { metadata?: { resourceVersion?: string } })?.metadata
          ?.resourceVersion;
        if (version) this.resourceVersion = version;
        return;
      }
      if (type === "ERROR") {
        // A Status object; 410 means our resourceVersion is too old to resume from.
        failure = (object as { code?: number })?.code === 410 ? "gone" : "error";
        this.watchAbort?.abort();
        return;
      }
      const trimmed = this.kind.trim(object);
      const key = objectKey(trimmed.metadata);
      const previous = this.store.get(key);
      if (type === "DELETED") {
        this.store.delete(key);
        this.notify(key, previous, undefined);
      } else {
        this.store.set(key, trimmed);
        this.notify(key, previous, trimmed);
      }
      if (trimmed.metadata.resourceVersion) this.resourceVersion = trimmed.metadata.resourceVersion;
    };
    const done = (error: unknown) => {
      if (!this.running) return;
      if (failure === "gone" || statusCodeOf(error) === 410) {
        this.hooks.onWatchRestart?.(this.kind.name, "gone");
        void this.relistThenWatch();
      } else if (
        failure === "error" ||
        (error && (error as { name?: string }).name !== "AbortError")
      ) {
        this.retryLater("watch failed", error, () => this.relistThenWatch());
      } else {
        // A clean close (the server's timeoutSeconds): resume from where we are.
        this.failures = 0;
        this.watch();
      }
    };
    this.watcher
      .watch(
        this.kind.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.timing.watchTimeoutSeconds,
          fieldSelector: this.kind.fieldSelector,
        },
        handleEvent,
        done,
      )
      .then(
        (abort) => {
          this.watchAbort = abort;
          if (!this.running) abort.abort();
        },
        (error: unknown) => done(error),
      );
  }

  private retryLater(what: string, error: unknown, again: () => Promise<void>): void {
    if (!this.running) return;
    this.failures++;
    const delay = Math.min(
      this.timing.backoffMaxMs,
      this.timing.backoffInitialMs * 2 ** Math.min(this.failures - 1, 16),
    );
    // Jitter, so that replicas and informers do not retry in lockstep.
    const wait = delay / 2 + Math.random() * (delay / 2);
    this.hooks.onWatchRestart?.(this.kind.name, "error");
    this.hooks.logger?.warn(
      {
        resource: this.kind.name,
        err: error,
        retryInMs: Math.round(wait),
        failures: this.failures,
      },
      `${this.kind.name}: ${what}; retrying`,
    );
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void again(), wait);
    this.timer.unref();
  }

  private notify(key: string, previous: T | undefined, current: T | undefined): void {
    try {
      this.onChange(key, previous, current);
    } catch (error) {
      this.hooks.logger?.warn(
        { resource: this.kind.name, key, err: error },
        "change handler failed",
      );
    }
  }
}
