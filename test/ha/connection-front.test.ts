import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BalancerManager, type ServiceEndpoints } from "../../src/balancer/manager.ts";
import { ConnectionFront, type ConnectionTerms } from "../../src/ha/connection-front.ts";
import type { ReconcileRequest } from "../../src/ha/reconcile-request.ts";
import type { ApiError } from "../../src/http/errors.ts";
import { endpoints } from "../balancer/fixtures.ts";

const quiet = { info: () => {}, warn: () => {} };
const SERVICE: ServiceEndpoints = { key: "shop/web", version: 1, endpoints: endpoints(3) };
const record = (id: string, identity = "ep-0") => ({
  id,
  service: SERVICE.key,
  identity,
  expiresAt: 1_000_000,
});

const fronts: ConnectionFront[] = [];

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A stand-in next leader that takes every reconcile at once, keeps the bodies it was handed, and
 * answers after `answerDelayMs`.
 */
async function acceptingLeader(answerDelayMs = 0) {
  const handed: ReconcileRequest[] = [];
  const next = await serve((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      handed.push(JSON.parse(body));
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      }, answerDelayMs);
    });
  });
  return { handed, next };
}

function setup(leading: boolean, leaderAddress: string | null = null, terms?: ConnectionTerms) {
  const manager = new BalancerManager({ now: () => 1_000 });
  const state = { leading };
  const front = new ConnectionFront({
    manager,
    identity: "me",
    isLeader: () => state.leading,
    leader: () => (leaderAddress === null ? null : { identity: "leader", address: leaderAddress }),
    forwardTimeoutMs: 500,
    trustProxy: () => false,
    credentials: () => ({ authorization: "Bearer replica-token" }),
    logger: quiet,
    now: () => 1_000,
    ...(terms ? { connectionTerms: (key: string) => (key === SERVICE.key ? terms : null) } : {}),
  });
  fronts.push(front);
  return { manager, front, state };
}

afterEach(() => {
  for (const front of fronts.splice(0)) front.stop();
});

