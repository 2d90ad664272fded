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

/** How long a poller or an on-failure destination waits for one call's answer unless told otherwise. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** A call to an emulator that got no answer within its time limit; the pollers handle it as any failed call. */
export class CallTimeoutError extends Error {
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'CallTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Runs one call with a signal that aborts at `stop` or after `timeoutMs`, whichever comes first, and rejects at that
 * moment even when the call's HTTP handler does not honour the signal: an emulator that accepts a request and never
 * answers must not stall a poller. At the time limit the rejection is a CallTimeoutError; at stop, the stop's
 * reason.
 */
export const withCallTimeout = async <T>(
  timeoutMs: number,
  stop: AbortSignal,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> => {
  const deadline = AbortSignal.timeout(timeoutMs);
  const either = AbortSignal.any([stop, deadline]);
  let onAbort = (): void => undefined;
  const ended = new Promise<never>((_, reject) => {
    onAbort = () => reject(deadline.aborted && !stop.aborted ? new CallTimeoutError(timeoutMs) : stop.reason);
    if (either.aborted) onAbort();
    else either.addEventListener('abort', onAbort, { once: true });
  });
  // Handled here as well: when the call itself settles first, nothing else waits on this promise.
  ended.catch(() => undefined);
  try {
    return await Promise.race([call(either), ended]);
  } finally {
    either.removeEventListener('abort', onAbort);
  }
};
