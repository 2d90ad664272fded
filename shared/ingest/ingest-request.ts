import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { canonicalJson } from '#shared/events/canonical-json.ts';
import {
  type CloudEvent,
  type FieldError,
  listedProblems,
  partitionKeyOf,
  validateCloudEvent,
} from '#shared/events/cloudevent.ts';
import { jsonResponse, PROBLEM_TYPES, problemResponse } from '#shared/http/problem.ts';
import { arrayElementTexts, valueText } from '#shared/ingest/raw-json.ts';
import {
  type EntryResult,
  entrySize,
  type PutEntry,
  type WriteOutcome,
} from '#shared/kinesis/put-records.ts';

/**
 * POST /events: parse, validate all-or-nothing, write in order, answer 202, 400, 413, 415 or 503.
 */

export const MAX_BATCH_EVENTS = 500;

/** Strict UTF-8: a body that is not UTF-8 is refused, not patched with U+FFFD. A BOM stays, and JSON refuses it. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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
  // An empty charset (`charset=`) is kept as given: it names no encoding, so it is not UTF-8 either.
  return { type: type.trim().toLowerCase(), ...(charset === undefined ? {} : { charset }) };
};

/**
 * The body as text, or its size in UTF-8 bytes when that is over `maxBytes`. A plain body is not copied into a
 * Buffer and decoded again: that round trip costs more than parsing it. `toWellFormed` gives the text the round
 * trip gave (a lone surrogate becomes U+FFFD) and returns the string itself when there is none.
 */
const readBody = (
  event: APIGatewayProxyEventV2,
  maxBytes: number,
):
  | { text: string; overBytes?: undefined; notUtf8?: undefined }
  | { text?: undefined; overBytes: number; notUtf8?: undefined }
  | { text?: undefined; overBytes?: undefined; notUtf8: true } => {
  if (event.isBase64Encoded) {
    const body = Buffer.from(event.body ?? '', 'base64');
    if (body.byteLength > maxBytes) return { overBytes: body.byteLength };
    try {
      return { text: utf8.decode(body) };
    } catch {
      return { notUtf8: true };
    }
  }
  const text = (event.body ?? '').toWellFormed();
  // A UTF-16 code unit is at most 3 bytes of UTF-8, so a body this short need not be measured.
  if (text.length * 3 <= maxBytes) return { text };
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > maxBytes ? { overBytes: bytes } : { text };
};

const invalid = (
  instance: string,
  errors: FieldError[],
  status = 400,
  detail?: string,
  title = status === 413 ? 'Event too large' : 'Invalid CloudEvents',
) => {
  // However many problems a request holds, the answer stays small (Lambda answers at most 6 MB).
  const listed = listedProblems(errors);
  const more =
    listed.length < errors.length
      ? ` Only the first ${listed.length} are listed; fix those and send it again.`
      : '';
  return problemResponse({
    type: status === 413 ? PROBLEM_TYPES.tooLarge : PROBLEM_TYPES.invalidEvents,
    title,
    status,
    detail:
      (detail ??
        `${errors.length} problem${errors.length === 1 ? '' : 's'} found; nothing was written. Fix every listed field and resend the whole request.`) +
      more,
    instance,
    errors: listed,
  });
};

/** The labels of UTF-8 in the WHATWG Encoding Standard, which browsers and HTTP clients send in a charset. */
const UTF8_LABELS = new Set([
  'utf-8',
  'utf8',
  'unicode-1-1-utf-8',
  'unicode11utf8',
  'unicode20utf8',
  'x-unicode20utf8',
]);

/** True for a Content-Encoding that leaves the body as it is: empty, or only `identity`, in any case. */
const isIdentityCoding = (header: string): boolean =>
  header.split(',').every((coding) => {
    const name = coding.trim().toLowerCase();
    return name === '' || name === 'identity';
  });

/** A request ready to write: one entry per event, and each event's id and source for the answer. */
interface Accepted {
  entries: PutEntry[];
  events: Array<Pick<CloudEvent, 'id' | 'source'>>;
}

/**
 * Steps 1-6, synchronous: the answer to a request that cannot be written, or what to write. Only the entries and
 * each event's id and source outlive it, so the parsed events are not kept alive while the write is awaited.
 */
