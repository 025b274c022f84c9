/** The worker thread of the table build pool (pool.ts): runs jobs as they come, one at a time. */
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { runTableJob, type TableJob, tableBuffers } from "./jobs.ts";

if (parentPort === null) throw new Error("table build worker: not started as a worker thread");
const port = parentPort;

// A build is background work: on a busy machine the event loop's thread (answers) comes first,
// and a build that waits only leaves the old table serving a little longer. On Linux a nice
// value is per thread, so this lowers this thread alone; elsewhere it may lower the process,
// so it is left to Linux.
const { nice } = workerData as { readonly nice: number };
if (process.platform === "linux" && nice > 0) {
  try {
    setPriority(nice);
  } catch {
    // Not allowed here: the build runs at the process's priority.
  }
}

port.on("message", (message: { readonly id: number; readonly job: TableJob }) => {
  try {
    const table = runTableJob(message.job);
    port.postMessage({ id: message.id, table }, tableBuffers(table));
  } catch (error) {
    port.postMessage({ id: message.id, error: String((error as Error)?.message ?? error) });
  }
});
