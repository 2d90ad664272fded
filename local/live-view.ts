import type { RuntimeStatus } from '#local/status.ts';
import { statusLine } from '#local/status.ts';

/**
 * The terminal view of `npm start`: function and runtime logs scroll, and one status line stays at the bottom
 * (refreshed every second). Without a terminal, the status line is printed as a plain log line when it changes,
 * at most every `plainIntervalMs`.
 */
export interface LiveView {
  print(source: string, line: string): void;
  start(status: () => Promise<RuntimeStatus>): void;
  stop(): void;
}

export const createLiveView = (
  out: NodeJS.WriteStream = process.stdout,
  options: { intervalMs?: number; plainIntervalMs?: number } = {},
): LiveView => {
  const tty = Boolean(out.isTTY);
  let current = '';
  let lastPlain = '';
  let lastPlainAt = 0;
  let timer: NodeJS.Timeout | undefined;
  const clear = () => {
    if (tty && current) out.write('\r\x1b[2K');
  };
  const draw = () => {
    if (tty && current) out.write(`\x1b[7m ${current.slice(0, (out.columns ?? 200) - 2)} \x1b[0m`);
  };
  return {
    print: (source, line) => {
      clear();
      out.write(`[${source}] ${line}\n`);
      draw();
    },
    start: (status) => {
      const refresh = async () => {
        const line = statusLine(
          await status().catch(() => undefined as unknown as RuntimeStatus),
          // The width draw() leaves the line: a line too long for it is laid out counts first.
          tty ? (out.columns ?? 200) - 2 : undefined,
        );
        if (tty) {
          clear();
          current = line;
          draw();
        } else if (line !== lastPlain && Date.now() - lastPlainAt >= (options.plainIntervalMs ?? 15_000)) {
          lastPlain = line;
          lastPlainAt = Date.now();
          out.write(`[status] ${line}\n`);
        }
      };
      timer = setInterval(() => void refresh().catch(() => undefined), options.intervalMs ?? 1_000);
      timer.unref();
    },
    stop: () => {
      if (timer) clearInterval(timer);
      clear();
      current = '';
    },
  };
};
