// The checker of the HA fault suite (test/cluster/ha-faults.test.ts): from what the clients saw
// (every request with its start, end, replica and answer), what the replicas logged, the state
// writes a watch observed and the final state, it names every broken promise of
// docs/high-availability.md:
//
// - leadership: one term per epoch, never two leaders at once, epochs growing with time;
// - state writes: only by the leader of the epoch they carry, never landing after a newer
//   epoch's write, sequences growing within an epoch, no connection listed twice;
// - a released connection counted again;
// - an acknowledged open lost, outside the documented loss window (lossWindow below).
//
// It is pure: the cluster test gathers the evidence, and the unit tests feed it made-up cases.

export interface CheckSettings {
  /** --state-interval of the replicas. */
  readonly stateIntervalMs: number;
  /** What a write pass and its request may take on top of the interval (see lossWindow). */
  readonly writeSlackMs: number;
  /**
   * --connection-durability of the replicas. With "write" a leader acknowledges a change only
   * once a state write holds it, so there is no loss window: nothing acknowledged may be lost.
   */
  readonly durability: "interval" | "write";
}

export interface ReplicaRecord {
  readonly name: string;
  /** Everything the replica printed (pino JSON lines). */
  readonly log: string;
  /** When it was killed with SIGKILL, else null. */
  readonly killedAt: number | null;
}

interface BaseOp {
  readonly lane: number;
  readonly replica: string;
  readonly start: number;
  readonly end: number;
  /** The HTTP status; null when no answer came in time. */
  readonly status: number | null;
}

export type ClientOp =
  | (BaseOp & { readonly kind: "open"; readonly id: string | null })
  | (BaseOp & { readonly kind: "release"; readonly id: string })
  | (BaseOp & { readonly kind: "pick" });

/** One ADDED/MODIFIED event of a state ConfigMap, as a watch delivered it. */
export interface StateWrite {
  readonly at: number;
  readonly configmap: string;
  /** etcd's revision: one order across every object. */
  readonly resourceVersion: number;
  readonly annotations: { epoch?: string; leader?: string; sequence?: string };
  readonly epoch: number;
  readonly leader: string;
  readonly sequence: number;
  /** Connection ids of the service under test, as listed (an id twice is a violation). */
  readonly listed: readonly string[];
  /** Connections of the service under test by endpoint identity (endpoints with none left out). */
  readonly counts: Readonly<Record<string, number>>;
  readonly released: readonly string[];
}

export interface FinalState {
  /** Connection ids the leader counts once everything settled. */
  readonly listed: ReadonlySet<string>;
}

export type ViolationKind =
  | "leadership"
  | "non-leader-write"
  | "released-counted-again"
  | "open-lost"
  | "unknown-connection";

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
}

export interface Term {
  readonly replica: string;
  readonly identity: string;
  readonly epoch: number;
  readonly start: number;
  /** When leadership ended: `until` of "stopped leading", the kill, or Infinity. */
  end: number;
  endedBy: string;
}

export interface CheckReport {
  readonly violations: Violation[];
  readonly terms: Term[];
  readonly stats: {
    readonly ackedOpens: number;
    readonly ackedReleases: number;
    readonly unanswered: number;
    /** Acknowledged changes that fell in the loss window (and were allowed to be lost). */
    readonly inLossWindow: number;
    /** Of those, how many were really lost or undone. */
    readonly lostInWindow: number;
    /** Releases answered 404 by a replica that did not know the connection, which still counts. */
    readonly refusedButCounted: number;
    /** The stories of a few of them. */
    readonly refusedExamples: readonly string[];
    readonly writes: number;
  };
}

interface LogEntry {
  msg?: string;
  identity?: string;
  epoch?: number;
  at?: string;
  until?: string;
  reason?: string;
}

