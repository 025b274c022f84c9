// The leader crashes: another replica takes the Lease within the lease bound, decisions go on
// being served meanwhile, and the leader's state (its round-robin cursor, open connections)
// carries over to its successor through the state ConfigMaps.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { key } from "./support/backends.ts";
import { leaseHolder, log, waitFor } from "./support/cluster.ts";
import { pick, type Replica } from "./support/discovery.ts";
import { LEASE_MS, LEASE_NAME, NAMESPACE, RETRY_MS, STATE_PREFIX } from "./support/env.ts";
import {
  connectionCounts,
  currentLeader,
  haStatus,
  type Leader,
  storedState,
} from "./support/release.ts";
import { target } from "./support/target.ts";

const t = target();
// Requests, process starts and watches on a loaded two-core machine take their time; a kind
// cluster adds the kubelet's and the port-forwards' share.
const SLACK_MS = t.mode === "local" ? 2_000 : 5_000;

let leader: Leader;

beforeAll(async () => {
  leader = await currentLeader(t);
});
afterAll(() => t.close());

async function open(replica: Replica, service: string): Promise<{ id: string; identity: string }> {
  const response = await fetch(
    `${replica.url}/v1/services/${service}/connections?lb=least-connections`,
    { method: "POST" },
  );
  expect(response.status).toBe(201);
  const body = (await response.json()) as { id: string; endpoint: { identity: string } };
  return { id: body.id, identity: body.endpoint.identity };
}

async function release(replica: Replica, id: string): Promise<number> {
  const response = await fetch(`${replica.url}/v1/connections/${id}`, { method: "DELETE" });
  await response.body?.cancel();
  return response.status;
}

describe(`leader failover (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`, () => {
  it("kill the leader: a new holder within lease + retry period, answers throughout, state carried", async () => {
    const web = key("web");
    const search = key("search");
    log(`leader ${leader.identity} (epoch ${leader.epoch}) as pod ${leader.replica.pod}`);

    // State for the successor: the leader's round-robin rotation of web, moved by picks on the
    // leader itself, and connections opened through a follower (counted by the leader).
    for (let i = 0; i < 4; i++) await pick(leader.replica.url, web);
    const follower = leader.followers[0] as Replica;
    const opened = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const { id, identity } = await open(follower, search);
      opened.set(id, identity);
    }
    const counted: Record<string, number> = {};
    for (const identity of opened.values()) counted[identity] = (counted[identity] ?? 0) + 1;
    expect(await connectionCounts(leader.replica, search)).toEqual(counted);

    // The leader's last word: a snapshot of its epoch with the six connections and web's
    // cursor, written after the picks (the state interval is 500 ms). Nothing moves web's
    // rotation on the leader after this, so the snapshot read a second later is its last.
    const cursorOf = async () =>
      (
        (await storedState(web))?.state.pickers?.["round-robin|healthy"] as
          | { cursor?: string }
          | undefined
      )?.cursor;
    await waitFor(
      `a snapshot of epoch ${leader.epoch} in ${STATE_PREFIX}-* with web's cursor and six connections`,
      async () => {
        const stored = await storedState(search);
        const connections = Object.values(stored?.state.connections ?? {}).flat().length;
        return stored?.epoch === leader.epoch && connections === 6 && (await cursorOf())
          ? true
          : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const cursor = await cursorOf();
    expect(cursor).toBeDefined();
    log(`web's rotation continues at ${cursor}`);

    // Answers go on while there is no leader: followers serve from their own catalog.
    const survivors = leader.followers;
    let serving = true;
    const failures: string[] = [];
    let served = 0;
    const traffic = survivors.map(async (replica) => {
      while (serving) {
        try {
          await pick(replica.url, key("payments"), "client-region=eu-west");
          await pick(replica.url, key("cart"), "session-key=user-1");
          served += 2;
        } catch (error) {
          failures.push(`${replica.pod}: ${error}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    });

    const killedAt = Date.now();
    await t.crash(leader.replica.pod);
    const next = await waitFor(
      "a new Lease holder that says it leads",
      async () => {
        const holder = await leaseHolder(NAMESPACE, LEASE_NAME);
        if (!holder || holder === leader.identity) return undefined;
        for (const replica of survivors) {
          const status = await haStatus(replica).catch(() => undefined);
          if (status?.leading && status.identity === holder)
            return { replica, holder, at: Date.now() };
        }
        return undefined;
      },
      { timeoutMs: LEASE_MS + RETRY_MS + SLACK_MS + 10_000, intervalMs: 50 },
    );
    const took = next.at - killedAt;
    serving = false;
    await Promise.all(traffic);
    log(`new leader ${next.holder} ${took} ms after the kill; ${served} answers meanwhile`);
    expect(took).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + SLACK_MS);
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(0);

    // The rotation continues where the old leader's snapshot left it.
    expect((await pick(next.replica.url, web)).endpoint.identity).toBe(cursor);
    // The connections are the new leader's to count, and released exactly once, through anyone.
    await waitFor("the new leader to count the six connections", async () => {
      const counts = await connectionCounts(next.replica, search);
      return JSON.stringify(counts) === JSON.stringify(counted) ? true : undefined;
    });
    // Released within the connections' 30 s timeout, through the surviving replicas, once they
    // all know the new leader: until a follower sees it on the Lease, it answers releases itself
    // (docs/high-availability.md, "During a failover"), and two could each accept one.
    await waitFor("every survivor to name the new leader", async () => {
      const statuses = await Promise.all(survivors.map((r) => haStatus(r)));
      return statuses.every((s) => s.leader?.identity === next.holder) ? true : undefined;
    });
    let i = 0;
    for (const id of opened.keys()) {
      expect(await release(survivors[i++ % survivors.length] as Replica, id)).toBe(204);
      expect(await release(survivors[i % survivors.length] as Replica, id)).toBe(404);
    }
    expect(await connectionCounts(next.replica, search)).toEqual({});
    await waitFor(
      "the crashed replica back",
      async () => {
        const list = await t.replicas();
        return list.length === survivors.length + 1 ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    // Everyone agrees on the new leader, including the replica that came back.
    const settled = await currentLeader(t);
    expect(settled.identity).toBe(next.holder);
    expect(settled.epoch).toBeGreaterThan(leader.epoch);
  });
});
