/**
 * What every call of the HA tier to the Kubernetes API shares: a deadline per request and the
 * classification of refusals. Apart from the Lease and ConfigMap clients, so that neither imports
 * the other (nor the owner lookup that both use).
 */
import { ApiException, Observable, type ObservableMiddleware } from "@kubernetes/client-node";

/** Request options that abort a call after `ms`: a renew that hangs must not outlive its deadline. */
export function timeoutOptions(ms: number) {
  // The object-parameter API takes the observable form of middleware, whatever its types say.
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(AbortSignal.timeout(Math.max(1, Math.round(ms))));
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" as const };
}

export function isConflict(error: unknown): boolean {
  return error instanceof ApiException && error.code === 409;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

/**
 * The API refuses (403: the release's Role or RoleBinding is gone) or the object is gone (404:
 * the garbage collector removed it with its owner ConfigMap): what a replica meets when it stops
 * during `helm uninstall`. Helm deletes the RBAC objects without waiting for the pods to stop,
 * so a stopping replica cannot be ordered before them.
 */
export function isUninstalled(error: unknown): boolean {
  return error instanceof ApiException && (error.code === 403 || error.code === 404);
}
