import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { LeaderMetricsSink, StepDownReason } from "./leader-election.ts";

/**
 * Metrics of leader election and of the replicated state. `konsul_lb_leader` is
 * controller-runtime's leader_election_master_status under the project's prefix.
 */
export class HaMetrics implements LeaderMetricsSink {
  private readonly leader: Gauge;
  private readonly leaderChanges: Counter;
  private readonly leadership: Counter<"event">;
  readonly stateWrites: Counter<"result">;
  readonly stateBytes: Gauge<"configmap">;
  readonly stateEncodeSeconds: Histogram;
  readonly stateLoads: Counter<"result">;
  readonly stateEpoch: Gauge;
  readonly fingerprintMismatches: Counter;
  readonly forwarded: Counter<"operation" | "result">;
  readonly durableWaitSeconds: Histogram<"result">;
  readonly releasesRepaired: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.leader = new Gauge({
      name: "konsul_lb_leader",
      help: "1 while this replica is the leader (holds a valid Lease), else 0.",
      registers,
    });
    this.leader.set(0);
    this.leaderChanges = new Counter({
      name: "konsul_lb_leader_changes_total",
      help: "Changes of the Lease's holder seen by this replica, to or from any replica.",
      registers,
    });
    this.leadership = new Counter({
      name: "konsul_lb_leadership_transitions_total",
      help: "This replica's own transitions: acquired, or stopped for renew-deadline, lost, released.",
      labelNames: ["event"],
      registers,
    });
    this.stateWrites = new Counter({
      name: "konsul_lb_state_writes_total",
      help: "Writes of state snapshot ConfigMaps by the leader, by result (ok, conflict, fenced, error).",
      labelNames: ["result"],
      registers,
    });
    this.stateBytes = new Gauge({
      name: "konsul_lb_state_configmap_bytes",
      help: "Size of each state snapshot ConfigMap's data as last written or loaded.",
      labelNames: ["configmap"],
      registers,
    });
    this.stateEncodeSeconds = new Histogram({
      name: "konsul_lb_state_encode_seconds",
      help: "Time to export and encode the whole balancer state once (every snapshot interval).",
      buckets: [1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5],
      registers,
    });
    this.stateLoads = new Counter({
      name: "konsul_lb_state_loads_total",
      help: "Snapshot ConfigMaps seen by a follower, by result (loaded, stale: an older epoch, invalid).",
      labelNames: ["result"],
      registers,
    });
    this.stateEpoch = new Gauge({
      name: "konsul_lb_state_epoch",
      help: "The highest snapshot epoch (Lease transitions) this replica has seen or written.",
      registers,
    });
    this.fingerprintMismatches = new Counter({
      name: "konsul_lb_state_fingerprint_mismatches_total",
      help: "Hash tables (ring-hash, maglev) built from the same endpoints whose fingerprint differs from the leader's.",
      registers,
    });
    this.forwarded = new Counter({
      name: "konsul_lb_forwarded_total",
      help: "Connection opens and releases a follower forwarded to the leader, by result (ok, local: answered here because no leader answered).",
      labelNames: ["operation", "result"],
      registers,
    });
    this.durableWaitSeconds = new Histogram({
      name: "konsul_lb_durable_wait_seconds",
      help: "With --connection-durability write: how long the leader held an open or release for the state write holding it, by result (ok, or why it was refused: not-leader, overloaded, timeout, failed).",
      labelNames: ["result"],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.releasesRepaired = new Counter({
      name: "konsul_lb_released_connections_resent_total",
      help: "Releases this replica handed to the leader again because the leader's snapshots still listed the connection a retention period after a leader acknowledged or was handed the release (see docs/high-availability.md).",
      registers,
    });
  }

  leading(value: boolean): void {
    this.leader.set(value ? 1 : 0);
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  transition(event: "acquired" | StepDownReason): void {
    this.leadership.inc({ event });
  }
}
