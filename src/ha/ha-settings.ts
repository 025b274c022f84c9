import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  DEFAULT_STATE_INTERVAL_MS,
  DEFAULT_STATE_PREFIX,
} from "./defaults.ts";

/** How the replicas of `konsul-lb serve --source kubernetes` share the work. */
export interface HaSettings {
  /** Whether to elect a leader through a Lease (else this replica writes as if it led). */
  readonly leaderElect: boolean;
  readonly leaseNamespace: string;
  readonly leaseName: string;
  readonly stateNamespace: string;
  readonly stateConfigMapPrefix: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** At most one write per state ConfigMap this often. */
  readonly stateIntervalMs: number;
  /** When the leader acknowledges a connection change made on it (see CONNECTION_DURABILITIES). */
  readonly connectionDurability: ConnectionDurability;
  /**
   * A ConfigMap in the lease namespace that owns the Lease and the state ConfigMaps there, so
   * that Kubernetes' garbage collector removes them with it; null = they stay until deleted.
   */
  readonly ownerConfigMap: string | null;
  /** The URL other replicas reach this one's internal API at; null = derived at start. */
  readonly advertiseUrl: string | null;
  /** The ServiceAccount token shown to other replicas; its identity is the one admitted. */
  readonly tokenFile: string;
}

/**
 * When the leader acknowledges a connection open or release made on it (not forwarded: a
 * follower keeps what it forwarded until the leader's snapshots show it). `interval`: at once,
 * so a crash within one state interval can lose it. `write`: once a state write holding it has
 * landed, at the cost of that write's latency on every such answer and more ConfigMap writes
 * under load (group commit: one write for all the changes waiting for it).
 */
export const CONNECTION_DURABILITIES = ["interval", "write"] as const;
export type ConnectionDurability = (typeof CONNECTION_DURABILITIES)[number];
export const DEFAULT_CONNECTION_DURABILITY: ConnectionDurability = "interval";

export const DEFAULT_LEASE_NAME = "konsul-lb-leader";
/** Where the operator runs when the downward API does not say (POD_NAMESPACE). */
export const FALLBACK_NAMESPACE = "default";
/** Where Kubernetes mounts a pod's ServiceAccount token. */
export const DEFAULT_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export const DEFAULT_HA_SETTINGS: HaSettings = {
  leaderElect: false,
  leaseNamespace: FALLBACK_NAMESPACE,
  leaseName: DEFAULT_LEASE_NAME,
  stateNamespace: FALLBACK_NAMESPACE,
  stateConfigMapPrefix: DEFAULT_STATE_PREFIX,
  leaseDurationMs: DEFAULT_LEASE_DURATION_MS,
  renewDeadlineMs: DEFAULT_RENEW_DEADLINE_MS,
  retryPeriodMs: DEFAULT_RETRY_PERIOD_MS,
  stateIntervalMs: DEFAULT_STATE_INTERVAL_MS,
  connectionDurability: DEFAULT_CONNECTION_DURABILITY,
  ownerConfigMap: null,
  advertiseUrl: null,
  tokenFile: DEFAULT_TOKEN_FILE,
};

/**
 * The URL other replicas reach this one's internal API at: the one given, else this pod's IP
 * (POD_IP from the downward API) with the port bound, else the address bound with a wildcard
 * made loopback.
 */
export function advertisedUrl(
  settings: HaSettings,
  listeningUrl: string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (settings.advertiseUrl !== null) return settings.advertiseUrl;
  const bound = new URL(listeningUrl);
  const podIp = env.POD_IP;
  if (podIp) {
    const host = podIp.includes(":") ? `[${podIp}]` : podIp;
    return `http://${host}:${bound.port}`;
  }
  return listeningUrl.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
}
