import type { S3Client } from '@aws-sdk/client-s3';

/**
 * Writes an object only if its key is free (`If-None-Match: *`). Every caller derives the key from what it
 * stores, so an existing object (412) already holds the same thing: a retry or a replay is a no-op.
 */
export const putObjectOnce = async (
  client: Pick<S3Client, 'send'>,
  object: { bucket: string; key: string; body: string | Uint8Array; contentType: string },
): Promise<void> => {
  // Imported here, not at the top: the package loads on first use (shared/clients/lazy.ts).
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
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
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw error;
  }
};
