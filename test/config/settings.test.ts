import express from "express";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { parseConfigFile } from "../../src/config/config-file.ts";
import type { ServerSettings, SettingsResult } from "../../src/config/settings.ts";
import {
  HELP_TEXT,
  loadSettings,
  parseHostPort,
  parseTrustProxy,
} from "../../src/config/settings.ts";
import { DEFAULT_HA_SETTINGS } from "../../src/ha/ha-settings.ts";

/** A readFile over an in-memory set of files; a missing one fails as the file system does. */
function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path];
    if (text === undefined) {
      throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    }
    return text;
  };
}

const noFiles = files({});

function ok(result: SettingsResult): ServerSettings {
  if (result.kind !== "ok") throw new Error(`expected settings, got ${JSON.stringify(result)}`);
  return result.settings;
}

function error(result: SettingsResult): string {
  if (result.kind !== "error") throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.message;
}

function load(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
  contents: Record<string, string> = {},
): SettingsResult {
  return loadSettings(argv, env, files(contents));
}

const EXAMPLE_CONFIG = `
httpAddr: 127.0.0.1:9090
internalAddr: 127.0.0.1:9091
logLevel: debug
trustProxy: loopback
defaultStrategy: least-request
healthFilter: false
strategies:
  ring-hash: {enabled: true, virtualNodes: 300}
  ip-hash: {enabled: false}
  latency-based: {latencyMap: {us-east: {us-east: 1ms, eu-west: 80ms}, eu-west: {us-east: 1.5s}}}
`;

describe("defaults", () => {
  it("serves on 0.0.0.0:8080 with round-robin, every strategy enabled, info logs", () => {
    expect(ok(loadSettings([], {}, noFiles))).toEqual({
      file: null,
      source: "kubernetes",
      kubeconfig: null,
      httpHost: "0.0.0.0",
      httpPort: 8080,
      internalAddr: { host: "0.0.0.0", port: 8081 },
      defaultStrategy: "round-robin",
      enabledStrategies: [...STRATEGY_NAMES],
      healthFilter: true,
      virtualNodes: null,
      latencyMap: {},
      logLevel: "info",
      trustProxy: false,
      dnsAddr: null,
      dnsDomain: "lb.konsul.local",
      dnsTtl: 5,
      dnsMaxAnswers: 8,
      maxConnections: 100_000,
      maxConnectionsPerService: 10_000,
      maxBlockingWaiters: 10_000,
      tableBuildWorkers: 1,
      statusPage: false,
      xdsAddr: null,
      ha: { ...DEFAULT_HA_SETTINGS, leaderElect: true },
    });
  });

  it("does not read a file when no config is named", () => {
    const settings = ok(
      loadSettings([], {}, () => {
        throw new Error("read");
      }),
    );
    expect(settings.logLevel).toBe("info");
  });

  it("treats an empty environment variable as unset", () => {
    const settings = ok(load([], { KONSUL_LB_LOG_LEVEL: "", KONSUL_LB_FILE: "" }));
    expect(settings.logLevel).toBe("info");
    expect(settings.file).toBeNull();
  });

  it("ignores environment variables of other programs", () => {
    expect(ok(load([], { LOG_LEVEL: "loud", PATH: "/bin" })).logLevel).toBe("info");
  });
});

