/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol with Node's own
 * WebSocket: open a page, read it, collect what its console and network report, take a
 * screenshot. One browser, one page; `close()` ends it through the protocol and kills it if it
 * does not go.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Debian's wrapper script prints shell noise; the binary behind it does not. */
const CANDIDATES = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

export function chromiumPath(): string | null {
  return CANDIDATES.find((path) => existsSync(path)) ?? null;
}

/** A console message, an uncaught exception, a failed load or a policy violation. */
export interface PageProblem {
  readonly source: string;
  readonly level: string;
  readonly text: string;
}

interface Pending {
  readonly resolve: (value: Record<string, unknown>) => void;
  readonly reject: (error: Error) => void;
}

export class Browser {
  private readonly child: ChildProcess;
  private readonly socket: WebSocket;
  private readonly profile: string;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(method: string, params: any) => void>();
  private nextId = 1;
  private sessionId = "";
  /** Every console message of the page, by level, and every problem the browser reported. */
  readonly console: PageProblem[] = [];

  private constructor(child: ChildProcess, socket: WebSocket, profile: string) {
    this.child = child;
    this.socket = socket;
    this.profile = profile;
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data));
      if (message.id !== undefined) {
        const waiting = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiting?.reject(new Error(JSON.stringify(message.error)));
        else waiting?.resolve(message.result ?? {});
      } else {
        for (const listener of this.listeners) listener(message.method, message.params);
      }
    });
  }

  /** Starts the browser with one blank page whose console is recorded. */
  static async launch(width = 1200, height = 900): Promise<Browser> {
    const executable = chromiumPath();
    if (executable === null) {
      throw new Error(
        "chromium is not installed (apt-get install -y --no-install-recommends chromium; .ci/run does)",
      );
    }
    const profile = await mkdtemp(join(tmpdir(), "konsul-lb-chromium-"));
    const args = [
      "--headless=new",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      `--window-size=${width},${height}`,
      "--hide-scrollbars",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--metrics-recording-only",
      "--force-color-profile=srgb",
      // Running as root (containers, CI) needs it; an unprivileged user keeps the sandbox.
      ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
      "about:blank",
    ];
    const child = spawn(executable, args, { stdio: ["ignore", "ignore", "pipe"] });
    const url = await new Promise<string>((resolve, reject) => {
      let stderr = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`chromium did not start in time:\n${stderr}`));
      }, 20_000);
      child.stderr?.on("data", (chunk) => {
        stderr += chunk;
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] as string);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`chromium exited with ${code}:\n${stderr}`));
      });
    });
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve, { once: true });
      socket.addEventListener("error", reject, { once: true });
    });
    const browser = new Browser(child, socket, profile);
    await browser.openPage();
    return browser;
  }

  private send(method: string, params: object = {}, session = true): Promise<any> {
    const id = this.nextId++;
    const message = { id, method, params, ...(session ? { sessionId: this.sessionId } : {}) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify(message));
    });
  }

  private async openPage(): Promise<void> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" }, false);
    const attached = await this.send("Target.attachToTarget", { targetId, flatten: true }, false);
    this.sessionId = attached.sessionId;
    this.listeners.add((method, params) => {
      if (method === "Runtime.consoleAPICalled") {
        const text = params.args.map((a: any) => a.value ?? a.description ?? "").join(" ");
        this.console.push({ source: "console", level: params.type, text });
      } else if (method === "Runtime.exceptionThrown") {
        const details = params.exceptionDetails;
        this.console.push({
          source: "exception",
          level: "error",
          text: details.exception?.description ?? details.text,
        });
      } else if (method === "Log.entryAdded") {
        const { source, level, text, url } = params.entry;
        this.console.push({ source, level, text: url ? `${text} (${url})` : text });
      }
    });
    await Promise.all([
      this.send("Page.enable"),
      this.send("Runtime.enable"),
      this.send("Log.enable"),
    ]);
  }

  /** Problems of level error or warning: what a clean page has none of. */
  problems(): PageProblem[] {
    return this.console.filter((entry) => entry.level === "error" || entry.level === "warning");
  }

  /** Loads `url` and waits for its load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => {
      const listener = (method: string) => {
        if (method === "Page.loadEventFired") {
          this.listeners.delete(listener);
          resolve();
        }
      };
      this.listeners.add(listener);
    });
    const navigated = await this.send("Page.navigate", { url });
    if (navigated.errorText) throw new Error(`${url}: ${navigated.errorText}`);
    await loaded;
  }

  /** The value of a JavaScript expression in the page (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (result.exceptionDetails) throw new Error(JSON.stringify(result.exceptionDetails));
    return result.result.value as T;
  }

  /** Polls `expression` until it is truthy; its last value otherwise, as an error. */
  async waitFor<T>(expression: string, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.evaluate<T>(expression);
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Buffer> {
    const { cssContentSize } = await this.send("Page.getLayoutMetrics");
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: {
        x: 0,
        y: 0,
        width: Math.ceil(cssContentSize.width),
        height: Math.ceil(cssContentSize.height),
        scale: 1,
      },
    });
    return Buffer.from(data, "base64");
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once("exit", () => resolve());
    });
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 3_000);
    try {
      await Promise.race([
        this.send("Browser.close", {}, false),
        new Promise((resolve) => setTimeout(resolve, 3_000)),
      ]);
    } catch {
      // the browser went before answering
    }
    await exited;
    clearTimeout(killer);
    this.socket.close();
    await rm(this.profile, { recursive: true, force: true });
  }
}
