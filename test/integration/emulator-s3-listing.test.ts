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

describe('Local runtime: S3 listings in pages, in order, counted as S3 counts them (s3rver, mended)', () => {
  const PAGED = 'paged';
  // `a-b` and `a.json` sort before `a/x` ('-' and '.' come before '/'), though s3rver's folder `a` comes first.
  const PAGED_KEYS = ['a-b', 'a.json', 'a/x', 'a/y/z', 'b', 'c/d/e', 'd', 'dir with space/f+g.json'];

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: PAGED }));
    for (const key of PAGED_KEYS) await s3.send(new PutObjectCommand({ Bucket: PAGED, Key: key, Body: key }));
  });

  /** Every page of a listing, followed by its continuation tokens. */
  const pages = async (input: { Delimiter?: string; MaxKeys?: number; StartAfter?: string }) => {
    const answers = [];
    let ContinuationToken: string | undefined;
    do {
      const answer = await s3.send(new ListObjectsV2Command({ Bucket: PAGED, ...input, ContinuationToken }));
      answers.push(answer);
      ContinuationToken = answer.NextContinuationToken;
      expect(answers.length).toBeLessThanOrEqual(PAGED_KEYS.length);
    } while (ContinuationToken);
    return answers;
  };

  it('answers a truncated listing with a continuation token that gives the rest, every key once in UTF-8 order', async () => {
    // Act
    const answers = await pages({ MaxKeys: 3 });
    // Assess
    expect(answers.map((answer) => answer.IsTruncated)).toEqual([true, true, false]);
    expect(answers.map((answer) => answer.KeyCount)).toEqual([3, 3, 2]);
    expect(answers.flatMap((answer) => (answer.Contents ?? []).map((object) => object.Key))).toEqual(
      PAGED_KEYS,
    );
  });

  it('counts a common prefix as one of MaxKeys and in KeyCount, and never repeats it on the next page', async () => {
    // Act
    const whole = await pages({ Delimiter: '/' });
    const answers = await pages({ Delimiter: '/', MaxKeys: 2 });
    // Assess
    expect(whole).toHaveLength(1);
    expect(whole[0]!.KeyCount).toBe(7);
    const entries = answers.map((answer) => [
      ...(answer.Contents ?? []).map((object) => object.Key),
      ...(answer.CommonPrefixes ?? []).map((common) => common.Prefix),
    ]);
    expect(answers.map((answer) => answer.KeyCount)).toEqual(entries.map((entry) => entry.length));
    expect(entries.map((entry) => entry.length)).toEqual([2, 2, 2, 1]);
    expect(entries.flat().sort()).toEqual(['a-b', 'a.json', 'a/', 'b', 'c/', 'd', 'dir with space/'].sort());
  });

  it('lists what follows StartAfter, a common prefix included when a key under it does', async () => {
    // Act
    const [answer] = await pages({ Delimiter: '/', StartAfter: 'a/x' });
    // Assess
    expect((answer!.Contents ?? []).map((object) => object.Key)).toEqual(['b', 'd']);
    expect((answer!.CommonPrefixes ?? []).map((common) => common.Prefix)).toEqual([
      'a/',
      'c/',
      'dir with space/',
    ]);
    expect(answer!.StartAfter).toBe('a/x');
  });

  it('URL-encodes the keys and prefixes when asked with EncodingType=url, and says so', async () => {
    // Act
    const answer = await s3.send(
      new ListObjectsV2Command({ Bucket: PAGED, Prefix: 'dir with space/', EncodingType: 'url' }),
    );
    // Assess
    expect(answer.EncodingType).toBe('url');
    expect(answer.Prefix).toBe('dir+with+space/');
    expect((answer.Contents ?? []).map((object) => object.Key)).toEqual(['dir+with+space/f%2Bg.json']);
  });
});
