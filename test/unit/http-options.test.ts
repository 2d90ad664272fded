import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_OPTIONS } from '#shared/clients/http-options.ts';

describe('Clients: HTTP options', () => {
  let silent: Server;
  let endpoint: string;

  beforeAll(async () => {
    // An endpoint that takes the request and never answers.
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('fail a call that outlasts the request timeout, rather than wait for the invocation’s end', async () => {
    // Prepare: the project's options, with a request timeout short enough for a test.
    const client = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
      requestHandler: { ...HTTP_OPTIONS, requestTimeout: 300 },
    });
    try {
      // Act
      const outcome = client.send(new DescribeTableCommand({ TableName: 't' }));
      // Assess
      await expect(outcome).rejects.toMatchObject({ name: 'TimeoutError' });
    } finally {
      client.destroy();
    }
  });
});
