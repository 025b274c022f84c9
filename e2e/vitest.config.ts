import { defineConfig } from "vitest/config";
import { NameOrderSequencer } from "./support/sequencer.ts";

// The end-to-end suite: the chart installed with helm, the operator's replicas, sample backends
// and the example policies. `npm run e2e:local` (a local cluster, see e2e/README.md) or
// `npm run e2e:kind` (a kind cluster; needs Docker).
export default defineConfig({
  test: {
    root: new URL("..", import.meta.url).pathname,
    include: ["e2e/**/*.test.ts"],
    globalSetup: ["e2e/global-setup.ts"],
    // One release is shared, and each file builds on the ones before it.
    fileParallelism: false,
    sequence: { sequencer: NameOrderSequencer },
    // A failed file leaves the release in an unknown state for the next ones.
    bail: 1,
    testTimeout: 180_000,
    hookTimeout: 300_000,
    teardownTimeout: 120_000,
  },
});
