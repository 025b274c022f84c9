import { type ParseArgsOptionsConfig, parseArgs } from "node:util";

/** What a command tells about its flags, for messages about a rejected command line. */
export interface CommandFlags {
  /** "konsul-lb serve" */
  readonly command: string;
  readonly options: ParseArgsOptionsConfig;
  /** "--file, --config, …": every flag, for the unknown-flag message. */
  readonly allFlags: string;
  /** "see konsul-lb serve --help" */
  readonly seeHelp: string;
  /**
   * A flag's value description and where else it can be set (empty, or " (set by …)"), or
   * undefined for a flag the command does not have. `help` is handled here.
   */
  describe(name: string): { readonly valueText: string; readonly setBy: string } | undefined;
}

/**
 * A message for a command line that parseArgs rejects, naming the argument at fault: parseArgs's
 * own messages say what went wrong but not what to write instead.
 */
export function argumentProblem(
  argv: readonly string[],
  fallback: string,
  flags: CommandFlags,
): string {
  const { tokens } = parseArgs({
    args: [...argv],
    options: flags.options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const seeHelp = `(${flags.seeHelp})`;
  for (const token of tokens) {
    if (token.kind === "positional") {
      return `unexpected argument ${JSON.stringify(token.value)}; ${flags.command} takes only flags ${seeHelp}`;
    }
    if (token.kind !== "option") continue;
    if (token.name === "help") {
      if (token.value !== undefined) return `${token.rawName} takes no value ${seeHelp}`;
      continue;
    }
    const flag = flags.describe(token.name);
    if (!flag) return `unknown flag ${token.rawName}; the flags are ${flags.allFlags} ${seeHelp}`;
    if (token.value === undefined)
      return `${token.rawName} needs a value: ${flag.valueText}${flag.setBy}`;
    if (!token.inlineValue && token.value.startsWith("-") && token.value !== "-") {
      return (
        `${token.rawName}: ${JSON.stringify(token.value)} looks like a flag, not a value; ` +
        `write --${token.name}=${token.value} if it is the value${flag.setBy}`
      );
    }
  }
  return `${fallback} ${seeHelp}`;
}
