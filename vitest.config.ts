import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The suite against a real control plane runs with its own config: npm run test:cluster.
    exclude: ["test/cluster/**", "node_modules/**"],
    // Property tests and distribution checks are CPU-bound; give them room on small machines.
    testTimeout: 60_000,
  },
});