describe("flags", () => {
  it("--file", () => {
    expect(ok(load(["--file", "examples/demo.yaml"])).file).toBe("examples/demo.yaml");
    expect(ok(load(["--file=/srv/m.yaml"])).file).toBe("/srv/m.yaml");
  });

  it("--http-addr", () => {
    const settings = ok(load(["--http-addr", "127.0.0.1:9000"]));
    expect([settings.httpHost, settings.httpPort]).toEqual(["127.0.0.1", 9000]);
  });

  it("--http-addr with a host name and port 0", () => {
    const settings = ok(load(["--http-addr=localhost:0"]));
    expect([settings.httpHost, settings.httpPort]).toEqual(["localhost", 0]);
  });

  it("--http-addr with IPv6 in brackets", () => {
    const loopback = ok(load(["--http-addr", "[::1]:8080"]));
    expect([loopback.httpHost, loopback.httpPort]).toEqual(["::1", 8080]);
    const any = ok(load(["--http-addr", "[::]:65535"]));
    expect([any.httpHost, any.httpPort]).toEqual(["::", 65535]);
  });

  it("--default-strategy", () => {
    for (const name of STRATEGY_NAMES) {
      expect(ok(load(["--default-strategy", name])).defaultStrategy).toBe(name);
    }
  });

  it("--log-level", () => {
    for (const level of ["fatal", "error", "warn", "info", "debug", "trace", "silent"]) {
      expect(ok(load(["--log-level", level])).logLevel).toBe(level);
    }
  });

  it("--trust-proxy takes the values Express's trust proxy takes", () => {
    expect(ok(load(["--trust-proxy", "true"])).trustProxy).toBe(true);
    expect(ok(load(["--trust-proxy", "false"])).trustProxy).toBe(false);
    expect(ok(load(["--trust-proxy", "2"])).trustProxy).toBe(2);
    expect(ok(load(["--trust-proxy", "0"])).trustProxy).toBe(0);
    expect(ok(load(["--trust-proxy", "loopback"])).trustProxy).toBe("loopback");
    expect(
      ok(load(["--trust-proxy", "loopback, 10.0.0.0/8 ,fc00::/7,192.168.1.1,linklocal"]))
        .trustProxy,
    ).toBe("loopback,10.0.0.0/8,fc00::/7,192.168.1.1,linklocal");
    expect(ok(load(["--trust-proxy", "10.0.0.0/255.0.0.0,uniquelocal"])).trustProxy).toBe(
      "10.0.0.0/255.0.0.0,uniquelocal",
    );
  });

  it("--config reads the file", () => {
    const settings = ok(load(["--config", "lb.yaml"], {}, { "lb.yaml": EXAMPLE_CONFIG }));
    expect(settings).toEqual({
      file: null,
      source: "kubernetes",
      kubeconfig: null,
      httpHost: "127.0.0.1",
      httpPort: 9090,
      internalAddr: { host: "127.0.0.1", port: 9091 },
      defaultStrategy: "least-request",
      enabledStrategies: STRATEGY_NAMES.filter((name) => name !== "ip-hash"),
      healthFilter: false,
      virtualNodes: 300,
      latencyMap: { "us-east": { "us-east": 1, "eu-west": 80 }, "eu-west": { "us-east": 1500 } },
      logLevel: "debug",
      trustProxy: "loopback",
      dnsAddr: null,
      dnsDomain: "lb.konsul.local",
      dnsTtl: 5,
      dnsMaxAnswers: 8,
      maxConnections: 100_000,
      maxConnectionsPerService: 10_000,
      maxBlockingWaiters: 10_000,
      tableBuildWorkers: 1,
      statusPage: false,
      xdsAddr: null,
      ha: { ...DEFAULT_HA_SETTINGS, leaderElect: true },
    });
  });

  it("--status-page and KONSUL_LB_STATUS_PAGE turn the status page on; anything but true or false is refused", () => {
    expect(ok(load([])).statusPage).toBe(false);
    expect(ok(load(["--status-page", "true"])).statusPage).toBe(true);
    expect(ok(load([], { KONSUL_LB_STATUS_PAGE: "true" })).statusPage).toBe(true);
    expect(ok(load(["--status-page", "false"], { KONSUL_LB_STATUS_PAGE: "true" })).statusPage).toBe(
      false,
    );
    const result = load(["--status-page", "yes"]);
    expect(result.kind).toBe("error");
    expect(result.kind === "error" && result.message).toMatch(
      /--status-page: "yes" is not allowed; expected true or false/,
    );
  });

  it("the last of a repeated flag wins", () => {
    expect(ok(load(["--log-level", "warn", "--log-level=debug"])).logLevel).toBe("debug");
  });
});

describe("environment variables", () => {
  it("set every setting", () => {
    const settings = ok(
      load(
        [],
        {
          KONSUL_LB_FILE: "m.yaml",
          KONSUL_LB_HTTP_ADDR: "[fe80::1]:81",
          KONSUL_LB_DEFAULT_STRATEGY: "maglev",
          KONSUL_LB_LOG_LEVEL: "trace",
          KONSUL_LB_TRUST_PROXY: "3",
          KONSUL_LB_CONFIG: "c.yaml",
        },
        { "c.yaml": "healthFilter: false\n" },
      ),
    );
    expect(settings).toMatchObject({
      file: "m.yaml",
      httpHost: "fe80::1",
      httpPort: 81,
      defaultStrategy: "maglev",
      logLevel: "trace",
      trustProxy: 3,
      healthFilter: false,
    });
  });

  it("are checked like flags, and the error names the variable", () => {
    expect(error(load([], { KONSUL_LB_LOG_LEVEL: "loud" }))).toBe(
      'KONSUL_LB_LOG_LEVEL: "loud" is not allowed; expected one of fatal, error, warn, info, ' +
        "debug, trace, silent (set by --log-level, KONSUL_LB_LOG_LEVEL or logLevel in the " +
        "config file)",
    );
  });
});

