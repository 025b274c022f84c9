import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import proxyAddr from "proxy-addr";
import type { Connection, ConnectionEvent, Replication } from "../balancer/index.ts";
import { ApiError } from "../http/errors.ts";
import { limitBroken, MAX_PUBLIC_BODY_BYTES } from "../http/limits.ts";
import { FORWARDED_CONNECTION_ID_HEADER, matchRoute, pathOf } from "../http/routes.ts";
import type { Logger } from "../shared/logger.ts";
import type { HaMetrics } from "./ha-metrics.ts";
import { askLeader, type LeaderReply, relay } from "./leader-forward.ts";
import { parseReconcile, type ReconcileRequest } from "./reconcile-request.ts";
import { ReleasedIds } from "./released-ids.ts";
import type { LocalConnectionChanges } from "./snapshot-reader.ts";

/**
 * Counted connections (least-connections) with several replicas. The leader's connection table
 * is the only one that counts; a follower forwards each open and release it receives to the
 * leader (found on the Lease) and answers with the leader's reply, so a connection is counted
 * once whichever replica opened it and can be released through any replica.
 *
 * Forwards go to the leader's internal API (its own port, published on the Lease, every call
 * carrying this replica's ServiceAccount token), never to its public port.
 *
 * A follower also keeps what it forwarded (or, when no leader answered, did itself) as pending
 * until the leader's snapshots show it, and hands its pending changes to every new leader it
 * sees (POST /internal/v1/connections/reconcile). So a failover loses no connection that went
 * through a surviving replica, and releases made during the failover reach the new leader. A
 * new leader keeps ids released recently (tombstones), so that a late report of an open cannot
 * bring back a connection that has been released.
 */

/**
 * Releases of ids this replica does not know are remembered up to this many at a time (each for
 * the retention or tombstone time): a flood of made-up ids must not grow the tables for good.
 */
export const MAX_UNKNOWN_RELEASES = 100_000;

export interface ConnectionFrontOptions {
  readonly manager: Replication;
  readonly identity: string;
  readonly isLeader: () => boolean;
  /** The leader as last seen on the Lease. */
  readonly leader: () => { identity: string; address: string | null } | null;
  /** Express's compiled trust-proxy function, to find the client's address as the app does. */
  readonly trustProxy: (address: string, hop: number) => boolean;
  readonly logger: Pick<Logger, "info" | "warn">;
  readonly metrics?: HaMetrics;
  /**
   * What the leader knows of a service, to check reported opens against: null when the service
   * is not in its catalog. Absent: reported opens are taken as they are.
   */
  readonly connectionTerms?: (serviceKey: string) => ConnectionTerms | null;
  /** Headers that authenticate this replica to the others (its ServiceAccount token). */
  readonly credentials?: () => Record<string, string>;
  /** A forward that takes longer is given up and answered here. */
  readonly forwardTimeoutMs?: number;
  /**
   * How long a release of an id this replica does not know is kept for the next leader. A
   * change of a known connection is kept until a snapshot shows it (see merge and written) or
   * the connection expires, however long that takes: an API server that is away for a minute
   * must not make a replica forget what the leader acknowledged but could not write.
   */
  readonly retentionMs?: number;
  /** How long a new leader remembers released ids against late reports of their opening. */
  readonly tombstoneMs?: number;
  /**
   * A release a leader acknowledged that the leader's snapshots still list this long after is
   * handed over again (see merge). Defaults to retentionMs.
   */
  readonly repairAfterMs?: number;
  readonly now?: () => number;
}

interface PendingOpen {
  readonly record: Connection;
  /** When a leader acknowledged it; null while no leader has. */
  ackedAt: number | null;
  /**
   * Whether a leader may know it: sent in a reconcile, answered or not. A leader can count it
   * before its answer arrives, so a release from then on must reach the leader as well.
   */
  sent: boolean;
}