const readRequest = (
  event: APIGatewayProxyEventV2,
  instance: string,
  { limits, counters }: IngestDeps,
): APIGatewayProxyStructuredResultV2 | Accepted => {
  // 1. Content type decides between one event and a batch.
  const contentType = headerOf(event, 'content-type');
  const media = contentType ? parseMediaType(contentType) : undefined;
  const isBatch = media !== undefined && (MEDIA_TYPES.batch as readonly string[]).includes(media.type);
  const isSingle = media !== undefined && (MEDIA_TYPES.single as readonly string[]).includes(media.type);
  if (!media || (!isBatch && !isSingle) || (media.charset !== undefined && !UTF8_LABELS.has(media.charset))) {
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

  // A compressed body would otherwise be refused as "not UTF-8": name the coding instead (RFC 9110 §15.5.16),
  // and say which one is accepted (§12.5.3). API Gateway passes the body on as it came.
  const encoding = headerOf(event, 'content-encoding');
  if (encoding !== undefined && !isIdentityCoding(encoding)) {
    counters.rejected(1, 'unsupported-media-type');
    return problemResponse(
      {
        type: PROBLEM_TYPES.unsupportedMediaType,
        title: 'Unsupported content encoding',
        status: 415,
        detail: `Content-Encoding '${encoding}' is not accepted; send the body uncompressed, with no Content-Encoding or with identity.`,
        instance,
      },
      { 'accept-encoding': 'identity' },
    );
  }

  // 2. Body size, before parsing anything.
  const body = readBody(event, limits.maxBodyBytes);
  if (body.overBytes !== undefined) {
    counters.rejected(1, 'body-too-large');
    return invalid(
      instance,
      [],
      413,
      `The body is ${body.overBytes} bytes; at most ${limits.maxBodyBytes} bytes are accepted per request. Split the batch.`,
      'Request too large',
    );
  }

  // 3. JSON, in UTF-8.
  if (body.notUtf8) {
    counters.rejected(1, 'invalid-json');
    return problemResponse({
      type: PROBLEM_TYPES.invalidJson,
      title: 'Malformed JSON',
      status: 400,
      detail: 'The body is not valid UTF-8, which JSON requires (RFC 8259 §8.1).',
      instance,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.text);
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

  // 4. Shape: one object, or an array of up to 500 (an empty batch is valid: JSON batch format §4.3).
  let candidates: unknown[];
  if (isBatch) {
    if (!Array.isArray(parsed)) {
      counters.rejected(1, 'invalid-batch');
      return invalid(instance, [{ index: 0, field: '', message: 'a batch must be a JSON array of events' }]);
    }
    if (parsed.length > MAX_BATCH_EVENTS) {
      counters.rejected(parsed.length, 'batch-too-large');
      return invalid(
        instance,
        [],
        413,
        `The batch holds ${parsed.length} events; at most ${MAX_BATCH_EVENTS} are accepted per request.`,
        'Batch too large',
      );
    }
    candidates = parsed;
  } else {
    // CloudEvents' HTTP binding: a `ce-specversion` header with a content type that is not a CloudEvents format is
    // binary mode, where the body is the data alone and the attributes travel as headers. Only structured mode is
    // taken; without this the producer would be told its event has no specversion, id, source or type. A body that
    // is itself a whole event, sent with such headers too, is taken as it was before.
    const isEvent = typeof parsed === 'object' && parsed !== null && 'specversion' in parsed;
    if (media.type === 'application/json' && !isEvent && headerOf(event, 'ce-specversion') !== undefined) {
      counters.rejected(1, 'unsupported-media-type');
      return problemResponse({
        type: PROBLEM_TYPES.unsupportedMediaType,
        title: 'Unsupported CloudEvents mode',
        status: 415,
        detail:
          'A ce-specversion header with Content-Type application/json is a CloudEvent in binary mode, which is not accepted: send the whole event, its attributes and its data, as the JSON body (structured mode), as application/cloudevents+json.',
        instance,
        accepted: [...MEDIA_TYPES.single, ...MEDIA_TYPES.batch],
      });
    }
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

  // 5. Validate every event, and measure each one's record against the stream's limit, so that one answer names
  //    every problem; all or nothing. Each record is the event's JSON exactly as sent (every digit of its numbers,
  //    its keys in their order). Should the texts not be found, which a body JSON.parse took cannot cause, the
  //    events are written as JSON.parse read them (canonical JSON), numbers beyond ±2^53 rounded.
  const texts = isBatch ? arrayElementTexts(body.text, candidates.length) : [valueText(body.text)];
  const errors: FieldError[] = [];
  const oversized: FieldError[] = [];
  const entries = new Array<PutEntry>(candidates.length);
  const events = new Array<Pick<CloudEvent, 'id' | 'source'>>(candidates.length);
  for (let index = 0; index < candidates.length; index += 1) {
    const candidate = candidates[index];
    const text = texts?.[index] ?? canonicalJson(candidate);
    const found = validateCloudEvent(candidate, index, text);
    let size: number;
    if (found.length > 0) {
      // One by one: an event can hold more problems than a call takes arguments (push(...found) throws RangeError).
      for (const problem of found) errors.push(problem);
      // Measured all the same, with the key it names if any, so that the 400 also names a record too large.
      const key =
        typeof candidate === 'object' && candidate !== null ? partitionKeyOf(candidate as CloudEvent) : '';
      size = Buffer.byteLength(text, 'utf8') + (typeof key === 'string' ? Buffer.byteLength(key, 'utf8') : 0);
    } else {
      const ce = candidate as CloudEvent;
      events[index] = { id: ce.id, source: ce.source };
      const entry = { partitionKey: partitionKeyOf(ce), data: Buffer.from(text, 'utf8') };
      size = entrySize(entry);
      entries[index] = entry;
    }
    if (size > limits.maxRecordBytes) {
      oversized.push({
        index,
        field: 'data',
        message: `the encoded record is ${size} bytes (event JSON plus partition key); the stream accepts at most ${limits.maxRecordBytes}`,
      });
    }
  }
  if (errors.length > 0) {
    counters.rejected(candidates.length, 'invalid-event');
    // In event order; a stable sort keeps an event's own problems before its size.
    return invalid(
      instance,
      oversized.length === 0 ? errors : [...errors, ...oversized].sort((a, b) => a.index - b.index),
    );
  }
  if (oversized.length > 0) {
    counters.rejected(candidates.length, 'record-too-large');
    return invalid(
      instance,
      oversized,
      413,
      `${oversized.length} event${oversized.length === 1 ? '' : 's'} would exceed the stream's maximum record size; nothing was written.`,
    );
  }

  return { entries, events };
};

export const ingestRequest = async (
  event: APIGatewayProxyEventV2,
  deps: IngestDeps,
): Promise<APIGatewayProxyStructuredResultV2> => {
  const instance = event.requestContext?.requestId ?? '';
  const accepted = readRequest(event, instance, deps);
  if (!('entries' in accepted)) return accepted;
  const { entries, events } = accepted;
  const { counters } = deps;

  // 7. Write, in order per partition key.
  const outcome = await deps.write(entries, (retried) => counters.retried(retried));
  let written = 0;
  for (const result of outcome.results) if (result.status === 'written') written += 1;
  counters.accepted(written);
  const describe = (result: EntryResult, index: number) => {
    const { id, source } = events[index]!;
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
        // The code only: Kinesis's message names the account, the stream and the shard, which producers (browsers
        // among them) have no business seeing.
        return { index, id, source, status: result.status, errorCode: result.errorCode };
      default:
        return { index, id, source, status: result.status, reason: result.reason };
    }
  };

  if (written === events.length) {
    return jsonResponse(202, { accepted: written, events: outcome.results.map(describe) });
  }
  const unwritten = events.length - written;
  counters.failed(unwritten);
  return problemResponse(
    {
      type: PROBLEM_TYPES.notWritten,
      title: 'Some events were not written',
      status: 503,
      detail: `${written} of ${events.length} events were written; ${unwritten} were not. Resend exactly the events whose status is not 'written', in the same order; resending an event that was written is harmless.`,
      instance,
      accepted: written,
      events: outcome.results.map(describe),
    },
    { 'retry-after': String(outcome.retryAfterSeconds) },
  );
};
