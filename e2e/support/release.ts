// The operator's high-availability side as the tests observe it: the Lease, each replica's
// /internal/v1/ha (on its internal API), the state ConfigMaps the leader writes, and connection counts in /metrics.

import { STATE_LABEL } from "../../src/ha/configmaps.ts";
import { decodeSnapshot, SNAPSHOT_KEY, type Snapshot } from "../../src/ha/snapshot.ts";
import { clients, leaseHolder, podOfIdentity, waitFor } from "./cluster.ts";
import { getJson, type Replica } from "./discovery.ts";
import { FULLNAME, LEASE_NAME, NAMESPACE, STATE_PREFIX } from "./env.ts";
import type { Target } from "./target.ts";

export interface HaStatus {
  identity: string;
  leading: boolean;
  epoch: number | null;
  leader: { identity: string; address: string | null } | null;
  stateEpoch: number;
}

/** A token of the chart's ServiceAccount, as a replica shows it; renewed every minute. */
let operatorToken: { readonly token: string; readonly at: number } | null = null;

async function tokenOfOperator(): Promise<string> {
  // Renewed often enough that a reinstalled release (a new ServiceAccount) is not shown an old
  // token for long, seldom enough that polling does not make a TokenReview per request.
  if (operatorToken === null || Date.now() - operatorToken.at > 60_000) {
    const request = await clients().core.createNamespacedServiceAccountToken({
      namespace: NAMESPACE,
      name: FULLNAME,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const token = request.status?.token;
    if (!token) throw new Error(`no token for ServiceAccount ${NAMESPACE}/${FULLNAME}`);
    operatorToken = { token, at: Date.now() };
  }
  return operatorToken.token;
}

/** The replica's HA status, from its internal API with the operator's own token. */
export async function haStatus(replica: Replica): Promise<HaStatus> {
  const authorization = `Bearer ${await tokenOfOperator()}`;
  try {
    return await getJson<HaStatus>(`${replica.internalUrl}/internal/v1/ha`, { authorization });
  } catch (error) {
    // A release installed again has a new ServiceAccount: ask again with a token of it.
    operatorToken = null;
    throw error;
  }
}

export interface Leader {
  readonly replica: Replica;
  readonly identity: string;
  readonly epoch: number;
  readonly followers: Replica[];
}

/**
 * The leader once everything agrees: the Lease names it, it says it leads, and every other
 * ready replica names it as the leader.
 */
export async function currentLeader(target: Target, timeoutMs = 60_000): Promise<Leader> {
  return waitFor(
    "one leader, named by the Lease and by every replica",
    async () => {
      const holder = await leaseHolder(NAMESPACE, LEASE_NAME);
      if (!holder) return undefined;
      const replicas = await target.replicas();
      const replica = replicas.find((r) => r.pod === podOfIdentity(holder));
      if (!replica) return undefined;
      const statuses = await Promise.all(replicas.map((r) => haStatus(r)));
      const own = statuses[replicas.indexOf(replica)] as HaStatus;
      if (!own.leading || own.identity !== holder || own.epoch === null) return undefined;
      if (!statuses.every((s) => s.leader?.identity === holder)) return undefined;
      if (statuses.filter((s) => s.leading).length !== 1) return undefined;
      return {
        replica,
        identity: holder,
        epoch: own.epoch,
        followers: replicas.filter((r) => r !== replica),
      };
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** The newest snapshot in the state ConfigMaps (every shard; the highest epoch and sequence). */
export async function latestSnapshots(): Promise<Snapshot[]> {
  const list = await clients().core.listNamespacedConfigMap({
    namespace: NAMESPACE,
    labelSelector: `${STATE_LABEL}=${STATE_PREFIX}`,
  });
  return list.items
    .map((cm) => cm.data?.[SNAPSHOT_KEY])
    .filter((text): text is string => typeof text === "string")
    .map((text) => decodeSnapshot(text));
}

/** The state of one service in the state ConfigMaps, with the snapshot's epoch and sequence. */
export async function storedState(service: string) {
  for (const snapshot of await latestSnapshots()) {
    const state = snapshot.services[service];
    if (state) return { epoch: snapshot.epoch, sequence: snapshot.sequence, state };
  }
  return undefined;
}

/** Open connections per endpoint of a service, as a replica's /metrics counts them. */
export async function connectionCounts(
  replica: Replica,
  service: string,
): Promise<Record<string, number>> {
  const response = await fetch(`${replica.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  const result: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match =
      /^konsul_lb_instance_connections\{service="([^"]+)",instance="([^"]+)"\} (\d+)/.exec(line);
    if (match && match[1] === service && Number(match[3]) > 0) {
      result[match[2] as string] = Number(match[3]);
    }
  }
  return result;
}
