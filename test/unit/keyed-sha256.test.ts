import { DynamoDBClient, type DynamoDBClientConfig, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { KeyedSha256, keptKeyCount, MAX_KEPT_KEYS } from '#shared/clients/keyed-sha256.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** The same updates and digests through the SDK's class and this one: the digests, in order. */
const both = async (secret: SourceData | undefined, steps: Array<string | Uint8Array | 'digest'>) => {
  const run = async (hash: { update(d: Uint8Array | string): void; digest(): Promise<Uint8Array> }) => {
    const digests: string[] = [];
    for (const step of steps) {
      if (step === 'digest') digests.push(hex(await hash.digest()));
      else hash.update(step);
    }
    return digests;
  };
  return { sdk: await run(new Sha256(secret)), keyed: await run(new KeyedSha256(secret)) };
};

describe('KeyedSha256', () => {
  it('hashes as the SDK does, and a plain hash goes on after a digest', async () => {
    const { sdk, keyed } = await both(undefined, ['abc', 'digest', new Uint8Array([1, 2, 3]), 'digest']);
    expect(keyed).toEqual(sdk);
    expect(keyed[0]).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('computes the HMAC the SDK does under a string, a byte view, an ArrayBuffer and an empty key', async () => {
    const bytes = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    for (const secret of ['AWS4secret', 'clé', bytes.subarray(2, 7), bytes.buffer, new Uint8Array(0)]) {
      const { sdk, keyed } = await both(secret, ['20261129', new Uint8Array([0xff, 0]), 'digest']);
      expect(keyed).toEqual(sdk);
    }
    // RFC 4231, test case 2.
    const { keyed } = await both('Jefe', ['what do ya want for nothing?', 'digest']);
    expect(keyed[0]).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('refuses an update after an HMAC digest, as the SDK does, until it is reset', async () => {
    const hmac = new KeyedSha256('key');
    hmac.update('a');
    const first = hex(await hmac.digest());
    const sdk = new Sha256('key');
    await sdk.digest();
    const refusal = (() => {
      try {
        sdk.update(Buffer.from('b'));
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(refusal).toMatch(/already finished/);
    expect(() => hmac.update('b')).toThrow(refusal);
    hmac.reset();
    hmac.update('a');
    expect(hex(await hmac.digest())).toBe(first);
  });

  it('keeps one key per secret by content, so a buffer written over is not mistaken for the old key', async () => {
    const before = keptKeyCount();
    const secret = `secret-${Math.random()}`;
    new KeyedSha256(secret);
    new KeyedSha256(secret);
    new KeyedSha256(Buffer.from(secret));
    expect(keptKeyCount()).toBe(before + 1);

    const reused = new Uint8Array(32).fill(1);
    new KeyedSha256(reused);
    reused.fill(2);
    const second = new KeyedSha256(reused);
    second.update('x');
    const sdk = new Sha256(new Uint8Array(32).fill(2));
    sdk.update(Buffer.from('x'));
    expect(hex(await second.digest())).toBe(hex(await sdk.digest()));
  });

  it(`keeps at most ${MAX_KEPT_KEYS} keys`, () => {
    for (let i = 0; i <= MAX_KEPT_KEYS * 2; i++) new KeyedSha256(`many-${i}`);
    expect(keptKeyCount()).toBeGreaterThan(0);
    expect(keptKeyCount()).toBeLessThanOrEqual(MAX_KEPT_KEYS);
  });

  it('signs a request exactly as the SDK signs it', async () => {
    const request = {
      method: 'POST',
      protocol: 'https:',
      hostname: 'dynamodb.eu-west-1.amazonaws.com',
      path: '/',
      headers: { host: 'dynamodb.eu-west-1.amazonaws.com', 'content-type': 'application/x-amz-json-1.0' },
      body: '{"TableName":"events"}',
    };
    const signer = (sha256: DynamoDBClientConfig['sha256']) =>
      new SignatureV4({
        credentials: {
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        },
        region: 'eu-west-1',
        service: 'dynamodb',
        sha256: sha256!,
      });
    for (const signingDate of [new Date('2026-11-29T10:00:00Z'), new Date('2026-11-30T00:00:01Z')]) {
      const sdk = await signer(Sha256).sign(structuredClone(request), { signingDate });
      const keyed = await signer(KeyedSha256).sign(structuredClone(request), { signingDate });
      expect(keyed.headers.authorization).toBe(sdk.headers.authorization);
      expect(keyed.headers.authorization).toMatch(/Signature=[0-9a-f]{64}$/);
    }
  });

  it('is what a client signs with when given as its sha256 setting', async () => {
    const authorizations: string[] = [];
    const client = new DynamoDBClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      sha256: KeyedSha256,
      maxAttempts: 1,
      requestHandler: {
        async handle(request: { headers: Record<string, string> }) {
          authorizations.push(request.headers.authorization!);
          throw new Error('not sent');
        },
        updateHttpClientConfig: () => undefined,
        httpHandlerConfigs: () => ({}),
      } as unknown as DynamoDBClientConfig['requestHandler'],
    });
    const before = keptKeyCount();
    await expect(client.send(new ListTablesCommand({}))).rejects.toThrow('not sent');
    expect(authorizations[0]).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
    // The secret (for the SDK's signing-key cache) and the day's derivation went through it.
    expect(keptKeyCount()).toBeGreaterThan(before);
  });
});