interface PendingClose {
  readonly id: string;
  /** Null when this replica did not know the connection. */
  readonly service: string | null;
  /**
   * The connection's expiry, after which the release no longer matters. For a connection this
   * replica did not know, the retention after a leader took the release (none before).
   */
  expiresAt: number;
  ackedAt: number | null;
  /** Whether the leader's latest snapshot of the service still lists the connection. */
  listed?: boolean;
  /** When it was last handed to a leader in a reconcile. */
  handedAt?: number;
}

export interface ConnectionTerms {
  hasEndpoint(identity: string): boolean;
  /** The service's connection timeout: no connection is counted for longer. */
  readonly timeoutMs: number;
}

export class ConnectionFront implements LocalConnectionChanges {
  private readonly options: ConnectionFrontOptions;
  private readonly forwardTimeoutMs: number;
  private readonly retentionMs: number;
  private readonly repairAfterMs: number;
  private readonly now: () => number;
  private readonly opens = new Map<string, PendingOpen>();
  private readonly closes = new Map<string, PendingClose>();
  /** What this replica released while it led, against late reports of those opens. */
  private readonly released: ReleasedIds;
  private readonly stopObserving: () => void;
  /** Resolves once the current leader has this replica's pending changes. */
  private reconciled: Promise<void> = Promise.resolve();
  private reconciledWith: string | null = null;
  /**
   * Counts this replica's own terms beginning and ending. A hand-over answered after one did
   * is not taken as the leader having everything: the term may have made changes since.
   */
  private leadershipChanges = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout;
  private stopped = false;
  /** Opens this replica answers itself after a forward failed, with the id the forward carried. */
  private readonly localIds = new WeakMap<IncomingMessage, string>();

  constructor(options: ConnectionFrontOptions) {
    this.options = options;
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? 2_000;
    this.retentionMs = options.retentionMs ?? 10_000;
    this.repairAfterMs = options.repairAfterMs ?? this.retentionMs;
    this.now = options.now ?? Date.now;
    this.released = new ReleasedIds(options.tombstoneMs ?? 60_000, this.now);
    this.stopObserving = options.manager.observeConnections((event) => this.observe(event));
    this.sweepTimer = setInterval(() => this.sweep(), 1_000);
    this.sweepTimer.unref();
  }

  private credentials(): Record<string, string> {
    return this.options.credentials?.() ?? {};
  }

  stop(): void {
    this.stopped = true;
    this.stopObserving();
    clearInterval(this.sweepTimer);
    clearTimeout(this.retryTimer);
  }

  // ---- what the state store asks ----

  /**
   * A service's connections from a snapshot, corrected by what this replica knows and the
   * snapshot may not show yet. A change the leader acknowledged is settled (forgotten here)
   * once a snapshot shows it: the open listed, or the id among those released.
   */
  merge(serviceKey: string, listed: Connection[], released: readonly string[]): Connection[] {
    if (this.opens.size > 0 || this.closes.size > 0) {
      for (const record of listed) {
        if (this.opens.get(record.id)?.ackedAt != null) this.opens.delete(record.id);
      }
      for (const id of released) {
        if (this.opens.get(id)?.ackedAt != null) this.opens.delete(id);
        if (this.closes.get(id)?.ackedAt != null) this.closes.delete(id);
      }
    }
    // Tombstones guard a leader's own table against late reports. A follower mirrors the leader:
    // the tombstones left from an earlier term of its own would hide connections the leader
    // counts (a release it could not make durable then, refused to its client, is not one the
    // next leader ever heard of), and its view would stay short of the leader's for good.
    const leading = this.options.isLeader();
    if (this.closes.size > 0) this.noteListed(serviceKey, listed);
    const result = listed.filter(
      (record) => !this.closes.has(record.id) && !(leading && this.released.has(record.id)),
    );
    if (this.opens.size === 0) return result;
    const ids = new Set(result.map((record) => record.id));
    for (const pending of this.opens.values()) {
      const record = pending.record;
      if (record.service === serviceKey && !ids.has(record.id) && !this.closes.has(record.id)) {
        result.push(record);
      }
    }
    return result;
  }

