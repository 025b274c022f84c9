import { homedir } from "node:os";
import { join } from "node:path";

/** Everything built for the cluster tests lives here, outside the repository. */
export function controlPlaneCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "konsul-lb", "control-plane");
}

/** Executables for one Kubernetes release (plus the etcd that goes with it). */
export function binaryCacheDir(kubeVersion: string): string {
  return join(controlPlaneCacheRoot(), kubeVersion);
}
