import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { KinesisPollerStats, SqsPollerStats } from '#local/esm/types.ts';
import type { EventSourceMapping, EventSources } from '#local/event-sources.ts';
import type { FaultInjector, FaultSettings } from '#local/faults/faults.ts';
import type { LocalFunction } from '#local/functions/runner.ts';
import type { ResourceClients } from '#local/resources.ts';
import type { LocalStack } from '#local/stack.ts';
import { formatDuration } from '#scripts/lib/duration.ts';

/** Where the local runtime answers. */
export interface RuntimeEndpoints {
  /** The endpoint every SDK, the AWS CLI and boto3 use (AWS_ENDPOINT_URL). */
  aws: string;
  /** The HTTP API (IAM-authorised routes). */
  api: string;
  /** The JWT ingest API, when the template has it (IngestJwtIssuer set). */
  jwtApi?: string;
}

/** What the live view and GET /_local/status show. */
export interface RuntimeStatus {
  at: string;
  /** Absent only when the status is collected outside a running runtime. */
  endpoints?: RuntimeEndpoints;
  /** `name` is the logical id; `functionName` the name it goes by: the template's FunctionName, else the logical id. */
  functions: Array<{ name: string; functionName: string; invocations: number; errors: number }>;
  /**
   * Each stream mapping with its UUID, as the Lambda API's ListEventSourceMappings names it, and its function's
   * logical id and the name it goes by (its FunctionName, else the logical id), as the Invoke API takes them.
   */
  streams: Array<MappingNames & KinesisPollerStats>;
  queues: Array<{
    logicalId: string;
    name: string;
    visible: number;
    inFlight: number;
    /** Each mapping of the queue, named as the stream mappings are. */
    consumers: Array<MappingNames & SqsPollerStats>;
    /** Why the depths could not be read (emulator down or slow, queue missing); they show 0 then. */
    error?: string;
  }>;
  quarantine: Array<{ bucket: string; objects: number; truncated: boolean; error?: string }>;
  faults: { settings: FaultSettings; injected: FaultInjector['counts'] };
}

/** A mapping's UUID and its function's names, as every other local view (Invoke API, ListEventSourceMappings) names it. */
interface MappingNames {
  uuid: string;
  logicalId: string;
  functionName: string;
}

const mappingNames = (m: EventSourceMapping): MappingNames => ({
  uuid: m.uuid,
  logicalId: m.function.logicalId,
  functionName: m.function.functionName ?? m.function.logicalId,
});

/** Objects under quarantine/ in each bucket; counted up to 1,000 so the view stays cheap. */
const QUARANTINE_PREFIX = 'quarantine/';

/** How long the status waits for an emulator: the SDK's default handler has no timeout, and the view must answer. */
const STATUS_TIMEOUT_MS = 2_000;

const reason = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

