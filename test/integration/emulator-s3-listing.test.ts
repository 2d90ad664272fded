import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig, type RunningEmulator, startS3 } from '#local/emulators/index.ts';

const BUCKET = 'listing';
const KEYS = [
  'top.json',
  'quarantine/direct.json',
  'quarantine/shardId-000000000001/49-1.json',
  'quarantine/shardId-000000000002/deeper/49-2.json',
  'claim-check/ab/cd/data',
  'empty-after/x/y.json',
];

let directory: string;
let emulator: RunningEmulator;
let s3: S3Client;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 's3-listing-'));
  emulator = await startS3({ directory });
  s3 = new S3Client({ ...clientConfig(emulator.endpoint), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const key of KEYS) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));
});

afterAll(async () => {
  s3.destroy();
  await emulator.close();
  rmSync(directory, { recursive: true, force: true });
});

const list = async (input: { Prefix?: string; StartAfter?: string; Delimiter?: string }) => {
  const answer = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, ...input }));
  return {
    keys: (answer.Contents ?? []).map((object) => object.Key),
    prefixes: (answer.CommonPrefixes ?? []).map((common) => common.Prefix),
  };
};

describe('Local runtime: S3 listings with a delimiter (s3rver, mended)', () => {
  it('names every folder at the top, however deep its objects lie, as `aws s3 ls s3://bucket` asks', async () => {
    // Act
    const top = await list({ Delimiter: '/' });
    // Assess
    expect(top).toEqual({ keys: ['top.json'], prefixes: ['claim-check/', 'empty-after/', 'quarantine/'] });
  });

  it('names the folders under a prefix, whole or cut inside a name, and lists the objects at its level', async () => {
    // Act
    const quarantine = await list({ Prefix: 'quarantine/', Delimiter: '/' });
    const partial = await list({ Prefix: 'quar', Delimiter: '/' });
    const claim = await list({ Prefix: 'claim-check/', Delimiter: '/' });
    // Assess
    expect(quarantine).toEqual({
      keys: ['quarantine/direct.json'],
      prefixes: ['quarantine/shardId-000000000001/', 'quarantine/shardId-000000000002/'],
    });
    expect(partial).toEqual({ keys: [], prefixes: ['quarantine/'] });
    expect(claim).toEqual({ keys: [], prefixes: ['claim-check/ab/'] });
  });

  it('leaves out a folder whose objects all come before StartAfter, and lists everything without a delimiter', async () => {
    // Act
    const after = await list({ Delimiter: '/', StartAfter: 'empty-after/x/y.json' });
    const all = await list({});
    // Assess
    expect(after).toEqual({ keys: ['top.json'], prefixes: ['quarantine/'] });
    expect(all.prefixes).toEqual([]);
    expect([...all.keys].sort()).toEqual([...KEYS].sort());
  });
});
