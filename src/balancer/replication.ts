/**
 * What a leader exports and a follower or successor imports: the engine's only surface for
 * high availability (src/ha imports this module and nothing else of the engine).
 */
import type { ConnectionBook, ConnectionEvent } from "./connection-book.ts";
import type { Connection } from "./connections.ts";
import type { EjectionRecord } from "./features/outlier-detection/detector.ts";
import type { OutcomeBook } from "./outcome-book.ts";
import type { PickerCache, SlotStates } from "./picker-cache.ts";
import type { ServiceStates } from "./service-state.ts";
import type { CarriedState } from "./strategy.ts";

export type { ConnectionEvent } from "./connection-book.ts";
export type { Connection } from "./connections.ts";
export type { EjectionRecord } from "./features/outlier-detection/detector.ts";
export type { SlotStates } from "./picker-cache.ts";
export type { CarriedState } from "./strategy.ts";

export interface Replication {
  /**
   * Tells `listener` of every connection opened, closed or expired through the engine's own
   * API (not of the import methods below). Returns a function that stops it.
   */
  observeConnections(listener: (event: ConnectionEvent) => void): () => void;
  /**
   * A number that differs whenever the service's exported state may have changed since it was
   * last read; -1 for a service without state.
   */
  changeCount(serviceKey: string): number;
  /** Keys of the services that have pickers, imported state or open connections. */
  serviceKeys(): string[];
  getConnection(id: string): Connection | undefined;
  /** A service's open connections. */
  exportConnections(serviceKey: string): Connection[];
  /** Adds a connection opened elsewhere; false when its id is known or it has expired. */
  restoreConnection(connection: Connection): boolean;
  /** Removes a connection without telling the observers (it was released elsewhere). */
  dropConnection(id: string): Connection | undefined;
  /**
   * Makes a service's open connections exactly `records` (those not yet expired): what a
   * follower does with each snapshot the leader writes.
   */
  replaceConnections(serviceKey: string, records: readonly Connection[]): void;
  /**
   * State each cached picker of a service would carry into a rebuild, by cache slot, with
   * imported state that no build has used yet.
   */
  exportState(serviceKey: string): Record<string, CarriedState>;
  /**
   * Sets the state each picker slot of a service carries into its next build: how a new leader
   * continues its predecessor's rotations.
   */
  importState(serviceKey: string, slots: SlotStates): void;
  /**
   * The service's outlier ejections (now, or remembered for the growing ejection time): what a
   * leader writes so that every replica leaves the same endpoints out.
   */
  exportEjections(serviceKey: string): EjectionRecord[];
}

/** The replication surface over the engine's service states, pickers and connections. */
export function replicationOf(
  states: ServiceStates,
  pickers: PickerCache,
  connections: ConnectionBook,
  outcomes: OutcomeBook,
): Replication {
  return {
    observeConnections: (listener) => connections.observe(listener),
    changeCount: (serviceKey) => states.get(serviceKey)?.changes ?? -1,
    serviceKeys: () => states.keys(),
    getConnection: (id) => connections.get(id),
    exportConnections: (serviceKey) => connections.ofService(serviceKey),
    restoreConnection: (connection) => connections.restore(connection),
    dropConnection: (id) => connections.drop(id),
    replaceConnections: (serviceKey, records) => connections.replace(serviceKey, records),
    exportState: (serviceKey) => pickers.exportState(serviceKey),
    importState: (serviceKey, slots) => pickers.importState(serviceKey, slots),
    exportEjections: (serviceKey) => outcomes.exportEjections(serviceKey),
  };
}
