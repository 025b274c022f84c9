/**
 * Standalone mode: the catalog comes from a file of Kubernetes manifests, and follows it. An edit
 * is live within about a second; a broken edit is reported and the last good catalog stays.
 */

import type { FSWatcher, Stats } from "node:fs";
import { unwatchFile, watch, watchFile } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Catalog } from "../catalog/catalog.ts";
import { digestOfBytesInSlices } from "../shared/digest.ts";
import { type Logger, SILENT_LOGGER } from "../shared/logger.ts";
import { ManifestCache, parseManifestsInSlices } from "./manifests.ts";
import { TranslationCache, translateSnapshotInSlices } from "./translate.ts";

/** What the source needs of a logger; a pino logger fits. */

export interface FileSourceOptions {
  readonly path: string;
  readonly catalog: Catalog;
  readonly logger?: Pick<Logger, "info" | "warn" | "error">;
  /** Quiet time after a change before the file is read; editors write in several steps. */
  readonly debounceMs?: number;
  /**
   * Longest wait from the first change of a burst to the read: a file rewritten more often than
   * the debounce would otherwise never be read.
   */
  readonly maxDelayMs?: number;
  /** Interval of the stat poll that backs up the directory watch. */
  readonly pollIntervalMs?: number;
}

export const DEFAULT_DEBOUNCE_MS = 150;
export const DEFAULT_MAX_DELAY_MS = 1000;
export const DEFAULT_POLL_INTERVAL_MS = 1000;
/** Longest run of reading the file without letting requests in (see parseManifestsInSlices). */
const READ_SLICE_MS = 5;

/** The file could not be loaded; `errors` holds one message per problem. */
export class ManifestError extends Error {
  readonly errors: readonly string[];

  constructor(errors: readonly string[]) {
    super(errors.join("\n"));
    this.name = "ManifestError";
    this.errors = errors;
  }
}

export type ReloadOutcome =
  | {
      readonly status: "loaded";
      /** Keys ("namespace/name") of the services added, changed or removed. */
      readonly changed: readonly string[];
      readonly warnings: readonly string[];
    }
  /** The file's text is what was last read; nothing was done. */
  | { readonly status: "unchanged" }
  | { readonly status: "failed"; readonly errors: readonly string[] };

export class FileSource {
  readonly #path: string;
  readonly #catalog: Catalog;
  readonly #logger: Pick<Logger, "info" | "warn" | "error">;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #pollIntervalMs: number;
  #watcher: FSWatcher | null = null;
  #pollListener: ((current: Stats, previous: Stats) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** When the first change of the burst the timer waits out was seen. */
  #burstStartedAt = 0;
  /**
   * A digest of the text last read, good or bad, so that an unchanged file is neither reloaded
   * nor re-reported; a digest rather than the text, which may be tens of megabytes.
   */
  #lastDigest: string | null = null;
  #lastErrors: readonly string[] = [];
  /** The documents of the last read: an edit reads again only the documents it changed. */
  readonly #documents = new ManifestCache();
  /** The endpoints of the slices translated before: unchanged ones keep their objects. */
  readonly #translations = new TranslationCache();
  /** Reloads run one at a time, in order. */
  #chain: Promise<unknown> = Promise.resolve();
  /** A reload asked for but not yet started: further requests join it. */
  #queued: Promise<ReloadOutcome> | null = null;
  #running = false;
  /** Whether a load has succeeded since start: until then, failures go to the caller of start. */
  #loaded = false;

  constructor(options: FileSourceOptions) {
    this.#path = options.path;
    this.#catalog = options.catalog;
    this.#logger = options.logger ?? SILENT_LOGGER;
    this.#debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.#maxDelayMs = Math.max(this.#debounceMs, options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  get path(): string {
    return this.#path;
  }

  /** The errors of the latest load that failed since the last good one; empty when all is well. */
  get lastErrors(): readonly string[] {
    return this.#lastErrors;
  }

  /**
   * Loads the file into the catalog, marks the catalog synced, and follows the file from then on.
   * Rejects with a ManifestError, and follows nothing, when the file cannot be loaded.
   */
  async start(): Promise<void> {
    if (this.#running) throw new Error(`file source ${this.#path} is already started`);
    this.#running = true;
    this.#loaded = false;
    this.#lastDigest = null;
    // Watch first: a change made while the first load runs is then not missed.
    this.#watch();
    const outcome = await this.reload();
    if (outcome.status === "failed") {
      await this.stop();
      throw new ManifestError(outcome.errors);
    }
  }

  /** Stops following the file; resolves once a reload in progress has finished. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#watcher?.close();
    this.#watcher = null;
    // Only this source's listener: another source may poll the same file.
    if (this.#pollListener !== null) unwatchFile(this.#path, this.#pollListener);
    this.#pollListener = null;
    await this.#chain.catch(() => {});
  }

  /** Reads the file now (after any reload in progress) and applies it if it changed. */
  reload(): Promise<ReloadOutcome> {
    if (this.#queued !== null) return this.#queued;
    const run = this.#chain.then(() => {
      this.#queued = null;
      return this.#reloadNow();
    });
    this.#queued = run;
    this.#chain = run.catch(() => {});
    return run;
  }

