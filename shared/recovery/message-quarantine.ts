import type { S3Client } from '@aws-sdk/client-s3';
import { putObjectOnce } from '#shared/s3/put-object-once.ts';

/**
 * Where a failure-queue message goes when its records can no longer be read back: they aged out of the stream's
 * retention, or their shard is gone. The records themselves are lost; this keeps the fact, and the pointer, so
 * that it is never lost silently. Records are quarantined one by one (shared/quarantine); a message is not a
 * record, so it has a port of its own, stored beside them in the same bucket.
 */

export type MessageQuarantineReason = 'expired';

export interface MessageQuarantineEntry {
  reason: MessageQuarantineReason;
  /** What exactly happened, for a person. */
  detail: string;
  messageId: string;
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  streamArn: string;
  /** How many stream records of the range could still be read and were replayed. */
  recordsReplayed: number;
  /** The message body exactly as received: the on-failure record. */
  body: string;
  quarantinedAt: Date;
}

export interface MessageQuarantine {
  /** Idempotent: the same range quarantined again leaves one entry for it. */
  put(entry: MessageQuarantineEntry): Promise<void>;
}

/** `<prefix>expired/<shardId>/<start>-<end>.json`: one object per pointed-at range. */
export const messageQuarantineKey = (
  prefix: string,
  entry: Pick<MessageQuarantineEntry, 'reason' | 'shardId' | 'startSequenceNumber' | 'endSequenceNumber'>,
): string =>
  `${prefix}${entry.reason}/${entry.shardId}/${entry.startSequenceNumber}-${entry.endSequenceNumber}.json`;

export interface S3MessageQuarantineOptions {
  client: Pick<S3Client, 'send'>;
  bucket: string;
  /** The record quarantine's prefix (`quarantine/`), so that the bucket's lifecycle rule covers these too. */
  prefix: string;
}

/**
 * One JSON object per range, uploaded conditionally (`If-None-Match: *`) like the record quarantine: a redelivered
 * message writes nothing new (S3 answers 412).
 */
export class S3MessageQuarantine implements MessageQuarantine {
  readonly #client: Pick<S3Client, 'send'>;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3MessageQuarantineOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix;
  }

  async put(entry: MessageQuarantineEntry): Promise<void> {
    const document = {
      reason: entry.reason,
      detail: entry.detail,
      messageId: entry.messageId,
      shardId: entry.shardId,
      startSequenceNumber: entry.startSequenceNumber,
      endSequenceNumber: entry.endSequenceNumber,
      streamArn: entry.streamArn,
      recordsReplayed: entry.recordsReplayed,
      quarantinedAt: entry.quarantinedAt.toISOString(),
      message: entry.body,
    };
    // A range already quarantined keeps its object.
    await putObjectOnce(this.#client, {
      bucket: this.#bucket,
      key: messageQuarantineKey(this.#prefix, entry),
      body: JSON.stringify(document),
      contentType: 'application/json',
    });
  }
}

/** The message quarantine for unit tests. */
export class MemoryMessageQuarantine implements MessageQuarantine {
  readonly entries: MessageQuarantineEntry[] = [];

  async put(entry: MessageQuarantineEntry): Promise<void> {
    this.entries.push(entry);
  }
}
