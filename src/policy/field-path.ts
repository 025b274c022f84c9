/**
 * Field paths in messages, written the way users read their YAML: "spec.weights[0].weight",
 * "spec.latency.map.us-east", and a quoted key where a plain one would be ambiguous
 * (`matchLabels["app.kubernetes.io/name"]`).
 */

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function appendPath(path: string, segment: PathSegment): string {
  if (typeof segment === "number") return `${path}[${segment}]`;
  const key = PLAIN_KEY.test(segment) ? segment : `[${JSON.stringify(segment)}]`;
  if (path === "") return key;
  return key.startsWith("[") ? `${path}${key}` : `${path}.${key}`;
}

export function formatPath(segments: readonly PathSegment[]): string {
  return segments.reduce<string>((path, segment) => appendPath(path, segment), "");
}

/** A problem found in a checked document, with where it is. */
export interface SchemaProblem {
  /** Where the problem is, from the root of the checked document ("spec", "weights", 0, ...). */
  readonly path: readonly PathSegment[];
  /** The whole message, starting with the formatted path. */
  readonly message: string;
}
