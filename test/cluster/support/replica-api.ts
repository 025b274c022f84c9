// What the HA fault suite asks of a running `konsul-lb serve` replica, in one place: its HA
// status, connection opens and releases, picks, and its connection counts. Where a route lives
// (public or internal port) and how it is called is decided here and nowhere else.

import { pathOf } from "../../../src/http/routes.ts";

const STATUS_PATH = pathOf("haStatus", {});

/** A replica as this module reaches it. */
export interface ReplicaAddress {
  /** Base URL of the public HTTP API. */
  readonly url: string;
  /** Base URL of the internal API (replica to replica), where the HA status is served. */
  readonly internalUrl: string | null;
  /** A token of the operator's ServiceAccount: the only caller the internal API admits. */
  readonly token: string;
}

export interface HaStatus {
  readonly identity: string;
  readonly leading: boolean;
  readonly epoch: number | null;
  readonly leader: { identity: string; address: string | null } | null;
  readonly stateEpoch: number;
  readonly pending: { opens: number; closes: number; unacknowledged: number };
  /** Up to 20 of each kind of pending change, by id (what a replica disagreeing with the leader waits for). */
  readonly pendingSample?: {
    readonly opens: readonly { id: string; service: string; acknowledged: boolean }[];
    readonly closes: readonly { id: string; service: string | null; acknowledged: boolean }[];
  };
}

/** A request that got no answer in time (a paused replica, a dead one) rejects with this. */
export const DEFAULT_TIMEOUT_MS = 4_000;

export async function haStatus(
  replica: ReplicaAddress,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<HaStatus> {
  const response = await fetch(`${replica.internalUrl}${STATUS_PATH}`, {
    headers: { authorization: `Bearer ${replica.token}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status !== 200) throw new Error(`${STATUS_PATH} answered ${response.status}`);
  return (await response.json()) as HaStatus;
}

/** The answer to an open: the status, and on 201 the connection's id and endpoint. */
export interface OpenAnswer {
  readonly status: number;
  readonly id: string | null;
  readonly identity: string | null;
}

export async function open(
  replica: ReplicaAddress,
  serviceKey: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<OpenAnswer> {
  const response = await fetch(`${replica.url}/v1/services/${serviceKey}/connections`, {
    method: "POST",
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status !== 201) {
    await response.body?.cancel();
    return { status: response.status, id: null, identity: null };
  }
  const body = (await response.json()) as { id: string; endpoint: { identity: string } };
  return { status: 201, id: body.id, identity: body.endpoint.identity };
}

/** The status of a release: 204 released, 404 unknown (or released before). */
export async function release(
  replica: ReplicaAddress,
  id: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<number> {
  const response = await fetch(`${replica.url}/v1/connections/${encodeURIComponent(id)}`, {
    method: "DELETE",
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.body?.cancel();
  return response.status;
}

/** The endpoint identity a pick chose, or null with the status when it did not answer 200. */
export async function pick(
  replica: ReplicaAddress,
  serviceKey: string,
  query: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<{ status: number; identity: string | null }> {
  const response = await fetch(`${replica.url}/v1/services/${serviceKey}/pick?${query}`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    return { status: response.status, identity: null };
  }
  const body = (await response.json()) as { endpoint: { identity: string } };
  return { status: 200, identity: body.endpoint.identity };
}

/** Open connections of one service per endpoint identity, as a replica's metrics count them. */
export async function connectionCounts(
  replica: ReplicaAddress,
  serviceKey: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<Record<string, number>> {
  const response = await fetch(`${replica.url}/metrics`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  const result: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match =
      /^konsul_lb_instance_connections\{service="([^"]+)",instance="([^"]+)"\} (\d+)/.exec(line);
    if (match && match[1] === serviceKey && Number(match[3]) > 0) {
      result[match[2] as string] = Number(match[3]);
    }
  }
  return result;
}
