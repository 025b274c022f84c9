import { open, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * An exclusive lock file holding the owner's pid. A lock whose owner has died is taken over,
 * so a build killed half-way does not block the next one.
 */
export async function acquireLock(
  path: string,
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    if (!Number.isFinite(owner) || !alive(owner)) {
      await rm(path, { force: true });
      continue;
    }
    if (!announced) {
      log(`waiting for process ${owner}, which holds ${path}`);
      announced = true;
    }
    await sleep(1000);
  }
}
