import { describe, expect, it } from "vitest";
import { loadSettings, type SettingsResult } from "../../src/config/settings.ts";
import { advertisedUrl, DEFAULT_HA_SETTINGS } from "../../src/ha/ha-settings.ts";

const noFiles = (path: string): string => {
  throw new Error(`ENOENT: no such file, open '${path}'`);
};

function load(argv: string[], env: Record<string, string> = {}): SettingsResult {
  return loadSettings(argv, env, noFiles);
}

function ha(argv: string[], env: Record<string, string> = {}) {
  const result = load(argv, env);
  if (result.kind !== "ok") throw new Error(`expected settings, got ${JSON.stringify(result)}`);
  return result.settings.ha;
}

function error(argv: string[], env: Record<string, string> = {}): string {
  const result = load(argv, env);
  if (result.kind !== "error") throw new Error(`expected an error, got ${result.kind}`);
  return result.message;
}

describe("high-availability settings", () => {
  it("elect a leader by default with the Kubernetes source, in the pod's namespace", () => {
    expect(ha([], { POD_NAMESPACE: "lb-system" })).toEqual({
      ...DEFAULT_HA_SETTINGS,
      leaderElect: true,
      leaseNamespace: "lb-system",
      stateNamespace: "lb-system",
    });
    expect(ha([]).leaseNamespace).toBe("default");
    expect(ha(["--file", "x.yaml"]).leaderElect).toBe(false);
  });

  it("take flags and KONSUL_LB_ variables, durations in any unit", () => {
    const settings = ha(
      [
        "--lease-duration",
        "30s",
        "--renew-deadline=20s",
        "--retry-period",
        "500ms",
        "--lease-name",
        "lb.leader",
        "--state-configmap-prefix",
        "lb-state",
        "--advertise-url",
        "http://10.0.0.7:8080/",
      ],
      {
        KONSUL_LB_STATE_INTERVAL: "2s",
        KONSUL_LB_STATE_NAMESPACE: "state",
        KONSUL_LB_LEADER_ELECT: "false",
        KONSUL_LB_OWNER_CONFIGMAP: "konsul-lb-config",
      },
    );
    expect(settings).toEqual({
      ...DEFAULT_HA_SETTINGS,
      leaderElect: false,
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 500,
      leaseName: "lb.leader",
      stateConfigMapPrefix: "lb-state",
      stateNamespace: "state",
      stateIntervalMs: 2_000,
      ownerConfigMap: "konsul-lb-config",
      advertiseUrl: "http://10.0.0.7:8080",
    });
  });

  it("refuse timings under which two leaders could overlap, saying why", () => {
    expect(error(["--lease-duration", "10s"])).toContain(
      "the lease duration (10000 ms) must be longer than the renew deadline (10000 ms)",
    );
    expect(error(["--retry-period", "10s"])).toContain("longer than the retry period");
    expect(error(["--lease-duration", "15500ms"])).toContain("whole seconds");
    expect(error(["--retry-period", "soon"])).toContain(
      '--retry-period: "soon" is not allowed; expected a duration above 0',
    );
  });

  it("refuse names Kubernetes would refuse, and a Lease with a file", () => {
    expect(error(["--lease-namespace", "Kube_System"])).toContain("a DNS label of up to 63");
    expect(error(["--state-configmap-prefix", `p${"x".repeat(57)}`])).toContain("up to 57");
    expect(error(["--advertise-url", "10.0.0.7:8080"])).toContain("an http or https URL");
    expect(error(["--file", "x.yaml", "--leader-elect", "true"])).toContain("a file has no Lease");
    expect(error(["--leader-elect", "yes"])).toContain("expected true or false");
    expect(error(["--owner-configmap", "Konsul_Config"])).toBe(
      '--owner-configmap: "Konsul_Config" is not allowed; expected a DNS subdomain of up to 253 characters: lowercase letters, digits, "-" and "." (set by --owner-configmap or KONSUL_LB_OWNER_CONFIGMAP)',
    );
  });
});

describe("advertisedUrl", () => {
  it("is the flag, else the pod IP with the bound port, else the bound address", () => {
    const withUrl = { ...DEFAULT_HA_SETTINGS, advertiseUrl: "https://lb-0.lb:8443" };
    expect(advertisedUrl(withUrl, "http://0.0.0.0:8080", { POD_IP: "10.1.2.3" })).toBe(
      "https://lb-0.lb:8443",
    );
    expect(advertisedUrl(DEFAULT_HA_SETTINGS, "http://0.0.0.0:8080", { POD_IP: "10.1.2.3" })).toBe(
      "http://10.1.2.3:8080",
    );
    expect(advertisedUrl(DEFAULT_HA_SETTINGS, "http://[::]:8080", { POD_IP: "fd00::7" })).toBe(
      "http://[fd00::7]:8080",
    );
    expect(advertisedUrl(DEFAULT_HA_SETTINGS, "http://0.0.0.0:8080", {})).toBe(
      "http://127.0.0.1:8080",
    );
  });
});
