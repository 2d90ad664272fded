import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  type CloudEvent,
  type FieldError,
  partitionKeyOf,
  validateCloudEvent,
} from '#shared/events/cloudevent.ts';
import { jsonResponse, PROBLEM_TYPES, problemResponse } from '#shared/http/problem.ts';
import type { EntryResult, PutEntry, WriteOutcome } from '#shared/kinesis/put-records.ts';

/**
 * POST /events: parse, validate all-or-nothing, write in order, answer 202, 400, 413, 415 or 503.
 */

export const MAX_BATCH_EVENTS = 500;

export const MEDIA_TYPES = {
  single: ['application/cloudevents+json', 'application/json'],
  batch: ['application/cloudevents-batch+json'],
} as const;

export interface IngestLimits {
  /** Largest record the stream accepts: data plus partition key, in bytes. */
  maxRecordBytes: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
}

export interface IngestCounters {
  accepted(events: number): void;
  rejected(events: number, reason: string): void;
  retried(entries: number): void;
  failed(entries: number): void;
}

export interface IngestDeps {
  limits: IngestLimits;
  /** Writes the entries in order and reports each one; `onRetry` counts retried entries. */
  write(entries: PutEntry[], onRetry: (entries: number) => void): Promise<WriteOutcome>;
  counters: IngestCounters;
}

interface Encoded {
  event: CloudEvent;
  entry: PutEntry;
}

const headerOf = (event: APIGatewayProxyEventV2, name: string): string | undefined => {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
};

/** `application/json; charset=utf-8` → `{ type: 'application/json', charset: 'utf-8' }` */
const parseMediaType = (header: string): { type: string; charset?: string } => {
  const [type = '', ...params] = header.split(';');
  const charset = params
    .map((p) => p.trim().split('='))
    .find(([name]) => name?.trim().toLowerCase() === 'charset')?.[1]
    ?.trim()
    .replace(/^"|"$/g, '')
    .toLowerCase();
  return { type: type.trim().toLowerCase(), ...(charset ? { charset } : {}) };
};

const invalid = (instance: string, errors: FieldError[], status = 400, detail?: string) =>
  problemResponse({
    type: status === 413 ? PROBLEM_TYPES.tooLarge : PROBLEM_TYPES.invalidEvents,
    title: status === 413 ? 'Event too large' : 'Invalid CloudEvents',
    status,
    detail:
      detail ??
      `${errors.length} problem${errors.length === 1 ? '' : 's'} found; nothing was written. Fix every listed field and resend the whole request.`,
    instance,
    errors,
  });