/** Leadership terms from every replica's log, ordered by start. */
export function leadershipTerms(replicas: readonly ReplicaRecord[]): Term[] {
  const terms: Term[] = [];
  for (const replica of replicas) {
    let current: Term | null = null;
    for (const line of replica.log.split("\n")) {
      if (!line.startsWith("{")) continue;
      let entry: LogEntry;
      try {
        entry = JSON.parse(line) as LogEntry;
      } catch {
        continue; // the last line of a killed process
      }
      if (entry.msg === "became leader") {
        current = {
          replica: replica.name,
          identity: entry.identity ?? "",
          epoch: entry.epoch as number,
          start: Date.parse(entry.at as string),
          end: Number.POSITIVE_INFINITY,
          endedBy: "still leading",
        };
        terms.push(current);
      } else if (entry.msg === "stopped leading" && current) {
        current.end = Date.parse(entry.until as string);
        current.endedBy = entry.reason ?? "stopped";
        current = null;
      }
    }
    if (current && replica.killedAt !== null) {
      current.end = replica.killedAt;
      current.endedBy = "kill -9";
    }
  }
  return terms.sort((a, b) => a.start - b.start);
}

/**
 * The documented loss window (docs/high-availability.md, "What can be lost"): a change made
 * directly on the leader in its last state interval before it crashed. Exactly: the request
 * was answered by replica R while R led (one of R's terms overlaps the request), R was then
 * killed with SIGKILL after the request was sent and no later than one state interval plus
 * `writeSlackMs` after the answer,
 * and no state write of that term shows the change (an open listed; a release among
 * `released`). A write pass starts at most one interval after the change and its request takes
 * time on a loaded machine: `writeSlackMs` is that time.
 */
export function lossWindow(
  op: BaseOp,
  change: { id: string; kind: "open" | "release" },
  replicas: ReadonlyMap<string, ReplicaRecord>,
  terms: readonly Term[],
  writes: readonly StateWrite[],
  settings: CheckSettings,
): Term | null {
  if (settings.durability === "write") return null;
  const killedAt = replicas.get(op.replica)?.killedAt ?? null;
  // The kill may land while the answer is on its way: an answer the client read after the
  // kill was still sent before it. A request sent after the kill was not answered by R.
  if (killedAt === null || killedAt < op.start) return null;
  if (killedAt - op.end > settings.stateIntervalMs + settings.writeSlackMs) return null;
  const term = terms.find(
    (t) => t.replica === op.replica && t.start <= op.end && t.end >= op.start,
  );
  if (!term) return null;
  const shown = writes.some(
    (w) =>
      w.epoch === term.epoch &&
      (change.kind === "open" ? w.listed.includes(change.id) : w.released.includes(change.id)),
  );
  return shown ? null : term;
}

