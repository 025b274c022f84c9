/**
 * Counts of references from one index key to another (a Pod to the Services whose slices list
 * it), so that overlapping slices add and remove cleanly. Nearly every key refers to one target
 * once, so that case is held as the target itself: at 10,000 Pods a map per Pod would be about
 * 3 MiB of hash tables for one entry each.
 */
export class RefIndex {
  /** A lone target counted once, or every target with its count. */
  private readonly links = new Map<string, string | Map<string, number>>();

  add(from: string, to: string): void {
    const held = this.links.get(from);
    if (held === undefined) {
      this.links.set(from, to);
    } else if (typeof held === "string") {
      this.links.set(
        from,
        held === to
          ? new Map([[to, 2]])
          : new Map([
              [held, 1],
              [to, 1],
            ]),
      );
    } else {
      held.set(to, (held.get(to) ?? 0) + 1);
    }
  }

  remove(from: string, to: string): void {
    const held = this.links.get(from);
    if (held === undefined) return;
    if (typeof held === "string") {
      if (held === to) this.links.delete(from);
      return;
    }
    const count = held.get(to);
    if (count === undefined) return;
    if (count <= 1) held.delete(to);
    else held.set(to, count - 1);
    if (held.size === 0) {
      this.links.delete(from);
    } else if (held.size === 1) {
      const [target, left] = held.entries().next().value as [string, number];
      if (left === 1) this.links.set(from, target);
    }
  }

  targets(from: string): string[] {
    const held = this.links.get(from);
    if (held === undefined) return [];
    return typeof held === "string" ? [held] : [...held.keys()];
  }
}
