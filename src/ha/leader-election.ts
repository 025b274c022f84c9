import { hostname } from "node:os";
import type { Logger } from "../shared/logger.ts";
import { isUninstalled } from "./api-calls.ts";
import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  validateTimings,
} from "./defaults.ts";
import {
  type LeaseApi,
  LeaseConflictError,
  type LeaseRecord,
  type ObservedLease,
} from "./lease.ts";

/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics
 * (tools/leaderelection), which the TypeScript client does not provide:
 *
 * - A lease held by someone else counts as expired only when this replica has not seen the
 *   record change for leaseDuration by its own monotonic clock. The holder's renewTime is never
 *   compared with the local clock, so clock skew between machines does not matter, only their
 *   rates.
 * - Every write carries the resourceVersion that was read; a 409 means another replica won.
 * - The leader renews every retryPeriod. It acts as leader only until renewDeadline after the
 *   start of its last successful renew, judged by its monotonic clock at the moment of asking
 *   (`isLeader()`), not by a timer that a paused process would fire late. Since another replica
 *   can acquire no earlier than leaseDuration after it saw that renew, and renewDeadline <
 *   leaseDuration, the old leader has stopped before a new one can start.
 * - Stopping releases the lease (holder cleared), so a successor takes over at its next retry.
 * - Every term of leadership has an epoch of its own (the Lease's leaseTransitions, incremented
 *   by whoever starts a term, this replica included when it takes its own Lease back after its
 *   term ended). The state store orders snapshots by (epoch, sequence), so two terms sharing an
 *   epoch would make followers refuse the second one's writes.
 */

export interface LeaderTerm {
  readonly identity: string;
  /** The Lease's leaseTransitions when this replica took it: grows with every new leader. */
  readonly epoch: number;
}

export type StepDownReason = "renew-deadline" | "lost" | "released";

/** What one attempt achieved: the term it began with renewed, a new term, or neither. */
type AttemptOutcome = "renewed" | "acquired" | "not-acquired";

export interface LeaderObserver {
  /** This replica became the leader; it may write from now on. */
  startedLeading?(term: LeaderTerm): void;
  /** This replica stopped being leader; it has already stopped counting as one. */
  stoppedLeading?(reason: StepDownReason): void;
  /** The Lease's holder changed (to this replica, another, or nobody: null). */
  leaderChanged?(identity: string | null, address: string | null): void;
}

export interface LeaderMetricsSink {
  leading(value: boolean): void;
  leaderChanged(): void;
  transition(event: "acquired" | StepDownReason): void;
}

export interface LeaderElectorOptions {
  readonly lease: LeaseApi;
  readonly identity: string;
  /** This replica's HTTP API, published on the Lease while it leads. */
  readonly address?: string | null;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly logger: Pick<Logger, "info" | "warn">;
  readonly observer?: LeaderObserver;
  readonly metrics?: LeaderMetricsSink;
  /** Monotonic milliseconds; injectable for tests. */
  readonly clock?: () => number;
  /** Wall-clock time written into the Lease for people to read. */
  readonly wallClock?: () => Date;
  /**
   * leaseTransitions for a Lease this replica has to create. A Lease deleted and created again
   * would restart at 0 and make every epoch already written look newer than the new leader's.
   */
  readonly initialTransitions?: () => number;
}

/** `hostname_<random>`, as controller-runtime does: a restarted pod is a new candidate. */
export function defaultIdentity(host: string = hostname()): string {
  return `${host}_${crypto.randomUUID().slice(0, 8)}`;
}

export class LeaderElector {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly lease: LeaseApi;
  private readonly address: string | null;
  private readonly logger: Pick<Logger, "info" | "warn">;
  private readonly observer: LeaderObserver;
  private readonly metrics: LeaderMetricsSink | undefined;
  private readonly clock: () => number;
  private readonly wallClock: () => Date;
  private readonly initialTransitions: () => number;

  /** The last version of the Lease this replica saw, and when (monotonic) it last changed. */
  private observed: ObservedLease | null = null;
  private observedAt = 0;
  private term: LeaderTerm | null = null;
  /** Leadership holds until this monotonic time unless renewed. */
  private validUntil = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private stepDownTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> = Promise.resolve();
  private lastLeader: string | null | undefined;
  /** An attempt that was in flight when stop() began won the lease: release it all the same. */
  private acquiredWhileStopping = false;

  constructor(options: LeaderElectorOptions) {
    this.lease = options.lease;
    this.identity = options.identity;
    this.address = options.address ?? null;
    this.leaseDurationMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewDeadlineMs = options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryPeriodMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    validateTimings(this.leaseDurationMs, this.renewDeadlineMs, this.retryPeriodMs);
    if (this.identity === "") throw new Error("leader election: the identity must not be empty");
    this.logger = options.logger;
    this.observer = options.observer ?? {};
    this.metrics = options.metrics;
    this.clock = options.clock ?? (() => performance.now());
    this.wallClock = options.wallClock ?? (() => new Date());
    this.initialTransitions = options.initialTransitions ?? (() => 0);
  }