  /** Marks which of a service's releases the leader's latest snapshot still lists. */
  private noteListed(serviceKey: string, listed: readonly Connection[]): void {
    for (const pending of this.closes.values()) {
      if (pending.service === serviceKey) pending.listed = false;
    }
    for (const record of listed) {
      const pending = this.closes.get(record.id);
      if (pending) pending.listed = true;
    }
  }

  /**
   * Releases a leader acknowledged long ago that its latest snapshot still lists: that leader,
   * or the one that took over from it, never heard of them or lost them, and without this the
   * replica would leave the connection out of its view until it expires while the leader
   * counts it. A release stays made, so handing it over again is always right: the leader drops
   * the connection if it counts it and lists the id among the released, which settles it here.
   */
  private repairReleases(now: number): void {
    if (this.options.isLeader()) return;
    // Until another replica shows up on the Lease there is no one to hand it to; the hand-over
    // to a new leader (leaderChanged) carries it anyway.
    const leader = this.otherLeader();
    if (leader === null) return;
    let repaired = 0;
    for (const pending of this.closes.values()) {
      if (!pending.listed || pending.ackedAt === null) continue;
      if (now - Math.max(pending.ackedAt, pending.handedAt ?? 0) < this.repairAfterMs) continue;
      pending.ackedAt = null;
      repaired++;
      if (repaired <= 5) {
        this.options.logger.warn(
          { id: pending.id, service: pending.service, leader: leader.identity },
          "the leader still counts a connection whose release it acknowledged long ago; handing the release over again",
        );
      }
    }
    if (repaired === 0) return;
    this.options.metrics?.releasesRepaired.inc(repaired);
    this.scheduleReconcile();
  }

  /**
   * This leader wrote every shard in a pass that began at `startedAt`: what it observed before
   * then is in the ConfigMaps, and need not be kept for a successor any longer.
   */
  written(startedAt: number): void {
    if (!this.options.isLeader()) return;
    for (const [id, pending] of this.opens) {
      if (pending.ackedAt !== null && pending.ackedAt < startedAt) this.opens.delete(id);
    }
    for (const [id, pending] of this.closes) {
      if (pending.ackedAt !== null && pending.ackedAt < startedAt) this.closes.delete(id);
    }
  }

  /** Ids of a service's connections this leader released recently, for its snapshots. */
  releasedOf(serviceKey: string): readonly string[] {
    return this.released.ofService(serviceKey);
  }

  /** Counts for tests and the status route. */
  pendingCounts(): { opens: number; closes: number; unacknowledged: number } {
    let unacknowledged = 0;
    for (const p of this.opens.values()) if (p.ackedAt === null) unacknowledged++;
    for (const p of this.closes.values()) if (p.ackedAt === null) unacknowledged++;
    return { opens: this.opens.size, closes: this.closes.size, unacknowledged };
  }

  /**
   * A few of the changes this replica holds for a leader, for the status route: what a replica
   * that disagrees with the leader's view is waiting for, by id.
   */
  pendingSample(limit = 20): {
    opens: { id: string; service: string; acknowledged: boolean }[];
    closes: { id: string; service: string | null; acknowledged: boolean }[];
  } {
    const opens = [];
    for (const p of this.opens.values()) {
      if (opens.length >= limit) break;
      opens.push({ id: p.record.id, service: p.record.service, acknowledged: p.ackedAt !== null });
    }
    const closes = [];
    for (const p of this.closes.values()) {
      if (closes.length >= limit) break;
      closes.push({ id: p.id, service: p.service, acknowledged: p.ackedAt !== null });
    }
    return { opens, closes };
  }

  // ---- leadership ----

