// A table build worker that dies at its first job, as a crashed thread would.
import { parentPort } from "node:worker_threads";

parentPort?.on("message", () => process.exit(3));
