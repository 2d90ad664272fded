/** Time as the readers see it: the system clock in production, a fake one in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/** One decision of a limiter: `amount` units were let through at `at`, after waiting `waitedMs`. */
export interface RateDecision {
  at: number;
  amount: number;
  waitedMs: number;
}

export interface RateLimiterOptions {
  /** Units per second let through on average. */
  ratePerSecond: number;
  clock?: Clock;
  /** Told about every decision, for status and tests. */
  onDecision?: (decision: RateDecision) => void;
}

/**
 * Paces work to `ratePerSecond` units per second: a take of `n` units waits until the previous takes have had
 * their time (n / rate seconds each), then books its own. So whatever starts after a take has been paid for in
 * advance, and over any span the units let through never exceed the rate by more than the last take.
 * Hand-written: a scheduler this small needs no dependency, and it runs on an injectable clock.
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  readonly #clock: Clock;
  readonly #onDecision: RateLimiterOptions['onDecision'];
  #nextAt = Number.NEGATIVE_INFINITY;
  /** Takes are served one after another, in the order asked. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${options.ratePerSecond}`);
    }
    this.ratePerSecond = options.ratePerSecond;
    this.#clock = options.clock ?? systemClock;
    this.#onDecision = options.onDecision;
  }

  /** Waits for this take's turn and books `amount` units; resolves with the milliseconds waited. */
  take(amount = 1): Promise<number> {
    const turn = this.#queue.then(async () => {
      const asked = this.#clock.now();
      const waitMs = Math.max(0, this.#nextAt - asked);
      if (waitMs > 0) await this.#clock.sleep(waitMs);
      const at = Math.max(asked + waitMs, this.#clock.now());
      this.#nextAt = at + (amount * 1000) / this.ratePerSecond;
      this.#onDecision?.({ at, amount, waitedMs: at - asked });
      return at - asked;
    });
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  /**
   * How long a take asked now would wait for the units already booked (not counting takes still queued): a caller
   * that must not start a wait it cannot finish asks this first.
   */
  pendingMs(): number {
    return Math.max(0, this.#nextAt - this.#clock.now());
  }

  /**
   * Books `amount` units that went through at `at` (now by default) without being taken first, such as the bytes
   * of an answer, known only once it has come: the next take waits until they have had their time as well.
   */
  charge(amount: number, at = this.#clock.now()): Promise<void> {
    const turn = this.#queue.then(() => {
      this.#nextAt = Math.max(this.#nextAt, at) + (amount * 1000) / this.ratePerSecond;
      this.#onDecision?.({ at, amount, waitedMs: 0 });
    });
    this.#queue = turn.catch(() => undefined);
    return turn;
  }
}
