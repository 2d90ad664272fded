/**
 * Writes the consumer's sample Kinesis events to events/ (`node scripts/make-consumer-events.ts`). Each file is
 * usable with `sam local invoke ConsumerFunction -e events/<file>`. The output is deterministic, so running it
 * again changes nothing unless this script changed.
 */
import { writeFileSync } from 'node:fs';
import aggregation from 'aws-kinesis-agg';

const STREAM_ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/kinesis-pipeline-EventStream';
const SHARD_ID = 'shardId-000000000000';
const FIRST_ARRIVAL = 1_764_000_000.125;

/** A 56-digit sequence number of the shape Kinesis hands out; `n` orders them. */
const sequenceNumber = (n: number): string =>
  `4966${'0'.repeat(30)}${String(1_000_000 + n).padStart(22, '0')}`;

const record = (n: number, partitionKey: string, data: Buffer) => ({
  kinesis: {
    kinesisSchemaVersion: '1.0',
    partitionKey,
    sequenceNumber: sequenceNumber(n),
    data: data.toString('base64'),
    approximateArrivalTimestamp: FIRST_ARRIVAL + n / 1000,
  },
  eventSource: 'aws:kinesis',
  eventVersion: '1.0',
  eventID: `${SHARD_ID}:${sequenceNumber(n)}`,
  eventName: 'aws:kinesis:record',
  invokeIdentityArn: 'arn:aws:iam::123456789012:role/kinesis-pipeline-ConsumerFunctionRole',
  awsRegion: 'us-east-1',
  eventSourceARN: STREAM_ARN,
});

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

const cloudEvent = (id: string, subject: string, data: unknown) => ({
  specversion: '1.0',
  id,
  source: 'urn:example:orders',
  type: 'com.example.order.updated',
  subject,
  time: '2026-11-24T16:00:00Z',
  datacontenttype: 'application/json',
  data,
});

/** A KPL aggregate of the given user records, built with the KPL format's reference implementation. */
const aggregate = (users: Array<{ partitionKey: string; data: Buffer }>): Buffer => {
  // The package's type declarations omit RecordAggregator.
  const { RecordAggregator } = aggregation as unknown as {
    RecordAggregator: new () => {
      addUserRecord(user: { partitionKey: string; data: Buffer }): void;
      build(): { partitionKey: string; data: Buffer };
    };
  };
  const aggregator = new RecordAggregator();
  for (const user of users) aggregator.addUserRecord(user);
  return aggregator.build().data;
};

const events: Record<string, unknown> = {
  'consumer-cloudevents.json': {
    Records: [1, 2, 3].map((n) =>
      record(n, 'order-1001', json(cloudEvent(`evt-100${n}`, 'order-1001', { orderId: '1001', step: n }))),
    ),
  },
  'consumer-kpl-aggregated.json': {
    Records: [
      record(
        10,
        'order-2001',
        aggregate([
          {
            partitionKey: 'order-2001',
            data: json(cloudEvent('evt-2001', 'order-2001', { orderId: '2001' })),
          },
          {
            partitionKey: 'order-2002',
            data: json(cloudEvent('evt-2002', 'order-2002', { orderId: '2002' })),
          },
          { partitionKey: 'sensor-7', data: json({ sensor: 7, celsius: 21.5 }) },
        ]),
      ),
    ],
  },
  'consumer-raw-json.json': {
    Records: [record(20, 'sensor-7', json({ sensor: 7, celsius: 21.5, at: '2026-11-24T16:00:00Z' }))],
  },
  'consumer-undecodable.json': {
    Records: [record(30, 'legacy-producer', Buffer.from([0xff, 0xfe, 0x00, 0x42, 0x7b, 0x22]))],
  },
  'consumer-mixed-keys.json': {
    Records: [
      record(40, 'order-3001', json(cloudEvent('evt-3001-a', 'order-3001', { step: 1 }))),
      record(41, 'order-3002', json(cloudEvent('evt-3002-a', 'order-3002', { step: 1 }))),
      record(42, 'sensor-9', json({ sensor: 9, celsius: 19 })),
      record(43, 'order-3001', json(cloudEvent('evt-3001-b', 'order-3001', { step: 2 }))),
      record(44, 'order-3002', json(cloudEvent('evt-3002-b', 'order-3002', { step: 2 }))),
      record(45, 'order-3001', json(cloudEvent('evt-3001-c', 'order-3001', { step: 3 }))),
    ],
  },
};

for (const [file, event] of Object.entries(events)) {
  writeFileSync(new URL(`../events/${file}`, import.meta.url), `${JSON.stringify(event, null, 2)}\n`);
  console.log(`events/${file}`);
}
