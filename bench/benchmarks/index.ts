import type { Benchmark, PendingBenchmark } from '#bench/lib/results.ts';
import { coldStart } from './cold-start.ts';
import { consumerThroughput } from './consumer-throughput.ts';
import { ingestCost } from './ingest-cost.ts';
import { pipelineThroughput } from './pipeline-throughput.ts';
import { recoveryThroughput } from './recovery-throughput.ts';

/** Every benchmark of the project's performance targets, in their numbering; add a module here and drop it from PENDING. */
export const BENCHMARKS: Benchmark[] = [
  ingestCost,
  consumerThroughput,
  pipelineThroughput,
  recoveryThroughput,
  coldStart,
];

export const PENDING: PendingBenchmark[] = [];