export const collectStatus = async (
  stack: LocalStack,
  clients: ResourceClients,
  eventSources: EventSources,
  faults: FaultInjector,
  functions: Map<string, LocalFunction>,
  options: { timeoutMs?: number; endpoints?: RuntimeEndpoints } = {},
): Promise<RuntimeStatus> => {
  const timeoutMs = options.timeoutMs ?? STATUS_TIMEOUT_MS;
  const resources = Object.values(stack.resources);
  const sqsStats = eventSources.mappings.flatMap((m) =>
    m.kind === 'SQS' ? [{ ...m.poller.stats(), ...mappingNames(m) }] : [],
  );
  const queues = await Promise.all(
    resources
      .filter((r) => r.type === 'AWS::SQS::Queue')
      .map(async (r) => {
        const { Attributes = {}, error } = await clients.sqs
          .send(
            new GetQueueAttributesCommand({
              QueueUrl: r.refs.ref,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
            { abortSignal: AbortSignal.timeout(timeoutMs) },
          )
          .then(
            (answer): { Attributes?: Record<string, string>; error?: string } => answer,
            (cause: unknown): { Attributes?: Record<string, string>; error?: string } => ({
              error: reason(cause),
            }),
          );
        return {
          logicalId: r.logicalId,
          name: r.refs.attributes.QueueName!,
          visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
          inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
          consumers: sqsStats.filter((s) => s.queueArn === r.refs.attributes.Arn),
          ...(error ? { error } : {}),
        };
      }),
  );
  const quarantine = await Promise.all(
    resources
      .filter((r) => r.type === 'AWS::S3::Bucket')
      .map(async (r) => {
        const listing = await clients.s3
          .send(new ListObjectsV2Command({ Bucket: r.refs.ref, Prefix: QUARANTINE_PREFIX, MaxKeys: 1000 }), {
            abortSignal: AbortSignal.timeout(timeoutMs),
          })
          .then(
            (answer): { KeyCount?: number; IsTruncated?: boolean; error?: string } => answer,
            (cause: unknown): { KeyCount?: number; IsTruncated?: boolean; error?: string } => ({
              error: reason(cause),
            }),
          );
        return {
          bucket: r.refs.ref,
          objects: listing.KeyCount ?? 0,
          truncated: Boolean(listing.IsTruncated),
          ...(listing.error ? { error: listing.error } : {}),
        };
      }),
  );
  return {
    at: new Date().toISOString(),
    ...(options.endpoints ? { endpoints: options.endpoints } : {}),
    functions: [...functions.values()].map((f) => ({
      name: f.definition.name,
      functionName: f.functionName,
      ...f.counts,
    })),
    streams: eventSources.mappings.flatMap((m) =>
      m.kind === 'Kinesis' ? [{ ...m.poller.stats(), ...mappingNames(m) }] : [],
    ),
    queues,
    quarantine,
    faults: { settings: faults.settings(), injected: faults.counts },
  };
};

const compact = (n: number): string => (n >= 10_000 ? `${Math.round(n / 1000)}k` : String(n));

/**
 * One line for a terminal: per shard in/out and iterator age, failures, queue depths, quarantine. Given the
 * terminal's `width`, a line too long for it puts the counts first, so that what the terminal cuts off is the end
 * of the shard and queue lists, never a count.
 */
export const statusLine = (status: RuntimeStatus, width?: number): string => {
  // A mapping disabled while it ran (its stream deleted) reads nothing more: its shards say so, with no age.
  const shards = status.streams.flatMap((stream) =>
    stream.shards.map(
      (s) =>
        `${s.shardId.replace('shardId-', '#').replace(/^#0+(?=\d)/, '#')} ${compact(s.recordsIn)}→${compact(s.recordsOut)}` +
        (stream.state === 'disabled' ? ' disabled' : ` age ${formatDuration(s.iteratorAgeMs)}`) +
        (s.recordsFailed ? ` failed ${s.recordsFailed}` : ''),
    ),
  );
  // A queue's mapping disabled on its own (the queue deleted) is named; one disabled in the template is not news.
  const queues = status.queues.map(
    (q) =>
      (q.error ? `${q.logicalId} ?` : `${q.logicalId} ${q.visible}${q.inFlight ? `+${q.inFlight}` : ''}`) +
      (q.consumers.some((c) => c.state === 'disabled' && c.stateTransitionReason !== undefined)
        ? ' (consumer disabled)'
        : ''),
  );
  const quarantined = status.quarantine.reduce((n, q) => n + q.objects, 0);
  const errors = status.functions.reduce((n, f) => n + f.errors, 0);
  const injected = Object.values(status.faults.injected).reduce((n, c) => n + c, 0);
  const lists = [`shards: ${shards.join(' | ') || '-'}`, `queues: ${queues.join(' ') || '-'}`];
  const counts = [
    `quarantined: ${quarantined}${status.quarantine.some((q) => q.truncated) ? '+' : ''}`,
    `fn errors: ${errors}`,
    ...(injected ? [`faults injected: ${injected}`] : []),
  ];
  const line = [...lists, ...counts].join('  ·  ');
  return width === undefined || line.length <= width ? line : [...counts, ...lists].join('  ·  ');
};
