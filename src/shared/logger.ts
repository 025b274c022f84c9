/**
 * What components log through: structured fields first, then the message, as pino takes them
 * (src/observability/logger.ts makes the program's one). Each component takes the levels it
 * uses, as Pick<Logger, "info" | "warn">, so that a test passes just those.
 */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A logger that drops everything, for components given none. */
export const SILENT_LOGGER: Logger = { debug() {}, info() {}, warn() {}, error() {} };
