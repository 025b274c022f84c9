/**
 * Loaded into an operator process by the scale benchmark and the scale guard (`node --expose-gc
 * --import` this file): a SIGUSR2 runs a full collection, so that the heap the operator's metrics
 * report next is the heap it retains, not garbage not yet collected. Never part of a production
 * start.
 */
const collect = (globalThis as { gc?: () => void }).gc;
if (typeof collect !== "function") throw new Error("start node with --expose-gc to load this file");
process.on("SIGUSR2", () => {
  collect();
  collect();
});
