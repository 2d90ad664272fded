import { KinesisClient, type KinesisClientConfig, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { atMost, type Benchmark, type ResultRow } from '#bench/lib/results.ts';
import { cpuMicros, median, sleep } from '#bench/lib/stats.ts';
import { KINESIS_CLIENT_SETTINGS } from '#shared/clients/kinesis-settings.ts';
import { validateCloudEvent } from '#shared/events/cloudevent.ts';
import { type IngestDeps, ingestRequest } from '#shared/ingest/ingest-request.ts';
import { arrayElementTexts, valueText } from '#shared/ingest/raw-json.ts';
import { type PutEntry, putRecordsInOrder, type WriteOutcome } from '#shared/kinesis/put-records.ts';

/**
 * 1. Ingest cost per event: CPU time per event of the ingest request path (shared/ingest/ingest-request.ts with
 * the real writer putRecordsInOrder and a real KinesisClient, so SDK serialisation, SigV4 signing and response
 * parsing count) against the bare parse + validate + serialise + base64 of the same events.
 */

export const EVENT_BYTES = 1024;
export const BATCH_SIZES = [1, 100, 500] as const;
/** The fake Kinesis answers every PutRecords after this long: constant, so the CPU measured is the handler's. */
export const FAKE_LATENCY_MS = 1;
const ROUNDS = 5;
/**
 * Events per round and case: 40 requests of 500 and 200 of 100, so that each round holds several garbage
 * collections, as a busy function does, and rounds vary less. Batches of 1 pay the fake latency once per request,
 * so they get fewer.
 */
const EVENTS_PER_ROUND: Record<number, number> = { 1: 800, 100: 20_000, 500: 20_000 };
/** The baseline repeats its work this many times per round, so its CPU time is well above the clock's grain. */
const BASELINE_REPEAT = 4;

/** A CloudEvent whose JSON is exactly `EVENT_BYTES` bytes; `i` makes its id and partition key unique. */
export const eventOfSize = (i: number, bytes = EVENT_BYTES): Record<string, unknown> => {
  const event = {
    specversion: '1.0',
    id: `evt-${i}`,
    source: 'urn:bench:ingest',
    type: 'com.example.click',
    time: '2026-11-27T12:00:00Z',
    subject: `user-${i}`,
    datacontenttype: 'application/json',
    data: { padding: '' },
  };
  const missing = bytes - Buffer.byteLength(JSON.stringify(event));
  if (missing < 0) throw new RangeError(`an event cannot be as small as ${bytes} bytes`);
  event.data.padding = 'x'.repeat(missing);
  return event;
};

const requestOf = (batch: number): APIGatewayProxyEventV2 => {
  const events = Array.from({ length: batch }, (_, i) => eventOfSize(i));
  return {
    version: '2.0',
    routeKey: 'POST /events',
    rawPath: '/events',
    rawQueryString: '',
    headers: {
      'content-type': batch === 1 ? 'application/cloudevents+json' : 'application/cloudevents-batch+json',
    },
    body: JSON.stringify(batch === 1 ? events[0] : events),
    isBase64Encoded: false,
    requestContext: { requestId: 'bench' },
  } as unknown as APIGatewayProxyEventV2;
};

/**
 * A Kinesis HTTP handler that answers every PutRecords with success after a constant delay. Written by hand:
 * aws-sdk-client-mock replaces `send`, which would skip the SDK work this benchmark must count.
 */
const ENTRY_MARKER = Buffer.from('"PartitionKey"');

export const constantLatencyKinesis = (latencyMs: number) => {
  const answers = new Map<number, Uint8Array>();
  const answerFor = (count: number): Uint8Array => {
    let answer = answers.get(count);
    if (!answer) {
      const records = Array.from({ length: count }, (_, i) => ({
        SequenceNumber: `4966${String(i).padStart(52, '0')}`,
        ShardId: 'shardId-000000000000',
      }));
      answer = Buffer.from(JSON.stringify({ FailedRecordCount: 0, Records: records }));
      answers.set(count, answer);
    }
    return answer;
  };
  return {
    async handle(request: { body?: unknown }) {
      // Count the entries in the bytes the SDK hands over, without decoding them (that would cost the handler).
      const body = request.body;
      const bytes =
        typeof body === 'string'
          ? Buffer.from(body)
          : Buffer.from(
              (body as Uint8Array).buffer,
              (body as Uint8Array).byteOffset,
              (body as Uint8Array).byteLength,
            );
      let count = 0;
      for (let at = bytes.indexOf(ENTRY_MARKER); at !== -1; at = bytes.indexOf(ENTRY_MARKER, at + 1))
        count += 1;
      await sleep(latencyMs);
      return {
        response: {
          statusCode: 200,
          headers: { 'content-type': 'application/x-amz-json-1.1' },
          body: answerFor(count),
        },
      };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
};

/** A write answered in-process, every entry written: the handler's own work, without the SDK's. */
const writtenInProcess = async (entries: PutEntry[]): Promise<WriteOutcome> => ({
  results: entries.map((_, index) => ({
    status: 'written',
    shardId: 'shardId-000000000000',
    sequenceNumber: `4966${String(index).padStart(52, '0')}`,
    attempts: 1,
  })),
  retryAfterSeconds: 1,
});

/**
 * The baseline: what any ingest must do to the same body, and nothing else. Each event is serialised as the
 * handler serialises it, by finding its own text in the body (shared/ingest/raw-json.ts, a fifth of the cost of
 * JSON.stringify), so that the baseline is no slower than the handler at its own steps.
 */
export const bareIngest = (body: string): string[] => {
  const parsed: unknown = JSON.parse(body);
  const events = Array.isArray(parsed) ? parsed : [parsed];
  const texts = Array.isArray(parsed) ? arrayElementTexts(body, events.length) : [valueText(body)];
  if (!texts) throw new Error('the events were not found in the body');
  return events.map((event, index) => {
    if (validateCloudEvent(event, index, texts[index]).length > 0)
      throw new Error(`event ${index} is invalid`);
    return Buffer.from(texts[index]!, 'utf8').toString('base64');
  });
};

export const ingestCost: Benchmark = {
  id: 1,
  title: 'Ingest cost per event',
  async run({ log }) {
    // The functions' own client settings, with the fake in place of the network.
    const client = new KinesisClient({
      ...KINESIS_CLIENT_SETTINGS,
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      endpoint: 'http://kinesis.bench.invalid',
      maxAttempts: 1,
      requestHandler: constantLatencyKinesis(
        FAKE_LATENCY_MS,
      ) as unknown as KinesisClientConfig['requestHandler'],
    });
    const noop = () => undefined;
    const deps: IngestDeps = {
      limits: { maxRecordBytes: 1024 * 1024, maxBodyBytes: 5 * 1024 * 1024 },
      counters: { accepted: noop, rejected: noop, retried: noop, failed: noop },
      write: (entries, onRetry) =>
        putRecordsInOrder(client, entries, { streamName: 'bench', deadline: Date.now() + 10_000, onRetry }),
    };
    const withoutSdk: IngestDeps = { ...deps, write: writtenInProcess };
    const rows: ResultRow[] = [];
    for (const batch of BATCH_SIZES) {
      const request = requestOf(batch);
      const body = request.body!;
      const requests = EVENTS_PER_ROUND[batch]! / batch;
      const parsed: unknown = JSON.parse(body);
      const records = (Array.isArray(parsed) ? parsed : [parsed]).map((event: { subject: string }) => ({
        PartitionKey: event.subject,
        Data: Buffer.from(JSON.stringify(event), 'utf8'),
      }));
      const handler = async () => {
        for (let i = 0; i < requests; i += 1) {
          const answer = await ingestRequest(request, deps);
          if (answer.statusCode !== 202)
            throw new Error(`the handler answered ${answer.statusCode}: ${answer.body}`);
        }
      };
      const baseline = () => {
        for (let i = 0; i < requests * BASELINE_REPEAT; i += 1) bareIngest(body);
      };
      // The two halves of the handler's cost: its own work, and the SDK's PutRecords call on its own.
      const ownWork = async () => {
        for (let i = 0; i < requests; i += 1) await ingestRequest(request, withoutSdk);
      };
      const sdkCall = async () => {
        for (let i = 0; i < requests; i += 1)
          await client.send(new PutRecordsCommand({ StreamName: 'bench', Records: records }));
      };
      const handlerPerEvent: number[] = [];
      const baselinePerEvent: number[] = [];
      const ownPerEvent: number[] = [];
      const sdkPerEvent: number[] = [];
      // Round 0 warms the JIT and is dropped; the others alternate, so both see the same machine.
      for (let round = 0; round <= ROUNDS; round += 1) {
        const h = (await cpuMicros(handler)) / (requests * batch);
        const b = (await cpuMicros(baseline)) / (requests * batch * BASELINE_REPEAT);
        if (round > 0) {
          handlerPerEvent.push(h);
          baselinePerEvent.push(b);
        }
      }
      // The split, in rounds of its own so that the handler and baseline are measured as above and alone.
      for (let round = 0; round <= ROUNDS; round += 1) {
        const o = (await cpuMicros(ownWork)) / (requests * batch);
        const k = (await cpuMicros(sdkCall)) / (requests * batch);
        if (round > 0) {
          ownPerEvent.push(o);
          sdkPerEvent.push(k);
        }
      }
      const measured = median(handlerPerEvent);
      const bare = median(baselinePerEvent);
      const own = median(ownPerEvent);
      const sdk = median(sdkPerEvent);
      const ratio = measured / bare;
      log(
        `batch of ${batch}: ${measured.toFixed(1)} µs/event vs ${bare.toFixed(1)} µs/event (${ratio.toFixed(2)}×)`,
      );
      rows.push({
        case: `batch of ${batch} × ${EVENT_BYTES} B`,
        measured: { label: 'handler CPU per event', value: measured, unit: 'µs' },
        baseline: { label: 'parse + validate + serialise + base64', value: bare, unit: 'µs' },
        ratio: { value: ratio, label: '× baseline' },
        target: atMost(ratio, 2, '≤ 2× baseline', 'ratio'),
      });
      rows.push({
        case: `batch of ${batch} × ${EVENT_BYTES} B`,
        measured: {
          label: 'handler CPU per event, its write answered in-process (no SDK)',
          value: own,
          unit: 'µs',
        },
        baseline: { label: 'parse + validate + serialise + base64', value: bare, unit: 'µs' },
        ratio: { value: own / bare, label: '× baseline' },
      });
      rows.push({
        case: `batch of ${batch} × ${EVENT_BYTES} B`,
        measured: { label: 'the AWS SDK PutRecords call alone, CPU per event', value: sdk, unit: 'µs' },
        baseline: { label: 'handler CPU per event', value: measured, unit: 'µs' },
        ratio: { value: sdk / measured, label: 'of the handler' },
      });
    }
    client.destroy();
    return {
      rows,
      notes: [
        `CPU time from process.cpuUsage (user + system, all threads, so garbage collection counts), median of ${ROUNDS} rounds after one warm-up; handler and baseline alternate within each round.`,
        `The handler is shared/ingest/ingest-request.ts with putRecordsInOrder and a real KinesisClient, with the settings of the functions' clients (shared/clients/kinesis-settings.ts), whose HTTP handler answers every PutRecords after ${FAKE_LATENCY_MS} ms; the Lambda middy chain (Powertools logger and metrics) is not included.`,
        'The handler pays per request what the baseline does not: the SDK building, signing (SHA-256 of the body) and parsing each PutRecords call, and the problem/accepted response.',
        "The second and third rows per batch split the handler's cost: the same handler with its write answered in-process (every entry written, no SDK), and the SDK's PutRecords call alone for the same entries through the same client. The first is the work the project's code does; the second the SDK's. Measured apart (the SDK call sends one set of entries again and again), they need not add up to the whole.",
      ],
    };
  },
};
