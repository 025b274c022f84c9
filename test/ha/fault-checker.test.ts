// The HA fault suite's checker (test/support/ha-checker.ts) on made-up evidence: each promise it
// guards, broken once, must be named; a clean history must pass; the loss window must excuse
// exactly what docs/high-availability.md says may be lost.

import { describe, expect, it } from "vitest";
import {
  type CheckSettings,
  type ClientOp,
  check,
  type ReplicaRecord,
  type StateWrite,
} from "../support/ha-checker.ts";

const SETTINGS: CheckSettings = {
  stateIntervalMs: 250,
  writeSlackMs: 1_000,
  durability: "interval",
};
const T0 = Date.parse("2026-12-04T12:00:00.000Z");
const iso = (ms: number) => new Date(T0 + ms).toISOString();

function became(identity: string, epoch: number, at: number): string {
  return JSON.stringify({ msg: "became leader", identity, epoch, at: iso(at) });
}

function stopped(identity: string, epoch: number, until: number): string {
  return JSON.stringify({
    msg: "stopped leading",
    identity,
    epoch,
    reason: "renew-deadline",
    until: iso(until),
  });
}

function replica(name: string, lines: string[], killedAt: number | null = null): ReplicaRecord {
  return { name, log: lines.join("\n"), killedAt: killedAt === null ? null : T0 + killedAt };
}

function write(
  resourceVersion: number,
  epoch: number,
  leader: string,
  sequence: number,
  listed: string[] = [],
  released: string[] = [],
): StateWrite {
  return {
    at: T0 + resourceVersion,
    configmap: "konsul-lb-state-0",
    resourceVersion,
    annotations: { epoch: String(epoch), leader, sequence: String(sequence) },
    epoch,
    leader,
    sequence,
    listed,
    counts: { web: listed.length },
    released,
  };
}

function openOp(replicaName: string, id: string, start: number, status: number | null = 201) {
  return {
    kind: "open",
    lane: 0,
    replica: replicaName,
    start: T0 + start,
    end: T0 + start + 5,
    status,
    id: status === 201 ? id : null,
  } as const satisfies ClientOp;
}

function releaseOp(replicaName: string, id: string, start: number, status: number | null = 204) {
  return {
    kind: "release",
    lane: 0,
    replica: replicaName,
    start: T0 + start,
    end: T0 + start + 5,
    status,
    id,
  } as const satisfies ClientOp;
}

/** a leads epoch 1 from 0 to 10 s; b leads epoch 2 from 12 s on. */
const twoTerms = [
  replica("a", [became("a_1", 1, 0), stopped("a_1", 1, 10_000)]),
  replica("b", [became("b_1", 2, 12_000)]),
];