describe("ConnectionFront", () => {
  it("a follower keeps what it did without a leader until one acknowledges it", () => {
    const { manager, front } = setup(false);
    const a = manager.openConnection(SERVICE, {}, 60_000);
    const b = manager.openConnection(SERVICE, {}, 60_000);
    // Opened and released here while no leader listened: nobody else needs to hear of it.
    manager.closeConnection(b.id);
    expect(front.pendingCounts()).toEqual({ opens: 1, closes: 0, unacknowledged: 1 });
    expect(front.pendingSample()).toEqual({
      opens: [{ id: a.id, service: SERVICE.key, acknowledged: false }],
      closes: [],
    });
    // A snapshot without it does not make it go away: the leader has not heard of it yet.
    const merged = front.merge(SERVICE.key, [record("x")], []);
    expect(merged.map((c) => c.id).sort()).toEqual([a.id, "x"].sort());
  });

  it("forwards to the leader and settles each change once a snapshot shows it", async () => {
    // A stand-in leader: answers opens and releases as the real one does.
    let opened = 0;
    const seen: string[] = [];
    const leader = await serve((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      if (req.method === "POST") {
        opened++;
        res.writeHead(201, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: `o${opened}`,
            service: { namespace: "shop", name: "web" },
            endpoint: { identity: "ep-1" },
            expiresAt: new Date(1_000_000).toISOString(),
          }),
        );
      } else {
        res.writeHead(204);
        res.end();
      }
    });
    const { manager, front } = setup(false, leader.url);
    const follower = await serve((req, res) => {
      if (!front.handle(req, res, () => res.writeHead(599).end())) res.writeHead(598).end();
    });
    try {
      for (let i = 0; i < 2; i++) {
        const reply = await fetch(`${follower.url}/v1/services/shop/web/connections`, {
          method: "POST",
        });
        expect(reply.status).toBe(201);
      }
      manager.restoreConnection(record("c1"));
      expect((await fetch(`${follower.url}/v1/connections/c1`, { method: "DELETE" })).status).toBe(
        204,
      );
      // Counted here at once, before any snapshot.
      expect(manager.connectionCounts(SERVICE.key).get("ep-1")).toBe(2);
      expect(front.pendingCounts()).toEqual({ opens: 2, closes: 1, unacknowledged: 0 });
      // To the leader's internal routes, with this replica's token.
      expect(seen).toEqual([
        "POST /internal/v1/services/shop/web/connections?client-ip=127.0.0.1 Bearer replica-token",
        "POST /internal/v1/services/shop/web/connections?client-ip=127.0.0.1 Bearer replica-token",
        "DELETE /internal/v1/connections/c1 Bearer replica-token",
      ]);
      // An older snapshot: o1, o2 not in it yet, c1 still listed.
      let merged = front.merge(SERVICE.key, [record("c1"), record("k")], []);
      expect(merged.map((c) => c.id).sort()).toEqual(["k", "o1", "o2"]);
      // A newer one lists o1 and says o2 and c1 were released: nothing is pending any more.
      merged = front.merge(SERVICE.key, [record("o1"), record("k")], ["o2", "c1"]);
      expect(merged.map((c) => c.id).sort()).toEqual(["k", "o1"]);
      expect(front.pendingCounts()).toEqual({ opens: 0, closes: 0, unacknowledged: 0 });
    } finally {
      await Promise.all([leader.close(), follower.close()]);
    }
  });

  it("relays the leader's 429 with its Retry-After", async () => {
    const leader = await serve((_req, res) => {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
      res.end('{"error":{"code":"TooManyConnections","message":"full"}}');
    });
    const { front } = setup(false, leader.url);
    const follower = await serve((req, res) => {
      front.handle(req, res, () => res.writeHead(599).end());
    });
    try {
      const reply = await fetch(`${follower.url}/v1/services/shop/web/connections`, {
        method: "POST",
      });
      expect(reply.status).toBe(429);
      expect(reply.headers.get("retry-after")).toBe("1");
      expect(((await reply.json()) as any).error.code).toBe("TooManyConnections");
    } finally {
      await Promise.all([leader.close(), follower.close()]);
    }
  });

  it("answers from its own state when the leader refuses its token", async () => {
    const leader = await serve((_req, res) => {
      res.writeHead(403, { "content-type": "application/json" });
      res.end('{"error":{"code":"Forbidden","message":"no"}}');
    });
    const { front } = setup(false, leader.url);
    let local = 0;
    const follower = await serve((req, res) => {
      front.handle(req, res, () => {
        local++;
        res.writeHead(201).end();
      });
    });
    try {
      const reply = await fetch(`${follower.url}/v1/services/shop/web/connections`, {
        method: "POST",
      });
      expect(reply.status).toBe(201);
      expect(local).toBe(1);
    } finally {
      await Promise.all([leader.close(), follower.close()]);
    }
  });

  it("answers from its own state when the leader does not answer", async () => {
    const { front } = setup(false, "http://127.0.0.1:9");
    let local = 0;
    const follower = await serve((req, res) => {
      front.handle(req, res, () => {
        local++;
        res.writeHead(201).end();
      });
    });
    try {
      const reply = await fetch(`${follower.url}/v1/services/shop/web/connections`, {
        method: "POST",
      });
      expect(reply.status).toBe(201);
      expect(local).toBe(1);
    } finally {
      await follower.close();
    }
  });

  it("a leader applies releases before opens and refuses opens of released ids", () => {
    const { manager, front } = setup(true);
    const mine = manager.openConnection(SERVICE, {}, 60_000);
    manager.closeConnection(mine.id);
    expect(front.releasedOf(SERVICE.key)).toEqual([mine.id]);
    manager.restoreConnection(record("gone-later"));
    const result = front.applyReconcile({
      from: "f",
      opens: [record(mine.id), record("new", "ep-2"), record("gone-later"), record("late")],
      closes: ["late", "gone-later"],
    });
    expect(result).toEqual({ opened: 1, closed: 1 });
    expect(Object.fromEntries(manager.connectionCounts(SERVICE.key))).toEqual({ "ep-2": 1 });
  });

  it("a new leader takes its predecessor's released ids as tombstones", () => {
    const { manager, front, state } = setup(false);
    state.leading = true;
    front.becameLeader(new Map([[SERVICE.key, ["r1"]]]));
    expect(
      front.applyReconcile({ from: "f", opens: [record("r1"), record("r2")], closes: [] }),
    ).toEqual({
      opened: 1,
      closed: 0,
    });
    expect(manager.getConnection("r1")).toBeUndefined();
    expect(front.releasedOf(SERVICE.key)).toEqual(["r1"]);
  });

  it("a follower that becomes leader keeps the opens it made while no leader answered", () => {
    const { manager, front, state } = setup(false);
    const mine = manager.openConnection(SERVICE, {}, 60_000);
    state.leading = true;
    front.becameLeader(new Map([[SERVICE.key, ["r1"]]]));
    // Taking over mirrors the predecessor's last snapshot, which never heard of it.
    const merged = front.merge(SERVICE.key, [record("x"), record("r1")], []);
    expect(merged.map((c) => c.id).sort()).toEqual([mine.id, "x"].sort());
    expect(front.pendingCounts()).toEqual({ opens: 1, closes: 0, unacknowledged: 0 });
    // Once this term has written every shard, the ConfigMaps hold it.
    front.written(2_000);
    expect(front.pendingCounts().opens).toBe(0);
  });

  it("releases of a term whose writes never landed reach the next leader, and the replica then mirrors it", async () => {
    const { handed, next } = await acceptingLeader();
    try {
      const { manager, front, state } = setup(true, next.url);
      // Leading: a connection is released, but the state write holding that never lands.
      manager.restoreConnection(record("x"));
      manager.closeConnection("x");
      // The term ends, and another term of this replica begins before anything was written.
      state.leading = false;
      state.leading = true;
      front.becameLeader();
      expect(front.pendingCounts().closes).toBe(1);
      // That term ends too; the next leader took over the last written snapshot, which lists x.
      state.leading = false;
      front.leaderChanged("leader", next.url);
      await vi.waitFor(() => expect(handed).toHaveLength(1));
      expect(handed[0]).toMatchObject({ from: "me", closes: ["x"] });
      // Until a snapshot shows the release, x stays out of this replica's view ...
      expect(front.merge(SERVICE.key, [record("x"), record("y")], []).map((c) => c.id)).toEqual([
        "y",
      ]);
      // ... and once one does, what the leader lists is what this replica counts, whatever it
      // released in a term of its own.
      expect(front.merge(SERVICE.key, [record("y")], ["x"]).map((c) => c.id)).toEqual(["y"]);
      expect(front.merge(SERVICE.key, [record("x"), record("y")], []).map((c) => c.id)).toEqual([
        "x",
        "y",
      ]);
    } finally {
      await next.close();
    }
  });

  it("an open of its own that a reconcile releases is neither taken over again nor handed on", async () => {
    const { handed, next } = await acceptingLeader();
    try {
      const { manager, front, state } = setup(false, next.url);
      // Opened here while no leader answered: pending for the next leader.
      const mine = manager.openConnection(SERVICE, {}, 60_000);
      state.leading = true;
      front.becameLeader();
      // The replica that took the client's release hands it over.
      expect(front.applyReconcile({ from: "f", opens: [], closes: [mine.id] })).toEqual({
        opened: 0,
        closed: 1,
      });
      expect(front.pendingCounts().opens).toBe(0);
      // A later term of its own takes over a snapshot that never showed the release.
      state.leading = false;
      state.leading = true;
      front.becameLeader();
      expect(front.merge(SERVICE.key, [record("y")], []).map((c) => c.id)).toEqual(["y"]);
      // Nor does a next leader hear of the open.
      state.leading = false;
      manager.openConnection(SERVICE, {}, 60_000);
      front.leaderChanged("leader", next.url);
      await vi.waitFor(() => expect(handed).toHaveLength(1));
      expect(handed[0]?.opens.map((o) => o.id)).not.toContain(mine.id);
    } finally {
      await next.close();
    }
  });

  it("a reported open stays counted when the take-over's snapshot, read after it, never listed it", () => {
    const { manager, front, state } = setup(false);
    state.leading = true;
    front.becameLeader();
    expect(front.applyReconcile({ from: "f", opens: [record("reported")], closes: [] })).toEqual({
      opened: 1,
      closed: 0,
    });
    // The predecessor's last snapshot, mirrored once more as the take-over completes.
    const merged = front.merge(SERVICE.key, [record("x")], []);
    expect(merged.map((c) => c.id).sort()).toEqual(["reported", "x"]);
    expect(manager.getConnection("reported")).toBeDefined();
    // Once this term has written every shard, the ConfigMaps hold it.
    front.written(2_000);
    expect(front.pendingCounts().opens).toBe(0);
  });

  it("a refused open under the id of its own unanswered forward is released for good", () => {
    // This replica forwarded an open, no leader answered, it came to lead and answered the
    // client itself; the state write was refused, so the client was told 503.
    const { manager, front } = setup(true);
    front.becameLeader();
    const refused = manager.openConnection(SERVICE, {}, 60_000);
    manager.closeConnection(refused.id);
    expect(front.releasedOf(SERVICE.key)).toEqual([refused.id]);
    expect(front.pendingCounts()).toEqual({ opens: 0, closes: 1, unacknowledged: 0 });
    // The leader the forward reached counted it; its report of the id does not bring it back.
    expect(front.applyReconcile({ from: "f", opens: [record(refused.id)], closes: [] })).toEqual({
      opened: 0,
      closed: 0,
    });
    expect(manager.getConnection(refused.id)).toBeUndefined();
  });

  it("a follower refuses a reconcile: only the leader's table counts", () => {
    const { front } = setup(false);
    let refusal: ApiError | undefined;
    try {
      front.reconcileBody({ from: "x", opens: [], closes: [] });
    } catch (error) {
      refusal = error as ApiError;
    }
    expect(refusal?.status).toBe(409);
    expect(refusal?.code).toBe("NotLeader");
  });

  it("a leader checks what it is handed: shape, size, known endpoints, expiry", () => {
    const { manager, front } = setup(true, null, {
      hasEndpoint: (identity) => identity !== "ep-9",
      timeoutMs: 30_000,
    });
    const refused = (body: unknown) => {
      try {
        front.reconcileBody(body);
      } catch (error) {
        return `${(error as ApiError).status} ${(error as ApiError).message}`;
      }
      return "accepted";
    };
    expect(refused({ from: "f", opens: [{ ...record("a"), expiresAt: "soon" }], closes: [] })).toBe(
      '400 opens[0].expiresAt: "soon" is not allowed; expected milliseconds since the epoch',
    );
    expect(refused({ from: "f", opens: [], closes: ["bad id"] })).toMatch(/^400 closes\[0\]/);
    expect(refused({ from: "f", opens: [], closes: Array(50_001).fill("x") })).toMatch(/^413 /);
    expect(refused({ opens: [], closes: [] })).toMatch(/^400 from:/);
    // A known endpoint is counted, expiring no later than the timeout; an unknown one is not.
    const result = front.reconcileBody({
      from: "f",
      opens: [{ ...record("far"), expiresAt: 10_000_000 }, record("ghost", "ep-9")],
      closes: [],
    });
    expect(result).toEqual({ opened: 1, closed: 0 });
    expect(manager.getConnection("far")?.expiresAt).toBe(1_000 + 30_000);
    expect(manager.getConnection("ghost")).toBeUndefined();
  });

  it("a replica that does not lead refuses forwarded changes: a forward it is too late for is not counted twice", () => {
    // The leader was paused past its renew deadline with a forwarded open in its socket; the
    // follower gave up and answered the client itself. Counting it here too would count it twice.
    const { manager, front } = setup(false, "http://127.0.0.1:9");
    for (const released of [null, "c1"]) {
      let refusal: unknown;
      try {
        front.acceptForwarded(released);
      } catch (error) {
        refusal = error;
      }
      expect((refusal as ApiError).code).toBe("NotLeader");
      expect((refusal as ApiError).status).toBe(409);
    }
    expect(manager.connectionCounts(SERVICE.key).size).toBe(0);
    expect(front.pendingCounts()).toEqual({ opens: 0, closes: 0, unacknowledged: 0 });
  });

  it("a follower whose forward is refused as not the leader's answers from its own state", async () => {
    const former = await serve((_req, res) => {
      res.writeHead(409, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "NotLeader", message: "not the leader" } }));
    });
    const { front } = setup(false, former.url);
    let local = 0;
    const follower = await serve((req, res) => {
      front.handle(req, res, () => {
        local++;
        res.writeHead(201).end();
      });
    });
    try {
      const reply = await fetch(`${follower.url}/v1/services/shop/web/connections`, {
        method: "POST",
      });
      expect(reply.status).toBe(201);
      expect(local).toBe(1);
    } finally {
      await Promise.all([former.close(), follower.close()]);
    }
  });

  it("a release of an id this replica does not know is remembered, so its open cannot come back", async () => {
    // Another replica may still hold the connection in changes not handed over (an open answered
    // during a failover): the release must reach the next leader and outweigh that open.
    const follower = setup(false);
    const handled = await serve((req, res) => {
      if (!follower.front.handle(req, res, () => {})) res.writeHead(404).end();
    });
    try {
      const reply = await fetch(`${handled.url}/v1/connections/held-elsewhere`, {
        method: "DELETE",
      });
      expect(reply.status).toBe(404);
      expect(follower.front.pendingCounts()).toEqual({ opens: 0, closes: 1, unacknowledged: 1 });
      // Hidden from snapshots meanwhile, like any release made here.
      expect(follower.front.merge(SERVICE.key, [record("held-elsewhere")], [])).toEqual([]);
    } finally {
      await handled.close();
    }

    const leader = setup(true);
    const served = await serve((req, res) => {
      if (!leader.front.handle(req, res, () => {})) res.writeHead(404).end();
    });
    try {
      const reply = await fetch(`${served.url}/v1/connections/late`, { method: "DELETE" });
      expect(reply.status).toBe(404);
      expect(
        leader.front.applyReconcile({ from: "f", opens: [record("late")], closes: [] }),
      ).toEqual({ opened: 0, closed: 0 });
      expect(leader.manager.getConnection("late")).toBeUndefined();
      // The refused open named its service: the release is written into that service's
      // snapshots, so the replica that reported it stops counting it too.
      expect(leader.front.releasedOf(SERVICE.key)).toEqual(["late"]);
    } finally {
      await served.close();
    }
  });

  it("keeps what a leader acknowledged however long no snapshot shows it, and forgets it once written", () => {
    // The API server is away for a minute: the leader's renew deadline passes while its last
    // changes are not written. It must still hand them to whoever leads next.
    vi.useFakeTimers();
    try {
      const manager = new BalancerManager({ now: () => Date.now() });
      const state = { leading: true };
      const front = new ConnectionFront({
        manager,
        identity: "me",
        isLeader: () => state.leading,
        leader: () => null,
        trustProxy: () => false,
        logger: quiet,
        retentionMs: 5_000,
      });
      fronts.push(front);
      const kept = manager.openConnection(SERVICE, {}, 3_600_000);
      const released = manager.openConnection(SERVICE, {}, 3_600_000);
      manager.closeConnection(released.id);
      expect(front.pendingCounts()).toEqual({ opens: 1, closes: 1, unacknowledged: 0 });
      state.leading = false;
      vi.advanceTimersByTime(60_000);
      expect(front.pendingCounts()).toEqual({ opens: 1, closes: 1, unacknowledged: 0 });

      // Leading, a pass that began after a change was made settles it; one before does not.
      state.leading = true;
      const later = manager.openConnection(SERVICE, {}, 3_600_000);
      front.written(Date.now());
      expect(front.pendingCounts()).toEqual({ opens: 1, closes: 0, unacknowledged: 0 });
      vi.advanceTimersByTime(1);
      front.written(Date.now());
      expect(front.pendingCounts()).toEqual({ opens: 0, closes: 0, unacknowledged: 0 });
      expect(manager.getConnection(kept.id)).toBeDefined();
      expect(manager.getConnection(later.id)).toBeDefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps a release of an unknown id until a leader takes it, however long the failover lasts", async () => {
    vi.useFakeTimers();
    try {
      const manager = new BalancerManager({ now: () => Date.now() });
      const front = new ConnectionFront({
        manager,
        identity: "me",
        isLeader: () => false,
        leader: () => null,
        trustProxy: () => false,
        logger: quiet,
        retentionMs: 5_000,
      });
      fronts.push(front);
      const answered = new Promise<boolean>((resolve) => {
        const req = { method: "DELETE", url: "/v1/connections/held-elsewhere", headers: {} };
        resolve(front.handle(req as IncomingMessage, {} as ServerResponse, () => {}));
      });
      expect(await answered).toBe(false);
      expect(front.pendingCounts()).toEqual({ opens: 0, closes: 1, unacknowledged: 1 });
      // The API server is away for a minute: no leader to take it, and it is still kept.
      vi.advanceTimersByTime(60_000);
      expect(front.pendingCounts()).toEqual({ opens: 0, closes: 1, unacknowledged: 1 });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("a forwarded open the leader answers too late", () => {
  it("is counted once: the forward and this replica's own answer carry the same id", async () => {
    // A leader so slow that the follower gives up on it (forwardTimeoutMs 500) and answers
    // itself; the leader counts the open all the same, under the id the forward carried.
    const leaderManager = new BalancerManager({ now: () => 1_000 });
    const carried: (string | undefined)[] = [];
    const leader = await serve((req, res) => {
      const id = req.headers["konsul-lb-connection-id"] as string | undefined;
      carried.push(id);
      const opened = leaderManager.openConnection(SERVICE, { connectionId: id }, 60_000);
      setTimeout(() => {
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: opened.id }));
      }, 800);
    });
    const { manager, front } = setup(false, leader.url);
    let localId: string | undefined;
    const follower = await serve((req, res) => {
      const local = () => {
        // What the app does with an open handed back: counts it under the id given.
        localId = front.localIdOf(req);
        const opened = manager.openConnection(SERVICE, { connectionId: localId }, 60_000);
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: opened.id }));
      };
      if (!front.handle(req, res, local)) res.writeHead(598).end();
    });
    try {
      const reply = await fetch(`${follower.url}/v1/services/shop/web/connections`, {
        method: "POST",
      });
      expect(reply.status).toBe(201);
      const { id } = (await reply.json()) as { id: string };
      expect(carried).toEqual([id]);
      expect(localId).toBe(id);
      // The follower's pending open reaches the leader: the same id, counted once there.
      const pending = manager.exportConnections(SERVICE.key);
      const leaderFront = new ConnectionFront({
        manager: leaderManager,
        identity: "leader",
        isLeader: () => true,
        leader: () => null,
        trustProxy: () => false,
        logger: quiet,
        now: () => 1_000,
      });
      fronts.push(leaderFront);
      leaderFront.applyReconcile({ from: "me", opens: pending, closes: [] });
      const total = [...leaderManager.connectionCounts(SERVICE.key).values()].reduce(
        (a, b) => a + b,
        0,
      );
      expect(total).toBe(1);
      expect(leaderManager.getConnection(id)).toBeDefined();
    } finally {
      await follower.close();
      await leader.close();
    }
  });

  it("an open under an id already counted replaces it rather than counting it twice", () => {
    const manager = new BalancerManager({ now: () => 1_000 });
    manager.openConnection(SERVICE, { connectionId: "same" }, 60_000);
    manager.openConnection(SERVICE, { connectionId: "same" }, 60_000);
    const total = [...manager.connectionCounts(SERVICE.key).values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(1);
    expect(manager.getConnection("same")).toBeDefined();
  });
});

