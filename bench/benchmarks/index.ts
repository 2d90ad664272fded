import type { Benchmark, PendingBenchmark } from '#bench/lib/results.ts';
import { coldStart } from './cold-start.ts';
import { consumerThroughput } from './consumer-throughput.ts';
import { ingestCost } from './ingest-cost.ts';
import { pipelineThroughput } from './pipeline-throughput.ts';

/** Every benchmark of the performance issue, in its numbering; add a module here and drop it from PENDING. */
export const BENCHMARKS: Benchmark[] = [ingestCost, consumerThroughput, pipelineThroughput, coldStart];

export const PENDING: PendingBenchmark[] = [
  {
    id: 4,
    title: 'Recovery throughput',
    reason:
      'no module yet: it must drive shared/recovery/dlq-replay.ts and shared/recovery/reprocessor.ts over N records (100,000 by the issue) against raw GetRecords plus conditional writes measured in the same run; not written yet',
  },
];