describe("precedence: flag > environment > config file > default", () => {
  const config = { "c.yaml": "logLevel: warn\nhttpAddr: 10.0.0.1:1000\n" };

  it("takes the flag over the variable and the file", () => {
    const settings = ok(
      load(
        ["--config", "c.yaml", "--log-level", "debug"],
        { KONSUL_LB_LOG_LEVEL: "error" },
        config,
      ),
    );
    expect(settings.logLevel).toBe("debug");
  });

  it("takes the variable over the file", () => {
    const settings = ok(load(["--config", "c.yaml"], { KONSUL_LB_LOG_LEVEL: "error" }, config));
    expect(settings.logLevel).toBe("error");
    expect([settings.httpHost, settings.httpPort]).toEqual(["10.0.0.1", 1000]);
  });

  it("takes the file over the default", () => {
    const settings = ok(load(["--config", "c.yaml"], {}, config));
    expect(settings.logLevel).toBe("warn");
    expect(settings.defaultStrategy).toBe("round-robin");
  });

  it("takes --config over KONSUL_LB_CONFIG", () => {
    const settings = ok(
      load(["--config", "a.yaml"], { KONSUL_LB_CONFIG: "b.yaml" }, { "a.yaml": "logLevel: fatal" }),
    );
    expect(settings.logLevel).toBe("fatal");
  });

  it("reports only the wrong value that takes effect", () => {
    expect(
      error(
        load(
          ["--config", "c.yaml", "--log-level", "noisy"],
          { KONSUL_LB_LOG_LEVEL: "loud" },
          { "c.yaml": "logLevel: 7\n" },
        ),
      ),
    ).toBe(
      '--log-level: "noisy" is not allowed; expected one of fatal, error, warn, info, debug, ' +
        "trace, silent (set by --log-level, KONSUL_LB_LOG_LEVEL or logLevel in the config file)",
    );
    // An overridden wrong value is not in effect, so it is not an error.
    expect(ok(load(["--log-level", "warn"], { KONSUL_LB_LOG_LEVEL: "loud" })).logLevel).toBe(
      "warn",
    );
    expect(
      ok(load(["--config", "c.yaml"], { KONSUL_LB_LOG_LEVEL: "info" }, { "c.yaml": "logLevel: 7" }))
        .logLevel,
    ).toBe("info");
  });
});

describe("invalid values", () => {
  const HOST_PORT =
    "expected host:port, such as 0.0.0.0:8080, localhost:8080 or [::1]:8080 (IPv6 in " +
    "brackets), with a port from 0 to 65535 (0 = any free port) (set by --http-addr, " +
    "KONSUL_LB_HTTP_ADDR or httpAddr in the config file)";

  it.each([
    ["localhost", "no port"],
    ["localhost:", "no port"],
    [":8080", "no host; use 0.0.0.0 for every IPv4 interface or [::] for all"],
    ["::1:8080", "an IPv6 address must be written in brackets"],
    ["[::1]8080", "no port after the IPv6 address"],
    ["[::1:8080", "no closing bracket after the IPv6 address"],
    ["[1.2.3.4]:80", '"1.2.3.4" is not an IPv6 address'],
    ["host:http", 'port "http" is not a number'],
    ["host:-1", 'port "-1" is not a number'],
    ["host:65536", "port 65536 is out of range"],
    ["host:123456", 'port "123456" is not a number'],
    ["999.1.1.1:80", '"999.1.1.1" is neither an IPv4 address nor a host name'],
    ["my_host:80", '"my_host" is neither an IPv4 address nor a host name'],
    ["", "no port"],
  ])("--http-addr %j: %s", (value, reason) => {
    expect(error(load([`--http-addr=${value}`]))).toBe(
      `--http-addr: ${JSON.stringify(value)} is not allowed (${reason}); ${HOST_PORT}`,
    );
  });

  it("KONSUL_LB_HTTP_ADDR", () => {
    expect(error(load([], { KONSUL_LB_HTTP_ADDR: "0.0.0.0:99999" }))).toBe(
      `KONSUL_LB_HTTP_ADDR: "0.0.0.0:99999" is not allowed (port 99999 is out of range); ${HOST_PORT}`,
    );
  });

  it("--default-strategy", () => {
    expect(error(load(["--default-strategy", "round_robin"]))).toBe(
      '--default-strategy: "round_robin" is not allowed; expected one of ' +
        `${STRATEGY_NAMES.join(", ")} (set by --default-strategy, KONSUL_LB_DEFAULT_STRATEGY ` +
        "or defaultStrategy in the config file)",
    );
  });

  it("--log-level is case-sensitive, as pino is", () => {
    expect(error(load(["--log-level", "INFO"]))).toMatch(
      /^--log-level: "INFO" is not allowed; expected one of fatal, error, warn, info, debug, trace, silent \(set by --log-level, KONSUL_LB_LOG_LEVEL or logLevel/,
    );
  });

  const TRUST =
    "expected false, true, a hop count (a whole number), or a comma-separated list of trusted " +
    "proxies, each an IP address, a CIDR range (10.0.0.0/8, fc00::/7) or one of loopback, " +
    "linklocal, uniquelocal (set by --trust-proxy, KONSUL_LB_TRUST_PROXY or trustProxy in the " +
    "config file)";

  it.each([
    ["yes", '"yes" is not an IP address or a known name'],
    ["True", '"True" is not an IP address or a known name'],
    ["-1", '"-1" is not an IP address or a known name'],
    ["1.5", '"1.5" is not an IP address or a known name'],
    ["", "an empty entry in the list"],
    ["loopback,,10.0.0.1", "an empty entry in the list"],
    ["10.0.0.0/33", '"10.0.0.0/33" has an invalid range; expected a prefix length from 1 to 32'],
    ["10.0.0.0/0", '"10.0.0.0/0" has an invalid range; expected a prefix length from 1 to 32'],
    ["fc00::/129", '"fc00::/129" has an invalid range; expected a prefix length from 1 to 128'],
    [
      "10.0.0.0/255.0.255.0",
      '"10.0.0.0/255.0.255.0" has an invalid range; expected a prefix length from 1 to 32',
    ],
    ["fe80::1%eth0", '"fe80::1%eth0" is not an IP address or a known name'],
    ["99999999999999999999", "too many hops"],
  ])("--trust-proxy %j: %s", (value, reason) => {
    expect(error(load([`--trust-proxy=${value}`]))).toBe(
      `--trust-proxy: ${JSON.stringify(value)} is not allowed (${reason}); ${TRUST}`,
    );
  });

  it("KONSUL_LB_TRUST_PROXY", () => {
    expect(error(load([], { KONSUL_LB_TRUST_PROXY: "proxy.local" }))).toBe(
      `KONSUL_LB_TRUST_PROXY: "proxy.local" is not allowed ("proxy.local" is not an IP address or a known name); ${TRUST}`,
    );
  });

  it("an empty --file or --config", () => {
    expect(error(load(["--file="]))).toBe(
      '--file: "" is not allowed (empty); expected the path of a file of Kubernetes manifests ' +
        "(set by --file or KONSUL_LB_FILE)",
    );
    expect(error(load(["--config="]))).toBe(
      '--config: "" is not allowed (empty); expected the path of a YAML config file ' +
        "(set by --config or KONSUL_LB_CONFIG)",
    );
  });

  it("a config file that cannot be read", () => {
    expect(error(load([], { KONSUL_LB_CONFIG: "/etc/missing.yaml" }))).toBe(
      'KONSUL_LB_CONFIG: cannot read "/etc/missing.yaml" (ENOENT: no such file or directory, ' +
        "open '/etc/missing.yaml'); expected the path of a YAML config file that can be read " +
        "(set by --config or KONSUL_LB_CONFIG)",
    );
  });

  it("reports every wrong setting, one per line", () => {
    const message = error(
      load(["--log-level", "x"], { KONSUL_LB_HTTP_ADDR: "nowhere", KONSUL_LB_TRUST_PROXY: "?" }),
    );
    const lines = message.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^KONSUL_LB_HTTP_ADDR: "nowhere" is not allowed \(no port\)/);
    expect(lines[1]).toMatch(/^--log-level: "x" is not allowed/);
    expect(lines[2]).toMatch(/^KONSUL_LB_TRUST_PROXY: "\?" is not allowed/);
  });
});

