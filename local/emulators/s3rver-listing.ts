import { type Dirent, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * s3rver's listings with a delimiter: the common prefixes it leaves out.
 *
 * s3rver keeps each object as a file under folders named by its key's `/`-separated parts, and lists a bucket by
 * walking them. With a delimiter it does not go into a folder past the first delimiter after the prefix, where
 * every key would fold into one common prefix, but it only adds a common prefix for the objects it meets. So a
 * prefix whose keys all lie two or more folders down (`quarantine/<shard>/<sequence>.json`, as the sink writes
 * them) is missing: `aws s3 ls s3://bucket` shows nothing, and `list-objects-v2 --delimiter /` answers no
 * `CommonPrefixes`. Written by hand because s3rver 3.7.1 is its last release and no S3 emulator on npm that runs
 * in-process without Docker lists correctly; this adds, after s3rver's own listing, the common prefix of each
 * folder it skipped that holds an object after `StartAfter`, and changes nothing else.
 */

const require = createRequire(import.meta.url);

/** What s3rver's store answers a listing with; only the common prefixes are touched. */
interface Listing {
  commonPrefixes: string[];
  isTruncated: boolean;
}

interface ListOptions {
  delimiter?: string;
  prefix?: string;
  startAfter?: string;
}

interface FilesystemStore {
  rootDirectory: string;
  listObjects(bucket: string, options: ListOptions): Promise<Listing>;
}

type StoreClass = { prototype: FilesystemStore } & { listingMended?: boolean };

/** The end of s3rver's file name for an object's content: `<name>._S3rver_object`, as S3RVER_SUFFIX makes it. */
const OBJECT_SUFFIX = '._S3rver_object';

/** Whether the folder holds an object, at any depth, whose key (given the folder's key prefix) is after `after`. */
const holdsObjectAfter = (folder: string, keyPrefix: string, after: string): boolean => {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (holdsObjectAfter(join(folder, entry.name), `${keyPrefix}${entry.name}/`, after)) return true;
    } else if (entry.name.endsWith(OBJECT_SUFFIX)) {
      const key = `${keyPrefix}${entry.name.slice(0, -OBJECT_SUFFIX.length)}`;
      if (key > after) return true;
    }
  }
  return false;
};

/**
 * The common prefixes of the folders s3rver's walk skips: under `folder` (whose key prefix is `keyPrefix`), each
 * folder whose key prefix reaches past `prefix` and holds a delimiter there.
 */
const skippedPrefixes = (
  folder: string,
  keyPrefix: string,
  options: Required<ListOptions>,
  found: Set<string>,
): void => {
  const { prefix, delimiter, startAfter } = options;
  let entries: Dirent[];
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const key = `${keyPrefix}${entry.name}/`;
    // A folder off the prefix's path holds no key of the listing.
    if (!key.startsWith(prefix) && !prefix.startsWith(key)) continue;
    const at = key.length > prefix.length ? key.slice(prefix.length).indexOf(delimiter) : -1;
    // s3rver skips a folder whose key prefix, past the listing's prefix, holds the delimiter before its last
    // character (the `/` that ends a folder's key prefix is not in the folder's own name).
    if (at !== -1 && prefix.length + at < key.length - 1) {
      const common = key.slice(0, prefix.length + at + delimiter.length);
      if (!found.has(common) && holdsObjectAfter(join(folder, entry.name), key, startAfter))
        found.add(common);
      continue;
    }
    skippedPrefixes(join(folder, entry.name), key, options, found);
  }
};

/** Wraps s3rver's FilesystemStore.listObjects once per process, adding the common prefixes its walk skipped. */
export const mendS3rverListing = (): void => {
  const Store = require('s3rver/lib/stores/filesystem.js') as StoreClass;
  if (Store.listingMended) return;
  const original = Store.prototype.listObjects;
  Store.prototype.listObjects = async function (this: FilesystemStore, bucket, options) {
    const listing = await original.call(this, bucket, options);
    const { delimiter = '', prefix = '', startAfter = '' } = options;
    // Only a delimiter of `/` folds folders; a truncated listing stops before the walk's end, as s3rver's does.
    if (delimiter !== '/' || listing.isTruncated || process.platform === 'win32') return listing;
    const found = new Set(listing.commonPrefixes);
    skippedPrefixes(join(this.rootDirectory, bucket), '', { delimiter, prefix, startAfter }, found);
    listing.commonPrefixes = [...found].sort();
    return listing;
  };
  Store.listingMended = true;
};
