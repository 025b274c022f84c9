/** The catalog compares entries with the engine's structural equality: one definition of it. */
export { deepEqual } from "../balancer/index.ts";
