/**
 * xDS resource names. Every resource of a Service (Listener, RouteConfiguration, Cluster,
 * ClusterLoadAssignment) carries the same name, `<service>.<namespace>`, so that a gRPC target
 * `xds:///checkout.shop` asks for exactly the resources of Service shop/checkout. Neither part
 * can hold a dot (Service names are DNS-1035 labels, namespaces DNS-1123 labels), so the name
 * splits back unambiguously.
 */

export function xdsName(namespace: string, name: string): string {
  return `${name}.${namespace}`;
}

/** The catalog key ("namespace/name") of an xDS name, or null for a name of no Service. */
export function serviceKeyOf(resourceName: string): string | null {
  const dot = resourceName.indexOf(".");
  if (dot <= 0 || dot === resourceName.length - 1) return null;
  const name = resourceName.slice(0, dot);
  const namespace = resourceName.slice(dot + 1);
  if (namespace.includes(".")) return null;
  return `${namespace}/${name}`;
}
