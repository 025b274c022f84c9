// A watch that outlives restarts of kube-apiserver: when it ends, it starts again from the last
// resourceVersion it saw, so no event in between is missed. Only if that version is gone (410)
// does it start over from the current state, and counts that as a gap.

import { setTimeout as sleep } from "node:timers/promises";
import { type KubeConfig, Watch } from "@kubernetes/client-node";

export interface ResilientWatch {
  /** Restarts that could not resume and may have missed events. */
  gaps(): number;
  stop(): void;
}

interface WatchedObject {
  metadata?: { resourceVersion?: string };
  code?: number;
}

export function resilientWatch(
  config: KubeConfig,
  path: string,
  query: Record<string, string>,
  onEvent: (type: "ADDED" | "MODIFIED" | "DELETED", object: any) => void,
): ResilientWatch {
  const watch = new Watch(config);
  let stopped = false;
  let resourceVersion: string | undefined;
  let gaps = 0;
  let controller: AbortController | undefined;

  const run = async () => {
    while (!stopped) {
      try {
        const ended = new Promise<void>((resolve) => {
          watch
            .watch(
              path,
              {
                ...query,
                allowWatchBookmarks: "true",
                ...(resourceVersion ? { resourceVersion } : {}),
              },
              (type: string, object: WatchedObject) => {
                if (type === "ERROR") {
                  if (object.code === 410) {
                    resourceVersion = undefined;
                    gaps++;
                  }
                  return;
                }
                resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
                if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") {
                  onEvent(type, object);
                }
              },
              () => resolve(),
            )
            .then(
              (c) => {
                controller = c;
                if (stopped) c.abort();
              },
              () => resolve(),
            );
        });
        await ended;
      } catch {
        // Started again below.
      }
      if (!stopped) await sleep(300);
    }
  };
  void run();
  return {
    gaps: () => gaps,
    stop: () => {
      stopped = true;
      controller?.abort();
    },
  };
}
