// A watch for tests that keeps watching until stopped. The client's Watch ends after 30 s
// without data (its inactivity timeout) and on any server-side close; a test that records
// events with a plain watch silently stops seeing them during a quiet spell. This one asks
// the server to close every 20 s with bookmarks (so a quiet watch still gets data), and
// resumes from the last resourceVersion, or from now after a 410.

import { type KubeConfig, Watch } from "@kubernetes/client-node";

/** Seconds before the server closes each watch; under the client's 30 s inactivity timeout. */
const WATCH_TIMEOUT_SECONDS = 20;
const RESTART_DELAY_MS = 200;

export interface ContinuousWatch {
  stop(): void;
}

export async function watchContinuously(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  onEvent: (type: string, object: any) => void,
): Promise<ContinuousWatch> {
  const watch = new Watch(kc);
  let resourceVersion: string | undefined;
  let stopped = false;
  let current: AbortController | undefined;
  let restartTimer: NodeJS.Timeout | undefined;

  const scheduleRestart = (delayMs: number): void => {
    if (stopped) return;
    restartTimer = setTimeout(() => {
      // The API server may be down on purpose (a restart test): keep trying until stopped.
      start().catch(() => scheduleRestart(RESTART_DELAY_MS * 5));
    }, delayMs);
  };
  const start = async (): Promise<void> => {
    current = await watch.watch(
      path,
      {
        ...query,
        allowWatchBookmarks: "true",
        timeoutSeconds: String(WATCH_TIMEOUT_SECONDS),
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
      },
      (type, object: any) => {
        if (type === "ERROR") {
          // 410 Gone: the version is too old; start again from the present.
          if (object?.code === 410) resourceVersion = undefined;
          return;
        }
        resourceVersion = object?.metadata?.resourceVersion ?? resourceVersion;
        if (type !== "BOOKMARK") onEvent(type, object);
      },
      () => scheduleRestart(RESTART_DELAY_MS),
    );
  };
  await start();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(restartTimer);
      current?.abort();
    },
  };
}