export function check(input: {
  readonly settings: CheckSettings;
  readonly replicas: readonly ReplicaRecord[];
  readonly history: readonly ClientOp[];
  readonly writes: readonly StateWrite[];
  readonly final: FinalState;
}): CheckReport {
  const { settings, history, writes, final } = input;
  const violations: Violation[] = [];
  const add = (kind: ViolationKind, message: string) => violations.push({ kind, message });
  const terms = leadershipTerms(input.replicas);
  const replicas = new Map(input.replicas.map((r) => [r.name, r]));
  const at = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : "never");
  const describe = (t: Term) => `${t.replica} epoch ${t.epoch} [${at(t.start)} .. ${at(t.end)}]`;

  // ---- leadership ----
  const byEpoch = new Map<number, Term[]>();
  for (const term of terms) byEpoch.set(term.epoch, [...(byEpoch.get(term.epoch) ?? []), term]);
  for (const [epoch, list] of byEpoch) {
    if (list.length > 1) {
      add("leadership", `epoch ${epoch} led more than once: ${list.map(describe).join("; ")}`);
    }
  }
  for (let i = 0; i < terms.length; i++) {
    const before = terms[i] as Term;
    for (const after of terms.slice(i + 1)) {
      if (after.start >= before.end) break;
      add("leadership", `two leaders at once: ${describe(before)} and ${describe(after)}`);
    }
    const next = terms[i + 1];
    if (next && next.epoch <= before.epoch) {
      add("leadership", `the epoch went back: ${describe(before)}, then ${describe(next)}`);
    }
  }

  // ---- state writes ----
  const ordered = [...writes].sort((a, b) => a.resourceVersion - b.resourceVersion);
  const lastOf = new Map<string, StateWrite>();
  let newest: StateWrite | null = null;
  for (const write of ordered) {
    const name = `${write.configmap}@${write.resourceVersion} (epoch ${write.epoch} by ${write.leader}, sequence ${write.sequence})`;
    const { annotations } = write;
    if (
      annotations.epoch !== String(write.epoch) ||
      annotations.leader !== write.leader ||
      annotations.sequence !== String(write.sequence)
    ) {
      add("non-leader-write", `${name}: annotations ${JSON.stringify(annotations)} differ`);
    }
    if (!terms.some((t) => t.identity === write.leader && t.epoch === write.epoch)) {
      add(
        "non-leader-write",
        `${name}: no replica logged leading epoch ${write.epoch} as ${write.leader}`,
      );
    }
    if (newest && newest.epoch > write.epoch) {
      add(
        "non-leader-write",
        `${name} landed after ${newest.configmap}@${newest.resourceVersion} of epoch ${newest.epoch}`,
      );
    }
    const previous = lastOf.get(write.configmap);
    if (previous && previous.epoch === write.epoch && previous.sequence >= write.sequence) {
      add("non-leader-write", `${name}: sequence not above ${previous.sequence} of the same epoch`);
    }
    const seen = new Set<string>();
    for (const id of write.listed) {
      if (seen.has(id)) add("released-counted-again", `${name} lists ${id} twice`);
      seen.add(id);
    }
    lastOf.set(write.configmap, write);
    if (!newest || write.epoch >= newest.epoch) newest = write;
  }

  // ---- the clients' history against the final state ----
  const opens = new Map<string, BaseOp>();
  const releases = new Map<string, (BaseOp & { kind: "release" })[]>();
  let unanswered = 0;
  let unansweredOpens = 0;
  for (const op of history) {
    if (op.status === null) {
      unanswered++;
      if (op.kind === "open") unansweredOpens++;
    }
    if (op.kind === "open" && op.status === 201 && op.id !== null) opens.set(op.id, op);
    if (op.kind === "release") releases.set(op.id, [...(releases.get(op.id) ?? []), op]);
  }
  let ackedReleases = 0;
  let inLossWindow = 0;
  let lostInWindow = 0;
  let refusedButCounted = 0;
  const refusedExamples: string[] = [];
  const story = (id: string) =>
    history
      .filter((op) => op.kind !== "pick" && op.id === id)
      .map(
        (op) =>
          `${op.kind} via ${op.replica} [${at(op.start)} .. ${at(op.end)}] -> ${op.status ?? "no answer"}`,
      )
      .join("; ");
  for (const [id, openOp] of opens) {
    const attempts = (releases.get(id) ?? []).sort((a, b) => a.start - b.start);
    const answered = attempts.find((op) => op.status === 204 || op.status === 404);
    const openWindow = lossWindow(openOp, { id, kind: "open" }, replicas, terms, writes, settings);
    if (openWindow) inLossWindow++;
    if (answered?.status === 404) {
      // Refused by a replica that did not know the connection (yet): not an acknowledged
      // release. It may still count until its timeout: the documented limit ("a release of an
      // id the answering replica does not know"); counted here, not held against the run.
      if (final.listed.has(id)) {
        refusedButCounted++;
        if (refusedExamples.length < 5) refusedExamples.push(story(id));
      }
      continue;
    }
    if (answered) {
      ackedReleases++;
      if (!final.listed.has(id)) continue;
      const releaseWindow = lossWindow(
        answered,
        { id, kind: "release" },
        replicas,
        terms,
        writes,
        settings,
      );
      if (releaseWindow) {
        inLossWindow++;
        lostInWindow++;
      } else {
        add("released-counted-again", `${id} is counted after its release: ${story(id)}`);
      }
      continue;
    }
    // A release without an answer may or may not have happened: nothing to hold against it.
    if (attempts.length > 0 || final.listed.has(id)) continue;
    if (openWindow) {
      lostInWindow++;
      continue;
    }
    add("open-lost", `${id}: acknowledged, never released, not counted at the end: ${story(id)}`);
  }
  const unknown = [...final.listed].filter((id) => !opens.has(id));
  if (unknown.length > unansweredOpens) {
    add(
      "unknown-connection",
      `${unknown.length} connections counted that no client was told of, but only ${unansweredOpens} opens went unanswered: ${unknown.slice(0, 10).join(", ")}`,
    );
  }

  return {
    violations,
    terms,
    stats: {
      ackedOpens: opens.size,
      ackedReleases,
      unanswered,
      inLossWindow,
      lostInWindow,
      refusedButCounted,
      refusedExamples,
      writes: writes.length,
    },
  };
}
