/**
 * The service to simulate, as `konsul-lb serve --file` would hold it: the manifests go through
 * the same parser, translation, catalog and Discovery view as the server's, so the simulation
 * balances exactly the endpoints, weights and policy the server would.
 */

import { readFileSync } from "node:fs";
import type { StrategyName } from "../balancer/index.ts";
import { BalancerManager, type ServiceEndpoints } from "../balancer/index.ts";
import { Catalog, type CatalogEntry, serviceKey } from "../catalog/catalog.ts";
import { Discovery } from "../discovery/discovery.ts";
import { parseManifests } from "../sources/manifests.ts";
import { translateSnapshot } from "../sources/translate.ts";

/** A problem that ends the command, with the exit code it ends with. */
export class SimulateError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "SimulateError";
    this.exitCode = exitCode;
  }
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

// The server's built-in defaults (DEFAULT_STRATEGY and DEFAULT_HEALTH_FILTER of
// src/config/settings.ts; a test keeps them equal). Not imported: that module loads the
// Kubernetes client, which would double the time a short simulation takes.
export const SERVER_DEFAULT_STRATEGY: StrategyName = "round-robin";
export const SERVER_DEFAULT_HEALTH_FILTER = true;

export interface LoadedService {
  readonly entry: CatalogEntry;
  /** The core's view of the service, with the server's defaults under its policy. */
  readonly view: ServiceEndpoints;
  /** Things the translation noticed, each naming the objects (as the server logs them). */
  readonly warnings: readonly string[];
}

/**
 * Reads the manifests and finds the service. A file that cannot be read or parsed, or a service
 * without endpoints, fails with exit code 1; a service the file does not have is a usage error
 * whose message lists the services it does have.
 */
export function loadService(
  file: string,
  namespace: string,
  name: string,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): LoadedService {
  let text: string;
  try {
    text = readFile(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SimulateError(`--file: cannot read ${JSON.stringify(file)}: ${reason}`, EXIT_FAILURE);
  }
  const parsed = parseManifests(text, file);
  if (!parsed.ok) throw new SimulateError(parsed.errors.join("\n"), EXIT_FAILURE);
  const { entries, warnings } = translateSnapshot(parsed.snapshot);
  const catalog = new Catalog();
  try {
    catalog.replaceAll(entries);
  } catch (error) {
    throw new SimulateError(`${file}: ${(error as Error).message}`, EXIT_FAILURE);
  }
  const entry = catalog.get(namespace, name);
  if (!entry) {
    const known = catalog.list().map((e) => serviceKey(e.namespace, e.name));
    const expected =
      known.length === 0
        ? `a service of the file, but ${file} has no Service`
        : `one of the services of ${file}: ${known.join(", ")}`;
    throw new SimulateError(
      `--service: ${JSON.stringify(serviceKey(namespace, name))} is not allowed (not in the file); expected ${expected}`,
      EXIT_USAGE,
    );
  }
  if (entry.endpoints.length === 0) {
    throw new SimulateError(
      `service ${serviceKey(namespace, name)} has no endpoints in ${file}: nothing to balance ` +
        "(are its EndpointSlices in the file, labelled kubernetes.io/service-name?)",
      EXIT_FAILURE,
    );
  }
  // The server's defaults for what a policy leaves out (no config file: the built-in ones).
  const discovery = new Discovery(
    catalog,
    new BalancerManager({
      defaultStrategy: SERVER_DEFAULT_STRATEGY,
      policyDefaults: { healthFilter: SERVER_DEFAULT_HEALTH_FILTER },
    }),
  );
  const view = discovery.view(entry);
  discovery.close();
  return { entry, view, warnings };
}
