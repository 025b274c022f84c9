/**
 * What a connection id received from another replica may look like. The engine makes UUIDs;
 * this is looser, and bounded, so a replica of another version is not refused for its ids.
 */
export const CONNECTION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** One counted connection (or in-flight request) on an endpoint of a service. */
export interface Connection {
  readonly id: string;
  readonly service: string;
  readonly identity: string;
  readonly expiresAt: number;
}

/**
 * Open connections across services, each released by its holder or, when forgotten, by its
 * expiry time (the plan's connection timeout). Expiry is a min-heap ordered by expiresAt, so
 * sweeping costs nothing per connection still open and no timer exists per connection.
 */
export class ConnectionTable {
  private readonly byId = new Map<string, Connection>();
  private readonly heap: Connection[] = [];

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Connection | undefined {
    return this.byId.get(id);
  }

  values(): IterableIterator<Connection> {
    return this.byId.values();
  }

  add(connection: Connection): void {
    this.byId.set(connection.id, connection);
    this.heap.push(connection);
    this.siftUp(this.heap.length - 1);
  }

  /** Removes and returns the connection, or undefined when unknown or already gone. */
  remove(id: string): Connection | undefined {
    const connection = this.byId.get(id);
    if (connection) this.byId.delete(id);
    // Its heap entry is skipped when it surfaces.
    return connection;
  }

  /** Removes and returns every connection whose expiry is at or before `now`. */
  takeExpired(now: number): Connection[] {
    const expired: Connection[] = [];
    while (this.heap.length > 0 && (this.heap[0] as Connection).expiresAt <= now) {
      const top = this.popTop();
      if (this.byId.get(top.id) === top) {
        this.byId.delete(top.id);
        expired.push(top);
      }
    }
    // Released connections leave stale heap entries behind; rebuild when they dominate.
    if (this.heap.length > 64 && this.heap.length > 2 * this.byId.size) this.compact();
    return expired;
  }

  private compact(): void {
    this.heap.length = 0;
    for (const connection of this.byId.values()) {
      this.heap.push(connection);
      this.siftUp(this.heap.length - 1);
    }
  }

  private popTop(): Connection {
    const heap = this.heap;
    const top = heap[0] as Connection;
    const last = heap.pop() as Connection;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftUp(index: number): void {
    const heap = this.heap;
    const item = heap[index] as Connection;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((heap[parent] as Connection).expiresAt <= item.expiresAt) break;
      heap[index] = heap[parent] as Connection;
      index = parent;
    }
    heap[index] = item;
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    const item = heap[index] as Connection;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= heap.length) break;
      if (
        child + 1 < heap.length &&
        (heap[child + 1] as Connection).expiresAt < (heap[child] as Connection).expiresAt
      ) {
        child += 1;
      }
      if ((heap[child] as Connection).expiresAt >= item.expiresAt) break;
      heap[index] = heap[child] as Connection;
      index = child;
    }
    heap[index] = item;
  }
}
