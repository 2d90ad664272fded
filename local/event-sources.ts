import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { KinesisStreamEvent, SQSEvent } from 'aws-lambda';
import {
  type CheckpointStore,
  InMemoryCheckpointStore,
  JsonFileCheckpointStore,
} from '#local/esm/checkpoint-store.ts';
import { withInjectedFunctionErrors } from '#local/esm/fault-injection.ts';
import { KinesisPoller } from '#local/esm/kinesis-poller.ts';
import { sqsOnFailureSink } from '#local/esm/on-failure.ts';
import { SqsPoller } from '#local/esm/sqs-poller.ts';
import type {
  InvokeFunction,
  KinesisEventProperties,
  KinesisPollerEvent,
  SqsEventProperties,
} from '#local/esm/types.ts';
import type { FaultInjector } from '#local/faults/faults.ts';
import { parsePattern } from '#local/faults/faults.ts';
import { type FunctionNames, goesBy } from '#local/functions/function-names.ts';
import type { LocalFunction } from '#local/functions/runner.ts';
import type { ResourceClients } from '#local/resources.ts';
import type { LocalStack, PlannedFunction } from '#local/stack.ts';

/**
 * The template's Kinesis and SQS events, run as event source mappings against the emulators. Each mapping
 * invokes its function through the same worker pool as every other caller, with the function faults of the
 * fault injector applied, and keeps its checkpoints in the data folder so a restart resumes where it stopped.
 */

/**
 * One of the template's event source mappings as the Lambda API shows it (GetEventSourceMapping): its stable UUID,
 * its function, and what it did last. The poller holds its settings and state.
 */
export type EventSourceMapping = {
  /** The same from one start to the next: derived from the stack, the function, the event and its source. */
  uuid: string;
  function: PlannedFunction;
  eventName: string;
  live: {
    /** When the runtime made the mapping, or it was disabled since (epoch ms): the API's LastModified. */
    lastModifiedMs: number;
    /** A stream mapping's last batch, as the API's LastProcessingResult: No records processed, OK, or PROBLEM: … */
    lastProcessingResult: string;
  };
} & ({ kind: 'Kinesis'; poller: KinesisPoller } | { kind: 'SQS'; poller: SqsPoller });

/** A UUID (version 5 form) from the mapping's identity, so that it survives restarts as the mapping does on AWS. */
export const mappingUuid = (identity: string): string => {
  const bytes = createHash('sha1').update(`event-source-mapping:${identity}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

/** The last batch's outcome, as a stream mapping's LastProcessingResult says it. */
const processingResultOf = (event: KinesisPollerEvent): string | undefined => {
  if (event.type === 'batch-succeeded') return 'OK';
  // AWS documents this one text for a failed batch; a partial failure and a failed call are both one locally.
  if (event.type === 'batch-failed') return 'PROBLEM: Function call failed';
  return undefined;
};

export interface EventSources {
  kinesis: KinesisPoller[];
  sqs: SqsPoller[];
  /** Every mapping, in the template's order, for the Lambda API. */
  mappings: EventSourceMapping[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A failure's detail in a log line: its first line, at most 200 characters. */
const shortDetail = (detail: string): string => {
  const first = detail.split('\n')[0]!.trim();
  return first.length > 200 ? `${first.slice(0, 199)}…` : first;
};

const failedBatchLine = (count: number, unit: string, reason: string, detail: string): string =>
  `a batch of ${count} ${unit}${count === 1 ? '' : 's'} failed (${reason}${detail ? `: ${shortDetail(detail)}` : ''})`;

/** The one line a mapping whose stream or queue was deleted leaves in the log. */
const sourceDeletedLine = (reason: string): string =>
  `${reason} (disabled); restart the runtime to make it again from the template`;

/**
 * The line the runtime's log shows for a stream event source's event, or undefined for routine ones: what goes
 * wrong with a batch (a failure, a split, a batch given up on) is what a user watching the log needs to see.
 */
export const kinesisEventLine = (e: KinesisPollerEvent): string | undefined => {
  switch (e.type) {
    case 'batch-failed':
      return `${e.shardId}: ${failedBatchLine(e.count, 'record', e.reason, e.detail)}`;
    case 'bisected':
      return `${e.shardId}: the failed batch is split in two, ${e.left} + ${e.right} records (BisectBatchOnFunctionError)`;
    case 'on-failure': {
      const info = e.record.KinesisBatchInfo;
      const one = info.batchSize === 1;
      const what = `${info.batchSize} record${one ? '' : 's'} (${info.startSequenceNumber}…${info.endSequenceNumber})`;
      const their = one ? 'its' : 'their';
      return e.delivered
        ? `${e.shardId}: ${what} given up on (${e.record.requestContext.condition}); ${their} pointer is on the on-failure destination`
        : `${e.shardId}: ${what} given up on (${e.record.requestContext.condition}); no on-failure destination took ${their} pointer`;
    }
    case 'checkpoints-discarded':
      return e.reason;
    case 'source-deleted':
      return sourceDeletedLine(e.reason);
    case 'records-trimmed':
      return (
        `${e.shardId}: AFTER_SEQUENCE_NUMBER ${e.after} was refused, its record trimmed by the stream's retention ` +
        `(${shortDetail(e.detail)}); the records between it and the trim horizon were lost to retention, and the ` +
        'shard reads on from TRIM_HORIZON'
      );
    case 'error':
      // A checkpoint that cannot be written (a full or read-only disk) is seen only at the next start otherwise.
      return e.operation === 'Checkpoint'
        ? `${e.shardId}: cannot save the checkpoint (${shortDetail(e.error.message)}); a restart reads the records after the last one saved again`
        : undefined;
    default:
      return undefined;
  }
};

