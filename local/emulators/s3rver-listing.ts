import { AsyncLocalStorage } from 'node:async_hooks';
import { type Dirent, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * s3rver's bucket listings (ListObjects and ListObjectsV2), listed as S3 lists them.
 *
 * s3rver keeps each object as a file under folders named by its key's `/`-separated parts, and lists a bucket by
 * walking them. That walk gets a listing wrong in five ways, each fixed here:
 * - with a delimiter it does not go into a folder past the first delimiter after the prefix, yet only adds a common
 *   prefix for the objects it meets: a prefix whose keys all lie two or more folders down
 *   (`quarantine/<shard>/<sequence>.json`, as the sink writes them) was missing, so `aws s3 ls s3://bucket` showed
 *   nothing;
 * - it lists in folder order, not in the UTF-8 order of the keys S3 lists in: `a/x` came before `a-b`, and a
 *   continuation after `a/x` then skipped `a-b`;
 * - its continuation tokens are DES-encrypted, which the OpenSSL 3 of Node 22 and later refuses, so every truncated
 *   ListObjectsV2 (more keys than MaxKeys, or more than 1,000) failed with 500 InternalError;
 * - a common prefix did not count towards MaxKeys nor in KeyCount, where S3 counts each as one item;
 * - EncodingType=url was taken and ignored.
 * Written by hand because s3rver 3.7.1 is its last release and no S3 emulator on npm that runs in-process without
 * Docker lists correctly. The store's walk is replaced (`listObjects`), and the controller's answer is completed
 * from what the walk found (`getBucket`).
 */

const require = createRequire(import.meta.url);

interface ListOptions {
  delimiter?: string;
  prefix?: string;
  startAfter?: string;
  maxKeys?: number;
}

interface FilesystemStore {
  rootDirectory: string;
  getBucketPath(bucket: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  listObjects(bucket: string, options: ListOptions): Promise<unknown>;
}

type StoreClass = { prototype: FilesystemStore; decodeKeyPath(path: string): string } & {
  listingMended?: boolean;
};

/** s3rver's koa context, as far as the listing uses it. */
interface Context {
  params: { bucket: string };
  query: Record<string, string | undefined>;
  body: unknown;
}

interface ListBucketResult {
  Prefix?: string;
  StartAfter?: string;
  ContinuationToken?: string;
  NextContinuationToken?: string;
  KeyCount?: number;
  Marker?: string;
  NextMarker?: string;
  Delimiter?: string;
  EncodingType?: string;
  IsTruncated?: boolean;
  Contents: Array<{ Key: string }>;
  CommonPrefixes: Array<{ Prefix: string }>;
}

/** What the walk of one listing found past what the controller shows: whether it stopped early, and where. */
interface ListingState {
  truncated: boolean;
  last?: string;
}

/** The end of s3rver's file name for an object's content: `<name>._S3rver_object`, as S3RVER_SUFFIX makes it. */
const OBJECT_SUFFIX = '._S3rver_object';

/** S3 lists keys in the order of their UTF-8 bytes (which a string comparison does not keep past U+FFFF). */
const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** The keys of the objects under `folder` (whose key prefix is `keyPrefix`) that start with `prefix`. */
const keysUnder = (
  folder: string,
  keyPrefix: string,
  prefix: string,
  decode: (path: string) => string,
  keys: string[],
): void => {
  let entries: Dirent[];
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const name = decode(entry.name);
    if (entry.isDirectory()) {
      const key = `${keyPrefix}${name}/`;
      // A folder off the prefix's path holds no key of the listing.
      if (key.startsWith(prefix) || prefix.startsWith(key))
        keysUnder(join(folder, entry.name), key, prefix, decode, keys);
    } else if (name.endsWith(OBJECT_SUFFIX)) {
      const key = `${keyPrefix}${name.slice(0, -OBJECT_SUFFIX.length)}`;
      if (key.startsWith(prefix)) keys.push(key);
    }
  }
};

/**
 * The entries of one listing page in S3's order: the keys after `startAfter`, those holding the delimiter past the
 * prefix folded into one common prefix each, up to `maxKeys` keys and common prefixes together. A common prefix
 * that `startAfter` is exactly (the last entry of the page before, as the continuation token and V1's NextMarker
 * give it) is not listed again; one that `startAfter` lies inside is listed when a key under it comes after.
 */
export const listingPage = (
  keys: readonly string[],
  options: { prefix: string; delimiter: string; startAfter: string; maxKeys: number },
): { keys: string[]; commonPrefixes: string[]; truncated: boolean; last?: string } => {
  const { prefix, delimiter, startAfter, maxKeys } = options;
  const page = {
    keys: [] as string[],
    commonPrefixes: [] as string[],
    truncated: false,
    last: undefined as string | undefined,
  };
  for (const key of [...keys].sort(compareKeys)) {
    if (!key.startsWith(prefix) || compareKeys(key, startAfter) <= 0) continue;
    const at = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const common = at === -1 ? undefined : key.slice(0, at + delimiter.length);
    if (common !== undefined && (common === page.last || common === startAfter)) continue;
    if (page.keys.length + page.commonPrefixes.length >= maxKeys) {
      page.truncated = true;
      break;
    }
    if (common === undefined) page.keys.push(key);
    else page.commonPrefixes.push(common);
    page.last = common ?? key;
  }
  return page;
};

/** A continuation token: opaque to the caller, as S3's are, and naming the bucket it continues a listing of. */
const continuationToken = (bucket: string, after: string): string =>
  Buffer.from(JSON.stringify({ bucket, after })).toString('base64url');

const continuedAfter = (token: string, bucket: string): string | undefined => {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      bucket?: unknown;
      after?: unknown;
    };
    return parsed.bucket === bucket && typeof parsed.after === 'string' ? parsed.after : undefined;
  } catch {
    return undefined;
  }
};

