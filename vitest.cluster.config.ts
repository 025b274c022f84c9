import { defineConfig } from "vitest/config";

// Tests against a real control plane (etcd, kube-apiserver, kube-controller-manager) built
// from source by test/cluster/harness; see README "Local Kubernetes control plane".
export default defineConfig({
  test: {
    include: ["test/cluster/**/*.test.ts"],
    globalSetup: ["test/cluster/global-setup.ts"],
    // One cluster is shared: files must not run at once, or they would see each other's
    // Nodes and fight over restarts of kube-apiserver.
    fileParallelism: false,
    // Controllers react within a second or two, but a restart of kube-apiserver on a busy
    // two-core machine takes tens of seconds.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // The first run may compile the binaries (about a quarter hour cold) inside global setup,
    // which has no timeout; teardown stops three processes.
    teardownTimeout: 60_000,
  },
});
