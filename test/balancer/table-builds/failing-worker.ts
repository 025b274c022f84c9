// A table build worker whose builds all fail.
import { parentPort } from "node:worker_threads";

parentPort?.on("message", (message: { id: number }) => {
  parentPort?.postMessage({ id: message.id, error: "out of memory" });
});
