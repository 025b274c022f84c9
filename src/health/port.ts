import type { ProbeTarget } from "./types.ts";

export type PortResolution =
  | { readonly ok: true; readonly port: number }
  | { readonly ok: false; readonly reason: string };

export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65_535;
}

/**
 * Resolves a health check's port against one endpoint: a number is taken as is, a name is
 * looked up among the endpoint's named ports. Failure is a value, not an exception, because an
 * unknown name is a configuration problem of that endpoint that must fail its probes, not stop
 * probing altogether.
 */
export function resolvePort(port: number | string, target: ProbeTarget): PortResolution {
  if (typeof port === "number") {
    return isValidPort(port) ? { ok: true, port } : { ok: false, reason: `invalid port ${port}` };
  }
  // Own-property lookup: a name such as "constructor" must not reach Object.prototype.
  const found = Object.hasOwn(target.ports, port) ? target.ports[port] : undefined;
  if (found === undefined) {
    const known = Object.keys(target.ports);
    const listed = known.length === 0 ? "it has no named ports" : `it has ${known.join(", ")}`;
    return { ok: false, reason: `unknown port name "${port}" (${listed})` };
  }
  if (!isValidPort(found)) {
    return { ok: false, reason: `port "${port}" has invalid number ${found}` };
  }
  return { ok: true, port: found };
}
