import type { IncomingMessage, ServerResponse } from "node:http";
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { EjectionRecord, Replication } from "../balancer/index.ts";
import { ApiError } from "../http/errors.ts";
import type { Logger } from "../shared/logger.ts";
import { isUninstalled } from "./api-calls.ts";
import { ConnectionFront, type ConnectionTerms } from "./connection-front.ts";
import { CommitRefusedError } from "./group-commit.ts";
import { HaMetrics } from "./ha-metrics.ts";
import type { HaSettings } from "./ha-settings.ts";
import { defaultIdentity, LeaderElector, type LeaderTerm } from "./leader-election.ts";
import { KubernetesLeaseApi } from "./lease.ts";
import { OutcomeForwarder } from "./outcome-forwarder.ts";
import { configMapOwnerReference, ObjectOwner } from "./owner.ts";
import { StateStore } from "./state-store.ts";

export interface HighAvailabilityOptions {
  readonly config: KubeConfig;
  readonly settings: HaSettings;
  readonly manager: Replication;
  readonly logger: Pick<Logger, "info" | "warn">;
  readonly registry: Registry;
  /** Where other replicas reach this one's internal API (published on the Lease). */
  readonly address: string;
  /** Authenticates this replica's calls to the others. */
  readonly credentials: () => Record<string, string>;
  /** What this replica's catalog says of a service, to check opens other replicas report. */
  readonly connectionTerms: (serviceKey: string) => ConnectionTerms | null;
  /** Express's compiled trust-proxy function. */
  readonly trustProxy: (address: string, hop: number) => boolean;
  /** Told when this replica becomes the leader (e.g. to write every policy's status again). */
  readonly onStartedLeading?: () => void;
  /** Told of the leader's outlier ejections of a service, on a follower (state snapshots). */
  readonly onEjections?: (serviceKey: string, records: EjectionRecord[]) => void;
  readonly identity?: string;
}

/**
 * Several replicas of the operator, one leader: the Lease elects it, the state store replicates
 * the balancer state it owns, and the connection front makes followers count connections
 * through it. Every replica serves every read. Replicas talk to each other on the internal API
 * only (src/http/internal-app.ts), authenticated by their ServiceAccount (peer-auth.ts).
 */
export class HighAvailability {
  readonly identity: string;
  readonly elector: LeaderElector;
  readonly store: StateStore;
  readonly front: ConnectionFront;
  /** Hands a follower's outcome reports to the leader. */
  readonly outcomes: OutcomeForwarder;
  readonly metrics: HaMetrics;
  private readonly logger: Pick<Logger, "info" | "warn">;
  private readonly config: KubeConfig;
  private readonly settings: HaSettings;
  private readonly owner: ObjectOwner;
  private started = false;

  constructor(options: HighAvailabilityOptions) {
    const { settings, manager, logger } = options;
    this.logger = logger;
    this.config = options.config;
    this.settings = settings;
    this.owner = new ObjectOwner(settings.leaseNamespace);
    // POD_NAME comes from the downward API; the hostname is the pod name anyway in a pod.
    this.identity = options.identity ?? defaultIdentity(process.env.POD_NAME || hostname());
    this.metrics = new HaMetrics(options.registry);
    const retention =
      settings.leaseDurationMs + settings.retryPeriodMs + 3 * settings.stateIntervalMs + 2_000;
    let store: StateStore | undefined;
    let front: ConnectionFront | undefined;
    this.elector = new LeaderElector({
      lease: new KubernetesLeaseApi(
        options.config,
        settings.leaseNamespace,
        settings.leaseName,
        this.owner,
      ),
      identity: this.identity,
      address: options.address,
      leaseDurationMs: settings.leaseDurationMs,
      renewDeadlineMs: settings.renewDeadlineMs,
      retryPeriodMs: settings.retryPeriodMs,
      logger,
      metrics: this.metrics,
      // A Lease created anew must not restart the epochs below what the snapshots carry.
      initialTransitions: () => (store ? store.highestEpoch() + 1 : 0),
      observer: {
        startedLeading: (term: LeaderTerm) => {
          front?.becameLeader(store?.reader.releasedIds());
          store?.takeOver(term).catch((error: unknown) => {
            logger.warn({ err: error }, "balancer state: taking over failed");
          });
          options.onStartedLeading?.();
        },
        stoppedLeading: () => {
          store?.stepDown();
          front?.steppedDown();
        },
        leaderChanged: (identity, address) => front?.leaderChanged(identity, address),
      },
    });
    front = new ConnectionFront({
      manager,
      identity: this.identity,
      isLeader: () => this.elector.isLeader(),
      leader: () => this.elector.leader(),
      trustProxy: options.trustProxy,
      logger,
      metrics: this.metrics,
      credentials: options.credentials,
      connectionTerms: options.connectionTerms,
      // A change the leader acknowledged but may not have written when it died, or a release of
      // an id this replica does not know, must outlive the failover, to reach the next leader;
      // tombstones must outlive such reports.
      retentionMs: retention,
      tombstoneMs: retention + 5_000,
    });
    store = new StateStore({
      config: options.config,
      namespace: settings.stateNamespace,
      prefix: settings.stateConfigMapPrefix,
      manager,
      logger,
      metrics: this.metrics,
      term: () => this.elector.currentTerm(),
      intervalMs: settings.stateIntervalMs,
      local: front,
      released: (serviceKey) => front?.releasedOf(serviceKey) ?? [],
      written: (startedAt) => front?.written(startedAt),
      onEjections: options.onEjections,
      owner: this.owner,
    });
    this.outcomes = new OutcomeForwarder({
      identity: this.identity,
      isLeader: () => this.elector.isLeader(),
      leader: () => this.elector.leader(),
      credentials: options.credentials,
    });
    this.front = front;
    this.store = store;
  }