describe("the HA fault checker", () => {
  it("passes a clean history", () => {
    const report = check({
      settings: SETTINGS,
      replicas: twoTerms,
      history: [
        openOp("a", "c1", 1_000),
        openOp("b", "c2", 2_000),
        releaseOp("b", "c2", 3_000),
        openOp("a", "c3", 4_000, null),
      ],
      writes: [
        write(10, 1, "a_1", 1, ["c1"]),
        write(11, 1, "a_1", 2, ["c1"], ["c2"]),
        write(20, 2, "b_1", 3, ["c1", "c3"]),
      ],
      final: { listed: new Set(["c1", "c3"]) },
    });
    expect(report.violations).toEqual([]);
    expect(report.terms.map((t) => [t.replica, t.epoch])).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
    expect(report.stats).toMatchObject({ ackedOpens: 2, ackedReleases: 1, unanswered: 1 });
  });

  it("names two terms of one epoch and two leaders at once", () => {
    const report = check({
      settings: SETTINGS,
      replicas: [
        replica("a", [became("a_1", 1, 0), stopped("a_1", 1, 10_000)]),
        replica("b", [became("b_1", 1, 5_000)]),
      ],
      history: [],
      writes: [],
      final: { listed: new Set() },
    });
    const messages = report.violations.map((v) => `${v.kind}: ${v.message}`);
    expect(messages.some((m) => m.startsWith("leadership: epoch 1 led more than once"))).toBe(true);
    expect(messages.some((m) => m.startsWith("leadership: two leaders at once"))).toBe(true);
  });

  it("names writes by a non-leader, late writes of an older epoch and sequences that go back", () => {
    const report = check({
      settings: SETTINGS,
      replicas: twoTerms,
      history: [],
      writes: [
        write(10, 1, "a_1", 5),
        write(11, 1, "a_1", 5),
        write(20, 2, "b_1", 6),
        write(21, 1, "a_1", 7),
        write(22, 2, "c_1", 8),
        { ...write(23, 2, "b_1", 9), annotations: { epoch: "1", leader: "b_1", sequence: "9" } },
      ],
      final: { listed: new Set() },
    });
    const kinds = report.violations.map((v) => v.kind);
    expect(kinds.every((kind) => kind === "non-leader-write")).toBe(true);
    const messages = report.violations.map((v) => v.message).join("\n");
    expect(messages).toContain("sequence not above 5 of the same epoch");
    expect(messages).toContain("landed after konsul-lb-state-0@20 of epoch 2");
    expect(messages).toContain("no replica logged leading epoch 2 as c_1");
    expect(messages).toContain("annotations");
  });

  it("names a released connection counted again, an acknowledged open lost and connections nobody opened", () => {
    const report = check({
      settings: SETTINGS,
      replicas: twoTerms,
      history: [
        openOp("a", "released", 1_000),
        releaseOp("b", "released", 2_000),
        openOp("b", "lost", 3_000),
      ],
      writes: [write(10, 1, "a_1", 1, ["released"]), write(20, 2, "b_1", 2, ["released"])],
      final: { listed: new Set(["released", "stray"]) },
    });
    expect(report.violations.map((v) => v.kind).sort()).toEqual([
      "open-lost",
      "released-counted-again",
      "unknown-connection",
    ]);
  });

  it("excuses exactly the documented window: changes made on the leader in its last interval before kill -9", () => {
    // a leads epoch 1 and is killed at 10 s; b leads epoch 2 from 14 s.
    const killed = [
      replica("a", [became("a_1", 1, 0)], 10_000),
      replica("b", [became("b_1", 2, 14_000)]),
    ];
    const run = (history: ClientOp[], writes: StateWrite[] = [], settings = SETTINGS) =>
      check({
        settings,
        replicas: killed,
        history,
        writes,
        final: { listed: new Set(["undone"]) },
      });
    const inWindow = run([
      openOp("a", "undone", 1_000),
      releaseOp("a", "undone", 9_900),
      openOp("a", "fresh", 9_800),
    ]);
    expect(inWindow.violations).toEqual([]);
    expect(inWindow.stats).toMatchObject({ inLossWindow: 2, lostInWindow: 2 });
    // The kill lands while the answer is on its way (sent by the leader, read 3 ms after the kill).
    const inFlight = run([openOp("a", "undone", 1_000), releaseOp("a", "undone", 9_998)]);
    expect(inFlight.violations).toEqual([]);
    expect(inFlight.stats).toMatchObject({ inLossWindow: 1, lostInWindow: 1 });
    // With --connection-durability write there is no window: the same history breaks the promise.
    const durable = run(
      [openOp("a", "undone", 1_000), releaseOp("a", "undone", 9_900), openOp("a", "fresh", 9_800)],
      [],
      { ...SETTINGS, durability: "write" },
    );
    expect(durable.violations.map((v) => v.kind).sort()).toEqual([
      "open-lost",
      "released-counted-again",
    ]);
    expect(durable.stats).toMatchObject({ inLossWindow: 0, lostInWindow: 0 });

    // Through a follower, or earlier than one interval and its slack: not excused.
    expect(
      run([
        openOp("b", "fresh", 9_800),
        openOp("a", "undone", 1_000),
        releaseOp("b", "undone", 9_900),
      ])
        .violations.map((v) => v.kind)
        .sort(),
    ).toEqual(["open-lost", "released-counted-again"]);
    expect(run([openOp("a", "early", 8_000)]).violations.map((v) => v.kind)).toEqual([
      "open-lost",
      "unknown-connection",
    ]);
    // Already in a snapshot of the leader's term: the successor must have it.
    expect(
      run([openOp("a", "written", 9_800)], [write(10, 1, "a_1", 1, ["written"])]).violations.map(
        (v) => v.kind,
      ),
    ).toEqual(["open-lost", "unknown-connection"]);
  });

  it("does not hold a refused release against the run, but counts it when the connection still counts", () => {
    const report = check({
      settings: SETTINGS,
      replicas: twoTerms,
      history: [openOp("a", "held", 1_000), releaseOp("b", "held", 2_000, 404)],
      writes: [],
      final: { listed: new Set(["held"]) },
    });
    expect(report.violations).toEqual([]);
    expect(report.stats.refusedButCounted).toBe(1);
  });
});
