import type { Benchmark, PendingBenchmark } from '#bench/lib/results.ts';
import { coldStart } from './cold-start.ts';
import { consumerThroughput } from './consumer-throughput.ts';
import { ingestCost } from './ingest-cost.ts';

/** Every benchmark of the performance issue, in its numbering; add a module here and drop it from PENDING. */
export const BENCHMARKS: Benchmark[] = [ingestCost, consumerThroughput, coldStart];

export const PENDING: PendingBenchmark[] = [
  {
    id: 3,
    title: 'Pipeline throughput on the local runtime',
    reason:
      'no module yet: it needs the local runtime (HTTP API, Kinesis poller, function workers) driven for 60 s against raw kinesalite PutRecords and dynalite conditional PutItem rates measured in the same run',
  },
  {
    id: 4,
    title: 'Recovery throughput',
    reason:
      'no module yet: it must drive the DLQ replay and the reprocessor over 100,000 records against raw GetRecords plus conditional writes measured in the same run, and those tools are still being finished',
  },
];
