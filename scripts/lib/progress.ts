/**
 * Progress for long operations: a redrawn bar on a terminal, plain lines otherwise (CI logs, pipes).
 */
export interface Progress {
  update(done: number, total: number | undefined, detail: string): void;
  line(text: string): void;
  finish(): void;
}

export const createProgress = (label: string, out: NodeJS.WriteStream = process.stderr): Progress => {
  const tty = Boolean(out.isTTY);
  let drawn = false;
  let lastPlain = '';
  const bar = (done: number, total: number | undefined): string => {
    if (!total) return `${done}`;
    const width = 24;
    // Rounded down, both: the bar is full, and says 100%, only when the work is done.
    // Clamped to 0..1, and 0 when it is not a number: String.repeat throws on a negative count.
    const ratio = done / total;
    const share = Number.isNaN(ratio) ? 0 : Math.min(1, Math.max(0, ratio));
    const filled = Math.floor(share * width);
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(share * 100)}%`;
  };
  return {
    update: (done, total, detail) => {
      const text = `${label} ${bar(done, total)} ${detail}`;
      if (tty) {
        out.write(`\r\x1b[2K${text.slice(0, (out.columns ?? 120) - 1)}`);
        drawn = true;
      } else if (text !== lastPlain) {
        out.write(`${text}\n`);
        lastPlain = text;
      }
    },
    line: (text) => {
      if (tty && drawn) out.write('\r\x1b[2K');
      out.write(`${text}\n`);
      drawn = false;
    },
    finish: () => {
      if (tty && drawn) out.write('\n');
      drawn = false;
    },
  };
};
