import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Property tests and distribution checks are CPU-bound; give them room on small machines.
    testTimeout: 60_000,
  },
});
