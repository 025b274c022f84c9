import type { Logger } from "../shared/logger.ts";

interface Started {
  readonly name: string;
  readonly stop: () => Promise<void> | void;
}

/**
 * The components of a running server, in the spirit of controller-runtime's manager: each is
 * started in order; they stop in reverse order; when one fails to start, those already started
 * are stopped (once) and the failure goes on to the caller.
 */
export class Lifecycle {
  private readonly logger: Pick<Logger, "warn">;
  private readonly started: Started[] = [];
  private stopping: Promise<void> | null = null;

  constructor(logger: Pick<Logger, "warn">) {
    this.logger = logger;
  }

  /** Starts one component; `stop` is how it stops, given what `start` returned. */
  async start<T>(
    name: string,
    start: () => Promise<T> | T,
    stop: (value: T) => Promise<void> | void,
  ): Promise<T> {
    let value: T;
    try {
      value = await start();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.started.push({ name, stop: () => stop(value) });
    return value;
  }

  /**
   * Stops every component started, the last first, each once; one that fails to stop is logged
   * and does not keep the others running.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const component of this.started.toReversed()) {
        try {
          await component.stop();
        } catch (error) {
          this.logger.warn({ component: component.name, err: error }, "stopping failed");
        }
      }
    })();
    return this.stopping;
  }
}