describe("command line", () => {
  const FLAGS =
    "the flags are --file, --source, --kubeconfig, --config, --http-addr, --internal-addr, --default-strategy, --log-level, " +
    "--trust-proxy, --dns-addr, --dns-domain, --dns-ttl, --dns-max-answers, --max-connections, --max-connections-per-service, --max-blocking-waiters, --table-build-workers, --status-page, --xds-addr, --leader-elect, " +
    "--lease-namespace, --lease-name, --lease-duration, --renew-deadline, --retry-period, " +
    "--state-namespace, --state-configmap-prefix, --state-interval, --connection-durability, --owner-configmap, --advertise-url, --token-file, --help " +
    "(see konsul-lb serve --help)";

  it("rejects an unknown flag, naming it", () => {
    expect(error(load(["--port", "80"]))).toBe(`unknown flag --port; ${FLAGS}`);
    expect(error(load(["--log-level", "info", "-v"]))).toBe(`unknown flag -v; ${FLAGS}`);
    expect(error(load(["--http_addr=1.2.3.4:5"]))).toBe(`unknown flag --http_addr; ${FLAGS}`);
  });

  it("rejects positional arguments", () => {
    expect(error(load(["serve"]))).toBe(
      'unexpected argument "serve"; konsul-lb serve takes only flags (see konsul-lb serve --help)',
    );
  });

  it("rejects a flag without its value", () => {
    expect(error(load(["--http-addr"]))).toBe(
      "--http-addr needs a value: host:port (set by --http-addr, KONSUL_LB_HTTP_ADDR or " +
        "httpAddr in the config file)",
    );
  });

  it("rejects a flag whose value looks like another flag", () => {
    expect(error(load(["--file", "--log-level", "debug"]))).toBe(
      '--file: "--log-level" looks like a flag, not a value; write --file=--log-level if it is ' +
        "the value (set by --file or KONSUL_LB_FILE)",
    );
  });

  it("rejects a value given to --help", () => {
    expect(error(load(["--help=yes"]))).toBe("--help takes no value (see konsul-lb serve --help)");
  });
});

