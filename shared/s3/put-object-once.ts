import type { S3Client } from '@aws-sdk/client-s3';

/** Attempts at a write that S3 answers 409 ConditionalRequestConflict: another write of the key was under way. */
const CONFLICT_ATTEMPTS = 4;

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/**
 * Writes an object only if its key is free (`If-None-Match: *`). Every caller derives the key from what it
 * stores, so an existing object (412) already holds the same thing: a retry or a replay is a no-op. Two writes
 * of one key at once can get 409 ConditionalRequestConflict, which S3 says to retry: the retry then finds the key
 * taken (412) or free.
 */
export const putObjectOnce = async (
  client: Pick<S3Client, 'send'>,
  object: { bucket: string; key: string; body: string | Uint8Array; contentType: string },
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<void> => {
  // Imported here, not at the top: the package loads on first use (shared/clients/lazy.ts).
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: object.bucket,
          Key: object.key,
          Body: object.body,
          ContentType: object.contentType,
          IfNoneMatch: '*',
        }),
      );
      return;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412) return;
      if (status !== 409 || attempt >= CONFLICT_ATTEMPTS) throw error;
      await sleep(50 * 2 ** (attempt - 1));
    }
  }
};