export class EventSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventSourceError';
  }
}

export interface EventSourceOptions {
  stack: LocalStack;
  functions: Map<string, LocalFunction>;
  clients: ResourceClients;
  faults: FaultInjector;
  /** Checkpoints are kept in `<dataDir>/checkpoints.json`; in memory when absent. */
  dataDir?: string;
  /** Saves the queues' messages at once: an on-failure message is durable before the checkpoint passes its records. */
  persistQueues?: () => void;
  region: string;
  accountId: string;
  /** How long an idle shard or queue waits before polling again (AWS: about one second). */
  pollIntervalMs?: number;
  /** First wait before retrying a failed batch (doubling); AWS does not document its own. */
  retryBaseDelayMs?: number;
  log: (source: string, line: string) => void;
}

/** A stream ARN or name → its name. */
const streamNameOf = (value: unknown, where: string): string => {
  if (typeof value !== 'string' || value === '')
    throw new EventSourceError(`${where}: Stream must be a stream ARN`);
  if (value.includes(':stream/') && !value.includes('/consumer/')) {
    return value.split(':stream/')[1]!.split('/')[0]!;
  }
  if (value.includes(':'))
    throw new EventSourceError(
      `${where}: ${value} is not a Kinesis stream ARN (consumer ARNs are not emulated)`,
    );
  return value;
};

/** Function faults from the fault injector, read on every invocation so that they can be switched while running. */
export const withFunctionFaults = <TEvent extends KinesisStreamEvent | SQSEvent>(
  invoke: InvokeFunction<TEvent>,
  fn: FunctionNames,
  faults: FaultInjector,
): InvokeFunction<TEvent> => {
  return (event) => {
    const { functionPattern, functionName: only } = faults.settings();
    // The setting names the function by its logical id or its FunctionName, as the Invoke API takes them.
    if (!functionPattern || (only && !goesBy(fn, only))) return invoke(event);
    return withInjectedFunctionErrors(invoke, {
      pattern: parsePattern(functionPattern),
      onInjected: () => {
        faults.counts.functionErrors += 1;
      },
    })(event);
  };
};