  /**
   * This replica leads now: its table is the truth. What it released, and what its
   * predecessor's last snapshots say was released, become tombstones against late reports.
   * Its own changes that no snapshot showed yet (made while no leader answered, or made in an
   * earlier term of its own and not yet written) stay, acknowledged by this term: taking over
   * mirrors the predecessor's snapshot once more, and without its opens they would vanish from
   * the table it is about to write; should this term end before a write lands, its releases
   * must still reach the next leader, which takes over the same snapshot. The first full write
   * of this term settles them.
   */
  becameLeader(predecessorReleased: ReadonlyMap<string, readonly string[]> = new Map()): void {
    for (const [service, ids] of predecessorReleased) {
      // Their expiry is not in the snapshot: the longest a connection of the service can live.
      const lifetime = this.options.connectionTerms?.(service)?.timeoutMs ?? 0;
      for (const id of ids) this.markReleased(id, service, this.now() + lifetime);
    }
    const now = this.now();
    for (const pending of this.closes.values()) {
      this.markReleased(pending.id, pending.service, pending.expiresAt);
      if (pending.ackedAt === null && pending.service === null) {
        pending.expiresAt = now + this.retentionMs;
      }
      pending.ackedAt = now;
    }
    for (const pending of this.opens.values()) {
      pending.ackedAt = now;
      pending.sent = true;
    }
    this.leadershipChanges++;
    this.reconciledWith = this.options.identity;
    this.reconciled = Promise.resolve();
  }

  /**
   * This replica's term ended. What it did while leading and no write of it landed must reach
   * whichever replica leads next, including one it handed its changes to before this term.
   */
  steppedDown(): void {
    this.leadershipChanges++;
    this.reconciledWith = null;
    const leader = this.otherLeader();
    if (leader !== null) this.reconciled = this.reconcile(leader.identity, leader.address);
  }

  /**
   * The holder on the Lease when it is another replica. A Lease that still names this replica
   * after its term ended (until another replica takes it) names nobody to hand changes to: this
   * replica would refuse them as not leading.
   */
  private otherLeader(): { identity: string; address: string | null } | null {
    const holder = this.options.leader();
    return holder === null || holder.identity === this.options.identity ? null : holder;
  }

  /** A new holder on the Lease: hand it what this replica knows that it may not. */
  leaderChanged(identity: string | null, address: string | null): void {
    if (identity === null || identity === this.options.identity) return;
    if (this.reconciledWith === identity) return;
    this.reconciledWith = null;
    this.reconciled = this.reconcile(identity, address);
  }

  // ---- HTTP ----

  /** The id an open handed back to the app (see handle's `local`) is to be counted under. */
  localIdOf(req: IncomingMessage): string | undefined {
    return this.localIds.get(req);
  }

  /**
   * Takes the connection routes on a follower and the internal routes on every replica.
   * Returns false to leave a request to the app (always on the leader, for the public routes).
   * `local` hands a request to the app after all: when no leader answers a forward.
   */
  handle(req: IncomingMessage, res: ServerResponse, local: () => void): boolean {
    const match = matchRoute(req.method, req.url);
    const routeId = match?.route.id;
    if (match === null || (routeId !== "openConnection" && routeId !== "releaseConnection")) {
      return false;
    }
    // The app answers what breaks a limit; nothing of it goes to the leader.
    if (limitBroken(req, MAX_PUBLIC_BODY_BYTES) !== null) return false;
    const released = routeId === "releaseConnection" ? (match.params.id as string) : null;
    if (this.options.isLeader()) {
      if (released !== null) this.noteRelease(released);
      return false;
    }
    const leader = this.otherLeader();
    if (leader === null || leader.address === null) {
      if (released !== null) this.noteRelease(released);
      return false;
    }
    if (released === null) {
      const target = new URL(pathOf("forwardOpen", match.params), leader.address);
      target.search = match.query;
      void this.forwardOpen(req, res, target, local);
    } else {
      const target = new URL(pathOf("forwardRelease", { id: released }), leader.address);
      // The release's outcome parameters go along: the leader records them.
      target.search = match.query;
      void this.forwardClose(res, target, released, local);
    }
    return true;
  }

