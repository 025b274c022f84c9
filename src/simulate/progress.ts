/**
 * A one-line progress indicator for long simulations. It stays silent for the first second (a
 * short run should not flicker) and entirely when the stream is not a terminal, so that
 * redirected or captured stderr holds only messages.
 */

/** What the simulation reports its work to. */
export interface ProgressSink {
  /** `done` of `total` units of work, in the phase named by `label`. */
  update(label: string, done: number, total: number): void;
  /** Removes the line, if one was drawn. */
  finish(): void;
}

export const silentProgress: ProgressSink = { update() {}, finish() {} };

interface TerminalStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): boolean;
}

const QUIET_MS = 1000;
// Redrawing more often than this only costs time: a terminal shows no more.
const REDRAW_MS = 100;
const BAR_WIDTH = 24;
const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

export class TerminalProgress implements ProgressSink {
  private readonly stream: TerminalStream;
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw = 0;
  private drawn = false;

  constructor(stream: TerminalStream, now: () => number = () => performance.now()) {
    this.stream = stream;
    this.now = now;
    this.started = now();
  }

  update(label: string, done: number, total: number): void {
    const time = this.now();
    if (time - this.started < QUIET_MS || time - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = time;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const eighths = Math.round(fraction * BAR_WIDTH * 8);
    const bar = `${"█".repeat(Math.floor(eighths / 8))}${EIGHTHS[eighths % 8]}`.padEnd(BAR_WIDTH);
    const line = `${(fraction * 100).toFixed(0).padStart(3)}% ${bar}  ${label}`;
    // A terminal that does not know its width says 0; writing to the last column would wrap.
    const columns =
      this.stream.columns !== undefined && this.stream.columns > 0 ? this.stream.columns : 80;
    const width = Math.max(10, columns - 1);
    this.stream.write(`\r${line.slice(0, width)}\x1b[K`);
    this.drawn = true;
  }

  finish(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }
}

/** A terminal progress line on `stream` when it is a terminal, else nothing. */
export function progressFor(stream: TerminalStream): ProgressSink {
  return stream.isTTY === true ? new TerminalProgress(stream) : silentProgress;
}

// How often (in units of work) the sink hears of it: often enough for a smooth line, rarely
// enough to cost nothing.
const PROGRESS_EVERY = 2048;

/** Counts work across the whole run and passes it to the sink now and then. */
export class Progress {
  private readonly sink: ProgressSink;
  private readonly total: number;
  private done = 0;
  private sinceUpdate = 0;
  label = "";

  constructor(sink: ProgressSink, total: number) {
    this.sink = sink;
    this.total = total;
  }

  advance(units: number): void {
    this.done += units;
    this.sinceUpdate += units;
    if (this.sinceUpdate >= PROGRESS_EVERY) {
      this.sinceUpdate = 0;
      this.sink.update(this.label, this.done, this.total);
    }
  }
}