  /** True only while this replica holds a lease it renewed within the renew deadline. */
  isLeader(): boolean {
    return this.term !== null && this.clock() < this.validUntil;
  }

  /** The current term while leading, else null. */
  currentTerm(): LeaderTerm | null {
    return this.isLeader() ? this.term : null;
  }

  /** The holder this replica last saw on the Lease, with its published address. */
  leader(): { identity: string; address: string | null } | null {
    const record = this.observed?.record;
    if (!record || record.holderIdentity === "") return null;
    return { identity: record.holderIdentity, address: record.holderAddress };
  }

  /** True once this replica has read (or created) the Lease: it knows who leads, if anyone. */
  hasObservedLease(): boolean {
    return this.observed !== null;
  }

  /** The highest leaseTransitions this replica has seen on the Lease. */
  observedTransitions(): number {
    return this.observed?.record.leaseTransitions ?? 0;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /**
   * Stops campaigning; a leader stops acting as one at once, then clears the holder so that a
   * successor does not wait out the lease.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    // Let an attempt in flight finish, so the release below is not overtaken by a renew.
    await this.loop;
    const observed = this.observed;
    const holds = this.term !== null || this.acquiredWhileStopping;
    this.stepDown("released");
    if (!holds || !observed || observed.record.holderIdentity !== this.identity) return;
    const now = this.wallClock().toISOString();
    try {
      this.observed = await this.lease.update(
        {
          ...observed.record,
          holderIdentity: "",
          holderAddress: null,
          // client-go's release: a 1 s lease, so that even an old client waits little.
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
        },
        observed.resourceVersion,
        this.retryPeriodMs,
      );
      this.logger.info({ identity: this.identity }, "released the leader lease");
    } catch (error) {
      if (isUninstalled(error)) {
        // helm uninstall took the Role (or the Lease) first; nobody is left to take over.
        this.logger.info(
          { identity: this.identity, err: error },
          "left the leader lease unreleased: the Role or the Lease is gone (uninstall)",
        );
        return;
      }
      // Someone changed it meanwhile, or the API is away: the lease then expires by itself.
      this.logger.warn(
        { identity: this.identity, err: error },
        "releasing the leader lease failed",
      );
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.loop = this.attempt();
    }, delayMs);
  }

  private async attempt(): Promise<void> {
    if (!this.running) return;
    const started = this.clock();
    const wasLeading = this.isLeader();
    if (this.term !== null && !wasLeading) this.stepDown("renew-deadline");
    const renewing = this.term;
    let outcome: AttemptOutcome = "not-acquired";
    try {
      outcome = await this.tryAcquireOrRenew(started, renewing);
    } catch (error) {
      this.logger.warn(
        { identity: this.identity, err: error },
        wasLeading ? "renewing the leader lease failed" : "reading the leader lease failed",
      );
    }
    if (!this.running) {
      this.acquiredWhileStopping = outcome !== "not-acquired";
      return;
    }
    if (outcome === "renewed" && (this.term !== renewing || !this.isLeader())) {
      // The renew landed after the deadline (the step-down timer fired meanwhile, or is about
      // to): that term is over, whatever the API server says. Reviving it would reuse its epoch
      // for a second term, and followers would refuse the second term's snapshots as stale.
      // The Lease still names this replica, so the next attempt starts a new term.
      if (this.term !== null) this.stepDown("renew-deadline");
      this.logger.warn(
        { identity: this.identity, epoch: renewing?.epoch ?? null },
        "a renew of the leader lease succeeded after the renew deadline; the next attempt starts a new term",
      );
      outcome = "not-acquired";
    }
    if (outcome !== "not-acquired") {
      this.validUntil = started + this.renewDeadlineMs;
      if (outcome === "acquired") this.becomeLeader();
      this.armStepDown();
    } else if (this.term !== null) {
      const holder = this.observed?.record.holderIdentity;
      // Another holder on the Lease: lost for sure. Otherwise (an error) keep trying until the
      // deadline, as client-go's renew loop does.
      if (holder !== undefined && holder !== this.identity) this.stepDown("lost");
      else if (!this.isLeader()) this.stepDown("renew-deadline");
    }
    this.schedule(this.nextDelay());
  }

  /** The next attempt: a retry period away, or sooner if the observed lease expires earlier. */
  private nextDelay(): number {
    if (this.term !== null) return this.retryPeriodMs;
    const record = this.observed?.record;
    if (!record || record.holderIdentity === "") return this.retryPeriodMs;
    const expiresIn = this.observedAt + record.leaseDurationSeconds * 1000 - this.clock();
    // Already expired means this attempt failed against an expired lease: wait a full period.
    return expiresIn > 0 ? Math.min(this.retryPeriodMs, expiresIn + 1) : this.retryPeriodMs;
  }

  /**
   * One round of client-go's tryAcquireOrRenew. `renewing` is the term held when the attempt
   * began: only that term is renewed; any other success starts a new term with a new epoch.
   */
  private async tryAcquireOrRenew(
    started: number,
    renewing: LeaderTerm | null,
  ): Promise<AttemptOutcome> {
    const timeout = this.requestTimeout(started);
    const now = this.wallClock().toISOString();
    const leaseSeconds = this.leaseDurationMs / 1000;

    // A leader renews from what it wrote last; only a conflict sends it back to reading.
    if (renewing !== null && this.observed?.record.holderIdentity === this.identity) {
      try {
        this.observe(
          await this.lease.update(
            this.renewal(this.observed.record, now, leaseSeconds),
            this.observed.resourceVersion,
            timeout,
          ),
        );
        return "renewed";
      } catch (error) {
        if (!(error instanceof LeaseConflictError)) throw error;
      }
    }

    const current = await this.lease.get(timeout);
    if (current === null) {
      const record: LeaseRecord = {
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: this.initialTransitions(),
        holderAddress: this.address,
      };
      try {
        this.observe(await this.lease.create(record, this.requestTimeout(started)));
        return "acquired";
      } catch (error) {
        if (error instanceof LeaseConflictError) return "not-acquired";
        throw error;
      }
    }
    this.observe(current);
    const record = current.record;
    const heldByOther = record.holderIdentity !== "" && record.holderIdentity !== this.identity;
    if (heldByOther && this.observedAt + record.leaseDurationSeconds * 1000 > this.clock()) {
      return "not-acquired";
    }
    // Only a leader still within its term renews it. Anyone else, this replica included when it
    // finds its own name on a Lease after its term ended (it passed the renew deadline and
    // nobody took over), starts a new term: every term has an epoch of its own.
    const renews = renewing !== null && record.holderIdentity === this.identity;
    const next: LeaseRecord = renews
      ? this.renewal(record, now, leaseSeconds)
      : {
          holderIdentity: this.identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: record.leaseTransitions + 1,
          holderAddress: this.address,
        };
    try {
      this.observe(
        await this.lease.update(next, current.resourceVersion, this.requestTimeout(started)),
      );
      return renews ? "renewed" : "acquired";
    } catch (error) {
      if (error instanceof LeaseConflictError) return "not-acquired";
      throw error;
    }
  }

  private renewal(record: LeaseRecord, now: string, leaseSeconds: number): LeaseRecord {
    return {
      ...record,
      leaseDurationSeconds: leaseSeconds,
      renewTime: now,
      holderAddress: this.address,
    };
  }

  /**
   * A leader's request may not outlive its deadline (a late success would be acted on by
   * nobody); a candidate's may take a retry period.
   */
  private requestTimeout(started: number): number {
    if (this.term === null) return this.retryPeriodMs;
    return Math.max(1, started + this.renewDeadlineMs - this.clock());
  }

  private observe(lease: ObservedLease): void {
    const previous = this.observed;
    if (previous?.resourceVersion !== lease.resourceVersion) {
      this.observed = lease;
      this.observedAt = this.clock();
    }
    const holder = lease.record.holderIdentity || null;
    if (holder !== this.lastLeader) {
      const first = this.lastLeader === undefined;
      this.lastLeader = holder;
      if (!first) this.metrics?.leaderChanged();
      this.logger.info(
        {
          identity: this.identity,
          leader: holder,
          leaseTransitions: lease.record.leaseTransitions,
        },
        holder === null
          ? "the leader lease is free"
          : holder === this.identity
            ? "this replica holds the leader lease"
            : `leader is ${holder}`,
      );
      this.observer.leaderChanged?.(holder, lease.record.holderAddress);
    }
  }

  private becomeLeader(): void {
    const epoch = this.observed?.record.leaseTransitions ?? 0;
    this.term = { identity: this.identity, epoch };
    this.metrics?.leading(true);
    this.metrics?.transition("acquired");
    this.logger.info(
      { identity: this.identity, epoch, at: this.wallClock().toISOString() },
      "became leader",
    );
    this.observer.startedLeading?.(this.term);
  }

  /** Fires at the deadline even when no attempt is due, so callbacks learn of it on time. */
  private armStepDown(): void {
    clearTimeout(this.stepDownTimer);
    this.stepDownTimer = setTimeout(
      () => {
        if (this.term !== null && !this.isLeader()) this.stepDown("renew-deadline");
      },
      Math.max(0, this.validUntil - this.clock()),
    );
  }

  private stepDown(reason: StepDownReason): void {
    clearTimeout(this.stepDownTimer);
    if (this.term === null) return;
    const epoch = this.term.epoch;
    // When leadership really ended: at the deadline, even if this runs later (a paused process).
    const wall = this.wallClock().getTime();
    const until = new Date(wall - Math.max(0, this.clock() - this.validUntil)).toISOString();
    this.term = null;
    this.validUntil = 0;
    this.metrics?.leading(false);
    this.metrics?.transition(reason);
    const log = reason === "released" ? this.logger.info : this.logger.warn;
    log.call(
      this.logger,
      { identity: this.identity, epoch, reason, at: new Date(wall).toISOString(), until },
      "stopped leading",
    );
    this.observer.stoppedLeading?.(reason);
  }
}