  /**
   * A change another replica forwarded (the internal API's forward routes), before the app
   * answers it. Only the leader answers one: a replica that no longer leads (its term ended, or
   * it was paused while the request waited in its socket) refuses it with NotLeader, since the
   * forwarder has given up on it or will answer it itself, and a connection counted here as
   * well would be counted twice. `released` is the id of a forwarded release.
   */
  acceptForwarded(released: string | null): void {
    if (!this.options.isLeader()) {
      throw new ApiError("NotLeader", "this replica is not the leader");
    }
    if (released !== null) this.noteRelease(released);
  }

  /**
   * A release this replica answers itself. Of a connection it knows, the table's own event
   * records it (see observe). Of one it does not know, it is remembered all the same: another
   * replica may hold the connection in changes not handed over yet (an open answered during a
   * failover, or acknowledged by a leader that died before its snapshot), and would bring it
   * back when it does. The answer stays 404; the connection is not counted once that is settled.
   */
  private noteRelease(id: string): void {
    if (this.options.manager.getConnection(id) !== undefined) return;
    if (this.options.isLeader()) {
      if (this.released.size < MAX_UNKNOWN_RELEASES) this.markReleased(id, null);
      return;
    }
    if (this.closes.has(id) || this.closes.size >= MAX_UNKNOWN_RELEASES) return;
    this.closes.set(id, {
      id,
      service: null,
      expiresAt: this.now() + this.retentionMs,
      ackedAt: null,
    });
    this.scheduleReconcile();
  }

  private async forwardOpen(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    local: () => void,
  ): Promise<void> {
    // The leader must balance on the caller's address, not on this replica's.
    if (!url.searchParams.has("client-ip")) {
      const caller = proxyAddr(req, this.options.trustProxy);
      if (caller) url.searchParams.set("client-ip", caller);
    }
    // The id is chosen here: should the leader answer after this replica gave up on it, the
    // open this replica then makes itself has the same id, and the two count as one.
    const id = randomUUID();
    const reply = await this.forward("POST", url, "open", {
      [FORWARDED_CONNECTION_ID_HEADER]: id,
    });
    if (reply === null) {
      this.localIds.set(req, id);
      return local();
    }
    if (reply.status === 201) {
      try {
        const body = JSON.parse(reply.text) as {
          id: string;
          service: { namespace: string; name: string };
          endpoint: { identity: string };
          expiresAt: string;
        };
        const record: Connection = {
          id: body.id,
          service: `${body.service.namespace}/${body.service.name}`,
          identity: body.endpoint.identity,
          expiresAt: Date.parse(body.expiresAt),
        };
        this.options.manager.restoreConnection(record);
        this.opens.set(record.id, { record, ackedAt: this.now(), sent: true });
        this.closes.delete(record.id);
      } catch (error) {
        this.options.logger.warn(
          { err: error },
          "the leader's reply to an open was not understood",
        );
      }
    }
    relay(res, reply);
  }

  private async forwardClose(
    res: ServerResponse,
    url: URL,
    id: string,
    local: () => void,
  ): Promise<void> {
    const reply = await this.forward("DELETE", url, "close");
    if (reply === null) {
      this.noteRelease(id);
      return local();
    }
    const dropped = this.options.manager.dropConnection(id);
    if (reply.status === 204) {
      this.opens.delete(id);
      this.closes.set(id, {
        id,
        service: dropped?.service ?? null,
        expiresAt: dropped?.expiresAt ?? this.now() + this.retentionMs,
        ackedAt: this.now(),
      });
    }
    relay(res, reply);
  }

  /** One request to the leader, after it has this replica's pending changes; null if none answered. */
  private forward(
    method: "POST" | "DELETE",
    url: URL,
    operation: "open" | "close",
    headers: Record<string, string> = {},
  ): Promise<LeaderReply | null> {
    return askLeader({
      method,
      url,
      operation,
      headers: { ...headers, ...this.credentials() },
      after: this.reconciled,
      timeoutMs: this.forwardTimeoutMs,
      logger: this.options.logger,
      metrics: this.options.metrics,
    });
  }

