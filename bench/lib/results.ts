/**
 * What every benchmark reports: rows that each set one measurement against a baseline measured in the same run,
 * as a ratio, with the project's target judged met or not met. Benchmarks never assert their targets.
 */

export interface Quantity {
  value: number;
  unit: string;
}

export interface Target {
  /** The target as the project states it, e.g. `≤ 2× baseline`. */
  text: string;
  met: boolean;
  /** The figure compared with the limit: the row's ratio or its measured value. */
  appliesTo: 'ratio' | 'measured';
  limit: number;
}

export interface ResultRow {
  case: string;
  measured: Quantity & { label: string };
  baseline?: Quantity & { label: string };
  /** The comparison: `value` and what it means (`× baseline`, `of ideal`, `× faster than sequential`). */
  ratio?: { value: number; label: string };
  target?: Target;
  detail?: string;
}

export type BenchmarkStatus = 'ran' | 'not run' | 'failed';

export interface BenchmarkReport {
  id: number;
  title: string;
  status: BenchmarkStatus;
  /** Why it did not run, or why it failed. */
  reason?: string;
  rows: ResultRow[];
  notes: string[];
  durationMs?: number;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
}

export interface BenchResults {
  generatedAt: string;
  /** The command that made them, options included: a `--quick` or `--only` run says so. */
  command?: string;
  machine: MachineInfo;
  benchmarks: BenchmarkReport[];
}

export interface BenchContext {
  log(message: string): void;
}

/** A benchmark module: `run` measures and returns its rows; bench/run.ts adds id, title, status and timing. */
export interface Benchmark {
  id: number;
  title: string;
  run(context: BenchContext): Promise<Pick<BenchmarkReport, 'rows' | 'notes'>>;
}

/** A benchmark of the targets that has no module yet: listed as not run, with the reason, never with numbers. */
export interface PendingBenchmark {
  id: number;
  title: string;
  reason: string;
}

/** A target met when the value is at most `limit`. */
export const atMost = (
  value: number,
  limit: number,
  text: string,
  appliesTo: Target['appliesTo'],
): Target => ({
  text,
  met: value <= limit,
  appliesTo,
  limit,
});

/** A target met when the value is at least `limit`. */
export const atLeast = (
  value: number,
  limit: number,
  text: string,
  appliesTo: Target['appliesTo'],
): Target => ({
  text,
  met: value >= limit,
  appliesTo,
  limit,
});