describe("config file", () => {
  it("an empty file is an empty config", () => {
    expect(ok(load(["--config", "c.yaml"], {}, { "c.yaml": "# nothing yet\n" }))).toEqual(
      ok(load([])),
    );
  });

  it("names the file and the field path of a wrong value", () => {
    const text = "strategies:\n  ring-hash: {virtualNodes: 0}\n";
    expect(error(load(["--config", "config.yaml"], {}, { "config.yaml": text }))).toBe(
      "config.yaml: strategies.ring-hash.virtualNodes: 0 is not allowed; expected an integer " +
        "from 1 to 10000",
    );
  });

  it("names the setting of a top-level field with a flag", () => {
    expect(
      error(load(["--config", "config.yaml"], {}, { "config.yaml": "logLevel: loud\n" })),
    ).toBe(
      'config.yaml: logLevel: "loud" is not allowed; expected one of fatal, error, warn, info, ' +
        "debug, trace, silent (set by --log-level, KONSUL_LB_LOG_LEVEL or logLevel in the " +
        "config file)",
    );
    expect(
      error(load(["--config", "config.yaml"], {}, { "config.yaml": "httpAddr: '[::1]'\n" })),
    ).toMatch(
      /^config\.yaml: httpAddr: "\[::1\]" is not allowed \(no port after the IPv6 address\); expected host:port, .* \(set by --http-addr, KONSUL_LB_HTTP_ADDR or httpAddr in the config file\)$/,
    );
  });

  it("rejects unknown strategies, unknown fields and wrong types, each with its path", () => {
    const text = [
      "file: m.yaml",
      "healthFilter: yes",
      "strategies:",
      "  roundrobin: {enabled: false}",
      "  ip-hash: {enabled: false, virtualNodes: 10}",
      "  maglev: {enabled: 0}",
      "  latency-based: {latencyMap: {us-east: {eu-west: 80, us-west: 99999999999h}}}",
      "",
    ].join("\n");
    expect(error(load(["--config", "lb.yaml"], {}, { "lb.yaml": text })).split("\n")).toEqual([
      "lb.yaml: file: unknown field; this setting is given only by --file or KONSUL_LB_FILE",
      'lb.yaml: healthFilter: "yes" is not allowed; expected true or false',
      'lb.yaml: strategies.roundrobin: "roundrobin" is not allowed as a key; expected a ' +
        `strategy name, one of ${STRATEGY_NAMES.join(", ")}`,
      "lb.yaml: strategies.ip-hash.virtualNodes: unknown field; the fields here are enabled",
      "lb.yaml: strategies.maglev.enabled: 0 is not allowed; expected true or false",
      "lb.yaml: strategies.latency-based.latencyMap.us-east.eu-west: 80 is not allowed; " +
        'expected a duration such as "80ms", "1.5s" or "2m30s"',
      "lb.yaml: strategies.latency-based.latencyMap.us-east.us-west: " +
        '"99999999999h" is not allowed; expected a duration of at most 2562047h',
    ]);
  });

  it("rejects a file that is not a map", () => {
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": "- logLevel: info\n" }))).toBe(
      'c.yaml: [{"logLevel":"info"}] is not allowed; expected a map with the fields httpAddr, ' +
        "internalAddr, logLevel, trustProxy, defaultStrategy, healthFilter, strategies, dnsAddr, dnsDomain, " +
        "dnsTtl, dnsMaxAnswers, xdsAddr, maxConnections, maxConnectionsPerService, maxBlockingWaiters, tableBuildWorkers",
    );
  });

  it("reports YAML syntax errors with line and column", () => {
    expect(
      error(load(["--config", "c.yaml"], {}, { "c.yaml": "logLevel: info\nlogLevel: debug\n" })),
    ).toBe("c.yaml:2:1: Map keys must be unique");
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": "a: 1\n---\nb: 2\n" }))).toBe(
      "c.yaml:2:1: the file holds several YAML documents; expected one",
    );
  });

  it("accepts trustProxy as a boolean, a hop count, a string or a list", () => {
    const trust = (yaml: string) =>
      ok(load(["--config", "c.yaml"], {}, { "c.yaml": `trustProxy: ${yaml}\n` })).trustProxy;
    expect(trust("true")).toBe(true);
    expect(trust("1")).toBe(1);
    expect(trust('"loopback, 10.0.0.0/8"')).toBe("loopback,10.0.0.0/8");
    expect(trust("[loopback, 10.0.0.0/8]")).toBe("loopback,10.0.0.0/8");
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": "trustProxy: [nope]\n" }))).toMatch(
      /^c\.yaml: trustProxy: \["nope"\] is not allowed \("nope" is not an IP address or a known name\); expected false, true, /,
    );
    // In a list, every entry is an address, a range or a name.
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": 'trustProxy: ["true"]\n' }))).toMatch(
      /^c\.yaml: trustProxy: \["true"\] is not allowed \("true" is not an IP address or a known name\)/,
    );
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": "trustProxy: -2\n" }))).toMatch(
      /^c\.yaml: trustProxy: -2 is not allowed; expected false, true, a hop count/,
    );
  });

  it("does not use a file with problems, but still reports wrong flags", () => {
    const message = error(
      load(["--config", "c.yaml", "--http-addr", "x"], {}, { "c.yaml": "strategies: []\n" }),
    );
    expect(message.split("\n")).toEqual([
      "c.yaml: strategies: [] is not allowed; expected a map with the fields " +
        `${STRATEGY_NAMES.join(", ")}`,
      expect.stringMatching(/^--http-addr: "x" is not allowed \(no port\)/),
    ]);
  });
});

