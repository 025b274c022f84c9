/** The worker thread of the table build pool (pool.ts): runs jobs as they come, one at a time. */
import { parentPort } from "node:worker_threads";
import { runTableJob, type TableJob, tableBuffers } from "./jobs.ts";

if (parentPort === null) throw new Error("table build worker: not started as a worker thread");
const port = parentPort;

port.on("message", (message: { readonly id: number; readonly job: TableJob }) => {
  try {
    const table = runTableJob(message.job);
    port.postMessage({ id: message.id, table }, tableBuffers(table));
  } catch (error) {
    port.postMessage({ id: message.id, error: String((error as Error)?.message ?? error) });
  }
});
