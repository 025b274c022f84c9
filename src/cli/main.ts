#!/usr/bin/env node
// Each command imports its modules when it runs: serve's load the Kubernetes client, which would
// more than double the time a short simulate takes.

const EXIT_USAGE = 2;

const COMMANDS_TEXT = `${[
  "konsul-lb: load-balancing policy as a Kubernetes resource.",
  "",
  "Commands:",
  "  serve      serve load-balancing decisions over HTTP, DNS and xDS (its help follows)",
  "  simulate   run a service's policy on synthetic traffic and report how requests spread",
  "             over its endpoints (konsul-lb simulate --help)",
  "",
].join("\n")}\n`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    const { HELP_TEXT } = await import("../config/settings.ts");
    process.stdout.write(COMMANDS_TEXT + HELP_TEXT);
    return command === undefined ? EXIT_USAGE : 0;
  }
  if (command === "simulate") {
    const { runSimulate } = await import("../simulate/command.ts");
    return runSimulate(rest);
  }
  if (command !== "serve") {
    process.stderr.write(
      `konsul-lb: unknown command ${JSON.stringify(command)}; expected serve or simulate (see konsul-lb --help)\n`,
    );
    return EXIT_USAGE;
  }
  const [{ loadSettings }, { createLogger }, { startService }] = await Promise.all([
    import("../config/settings.ts"),
    import("../observability/logger.ts"),
    import("./serve.ts"),
  ]);
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
