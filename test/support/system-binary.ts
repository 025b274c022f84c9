import { execFileSync } from "node:child_process";

/**
 * The path of a program the tests run from the system (HAProxy, Prometheus, promtool), or an
 * error that names the Debian package to install (.ci/run installs them).
 */
export function systemBinary(name: string, debianPackage: string): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(
      `${name} is not installed; install it (Debian: apt-get install ${debianPackage}) to run this test`,
    );
  }
}