  // ---- changes made here ----

  private observe(event: ConnectionEvent): void {
    const { connection } = event;
    if (this.options.isLeader()) {
      // Kept a little while: should this replica lose the lease without dying, it hands its
      // last changes to the next leader like any follower.
      const now = this.now();
      if (event.kind === "opened") {
        this.opens.set(connection.id, { record: connection, ackedAt: now, sent: true });
      } else {
        this.opens.delete(connection.id);
        if (event.kind === "closed") {
          this.closes.set(connection.id, {
            id: connection.id,
            service: connection.service,
            expiresAt: connection.expiresAt,
            ackedAt: now,
          });
          this.markReleased(connection.id, connection.service, connection.expiresAt);
        }
      }
      return;
    }
    switch (event.kind) {
      case "opened":
        this.opens.set(connection.id, { record: connection, ackedAt: null, sent: false });
        this.scheduleReconcile();
        break;
      case "closed": {
        const open = this.opens.get(connection.id);
        this.opens.delete(connection.id);
        // Opened and released here while no leader listened: nobody else ever knew of it. Once
        // sent to a leader, it may count there even though no answer has come back yet.
        if (open && open.ackedAt === null && !open.sent) break;
        this.closes.set(connection.id, {
          id: connection.id,
          service: connection.service,
          expiresAt: connection.expiresAt,
          ackedAt: null,
        });
        this.scheduleReconcile();
        break;
      }
      case "expired":
        this.opens.delete(connection.id);
        break;
    }
  }