/** EncodingType=url as S3 writes it: percent-encoded, a space as `+`, the `/` between a key's parts kept. */
const urlEncode = (text: string): string =>
  encodeURIComponent(text).replace(/%20/g, '+').replace(/%2F/g, '/');

/** Replaces s3rver's listing walk and completes its controller's answer, once per process. */
export const mendS3rverListing = (): void => {
  const Store = require('s3rver/lib/stores/filesystem.js') as StoreClass;
  if (Store.listingMended) return;
  const S3Object = require('s3rver/lib/models/object.js') as new (
    bucket: string,
    key: string,
    content: null,
    metadata: Record<string, string>,
  ) => unknown;
  const S3Error = require('s3rver/lib/models/error.js') as new (
    code: string,
    message: string,
    detail: Record<string, string>,
  ) => Error;
  const controller = require('s3rver/lib/controllers/bucket.js') as {
    getBucket: (ctx: Context) => Promise<void>;
  };
  const listings = new AsyncLocalStorage<ListingState>();

  Store.prototype.listObjects = async function (this: FilesystemStore, bucket, options) {
    const { delimiter = '', prefix = '', startAfter = '', maxKeys = 1000 } = options;
    const keys: string[] = [];
    keysUnder(this.getBucketPath(bucket), '', prefix, Store.decodeKeyPath, keys);
    const page = listingPage(keys, { prefix, delimiter, startAfter, maxKeys });
    const state = listings.getStore();
    if (state) Object.assign(state, { truncated: page.truncated, last: page.last });
    const metadata = await Promise.all(
      page.keys.map((key) =>
        this.getMetadata(bucket, key).catch((error: NodeJS.ErrnoException) => {
          // An object deleted while the listing was made is left out, as s3rver leaves it out.
          if (error.code === 'ENOENT') return undefined;
          throw error;
        }),
      ),
    );
    return {
      objects: page.keys.flatMap((key, i) =>
        metadata[i] ? [new S3Object(bucket, key, null, metadata[i])] : [],
      ),
      commonPrefixes: page.commonPrefixes,
      // The controller writes its own (DES) continuation token for a truncated listing: it is told it is not, and
      // `getBucket` says so with a token of its own.
      isTruncated: false,
    };
  };

  const getBucket = controller.getBucket;
  controller.getBucket = async (ctx) => {
    const query = { ...ctx.query };
    const v2 = query['list-type'] === '2';
    const token = v2 ? query['continuation-token'] : undefined;
    if (token) {
      const after = continuedAfter(token, ctx.params.bucket);
      if (after === undefined) {
        throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
          ArgumentName: 'continuation-token',
        });
      }
      const { 'continuation-token': _, ...rest } = query;
      ctx.query = { ...rest, 'start-after': after };
    }
    const state: ListingState = { truncated: false };
    try {
      await listings.run(state, () => getBucket(ctx));
    } finally {
      ctx.query = query;
    }
    const result = (ctx.body as { ListBucketResult?: ListBucketResult } | undefined)?.ListBucketResult;
    if (!result) return;
    result.IsTruncated = state.truncated;
    if (v2) {
      result.KeyCount = result.Contents.length + result.CommonPrefixes.length;
      result.StartAfter = query['start-after'] || undefined;
      result.ContinuationToken = token || undefined;
      result.NextContinuationToken =
        state.truncated && state.last !== undefined
          ? continuationToken(ctx.params.bucket, state.last)
          : undefined;
    } else {
      // V1 names the next marker only with a delimiter; without one the last key of the page is the marker.
      result.NextMarker = state.truncated && result.Delimiter ? state.last : undefined;
    }
    if (query['encoding-type'] === 'url') {
      result.EncodingType = 'url';
      for (const object of result.Contents) object.Key = urlEncode(object.Key);
      for (const common of result.CommonPrefixes) common.Prefix = urlEncode(common.Prefix);
      for (const field of ['Prefix', 'Delimiter', 'StartAfter', 'Marker', 'NextMarker'] as const) {
        if (result[field]) result[field] = urlEncode(result[field]);
      }
    }
  };
  Store.listingMended = true;
};