describe("an open handed to a new leader and released before its answer", () => {
  it("sends the release on: the leader may count the open already", async () => {
    // A new leader that takes the reconcile at once but answers it late.
    const { handed: received, next: leader } = await acceptingLeader(300);
    const { manager, front } = setup(false, leader.url);
    try {
      // Opened here while no leader answered (a failover's gap).
      const { id } = manager.openConnection(SERVICE, {}, 60_000);
      front.leaderChanged("leader", leader.url);
      await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 2_000 });
      // The client releases it before the leader's answer is back.
      expect(manager.closeConnection(id)).toBe(true);
      expect(front.pendingCounts().closes).toBe(1);
      // And the release reaches the leader in the next reconcile.
      await vi.waitFor(() => expect(received.some((r) => r.closes.includes(id))).toBe(true), {
        timeout: 5_000,
      });
    } finally {
      await leader.close();
    }
  });
});

describe("a hand-over answered after this replica began to lead", () => {
  it("does not count as made to that leader: what this replica's term did still reaches it", async () => {
    // The leader takes the hand-over at once but its answer arrives late.
    const { handed: received, next: leader } = await acceptingLeader(300);
    const { manager, front, state } = setup(false, leader.url);
    try {
      // Opened here while no leader answered; handed to the leader on the Lease, once when it
      // shows up there and once more by the retry that the open itself scheduled.
      manager.openConnection(SERVICE, {}, 60_000);
      front.leaderChanged("leader", leader.url);
      await vi.waitFor(() => expect(received).toHaveLength(2), { timeout: 3_000 });
      // Before the answer arrives, this replica leads, and releases a connection it counts; the
      // state write holding that release never lands.
      state.leading = true;
      front.becameLeader();
      manager.restoreConnection(record("x"));
      manager.closeConnection("x");
      // The late answer to the hand-over arrives.
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The term ends; the same replica as before takes the Lease back.
      state.leading = false;
      front.leaderChanged("leader", leader.url);
      await vi.waitFor(() => expect(received.some((r) => r.closes.includes("x"))).toBe(true), {
        timeout: 3_000,
      });
    } finally {
      await leader.close();
    }
  });
});