describe("enabled strategies", () => {
  it("lists the strategies the file does not disable, in the order of STRATEGY_NAMES", () => {
    const text = "strategies:\n  maglev: {enabled: false}\n  random: {enabled: false}\n";
    expect(ok(load(["--config", "c.yaml"], {}, { "c.yaml": text })).enabledStrategies).toEqual(
      STRATEGY_NAMES.filter((name) => name !== "maglev" && name !== "random"),
    );
  });

  it("rejects a default strategy the file disables, naming where it was set", () => {
    const text = "strategies:\n  ip-hash: {enabled: false}\n";
    expect(
      error(
        load(["--config", "c.yaml"], { KONSUL_LB_DEFAULT_STRATEGY: "ip-hash" }, { "c.yaml": text }),
      ),
    ).toBe(
      'KONSUL_LB_DEFAULT_STRATEGY: "ip-hash" is not allowed (c.yaml disables it: ' +
        "strategies.ip-hash.enabled is false); expected an enabled strategy, one of " +
        `${STRATEGY_NAMES.filter((name) => name !== "ip-hash").join(", ")} (set by ` +
        "--default-strategy, KONSUL_LB_DEFAULT_STRATEGY or defaultStrategy in the config file)",
    );
    expect(
      error(load(["--config", "c.yaml"], {}, { "c.yaml": `defaultStrategy: ip-hash\n${text}` })),
    ).toMatch(/^c\.yaml: defaultStrategy: "ip-hash" is not allowed \(c\.yaml disables it/);
  });

  it("rejects a disabled built-in default", () => {
    const text = "strategies:\n  round-robin: {enabled: false}\n";
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": text }))).toBe(
      'the default strategy "round-robin" (used because nothing sets one) is not allowed ' +
        "(c.yaml disables it: strategies.round-robin.enabled is false); expected an enabled " +
        `strategy, one of ${STRATEGY_NAMES.filter((name) => name !== "round-robin").join(", ")} ` +
        "(set by --default-strategy, KONSUL_LB_DEFAULT_STRATEGY or defaultStrategy in the " +
        "config file)",
    );
    // Naming an enabled one fixes it.
    expect(
      ok(load(["--config", "c.yaml", "--default-strategy", "random"], {}, { "c.yaml": text }))
        .defaultStrategy,
    ).toBe("random");
  });

  it("says so when every strategy is disabled", () => {
    const text = `strategies:\n${STRATEGY_NAMES.map((name) => `  ${name}: {enabled: false}`).join("\n")}\n`;
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": text }))).toMatch(
      /expected an enabled strategy, but c\.yaml disables every strategy/,
    );
  });
});

describe("help", () => {
  it("-h and --help return the help text, whatever else is given", () => {
    expect(load(["--help"])).toEqual({ kind: "help", text: HELP_TEXT });
    expect(load(["-h"])).toEqual({ kind: "help", text: HELP_TEXT });
    expect(load(["--log-level", "loud", "-h"], { KONSUL_LB_CONFIG: "missing.yaml" })).toEqual({
      kind: "help",
      text: HELP_TEXT,
    });
  });

  it("names every flag with its environment variable and default", () => {
    for (const [flag, env, defaultText] of [
      ["--file PATH", "KONSUL_LB_FILE", "none"],
      ["--config PATH", "KONSUL_LB_CONFIG", "none"],
      ["--http-addr HOST:PORT", "KONSUL_LB_HTTP_ADDR", "0.0.0.0:8080"],
      ["--default-strategy NAME", "KONSUL_LB_DEFAULT_STRATEGY", "round-robin"],
      ["--log-level LEVEL", "KONSUL_LB_LOG_LEVEL", "info"],
      ["--trust-proxy VALUE", "KONSUL_LB_TRUST_PROXY", "false"],
      ["--dns-addr HOST:PORT", "KONSUL_LB_DNS_ADDR", "none"],
      ["--dns-domain DOMAIN", "KONSUL_LB_DNS_DOMAIN", "lb.konsul.local."],
      ["--dns-ttl TTL", "KONSUL_LB_DNS_TTL", "5s"],
      ["--dns-max-answers COUNT", "KONSUL_LB_DNS_MAX_ANSWERS", "8"],
      ["--xds-addr HOST:PORT", "KONSUL_LB_XDS_ADDR", "none"],
    ]) {
      const block = HELP_TEXT.slice(HELP_TEXT.indexOf(`  ${flag}\n`));
      expect(block).not.toBe(HELP_TEXT.slice(-1));
      const envLine = block.split("\n").find((line) => line.includes("env: "));
      expect(envLine).toContain(`env: ${env}`);
      expect(envLine).toContain(`default: ${defaultText}`);
    }
    expect(HELP_TEXT).toContain("konsul-lb serve [flags]");
    expect(HELP_TEXT).toContain("konsul-lb --help");
    expect(HELP_TEXT).toContain("-h, --help");
    expect(HELP_TEXT).toContain("Examples:");
  });

  it("shows a config file example that loads", () => {
    const start = HELP_TEXT.indexOf("Config file (");
    const end = HELP_TEXT.indexOf("\n\n", start);
    const example = HELP_TEXT.slice(HELP_TEXT.indexOf("\n", start) + 1, end);
    const result = parseConfigFile(example, "help.yaml");
    expect(result.problems).toEqual([]);
    expect(result.config).toMatchObject({ strategies: { "ring-hash": { virtualNodes: 150 } } });
  });

  it("keeps its lines within 100 columns", () => {
    for (const line of HELP_TEXT.split("\n")) expect(line.length).toBeLessThanOrEqual(100);
  });
});

