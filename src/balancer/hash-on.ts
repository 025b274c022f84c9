/** Which request attribute a hash strategy hashes. */
export type HashOn = "session-key" | "client-ip";
export const HASH_ON_VALUES: readonly HashOn[] = ["session-key", "client-ip"];