describe("a term that ends", () => {
  it("hands what it did to the leader already on the Lease", async () => {
    const { handed, next } = await acceptingLeader();
    try {
      const { manager, front, state } = setup(true, next.url);
      front.becameLeader();
      manager.restoreConnection(record("x"));
      manager.closeConnection("x");
      // The term ends after the Lease already showed the next leader: no change of leader is
      // seen any more, and nothing else would hand the release over.
      state.leading = false;
      front.steppedDown();
      await vi.waitFor(() => expect(handed).toHaveLength(1));
      expect(handed[0]).toMatchObject({ from: "me", closes: ["x"] });
    } finally {
      await next.close();
    }
  });
});

describe("a Lease that still names this replica after its term", () => {
  it("is no leader to hand changes to: nothing is sent to itself, and the next leader gets them", async () => {
    const { handed, next } = await acceptingLeader();
    try {
      const manager = new BalancerManager({ now: () => 1_000 });
      // The Lease still shows this replica (its own address) until another takes it.
      const holder = { current: { identity: "me", address: next.url } };
      const front = new ConnectionFront({
        manager,
        identity: "me",
        isLeader: () => false,
        leader: () => holder.current,
        forwardTimeoutMs: 500,
        trustProxy: () => false,
        credentials: () => ({ authorization: "Bearer replica-token" }),
        logger: quiet,
        now: () => 1_000,
      });
      fronts.push(front);
      manager.restoreConnection(record("x"));
      manager.closeConnection("x");
      // Two retry periods with the Lease naming this replica: a hand-over to itself would be
      // refused as "not the leader" and retried without end.
      await new Promise((resolve) => setTimeout(resolve, 2_300));
      expect(handed).toHaveLength(0);
      holder.current = { identity: "leader", address: next.url };
      await vi.waitFor(() => expect(handed).toHaveLength(1), { timeout: 3_000 });
      expect(handed[0]).toMatchObject({ from: "me", closes: ["x"] });
    } finally {
      await next.close();
    }
  });
});

