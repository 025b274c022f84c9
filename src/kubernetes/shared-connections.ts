import type { KubeConfig, RequestContext } from "@kubernetes/client-node";

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

/**
 * How long one set of connections serves new requests: a client certificate or CA bundle
 * rotated in the kubeconfig's files is picked up at least this often.
 */
export const CONNECTIONS_RENEW_MS = 10 * 60_000;

/**
 * The same cluster and credentials, with every request sharing one connection pool. The client
 * library gives each request a dispatcher of its own, so every list page, watch and status
 * write opened a new TLS connection (a new secure context and handshake, about 30 ms of the
 * event loop on a busy machine) and left the old one to time out. Headers (tokens included)
 * are still applied per request; only the connections are shared, and renewed every
 * CONNECTIONS_RENEW_MS, the previous pool closing once its requests (watches included) end.
 */
export function sharedConnections(config: KubeConfig, now = () => Date.now()): KubeConfig {
  let shared: { readonly dispatcher: Dispatcher; readonly since: number } | undefined;
  const pooled = Object.create(config) as KubeConfig;
  pooled.applySecurityAuthentication = async (context) => {
    await config.applySecurityAuthentication(context);
    const own = context.getDispatcher();
    // No dispatcher: plain HTTP without TLS options; the default global pool serves it.
    if (own === undefined) return;
    if (shared === undefined || now() - shared.since >= CONNECTIONS_RENEW_MS) {
      const previous = shared?.dispatcher;
      shared = { dispatcher: own, since: now() };
      void previous?.close().catch(() => {});
    } else {
      // Never connected, so nothing to wait for.
      void own.close().catch(() => {});
      context.setDispatcher(shared.dispatcher);
    }
  };
  return pooled;
}
