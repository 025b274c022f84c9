import { setImmediate as nextTurn } from "node:timers/promises";

/**
 * Long pieces of work written as generators that pause (`yield`) at points where stopping is
 * safe: run at once where nothing waits on the event loop (a command, a test), or in slices where
 * answers must not stall behind them (a reload while serving).
 */
export type Steps<T> = Generator<void, T>;

/** Runs the steps to their end at once. */
export function runToEnd<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Runs the steps to their end in slices of about `sliceMs` of work, the event loop let run between. */
export async function runInSlices<T>(steps: Steps<T>, sliceMs: number): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - sliceStart >= sliceMs) {
      await nextTurn();
      sliceStart = performance.now();
    }
  }
}