describe("a release the leader's snapshots still list long after it was acknowledged", () => {
  it("is handed over again, and the replica then mirrors the leader", async () => {
    const { handed, next } = await acceptingLeader();
    const clock = { now: 1_000 };
    const state = { leading: true };
    const manager = new BalancerManager({ now: () => clock.now });
    const warnings: string[] = [];
    const onLease = { identity: "me" };
    const front = new ConnectionFront({
      manager,
      identity: "me",
      isLeader: () => state.leading,
      leader: () => ({ identity: onLease.identity, address: next.url }),
      trustProxy: () => false,
      logger: {
        info: () => {},
        warn: (_fields: unknown, message: string) => warnings.push(message),
      },
      retentionMs: 5_000,
      repairAfterMs: 5_000,
      now: () => clock.now,
    });
    fronts.push(front);
    try {
      // Released while leading; the term ends, and the next leader never heard of it.
      front.becameLeader();
      manager.restoreConnection(record("x"));
      manager.closeConnection("x");
      state.leading = false;
      const sweep = () => (front as unknown as { sweep(): void }).sweep();
      // Within the repair time a snapshot that lists it may simply be older than the release.
      clock.now += 4_000;
      expect(front.merge(SERVICE.key, [record("x")], []).map((c) => c.id)).toEqual([]);
      sweep();
      expect(warnings).toEqual([]);
      // Long after, but with no other leader on the Lease yet, there is no one to hand it to.
      clock.now += 4_000;
      front.merge(SERVICE.key, [record("x")], []);
      sweep();
      expect(warnings).toEqual([]);
      clock.now -= 4_000;
      // Handed to the next leader when it shows up: a snapshot that still lists it right after
      // may have been written before that leader took it.
      onLease.identity = "leader";
      front.leaderChanged("leader", next.url);
      await vi.waitFor(() => expect(handed).toHaveLength(1), { timeout: 3_000 });
      clock.now += 2_000;
      expect(front.merge(SERVICE.key, [record("x")], []).map((c) => c.id)).toEqual([]);
      sweep();
      expect(warnings).toEqual([]);
      // Long after, a latest snapshot that no longer lists it asks for nothing ...
      clock.now += 5_000;
      front.merge(SERVICE.key, [record("y")], []);
      sweep();
      expect(warnings).toEqual([]);
      // ... but one that still lists it does: the release goes to the leader again.
      expect(front.merge(SERVICE.key, [record("x")], []).map((c) => c.id)).toEqual([]);
      sweep();
      expect(warnings).toHaveLength(1);
      await vi.waitFor(() => expect(handed).toHaveLength(2), { timeout: 3_000 });
      expect(handed[1]?.closes).toEqual(["x"]);
      await vi.waitFor(() => expect(front.pendingCounts().unacknowledged).toBe(0));
      // The leader lists it among the released: settled, and the view is the leader's again.
      expect(front.merge(SERVICE.key, [record("y")], ["x"]).map((c) => c.id)).toEqual(["y"]);
      expect(front.pendingCounts()).toEqual({ opens: 0, closes: 0, unacknowledged: 0 });
    } finally {
      await next.close();
    }
  });
});

