#!/usr/bin/env node
import { HELP_TEXT, loadSettings } from "../config/settings.ts";
import { createLogger } from "../observability/logger.ts";
import { startService } from "./serve.ts";

const EXIT_USAGE = 2;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP_TEXT);
    return command === undefined ? EXIT_USAGE : 0;
  }
  if (command !== "serve") {
    process.stderr.write(
      `konsul-lb: unknown command ${JSON.stringify(command)}; expected serve (see konsul-lb --help)\n`,
    );
    return EXIT_USAGE;
  }
  const loaded = loadSettings(rest, process.env);
  if (loaded.kind === "help") {
    process.stdout.write(loaded.text);
    return 0;
  }
  if (loaded.kind === "error") {
    for (const line of loaded.message.split("\n")) process.stderr.write(`konsul-lb: ${line}\n`);
    return EXIT_USAGE;
  }
  const logger = createLogger(loaded.settings.logLevel);
  let service: Awaited<ReturnType<typeof startService>>;
  try {
    service = await startService(loaded.settings, logger);
  } catch (error) {
    logger.fatal({ err: error }, "konsul-lb could not start");
    process.stderr.write(`konsul-lb: ${(error as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      logger.info({ signal }, "shutting down: finishing in-flight requests");
      service.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, "error while shutting down");
        resolve();
      });
    };
    process.once("SIGTERM", shutdown);
    process.once("SIGINT", shutdown);
  });
  logger.info("konsul-lb stopped");
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