  /**
   * What a change made on this replica through the public API waits for before it is
   * acknowledged (ConnectionHooks.settle): with --connection-durability write, a leader answers
   * once a state write holding the change has landed, and refuses with 503 when none does.
   * Otherwise, and on a follower (which answers only without a leader, and keeps the change
   * for the next one), at once.
   */
  settle(): Promise<void> | null {
    if (this.settings.connectionDurability !== "write" || !this.elector.isLeader()) return null;
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    return this.store.durable().then(
      () => this.metrics.durableWaitSeconds.observe({ result: "ok" }, seconds()),
      (error: unknown) => {
        const reason = error instanceof CommitRefusedError ? error.reason : "failed";
        this.metrics.durableWaitSeconds.observe({ result: reason }, seconds());
        throw new ApiError(
          "Unavailable",
          `the change could not be made durable (${reason}): ${error instanceof Error ? error.message : String(error)}; retry`,
        );
      },
    );
  }

  /**
   * Looks up --owner-configmap once. Without it the replicas work as well; only the clean-up of
   * the Lease and state ConfigMaps by the garbage collector is lost, so a failure is a warning.
   */
  private async resolveOwner(): Promise<void> {
    const name = this.settings.ownerConfigMap;
    if (name === null) return;
    const namespace = this.settings.leaseNamespace;
    if (this.settings.stateNamespace !== namespace) {
      this.logger.warn(
        { owner: name, namespace, stateNamespace: this.settings.stateNamespace },
        "owner ConfigMap: the state ConfigMaps are in another namespace and will not be owned",
      );
    }
    try {
      this.owner.set(await configMapOwnerReference(this.config, namespace, name, 5_000));
      this.logger.info(
        { owner: `${namespace}/${name}` },
        "owner ConfigMap: the Lease and state ConfigMaps go when it is deleted",
      );
    } catch (error) {
      this.logger.warn(
        { err: error, owner: `${namespace}/${name}` },
        "owner ConfigMap: not readable; the Lease and state ConfigMaps will stay until deleted",
      );
    }
  }

  isLeader(): boolean {
    return this.elector.isLeader();
  }

  /**
   * Ready for traffic once the state is loaded and the Lease has been read: before that, a
   * replica would answer connection changes from its own state without knowing the leader.
   */
  isReady(): boolean {
    return this.elector.hasObservedLease();
  }

  /**
   * Loads the state ConfigMaps, then campaigns: a replica must know the latest snapshot (and
   * its epoch) before it can lead. Resolves once campaigning has begun.
   */
  async start(): Promise<void> {
    this.started = true;
    await this.resolveOwner();
    this.store.start();
    await this.store.whenSynced();
    if (this.started) this.elector.start();
  }

  /**
   * On followers, the public connection routes (forwarded to the leader). Returns false to
   * leave the request to the app; `local` is the app, for requests the leader did not answer.
   */
  handle(req: IncomingMessage, res: ServerResponse, local: () => void): boolean {
    return this.front.handle(req, res, local);
  }

  /** A forwarded open or release (`released`: its id), before it is answered; throws NotLeader. */
  acceptForwarded(released: string | null): void {
    this.front.acceptForwarded(released);
  }

  /** POST /internal/v1/connections/reconcile; throws the ApiError to answer. */
  reconcile(body: unknown): { opened: number; closed: number } {
    return this.front.reconcileBody(body);
  }

  status() {
    const term = this.elector.currentTerm();
    return {
      identity: this.identity,
      leading: term !== null,
      epoch: term?.epoch ?? null,
      leader: this.elector.leader(),
      stateEpoch: this.store.highestEpoch(),
      pending: this.front.pendingCounts(),
      pendingSample: this.front.pendingSample(),
    };
  }

  /**
   * A leader writes its last snapshot, then releases the Lease so a successor starts within a
   * retry period and continues from exactly here.
   */
  async stop(): Promise<void> {
    this.started = false;
    if (this.elector.isLeader()) {
      try {
        const outcome = await Promise.race([
          this.store.flush(),
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 2_000).unref()),
        ]);
        if (outcome?.kind === "done") {
          this.logger.info({ shards: outcome.shards }, "balancer state: wrote the last snapshot");
        }
      } catch (error) {
        if (isUninstalled(error)) {
          // helm uninstall took the Role first; the state ConfigMaps go with their owner.
          this.logger.info(
            { err: error },
            "balancer state: no last snapshot: the Role is gone (uninstall)",
          );
        } else {
          this.logger.warn({ err: error }, "balancer state: the last snapshot failed");
        }
      }
    }
    this.store.stop();
    await this.elector.stop();
    this.front.stop();
  }
}
