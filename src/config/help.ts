/** `konsul-lb serve --help`, from the table of settings. */

import {
  CONFIG_KEYS,
  envName,
  ROW_OF_CONFIG_KEY,
  SETTING_NAMES,
  type SettingSpec,
  spec,
} from "./setting-table.ts";

/** "(set by --log-level, KONSUL_LB_LOG_LEVEL or logLevel in the config file)". */
export function setBy(setting: SettingSpec<unknown>): string {
  if (setting.flag === null) return `(set by ${setting.configKey} in the config file)`;
  const env = envName(setting.flag);
  return setting.configKey === null
    ? `(set by --${setting.flag} or ${env})`
    : `(set by --${setting.flag}, ${env} or ${setting.configKey} in the config file)`;
}

function flagLines(): string[] {
  const lines: string[] = [];
  for (const name of SETTING_NAMES) {
    const setting = spec(name);
    if (setting.flag === null) continue;
    lines.push(`  --${setting.flag} ${setting.value[0]}`);
    for (const line of setting.help) lines.push(`      ${line}`);
    const config = setting.configKey === null ? "" : `   config: ${setting.configKey}`;
    lines.push(`      env: ${envName(setting.flag)}${config}   default: ${setting.defaultText}`);
  }
  return lines;
}

function configExampleLines(): string[] {
  return CONFIG_KEYS.flatMap((key) => {
    const name = ROW_OF_CONFIG_KEY.get(key);
    return name === undefined ? [] : (spec(name).example ?? []);
  }).map(([yaml, comment]) => (comment === "" ? `  ${yaml}` : `  ${yaml.padEnd(36)}# ${comment}`));
}

function helpText(): string {
  const lines = [
    "konsul-lb serve: serve load-balancing decisions over HTTP and DNS.",
    "",
    "Usage:",
    "  konsul-lb serve [flags]",
    "  konsul-lb serve --help",
    "  konsul-lb --help",
    "",
    "Each setting is taken from, in order of precedence: its flag, its environment variable,",
    "the config file (--config), its default. An empty environment variable counts as unset.",
    "",
    "Flags:",
    ...flagLines(),
    "  -h, --help",
    "      Show this help.",
    "",
    "Config file (YAML; every field is optional):",
    ...configExampleLines(),
    "",
    "Examples:",
    "  konsul-lb serve --file examples/demo.yaml --http-addr 127.0.0.1:8080",
    "  konsul-lb serve --source kubernetes --kubeconfig ~/.kube/config",
    "  POD_NAMESPACE=konsul-lb konsul-lb serve --source kubernetes --lease-duration 15s",
    "  konsul-lb serve --config /etc/konsul-lb/config.yaml --log-level debug",
    "  konsul-lb serve --file examples/demo.yaml --dns-addr 127.0.0.1:5353",
    "  KONSUL_LB_TRUST_PROXY=loopback,10.0.0.0/8 konsul-lb serve --http-addr [::]:8080",
  ];
  return `${lines.join("\n")}\n`;
}

/** Usage of `konsul-lb serve`: every flag with its environment variable and default. */
export const HELP_TEXT: string = helpText();
