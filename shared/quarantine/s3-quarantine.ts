import type { S3Client } from '@aws-sdk/client-s3';
import { putObjectOnce } from '#shared/s3/put-object-once.ts';
import type { Quarantine, QuarantineEntry } from './quarantine.ts';

export interface S3QuarantineOptions {
  client: Pick<S3Client, 'send'>;
  bucket: string;
  /** Key prefix, such as `quarantine/`; the bucket's lifecycle rule expires objects under it. */
  prefix: string;
}

/** The JSON document stored for each quarantined record. */
export interface QuarantineDocument {
  reason: QuarantineEntry['reason'];
  detail: string;
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber?: number;
  partitionKey: string;
  approximateArrivalTimestamp: string;
  /** The raw bytes, base64-encoded. */
  data: string;
}

/** `<prefix><shardId>/<sequenceNumber>[-<subSequenceNumber>].json`: one object per user record. */
export const quarantineKey = (
  prefix: string,
  entry: Pick<QuarantineEntry, 'shardId' | 'sequenceNumber' | 'subSequenceNumber'>,
): string =>
  `${prefix}${entry.shardId}/${entry.sequenceNumber}${entry.subSequenceNumber === undefined ? '' : `-${entry.subSequenceNumber}`}.json`;

/**
 * The quarantine in S3: one self-describing JSON object per record (raw bytes, reason, position). A single
 * object rather than bytes plus metadata headers: S3 metadata holds 2 KB, less than a 256-character partition
 * key can take once percent-encoded. The key is the record's position, and the upload is conditional
 * (`If-None-Match: *`): the bytes at a position never change, so a redelivery writes nothing (S3 answers 412).
 */
export class S3Quarantine implements Quarantine {
  readonly #client: Pick<S3Client, 'send'>;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3QuarantineOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix;
  }

  async put(entry: QuarantineEntry): Promise<void> {
    const document: QuarantineDocument = {
      reason: entry.reason,
      detail: entry.detail,
      shardId: entry.shardId,
      sequenceNumber: entry.sequenceNumber,
      ...(entry.subSequenceNumber === undefined ? {} : { subSequenceNumber: entry.subSequenceNumber }),
      partitionKey: entry.partitionKey,
      approximateArrivalTimestamp: entry.approximateArrivalTimestamp.toISOString(),
      data: Buffer.from(entry.data).toString('base64'),
    };
    // A record already quarantined keeps its object.
    await putObjectOnce(this.#client, {
      bucket: this.#bucket,
      key: quarantineKey(this.#prefix, entry),
      body: JSON.stringify(document),
      contentType: 'application/json',
    });
  }
}
