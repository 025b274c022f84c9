import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Suites with configs of their own: the real control plane (npm run test:cluster) and the
    // container image (npm run test:image).
    exclude: ["test/cluster/**", "test/packaging/**", "node_modules/**"],
    // Property tests and distribution checks are CPU-bound; give them room on small machines.
    testTimeout: 60_000,
  },
});
