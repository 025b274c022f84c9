/**
 * A bounded pool of worker threads that build hash tables (jobs.ts) off the event loop, so that
 * a big service's rebuild does not hold up the answers of every other service. Workers start at
 * the first job and are kept; a job waits in a bounded queue while all of them are busy. A job
 * whose worker fails or dies is rejected (the caller builds inline instead); after
 * MAX_CONSECUTIVE_FAILURES worker failures in a row the pool stops taking jobs, since a worker
 * that cannot start would otherwise cost a thread start per build.
 */
import { Worker } from "node:worker_threads";
import type { BuiltTable, TableJob } from "./jobs.ts";

/** Jobs waiting for a worker at most; more are refused (and built inline). */
export const MAX_QUEUED_JOBS = 256;
export const MAX_CONSECUTIVE_FAILURES = 3;
/** The nice value of a worker thread (Linux): below the event loop's, which answers requests. */
export const WORKER_NICE = 10;
/** The most workers a pool may have: a table build is CPU-bound, one per core is plenty. */
export const MAX_TABLE_BUILD_WORKERS = 64;

/** The worker's module, in the form this module runs in (TypeScript source or built JavaScript). */
const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js",
  import.meta.url,
);

/** A job the pool did not do because it was closed (the server is stopping). */
export class PoolClosedError extends Error {
  constructor() {
    super("the table build pool is closed");
    this.name = "PoolClosedError";
  }
}

export interface TableBuildPoolOptions {
  /** Worker threads, from 1 to MAX_TABLE_BUILD_WORKERS. */
  readonly size: number;
  /** Replaces the worker's module (tests). */
  readonly workerUrl?: URL;
}

interface Job {
  readonly id: number;
  readonly job: TableJob;
  resolve(table: BuiltTable): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | null;
}

export class TableBuildPool {
  readonly size: number;
  private readonly workerUrl: URL;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private failures = 0;
  private closed = false;

  constructor(options: TableBuildPoolOptions) {
    const { size } = options;
    if (!Number.isInteger(size) || size < 1 || size > MAX_TABLE_BUILD_WORKERS) {
      throw new RangeError(
        `table build workers: ${JSON.stringify(size)} is not allowed; expected an integer from 1 to ${MAX_TABLE_BUILD_WORKERS}`,
      );
    }
    this.size = size;
    this.workerUrl = options.workerUrl ?? WORKER_URL;
  }

  /** Whether the pool takes jobs: not closed, and its workers not failing over and over. */
  get accepting(): boolean {
    return !this.closed && this.failures < MAX_CONSECUTIVE_FAILURES;
  }

  /** Worker threads running now. */
  get workers(): number {
    return this.slots.length;
  }

  /** The table `job` describes, built on a worker thread. */
  build(job: TableJob): Promise<BuiltTable> {
    if (!this.accepting) {
      return Promise.reject(
        this.closed
          ? new PoolClosedError()
          : new Error(
              `the table build pool stopped after ${this.failures} worker failures in a row`,
            ),
      );
    }
    if (this.queue.length >= MAX_QUEUED_JOBS) {
      return Promise.reject(
        new Error(`the table build pool has ${MAX_QUEUED_JOBS} jobs waiting already`),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject });
      this.dispatch();
    });
  }

  /** Terminates the workers; jobs not done yet are rejected with PoolClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new PoolClosedError();
    for (const job of this.queue.splice(0)) job.reject(error);
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.job?.reject(error);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0 && this.accepting) {
      let slot = this.slots.find((candidate) => candidate.job === null);
      if (slot === undefined) {
        if (this.slots.length >= this.size) return;
        slot = this.start();
      }
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, job: job.job });
    }
  }

  private start(): Slot {
    const worker = new Worker(this.workerUrl, { workerData: { nice: WORKER_NICE } });
    // An idle pool does not keep the process alive; close() still ends the threads.
    worker.unref();
    const slot: Slot = { worker, job: null };
    worker.on(
      "message",
      (message: { readonly id: number; readonly table?: BuiltTable; readonly error?: string }) => {
        const job = slot.job;
        if (job === null || job.id !== message.id) return;
        slot.job = null;
        if (message.error !== undefined) {
          job.reject(new Error(`table build failed on a worker: ${message.error}`));
        } else {
          this.failures = 0;
          job.resolve(message.table as BuiltTable);
        }
        this.dispatch();
      },
    );
    const lost = (error: Error) => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      this.failures++;
      slot.job?.reject(error);
      slot.job = null;
      void worker.terminate();
      if (this.accepting) this.dispatch();
      else for (const job of this.queue.splice(0)) job.reject(error);
    };
    worker.on("error", (error) => lost(new Error(`table build worker failed: ${error.message}`)));
    worker.on("exit", (code) => lost(new Error(`table build worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}
