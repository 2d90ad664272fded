/**
 * A wake-up call between the poller's loops: `wait()` resolves at the next `notify()`, after `timeoutMs`, or when
 * the abort signal fires, whichever comes first. It never rejects.
 */
export class Wakeup {
  private waiters: Array<() => void> = [];

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  wait(timeoutMs?: number, abort?: AbortSignal): Promise<void> {
    if (abort?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        abort?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs))
        timer = setTimeout(done, Math.max(0, timeoutMs));
      abort?.addEventListener('abort', done, { once: true });
    });
  }
}

/** Sleeps, waking early (without error) when the signal aborts. */
export const sleep = (ms: number, abort?: AbortSignal): Promise<void> => new Wakeup().wait(ms, abort);

/** Exponential backoff: `baseMs`, doubled per attempt, capped at `maxMs`. */
export const backoffMs = (attempt: number, baseMs: number, maxMs: number): number =>
  baseMs <= 0 ? 0 : Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));

export const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