describe("parseHostPort", () => {
  it("splits host and port", () => {
    expect(parseHostPort("0.0.0.0:8080", "x")).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(parseHostPort("[2001:db8::1]:443", "x")).toEqual({ host: "2001:db8::1", port: 443 });
    expect(parseHostPort("lb.example.com:0", "x")).toEqual({ host: "lb.example.com", port: 0 });
  });

  it("throws a message that starts with the setting name", () => {
    expect(() => parseHostPort("8080", "--dns-addr")).toThrow(
      /^--dns-addr: "8080" is not allowed \(no port\); expected host:port/,
    );
  });
});

describe("parseTrustProxy", () => {
  it("accepts IPv4-mapped and plain IPv6 addresses", () => {
    expect(parseTrustProxy("::ffff:10.0.0.1,2001:db8::/32", "x")).toBe(
      "::ffff:10.0.0.1,2001:db8::/32",
    );
  });
});

describe("trust proxy values agree with Express", () => {
  const trustFn = (value: boolean | number | string) => {
    const app = express();
    app.set("trust proxy", value);
    return app.get("trust proxy fn") as (address: string, hop: number) => boolean;
  };

  it("every accepted value is one Express takes, with the meaning intended", () => {
    const list = trustFn(parseTrustProxy("loopback, 10.0.0.0/255.0.0.0,fc00::/7", "x"));
    expect(list("127.0.0.1", 0)).toBe(true);
    expect(list("10.1.2.3", 0)).toBe(true);
    expect(list("fd00::1", 0)).toBe(true);
    expect(list("192.0.2.1", 0)).toBe(false);
    const hops = trustFn(parseTrustProxy("2", "x"));
    expect([hops("192.0.2.1", 1), hops("192.0.2.1", 2)]).toEqual([true, false]);
    expect(trustFn(parseTrustProxy("true", "x"))("192.0.2.1", 5)).toBe(true);
    expect(trustFn(parseTrustProxy("false", "x"))("127.0.0.1", 0)).toBe(false);
  });

  it("ranges rejected here are rejected by Express too", () => {
    for (const value of ["10.0.0.0/0", "10.0.0.0/33", "fc00::/129", "10.0.0.0/255.0.255.0", "x"]) {
      expect(() => parseTrustProxy(value, "x")).toThrow();
      expect(() => trustFn(value)).toThrow();
    }
  });
});

describe("parseHostPort round trip", () => {
  it("reads back any IPv4 or IPv6 address and port it is given", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.ipV4(), fc.ipV6()),
        fc.integer({ min: 0, max: 65_535 }),
        (ip, port) => {
          const text = ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
          expect(parseHostPort(text, "x")).toEqual({ host: ip, port });
        },
      ),
    );
  });
});

describe("xDS settings", () => {
  it("are off by default; the flag, the variable and the file turn the server on", () => {
    expect(ok(load([])).xdsAddr).toBeNull();
    expect(ok(load(["--xds-addr", "0.0.0.0:18000"])).xdsAddr).toEqual({
      host: "0.0.0.0",
      port: 18000,
    });
    const file = { "c.yaml": "xdsAddr: 127.0.0.1:18001\n" };
    expect(ok(load(["--config", "c.yaml"], {}, file)).xdsAddr).toEqual({
      host: "127.0.0.1",
      port: 18001,
    });
    const env = { KONSUL_LB_XDS_ADDR: "[::1]:0" };
    expect(ok(load(["--config", "c.yaml"], env, file)).xdsAddr).toEqual({ host: "::1", port: 0 });
  });

  it("reject an address without a port, naming the setting", () => {
    expect(error(load(["--xds-addr", "18000"]))).toMatch(
      /^--xds-addr: "18000" is not allowed \(no port\); expected host:port.*\(set by --xds-addr, KONSUL_LB_XDS_ADDR or xdsAddr in the config file\)$/,
    );
  });
});