  #watch(): void {
    // The directory, not the file: editors that save by writing a new file and renaming it over
    // the old one would leave a watch on the old file's inode blind. Any event in the directory
    // counts, because ConfigMap volumes swap a symlink with another name; reading an unchanged
    // file costs one read and changes nothing.
    try {
      this.#watcher = watch(dirname(this.#path), { persistent: false }, () => this.#schedule());
      this.#watcher.on("error", (error) => {
        this.#logger.warn(
          { file: this.#path, err: error },
          "watching the manifest directory failed; falling back to polling the file",
        );
        this.#watcher?.close();
        this.#watcher = null;
      });
    } catch (error) {
      this.#logger.warn(
        { file: this.#path, err: error },
        "cannot watch the manifest directory; polling the file instead",
      );
    }
    // The poll backs the watch up where file events are not delivered (some network and
    // container filesystems).
    this.#pollListener = (current, previous) => {
      if (
        current.mtimeMs !== previous.mtimeMs ||
        current.size !== previous.size ||
        current.ino !== previous.ino
      ) {
        this.#schedule();
      }
    };
    watchFile(
      this.#path,
      { interval: this.#pollIntervalMs, persistent: false },
      this.#pollListener,
    );
  }

  #schedule(): void {
    if (!this.#running) return;
    const now = performance.now();
    if (this.#timer === null) this.#burstStartedAt = now;
    else clearTimeout(this.#timer);
    const delay = Math.min(this.#debounceMs, this.#burstStartedAt + this.#maxDelayMs - now);
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        void this.reload();
      },
      Math.max(0, delay),
    );
    this.#timer.unref();
  }

  async #reloadNow(): Promise<ReloadOutcome> {
    if (!this.#running) return { status: "unchanged" };
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#path);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return this.#failed(null, [`${this.#path}: cannot read the file: ${reason}`]);
    }
    const digest = await digestOfBytesInSlices(bytes);
    if (digest === this.#lastDigest || !this.#running) return { status: "unchanged" };
    // An empty file after a good load is far more often an editor between truncating and
    // writing than a wish to drop every service; a comment alone empties the catalog on purpose.
    if (bytes.length === 0 && this.#loaded) {
      return this.#failed(digest, [
        `${this.#path}: the file is empty; to remove every service, leave a comment in it`,
      ]);
    }
    const text = bytes.toString("utf8");
    const parsed = await parseManifestsInSlices(text, this.#path, this.#documents, READ_SLICE_MS);
    if (!this.#running) return { status: "unchanged" };
    if (!parsed.ok) return this.#failed(digest, parsed.errors);
    const { entries, warnings } = await translateSnapshotInSlices(
      parsed.snapshot,
      this.#translations,
      READ_SLICE_MS,
    );
    if (!this.#running) return { status: "unchanged" };
    // The catalog throws before changing anything when it refuses the entries, and after
    // changing when one of its listeners fails; the keys it announced tell the two apart.
    const announced: { keys: readonly string[] } = { keys: [] };
    const unsubscribe = this.#catalog.onChange((keys) => {
      announced.keys = keys;
    });
    try {
      this.#catalog.replaceAll(entries);
    } catch (error) {
      if (announced.keys.length === 0) {
        const reason = error instanceof Error ? error.message : String(error);
        return this.#failed(digest, [`${this.#path}: ${reason}`]);
      }
      this.#logger.error(
        { file: this.#path, err: error },
        "a catalog listener failed on the changes from the manifest file",
      );
    } finally {
      unsubscribe();
    }
    const changed = announced.keys;
    this.#lastDigest = digest;
    this.#lastErrors = [];
    const firstLoad = !this.#loaded;
    this.#loaded = true;
    this.#catalog.markSynced();
    for (const warning of warnings) this.#logger.warn({ file: this.#path }, warning);
    this.#logger.info(
      { file: this.#path, services: entries.length, changed, index: this.#catalog.index },
      firstLoad ? "loaded the manifest file" : "reloaded the manifest file",
    );
    return { status: "loaded", changed, warnings };
  }

  #failed(digest: string | null, errors: readonly string[]): ReloadOutcome {
    // After a read error nothing is remembered, so whatever text comes back is loaded again.
    this.#lastDigest = digest;
    this.#lastErrors = errors;
    if (this.#loaded) {
      this.#logger.error(
        { file: this.#path, errors },
        `the manifest file has ${errors.length} error(s); keeping the last good catalog`,
      );
    }
    return { status: "failed", errors };
  }
}
