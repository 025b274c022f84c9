/**
 * Open connections (and in-flight requests) counted per endpoint: the table with its expiry,
 * each service's load counts that load-aware pickers read, and the observers told of changes.
 */
import { type Connection, ConnectionTable } from "./connections.ts";
import { BalancerError } from "./errors.ts";
import type { ServiceStates } from "./service-state.ts";

/** A change to the open connections made through the engine's own API. */
export interface ConnectionEvent {
  readonly kind: "opened" | "closed" | "expired";
  readonly connection: Connection;
}

/** Defaults of the connection caps: far above real use, well below what exhausts memory. */
export const DEFAULT_MAX_CONNECTIONS = 100_000;
export const DEFAULT_MAX_CONNECTIONS_PER_SERVICE = 10_000;

/** How many connections may be open at once: in total, and on one service. */
export interface ConnectionLimits {
  readonly total: number;
  readonly perService: number;
}

export class ConnectionBook {
  private readonly states: ServiceStates;
  private readonly now: () => number;
  private readonly newConnectionId: () => string;
  private readonly limits: ConnectionLimits;
  private readonly table = new ConnectionTable();
  private readonly listeners = new Set<(event: ConnectionEvent) => void>();

  constructor(
    states: ServiceStates,
    now: () => number,
    newConnectionId: () => string,
    limits: ConnectionLimits = {
      total: DEFAULT_MAX_CONNECTIONS,
      perService: DEFAULT_MAX_CONNECTIONS_PER_SERVICE,
    },
  ) {
    this.states = states;
    this.now = now;
    this.newConnectionId = newConnectionId;
    this.limits = limits;
  }

  /**
   * Throws TooManyConnections when one more connection on `service` would pass a cap: each open
   * lives until released or timed out, so without a cap clients could fill memory.
   */
  ensureRoom(service: string): void {
    if (this.table.size >= this.limits.total) {
      throw new BalancerError(
        "TooManyConnections",
        `${this.table.size} connections are open, the most this server counts (--max-connections ${this.limits.total}); release some or retry later`,
      );
    }
    const open = this.states.get(service)?.connections.size ?? 0;
    if (open >= this.limits.perService) {
      throw new BalancerError(
        "TooManyConnections",
        `${open} connections are open on ${service}, the most counted per service (--max-connections-per-service ${this.limits.perService}); release some or retry later`,
      );
    }
  }

  /**
   * Counts a new connection on `identity` until it is closed or `ttlMs` passes. `id`, when
   * given, is the id chosen by the replica that forwarded the open: an open under an id already
   * counted replaces that connection rather than counting a second one, so a forward the leader
   * answered too late (the forwarder then answered it itself, under the same id) counts once.
   */
  open(service: string, identity: string, ttlMs: number, id?: string): Connection {
    if (id !== undefined) this.untrack(id);
    const connection = {
      id: id ?? this.newConnectionId(),
      service,
      identity,
      expiresAt: this.now() + ttlMs,
    };
    this.track(connection);
    this.emit("opened", connection);
    return connection;
  }

  /** False when the id is unknown, expired or already closed. */
  close(id: string): boolean {
    this.expire();
    const connection = this.untrack(id);
    if (!connection) return false;
    this.emit("closed", connection);
    return true;
  }

  /** Releases every connection past its timeout; returns how many. */
  expire(): number {
    const expired = this.table.takeExpired(this.now());
    for (const connection of expired) {
      const state = this.states.get(connection.service);
      state?.connections.delete(connection.id);
      state?.loads.decrement(connection.identity);
      if (state) state.changes++;
      this.emit("expired", connection);
    }
    return expired.length;
  }

  /**
   * Tells `listener` of every connection opened, closed or expired through the engine's own
   * API (not of restore, drop or replace). Returns a function that stops it.
   */
  observe(listener: (event: ConnectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get(id: string): Connection | undefined {
    return this.table.get(id);
  }

  /** A service's open connections. */
  ofService(serviceKey: string): Connection[] {
    const ids = this.states.get(serviceKey)?.connections;
    if (!ids) return [];
    const result: Connection[] = [];
    for (const id of ids) {
      const connection = this.table.get(id);
      if (connection) result.push(connection);
    }
    return result;
  }

  /** Open connections of a service by endpoint identity. */
  counts(serviceKey: string): Map<string, number> {
    return new Map(this.states.get(serviceKey)?.loads.entries() ?? []);
  }

  /** Adds a connection opened elsewhere; false when its id is known or it has expired. */
  restore(connection: Connection): boolean {
    if (this.table.get(connection.id) || connection.expiresAt <= this.now()) return false;
    this.track(connection);
    return true;
  }

  /** Removes a connection without telling the observers (it was released elsewhere). */
  drop(id: string): Connection | undefined {
    return this.untrack(id);
  }

  /** Makes a service's open connections exactly `records` (those not yet expired). */
  replace(serviceKey: string, records: readonly Connection[]): void {
    const state = this.states.of(serviceKey);
    const wanted = new Map<string, Connection>();
    for (const record of records) wanted.set(record.id, record);
    for (const id of [...state.connections]) {
      const current = this.table.get(id);
      const next = wanted.get(id);
      if (
        !current ||
        !next ||
        next.identity !== current.identity ||
        next.expiresAt !== current.expiresAt
      ) {
        this.untrack(id);
      } else {
        wanted.delete(id);
      }
    }
    const now = this.now();
    for (const record of wanted.values()) {
      if (record.service === serviceKey && record.expiresAt > now) this.track(record);
    }
  }

  private track(connection: Connection): void {
    this.table.add(connection);
    const state = this.states.of(connection.service);
    state.connections.add(connection.id);
    state.loads.increment(connection.identity);
    state.changes++;
  }

  private untrack(id: string): Connection | undefined {
    const connection = this.table.remove(id);
    if (!connection) return undefined;
    const state = this.states.get(connection.service);
    state?.connections.delete(id);
    state?.loads.decrement(connection.identity);
    if (state) state.changes++;
    return connection;
  }

  private emit(kind: ConnectionEvent["kind"], connection: Connection): void {
    for (const listener of this.listeners) listener({ kind, connection });
  }
}