describe("DNS settings", () => {
  it("are off by default, and --dns-addr turns the server on", () => {
    expect(ok(load([])).dnsAddr).toBeNull();
    expect(ok(load(["--dns-addr", "0.0.0.0:5353"])).dnsAddr).toEqual({
      host: "0.0.0.0",
      port: 5353,
    });
    expect(ok(load(["--dns-addr", "[::1]:0"])).dnsAddr).toEqual({ host: "::1", port: 0 });
  });

  it("come from flags, variables and the config file, in that order", () => {
    const file = "dnsAddr: 127.0.0.1:53\ndnsDomain: svc.example\ndnsTtl: 30\ndnsMaxAnswers: 3\n";
    expect(ok(load(["--config", "c.yaml"], {}, { "c.yaml": file }))).toMatchObject({
      dnsAddr: { host: "127.0.0.1", port: 53 },
      dnsDomain: "svc.example",
      dnsTtl: 30,
      dnsMaxAnswers: 3,
    });
    const env = {
      KONSUL_LB_DNS_ADDR: "127.0.0.1:5300",
      KONSUL_LB_DNS_DOMAIN: "Other.Example.",
      KONSUL_LB_DNS_TTL: "1m",
      KONSUL_LB_DNS_MAX_ANSWERS: "12",
    };
    expect(ok(load(["--config", "c.yaml"], env, { "c.yaml": file }))).toMatchObject({
      dnsAddr: { host: "127.0.0.1", port: 5300 },
      dnsDomain: "other.example",
      dnsTtl: 60,
      dnsMaxAnswers: 12,
    });
    expect(
      ok(load(["--dns-ttl", "0s", "--dns-max-answers", "1", "--dns-domain", "x.y"], env)),
    ).toMatchObject({ dnsTtl: 0, dnsMaxAnswers: 1, dnsDomain: "x.y" });
  });

  it("accept a TTL in seconds or as a duration of whole seconds", () => {
    for (const [text, seconds] of [
      ["5", 5],
      ["0", 0],
      ["5s", 5],
      ["1m30s", 90],
      ["2000ms", 2],
      ["24h", 86_400],
    ] as const) {
      expect(ok(load(["--dns-ttl", text])).dnsTtl, text).toBe(seconds);
    }
    expect(ok(load(["--config", "c.yaml"], {}, { "c.yaml": "dnsTtl: 10s\n" })).dnsTtl).toBe(10);
  });

  it("name the setting, the value and what is allowed when wrong", () => {
    expect(error(load(["--dns-addr", "5353"]))).toMatch(
      /^--dns-addr: "5353" is not allowed \(no port\); expected host:port/,
    );
    expect(error(load(["--dns-ttl", "1.5s"]))).toBe(
      '--dns-ttl: "1.5s" is not allowed (DNS TTLs are whole seconds); expected a whole number ' +
        'of seconds from 0 to 86400, or a duration of whole seconds such as "5s", "1m" or "0s" ' +
        "(set by --dns-ttl, KONSUL_LB_DNS_TTL or dnsTtl in the config file)",
    );
    expect(error(load(["--dns-ttl", "25h"]))).toMatch(
      /^--dns-ttl: "25h" is not allowed \(out of range\)/,
    );
    expect(error(load(["--dns-ttl", "soon"]))).toMatch(/^--dns-ttl: "soon" is not allowed/);
    expect(error(load([], { KONSUL_LB_DNS_MAX_ANSWERS: "0" }))).toMatch(
      /^KONSUL_LB_DNS_MAX_ANSWERS: "0" is not allowed; expected an integer from 1 to 1000/,
    );
    expect(error(load(["--dns-max-answers", "1001"]))).toMatch(
      /expected an integer from 1 to 1000/,
    );
    for (const domain of ["", ".", "a..b", "-a.b", "a b", "x".repeat(64), "é.local"]) {
      expect(error(load([`--dns-domain=${domain}`])), domain).toMatch(/^--dns-domain: /);
    }
  });

  it("report wrong values in the config file with the file and field", () => {
    const message = error(
      load(["--config", "c.yaml"], {}, { "c.yaml": "dnsTtl: -1\ndnsMaxAnswers: 0\ndnsAddr: 53\n" }),
    );
    expect(message.split("\n")).toEqual([
      expect.stringMatching(/^c\.yaml: dnsAddr: 53 is not allowed; expected host:port/),
      expect.stringMatching(
        /^c\.yaml: dnsTtl: -1 is not allowed; expected a whole number of seconds/,
      ),
      expect.stringMatching(
        /^c\.yaml: dnsMaxAnswers: 0 is not allowed; expected an integer from 1 to 1000/,
      ),
    ]);
    expect(error(load(["--config", "c.yaml"], {}, { "c.yaml": "dnsDomain: a..b\n" }))).toMatch(
      /^c\.yaml: dnsDomain: "a\.\.b" is not allowed \(an empty label\)/,
    );
  });
});

describe("source and kubeconfig", () => {
  it("is the file when one is named, else the Kubernetes API", () => {
    expect(ok(load(["--file", "m.yaml"])).source).toBe("file");
    expect(ok(load([])).source).toBe("kubernetes");
    expect(
      ok(load([], { KONSUL_LB_SOURCE: "kubernetes", KONSUL_LB_KUBECONFIG: "/k/config" })),
    ).toMatchObject({
      source: "kubernetes",
      kubeconfig: "/k/config",
    });
  });

  it("rejects an unknown source and contradictions, naming the setting", () => {
    expect(error(load(["--source", "etcd"]))).toContain('--source: "etcd" is not allowed');
    expect(error(load(["--source", "etcd"]))).toContain("file or kubernetes");
    expect(error(load(["--source", "file"]))).toContain("--file");
    expect(error(load(["--source", "kubernetes", "--file", "m.yaml"]))).toContain(
      "--file is set too",
    );
    expect(error(load(["--kubeconfig="]))).toContain("--kubeconfig");
  });
});