export const ingestRequest = async (
  event: APIGatewayProxyEventV2,
  deps: IngestDeps,
): Promise<APIGatewayProxyStructuredResultV2> => {
  const instance = event.requestContext?.requestId ?? '';
  const { limits, counters } = deps;

  // 1. Content type decides between one event and a batch.
  const contentType = headerOf(event, 'content-type');
  const media = contentType ? parseMediaType(contentType) : undefined;
  const isBatch = media !== undefined && (MEDIA_TYPES.batch as readonly string[]).includes(media.type);
  const isSingle = media !== undefined && (MEDIA_TYPES.single as readonly string[]).includes(media.type);
  if (!media || (!isBatch && !isSingle) || (media.charset && media.charset !== 'utf-8')) {
    counters.rejected(1, 'unsupported-media-type');
    return problemResponse({
      type: PROBLEM_TYPES.unsupportedMediaType,
      title: 'Unsupported media type',
      status: 415,
      detail: `Content-Type ${contentType ? `'${contentType}'` : 'is missing'}; send one event as application/cloudevents+json or application/json, or a batch as application/cloudevents-batch+json, in UTF-8.`,
      instance,
      accepted: [...MEDIA_TYPES.single, ...MEDIA_TYPES.batch],
    });
  }

  // 2. Body size, before parsing anything.
  const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  if (body.byteLength > limits.maxBodyBytes) {
    counters.rejected(1, 'body-too-large');
    return invalid(
      instance,
      [],
      413,
      `The body is ${body.byteLength} bytes; at most ${limits.maxBodyBytes} bytes are accepted per request. Split the batch.`,
    );
  }

  // 3. JSON.
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    counters.rejected(1, 'invalid-json');
    return problemResponse({
      type: PROBLEM_TYPES.invalidJson,
      title: 'Malformed JSON',
      status: 400,
      detail: `The body is not valid JSON: ${(error as Error).message}`,
      instance,
    });
  }

  // 4. Shape: one object, or an array of 1-500.
  let candidates: unknown[];
  if (isBatch) {
    if (!Array.isArray(parsed)) {
      counters.rejected(1, 'invalid-batch');
      return invalid(instance, [{ index: 0, field: '', message: 'a batch must be a JSON array of events' }]);
    }
    if (parsed.length === 0) {
      counters.rejected(1, 'invalid-batch');
      return invalid(instance, [{ index: 0, field: '', message: 'a batch must hold at least one event' }]);
    }
    if (parsed.length > MAX_BATCH_EVENTS) {
      counters.rejected(parsed.length, 'batch-too-large');
      return invalid(
        instance,
        [],
        413,
        `The batch holds ${parsed.length} events; at most ${MAX_BATCH_EVENTS} are accepted per request.`,
      );
    }
    candidates = parsed;
  } else {
    if (Array.isArray(parsed)) {
      counters.rejected(parsed.length, 'invalid-event');
      return invalid(instance, [
        {
          index: 0,
          field: '',
          message: 'a JSON array is a batch: send it as application/cloudevents-batch+json',
        },
      ]);
    }
    candidates = [parsed];
  }

  // 5. Validate every event; all or nothing.
  const errors = candidates.flatMap((candidate, index) => validateCloudEvent(candidate, index));
  if (errors.length > 0) {
    counters.rejected(candidates.length, 'invalid-event');
    return invalid(instance, errors);
  }

  // 6. Encode, and check each record against the stream's record-size limit.
  const encoded: Encoded[] = (candidates as CloudEvent[]).map((ce) => ({
    event: ce,
    entry: { partitionKey: partitionKeyOf(ce), data: Buffer.from(JSON.stringify(ce), 'utf8') },
  }));
  const oversized = encoded.flatMap(({ entry }, index) => {
    const size = entry.data.byteLength + Buffer.byteLength(entry.partitionKey, 'utf8');
    return size > limits.maxRecordBytes
      ? [
          {
            index,
            field: 'data',
            message: `the encoded record is ${size} bytes (event JSON plus partition key); the stream accepts at most ${limits.maxRecordBytes}`,
          },
        ]
      : [];
  });
  if (oversized.length > 0) {
    counters.rejected(candidates.length, 'record-too-large');
    return invalid(
      instance,
      oversized,
      413,
      `${oversized.length} event${oversized.length === 1 ? '' : 's'} would exceed the stream's maximum record size; nothing was written.`,
    );
  }

  // 7. Write, in order per partition key.
  const outcome = await deps.write(
    encoded.map((e) => e.entry),
    (entries) => counters.retried(entries),
  );
  const written = outcome.results.filter((r) => r.status === 'written').length;
  counters.accepted(written);
  const describe = (result: EntryResult, index: number) => {
    const { id, source } = encoded[index]!.event;
    switch (result.status) {
      case 'written':
        return {
          index,
          id,
          source,
          status: result.status,
          shardId: result.shardId,
          sequenceNumber: result.sequenceNumber,
        };
      case 'failed':
        return {
          index,
          id,
          source,
          status: result.status,
          errorCode: result.errorCode,
          errorMessage: result.errorMessage,
        };
      default:
        return { index, id, source, status: result.status, reason: result.reason };
    }
  };

  if (written === encoded.length) {
    return jsonResponse(202, { accepted: written, events: outcome.results.map(describe) });
  }
  const unwritten = encoded.length - written;
  counters.failed(unwritten);
  return problemResponse(
    {
      type: PROBLEM_TYPES.notWritten,
      title: 'Some events were not written',
      status: 503,
      detail: `${written} of ${encoded.length} events were written; ${unwritten} were not. Resend exactly the events whose status is not 'written', in the same order; resending an event that was written is harmless.`,
      instance,
      accepted: written,
      events: outcome.results.map(describe),
    },
    { 'retry-after': String(outcome.retryAfterSeconds) },
  );
};