export const createEventSources = (options: EventSourceOptions): EventSources => {
  const { stack, functions, clients, faults, log } = options;
  const checkpoints: CheckpointStore = options.dataDir
    ? new JsonFileCheckpointStore(join(options.dataDir, 'checkpoints.json'))
    : new InMemoryCheckpointStore();
  const kinesis: KinesisPoller[] = [];
  const sqs: SqsPoller[] = [];
  const mappings: EventSourceMapping[] = [];
  // What every poller of the runtime shares.
  const pollerSettings = {
    region: options.region,
    accountId: options.accountId,
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.retryBaseDelayMs !== undefined ? { retryBaseDelayMs: options.retryBaseDelayMs } : {}),
  };
  const madeAt = Date.now();

  for (const definition of Object.values(stack.functions)) {
    const fn = functions.get(definition.name);
    if (!fn) continue;
    for (const event of definition.events) {
      const where = `Resources.${definition.logicalId}.Properties.Events.${event.name}`;
      if (event.type === 'Kinesis') {
        const properties = event.properties as KinesisEventProperties;
        const destination = (
          properties.DestinationConfig as { OnFailure?: { Destination?: string; Type?: string } }
        )?.OnFailure;
        // The destination's kind: its Type, else its ARN's service. SAM does not require Type.
        const kind = destination?.Type ?? destination?.Destination?.split(':')[2]?.toUpperCase();
        if (destination?.Destination && kind !== 'SQS') {
          throw new EventSourceError(
            `${where}: only SQS on-failure destinations are emulated, not ${kind} (${destination.Destination})`,
          );
        }
        // The stream is part of the mapping's identity: pointed at another stream, it is a new mapping, as on AWS.
        const stream = streamNameOf(properties.Stream, where);
        const mappingId = `${definition.logicalId}/${event.name}/${stream}`;
        const live = { lastModifiedMs: madeAt, lastProcessingResult: 'No records processed' };
        const poller = new KinesisPoller({
          client: clients.kinesis,
          stream,
          properties,
          invoke: withFunctionFaults((e) => fn.invoke(e), definition, faults),
          ...(destination?.Destination
            ? {
                onFailure: sqsOnFailureSink({
                  client: clients.sqs,
                  destination: destination.Destination,
                  ...(options.persistQueues ? { persist: options.persistQueues } : {}),
                }),
              }
            : {}),
          checkpoints,
          mappingId,
          onEvent: (e) => {
            live.lastProcessingResult = processingResultOf(e) ?? live.lastProcessingResult;
            if (e.type === 'source-deleted') live.lastModifiedMs = Date.now();
            const line = kinesisEventLine(e);
            if (line !== undefined) log('esm', `${definition.name}: ${line}`);
          },
          functionName: definition.name,
          functionArn: definition.arn,
          invokeIdentityArn: definition.roleArn,
          ...pollerSettings,
        });
        kinesis.push(poller);
        mappings.push({
          uuid: mappingUuid(`${stack.name}/${mappingId}`),
          function: definition,
          eventName: event.name,
          live,
          kind: 'Kinesis',
          poller,
        });
      } else if (event.type === 'SQS') {
        const properties = event.properties as SqsEventProperties;
        const live = { lastModifiedMs: madeAt, lastProcessingResult: 'No records processed' };
        const poller = new SqsPoller({
          client: clients.sqs,
          queue: String(properties.Queue),
          properties,
          invoke: withFunctionFaults((e) => fn.invoke(e), definition, faults),
          onEvent: (e) => {
            if (e.type === 'source-deleted') live.lastModifiedMs = Date.now();
            if (e.type === 'batch-failed')
              log('esm', `${definition.name}: ${failedBatchLine(e.count, 'message', e.reason, e.detail)}`);
            else if (e.type === 'source-deleted')
              log('esm', `${definition.name}: ${sourceDeletedLine(e.reason)}`);
          },
          functionName: definition.name,
          ...pollerSettings,
        });
        sqs.push(poller);
        mappings.push({
          uuid: mappingUuid(
            `${stack.name}/${definition.logicalId}/${event.name}/${String(properties.Queue)}`,
          ),
          function: definition,
          eventName: event.name,
          live,
          kind: 'SQS',
          poller,
        });
      } else if (event.type !== 'HttpApi') {
        throw new EventSourceError(
          `${where}: event type ${event.type} is not supported by the local runtime`,
        );
      }
    }
  }

  return {
    kinesis,
    sqs,
    mappings,
    start: async () => {
      for (const poller of kinesis) {
        await poller.start();
        const s = poller.stats();
        log('esm', `${s.functionName} ← stream ${s.streamName} (${s.state})`);
      }
      for (const poller of sqs) {
        await poller.start();
        const s = poller.stats();
        log('esm', `${s.functionName} ← queue ${s.queueArn.split(':').pop()} (${s.state})`);
      }
    },
    stop: async () => {
      await Promise.all([...kinesis.map((p) => p.stop()), ...sqs.map((p) => p.stop())]);
    },
  };
};
