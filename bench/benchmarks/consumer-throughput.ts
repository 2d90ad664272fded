import { Logger } from '@aws-lambda-powertools/logger';
import { atLeast, type Benchmark, type ResultRow } from '#bench/lib/results.ts';
import { sleep, wallMillis } from '#bench/lib/stats.ts';
import { loadConsumerConfig } from '#shared/consumer/config.ts';
import { KeyOrderedBatchProcessor } from '#shared/consumer/key-ordered-processor.ts';
import { processRecords, toEventToStore } from '#shared/consumer/process-records.ts';
import { decodeStreamRecord, type StreamRecord } from '#shared/events/stream-record.ts';
import { MemoryQuarantine } from '#shared/quarantine/quarantine.ts';
import type { EventStore, EventToStore, PutResult } from '#shared/sink/event-store.ts';

/**
 * 2. Consumer throughput: 10,000 records over 1,000 keys through the real consumer (processRecords with
 * KeyOrderedBatchProcessor) with a store whose every write takes 5 ms, against the naive sequential loop and the
 * latency-bound ideal (records × 5 ms ÷ the key concurrency).
 */

export const RECORDS = 10_000;
export const KEYS = 1_000;
export const WRITE_MS = 5;

/** The latency-bound ideal: every write waits `writeMs`, and at most `concurrency` wait at once. */
export const idealMillis = (records: number, writeMs: number, concurrency: number): number =>
  (records * writeMs) / concurrency;

/** An EventStore whose every write takes `writeMs` and succeeds. */
export class SlowEventStore implements EventStore {
  readonly projectionVersion = 1;
  writes = 0;
  readonly #writeMs: number;

  constructor(writeMs: number) {
    this.#writeMs = writeMs;
  }

  async put(_event: EventToStore): Promise<PutResult> {
    await sleep(this.#writeMs);
    this.writes += 1;
    return { outcome: 'written' };
  }
}

/** Records n = 0…count-1, key `user-(n mod keys)`, in sequence-number order, each a CloudEvent of about 1 KB. */
export const makeRecords = (count: number, keys: number): StreamRecord[] =>
  Array.from({ length: count }, (_, n) => {
    const key = `user-${n % keys}`;
    const event = {
      specversion: '1.0',
      id: `evt-${n}`,
      source: 'urn:bench:consumer',
      type: 'com.example.click',
      subject: key,
      data: { n, padding: 'x'.repeat(800) },
    };
    return {
      shardId: 'shardId-000000000000',
      sequenceNumber: `4966${String(n).padStart(52, '0')}`,
      partitionKey: key,
      data: Buffer.from(JSON.stringify(event), 'utf8'),
      approximateArrivalTimestamp: new Date(1_800_000_000_000 + n),
    };
  });

export const consumerThroughput: Benchmark = {
  id: 2,
  title: 'Consumer throughput',
  async run({ log }) {
    // The deployed default (template.yaml ConsumerKeyConcurrency, shared/consumer/config.ts KEY_CONCURRENCY).
    const { keyConcurrency } = loadConsumerConfig({ TABLE_NAME: 'bench', QUARANTINE_BUCKET: 'bench' });
    const records = makeRecords(RECORDS, KEYS);

    const store = new SlowEventStore(WRITE_MS);
    let failures = -1;
    const consumer = await wallMillis(async () => {
      const report = await processRecords(records, {
        store,
        quarantine: new MemoryQuarantine(),
        processor: new KeyOrderedBatchProcessor({ keyConcurrency }),
        logger: new Logger({ serviceName: 'bench', logLevel: 'SILENT' }),
        metrics: { addMetric: () => undefined },
      });
      failures = report.batchItemFailures.length;
    });
    if (failures !== 0 || store.writes !== RECORDS) {
      throw new Error(`the consumer wrote ${store.writes} of ${RECORDS} records with ${failures} failures`);
    }
    log(
      `consumer: ${Math.round(consumer)} ms; now the sequential loop (about ${(RECORDS * WRITE_MS) / 1000} s)`,
    );

    const sequentialStore = new SlowEventStore(WRITE_MS);
    const sequential = await wallMillis(async () => {
      for (const record of records) {
        for (const parsed of decodeStreamRecord(record)) {
          if (parsed.kind === 'cloudevent' || parsed.kind === 'json')
            await sequentialStore.put(toEventToStore(parsed));
        }
      }
    });
    if (sequentialStore.writes !== RECORDS)
      throw new Error(`the sequential loop wrote ${sequentialStore.writes}`);

    const ideal = idealMillis(RECORDS, WRITE_MS, keyConcurrency);
    const observedWriteMs = sequential / RECORDS;
    const caseName = `${RECORDS.toLocaleString('en-US')} records, ${KEYS.toLocaleString('en-US')} keys, ${WRITE_MS} ms writes, ${keyConcurrency} keys at once`;
    const rows: ResultRow[] = [
      {
        case: caseName,
        measured: { label: 'consumer wall time', value: consumer, unit: 'ms' },
        baseline: {
          label: `ideal ${RECORDS.toLocaleString('en-US')} × ${WRITE_MS} ms ÷ ${keyConcurrency}`,
          value: ideal,
          unit: 'ms',
        },
        ratio: { value: ideal / consumer, label: 'of ideal' },
        target: atLeast(ideal / consumer, 0.8, '≥ 0.8 of ideal', 'ratio'),
      },
      {
        case: caseName,
        measured: { label: 'consumer wall time', value: consumer, unit: 'ms' },
        baseline: { label: 'naive sequential loop', value: sequential, unit: 'ms' },
        ratio: { value: sequential / consumer, label: '× faster than sequential' },
      },
    ];
    return {
      rows,
      notes: [
        `The fake store sleeps ${WRITE_MS} ms per write with setTimeout; the sequential loop shows a write really took ${observedWriteMs.toFixed(2)} ms on average, so the ideal at that latency is ${Math.round(idealMillis(RECORDS, observedWriteMs, keyConcurrency))} ms (${(idealMillis(RECORDS, observedWriteMs, keyConcurrency) / consumer).toFixed(2)} of it reached).`,
        'The sequential loop decodes each record and writes it, one at a time, with the same store: the work of the consumer without its concurrency.',
      ],
    };
  },
};