  /** Changes no leader has acknowledged go to the leader as soon as one is known and answers. */
  private scheduleReconcile(): void {
    if (this.retryTimer !== undefined || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const leader = this.otherLeader();
      if (this.options.isLeader() || leader === null) {
        if (this.pendingCounts().unacknowledged > 0 && !this.options.isLeader()) {
          this.scheduleReconcile();
        }
        return;
      }
      this.reconciled = this.reconcile(leader.identity, leader.address);
    }, 1_000);
    this.retryTimer.unref();
  }

  private async reconcile(identity: string, address: string | null): Promise<void> {
    const opens = [...this.opens.values()];
    const closes = [...this.closes.values()];
    if (opens.length === 0 && closes.length === 0) {
      this.reconciledWith = identity;
      return;
    }
    if (address === null) return this.scheduleReconcile();
    const body: ReconcileRequest = {
      from: this.options.identity,
      opens: opens.map((p) => p.record),
      closes: closes.map((p) => p.id),
    };
    for (const pending of opens) pending.sent = true;
    const leadershipChanges = this.leadershipChanges;
    try {
      const response = await fetch(new URL(pathOf("reconcileConnections"), address), {
        method: "POST",
        headers: { "content-type": "application/json", ...this.credentials() },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.forwardTimeoutMs),
      });
      if (response.status !== 200) throw new Error(`the leader answered ${response.status}`);
      await response.body?.cancel();
      const now = this.now();
      for (const pending of opens) pending.ackedAt ??= now;
      for (const pending of closes) {
        // The repair time counts from the last hand-over: a snapshot written before this
        // leader took it may still list the connection.
        pending.handedAt = now;
        if (pending.ackedAt !== null) continue;
        pending.ackedAt = now;
        if (pending.service === null) pending.expiresAt = now + this.retentionMs;
      }
      // A term of this replica's that began meanwhile may have made changes this hand-over
      // did not carry: they go with the next one (see steppedDown).
      if (this.leadershipChanges === leadershipChanges) this.reconciledWith = identity;
      this.options.logger.info(
        { leader: identity, opens: opens.length, closes: closes.length },
        "handed pending connection changes to the leader",
      );
    } catch (error) {
      this.options.logger.warn(
        { leader: identity, err: error },
        "handing pending connection changes to the leader failed; retrying",
      );
      this.scheduleReconcile();
    }
  }

  /**
   * POST /internal/v1/connections/reconcile on this replica: only a leader takes one. Throws the
   * ApiError to answer for a refused request.
   */
  reconcileBody(body: unknown): { opened: number; closed: number } {
    if (!this.options.isLeader()) {
      throw new ApiError("NotLeader", "this replica is not the leader");
    }
    return this.applyReconcile(parseReconcile(body));
  }

  /** The leader's side: releases first, then opens that were not released meanwhile. */
  applyReconcile(request: ReconcileRequest): { opened: number; closed: number } {
    const { manager } = this.options;
    let closed = 0;
    let opened = 0;
    for (const id of request.closes) {
      if (typeof id !== "string") continue;
      const dropped = manager.dropConnection(id);
      if (dropped) closed++;
      this.markReleased(id, dropped?.service ?? null, dropped?.expiresAt);
    }
    let refused = 0;
    const terms = new Map<string, ConnectionTerms | null | undefined>();
    for (const reported of request.opens) {
      if (this.released.has(reported.id)) {
        // Now its service is known: the release goes into that service's snapshots, where the
        // replica that reported the open sees it settled and stops counting it in its mirror.
        if (typeof reported.service === "string") {
          this.markReleased(reported.id, reported.service, reported.expiresAt);
        }
        continue;
      }
      if (!terms.has(reported.service)) {
        terms.set(reported.service, this.options.connectionTerms?.(reported.service));
      }
      const record = this.admissible(reported, terms.get(reported.service));
      if (record === null) refused++;
      else if (manager.restoreConnection(record)) {
        opened++;
        // Kept like an open made here until this term's first full write: a take-over still
        // under way mirrors the predecessor's snapshot, which never listed it, and the replica
        // that reported it counts it settled once this leader acknowledged it.
        this.opens.set(record.id, { record, ackedAt: this.now(), sent: true });
      }
    }
    if (opened > 0 || closed > 0) {
      this.options.logger.info(
        { from: request.from, opened, closed },
        "reconciled connection changes from a replica",
      );
    }
    if (refused > 0) {
      this.options.logger.warn(
        { from: request.from, refused },
        "reconcile: opens of services or endpoints this leader does not know were left out",
      );
    }
    return { opened, closed };
  }

  /**
   * A reported open as this leader will count it: on a service and an endpoint it knows, and
   * expiring no later than the service's connection timeout from now. Null to leave it out.
   */
  private admissible(
    record: Connection,
    terms: ConnectionTerms | null | undefined,
  ): Connection | null {
    if (terms === undefined) return record;
    if (terms === null || !terms.hasEndpoint(record.identity)) return null;
    const latest = this.now() + terms.timeoutMs;
    return record.expiresAt > latest ? { ...record, expiresAt: latest } : record;
  }

  /**
   * Remembers an id as released, against late reports of its opening. An open of it this
   * replica still holds for a next leader goes: released is final, and handed on or taken over
   * again in a later term of this replica's it would be counted again.
   */
  private markReleased(id: string, service: string | null, expiresAt?: number): void {
    this.opens.delete(id);
    this.released.add(id, service, expiresAt);
  }

  private sweep(): void {
    const now = this.now();
    this.repairReleases(now);
    // Only expiry ends a change that no snapshot has shown yet: until then the next leader may
    // need it (see retentionMs).
    for (const [id, pending] of this.opens) {
      if (pending.record.expiresAt <= now) this.opens.delete(id);
    }
    for (const [id, pending] of this.closes) {
      // A release of a connection unknown here waits for a leader however long that takes:
      // whoever holds the connection will hand it over to that leader too.
      const waiting = pending.service === null && pending.ackedAt === null;
      if (pending.expiresAt <= now && !waiting) this.closes.delete(id);
    }
    this.released.sweep();
  }
}