describe("a leader's released ids", () => {
  it("refuse a late report of the open for as long as the connection could live", () => {
    // A follower whose watch was cut holds an acknowledged open without seeing the release, and
    // reports it to the leader long after the tombstone time: it must not count again.
    let clock = 1_000;
    const manager = new BalancerManager({ now: () => clock });
    const leader = new ConnectionFront({
      manager,
      identity: "leader",
      isLeader: () => true,
      leader: () => null,
      trustProxy: () => false,
      logger: quiet,
      tombstoneMs: 1_000,
      now: () => clock,
    });
    fronts.push(leader);
    const opened = manager.openConnection(SERVICE, {}, 60_000);
    const record = manager.getConnection(opened.id);
    expect(manager.closeConnection(opened.id)).toBe(true);
    clock += 30_000;
    (leader as unknown as { sweep(): void }).sweep();
    leader.applyReconcile({ from: "follower", opens: [record as never], closes: [] });
    expect(manager.getConnection(opened.id)).toBeUndefined();
    expect(leader.releasedOf(SERVICE.key)).toContain(opened.id);
    // Once it would have expired, the id is forgotten: a report then is refused as expired.
    clock += 31_000;
    (leader as unknown as { sweep(): void }).sweep();
    expect(leader.releasedOf(SERVICE.key)).not.toContain(opened.id);
    leader.applyReconcile({ from: "follower", opens: [record as never], closes: [] });
    expect(manager.getConnection(opened.id)).toBeUndefined();
  });
});
