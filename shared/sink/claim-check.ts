import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { canonicalJson, parseJson } from '#shared/events/canonical-json.ts';
import { putObjectOnce } from '#shared/s3/put-object-once.ts';

/** What an item holds in place of data that went to S3. */
export interface ClaimPointer {
  bucket: string;
  key: string;
  /** Which of the event's fields the object holds: `data` as canonical JSON, `data_base64` as its text. */
  field: 'data' | 'data_base64';
  bytes: number;
  /** Hex SHA-256 of the object's body. */
  sha256: string;
}

/** Where the DynamoDB adapter puts data that does not fit in an item. */
export interface ClaimCheck {
  store(identity: string, field: ClaimPointer['field'], value: unknown): Promise<ClaimPointer>;
}

export interface ClaimCheckOptions {
  client: Pick<S3Client, 'send'>;
  bucket: string;
  /** Key prefix, such as `claim-check/`; the quarantine lifecycle rule must not cover it. */
  prefix: string;
}

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Claim check: event data too large for a DynamoDB item goes to S3, and the item points at it.
 *
 * Keys are content-addressed (`<prefix><sha256(identity)>/<sha256(body)>`), and the upload is conditional
 * (`If-None-Match: *`), so a redelivered record writes nothing new: S3 answers 412 and the existing object is
 * the same bytes. The object is uploaded before the item is written, so an item never points at nothing.
 */
export class S3ClaimCheck implements ClaimCheck {
  readonly #client: Pick<S3Client, 'send'>;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: ClaimCheckOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix;
  }

  async store(identity: string, field: ClaimPointer['field'], value: unknown): Promise<ClaimPointer> {
    const body = Buffer.from(field === 'data' ? canonicalJson(value) : String(value), 'utf8');
    const digest = sha256(body);
    const key = `${this.#prefix}${sha256(identity)}/${digest}`;
    // The key is the content's digest: an existing object holds these very bytes.
    await putObjectOnce(this.#client, {
      bucket: this.#bucket,
      key,
      body,
      contentType: field === 'data' ? 'application/json' : 'text/plain; charset=utf-8',
    });
    return { bucket: this.#bucket, key, field, bytes: body.byteLength, sha256: digest };
  }

  /** Reads the claimed data back: the parsed JSON for `data`, the base64 string for `data_base64`. */
  async load(pointer: ClaimPointer): Promise<unknown> {
    // Imported here, not at the top: the package loads on first use (shared/clients/lazy.ts).
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const response = await this.#client.send(
      new GetObjectCommand({ Bucket: pointer.bucket, Key: pointer.key }),
    );
    const bytes = await response.Body!.transformToByteArray();
    if (sha256(bytes) !== pointer.sha256) {
      throw new Error(`claim-check object ${pointer.key} does not match its SHA-256`);
    }
    const text = Buffer.from(bytes).toString('utf8');
    return pointer.field === 'data' ? parseJson(text) : text;
  }
}
