import { defineConfig } from "vitest/config";

// The container image built from the Dockerfile with buildah and run read-only: `npm run
// test:image`. Apart from `npm test` because it needs root, buildah and debootstrap, and makes a
// local Debian base image the first time (a few minutes).
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/packaging/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 20 * 60_000,
  },
});
