// A progress bar on stderr: redrawn in place on a terminal, one line per
// finished step otherwise (CI logs, pipes), nothing with --quiet.

export class Progress {
  private readonly tty: boolean;
  private drawn = false;
  private last = 0;

  constructor(private readonly total: number, private readonly enabled: boolean) {
    this.tty = enabled && process.stderr.isTTY === true;
  }

  /** Redraws the bar for step `done` of the total (fractional inside a step) with a status text. */
  update(done: number, text: string): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.last < 80) return;
    this.last = now;
    const width = 24;
    const filled = Math.max(0, Math.min(width, Math.round((done / this.total) * width)));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const cols = process.stderr.columns || 100;
    const line = `${bar} ${Math.floor(done)}/${this.total} ${text}`.slice(0, cols - 1);
    process.stderr.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }

  /** A finished step: on a terminal the bar moves on; elsewhere one line is printed. */
  step(done: number, text: string): void {
    if (!this.enabled) return;
    if (this.tty) {
      this.last = 0;
      this.update(done, text);
    } else {
      process.stderr.write(`[${done}/${this.total}] ${text}\n`);
    }
  }

  /** Erases the bar so the results print on a clean line. */
  clear(): void {
    if (this.tty && this.drawn) process.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}
