/** What the xDS server counts, on the project's registry. Every label comes from a fixed set. */
import { Counter, Gauge, type Registry } from "prom-client";

export class XdsMetrics {
  readonly streams: Gauge;
  readonly refused: Counter<"reason">;
  readonly responses: Counter<"type">;
  readonly acks: Counter<"type">;
  readonly nacks: Counter<"type">;
  readonly fallbacks: Counter<"strategy" | "client" | "policy">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.streams = new Gauge({
      name: "konsul_lb_xds_streams",
      help: "Open xDS (ADS) streams, one per connected client.",
      registers,
    });
    this.refused = new Counter({
      name: "konsul_lb_xds_streams_refused_total",
      help: "xDS streams ended with RESOURCE_EXHAUSTED: stream-limit (too many streams) or name-limit (too many names subscribed on one stream).",
      labelNames: ["reason"],
      registers,
    });
    this.responses = new Counter({
      name: "konsul_lb_xds_responses_total",
      help: "xDS responses sent, by resource type (listener, route, cluster, endpoint).",
      labelNames: ["type"],
      registers,
    });
    this.acks = new Counter({
      name: "konsul_lb_xds_acks_total",
      help: "xDS responses a client accepted (ACK), by resource type.",
      labelNames: ["type"],
      registers,
    });
    this.nacks = new Counter({
      name: "konsul_lb_xds_nacks_total",
      help: "xDS responses a client rejected (NACK), by resource type; the client's error is logged.",
      labelNames: ["type"],
      registers,
    });
    this.fallbacks = new Counter({
      name: "konsul_lb_xds_fallbacks_total",
      help: "Clusters sent to a known client that lacks the strategy's first-choice policy, by strategy, client and the policy the client runs instead.",
      labelNames: ["strategy", "client", "policy"],
      registers,
    });
  }
}
