/**
 * Ids of connections a leader released (tombstones), so that a late report of an open cannot
 * bring back a connection that has been released. Each is kept until such a report can no
 * longer count: at least a minimum time, and for a known connection until it would have
 * expired. A replica whose watch was cut can hold an acknowledged open for as long as the
 * connection lives, never having seen the snapshots that showed its release, and hand it to a
 * later leader. Ids of a known service are also listed by service, for the leader's snapshots.
 */
export class ReleasedIds {
  private readonly byId = new Map<string, { until: number; service: string | null }>();
  private readonly byService = new Map<string, Set<string>>();
  private readonly minimumMs: number;
  private readonly now: () => number;

  constructor(minimumMs: number, now: () => number) {
    this.minimumMs = minimumMs;
    this.now = now;
  }

  get size(): number {
    return this.byId.size;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /**
   * Remembers a released id until `expiresAt` (the connection's), at least the minimum time.
   * A service learnt later (a report of the open names it) is added to what was known.
   */
  add(id: string, service: string | null, expiresAt = 0): void {
    const previous = this.byId.get(id);
    const known = service ?? previous?.service ?? null;
    const until = Math.max(this.now() + this.minimumMs, expiresAt, previous?.until ?? 0);
    this.byId.set(id, { until, service: known });
    if (known !== null) {
      let ids = this.byService.get(known);
      if (!ids) {
        ids = new Set();
        this.byService.set(known, ids);
      }
      ids.add(id);
    }
  }

  /** A service's released ids, for its snapshots. */
  ofService(serviceKey: string): readonly string[] {
    const ids = this.byService.get(serviceKey);
    return ids ? [...ids] : [];
  }

  /** Forgets the ids whose time is up. */
  sweep(): void {
    const now = this.now();
    for (const [id, { until, service }] of this.byId) {
      if (until > now) continue;
      this.byId.delete(id);
      if (service !== null) {
        const ids = this.byService.get(service);
        ids?.delete(id);
        if (ids?.size === 0) this.byService.delete(service);
      }
    }
  }
}
