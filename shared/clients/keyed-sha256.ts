import { createHash, createHmac, createSecretKey, type Hash, type Hmac, type KeyObject } from 'node:crypto';
import type { Checksum, SourceData } from '@smithy/types';

/**
 * Distinct HMAC keys kept. SigV4 uses two per client and day: the secret access key (the SDK's signing-key cache
 * is keyed by an HMAC under it) and the day's signing key. The rest of a day's derivation (four keys) is used once.
 */
export const MAX_KEPT_KEYS = 64;

const keys = new Map<string, KeyObject>();

const bytesOf = (data: SourceData): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

/** The secret as a KeyObject, made once per distinct secret (by content, so a reused buffer cannot go stale). */
const keyFor = (secret: SourceData): KeyObject => {
  const bytes = bytesOf(secret);
  const id = bytes.toString('latin1');
  let key = keys.get(id);
  if (!key) {
    // A bound, not an LRU: past it the keys of days and credentials gone by are dropped together.
    if (keys.size >= MAX_KEPT_KEYS) keys.clear();
    key = createSecretKey(bytes);
    keys.set(id, key);
  }
  return key;
};

/** How many keys are kept now; for tests. */
export const keptKeyCount = (): number => keys.size;

/**
 * SHA-256 and HMAC-SHA-256 for the SDK's `sha256` client setting, the hash SigV4 signs every request with.
 *
 * The same as the SDK's own Node.js class (`Sha256Node`, @smithy/core/checksum) but for one thing: an HMAC is
 * keyed with a KeyObject made once per secret. On Node.js 24 (the nodejs24.x runtime), `createHmac` with a
 * Buffer or string key spends about 7 µs checking and converting the key, four times the HMAC itself, and SigV4
 * computes two HMACs per request with keys that do not change all day. Written by hand because the SDK's class
 * takes a new key every time and offers no hook to keep one. test/unit/keyed-sha256.test.ts checks that every
 * digest, and a request signed with it, is byte for byte the SDK's.
 */
export class KeyedSha256 implements Checksum {
  readonly digestLength = 32;
  readonly #key: KeyObject | undefined;
  #hash: Hash | Hmac;
  #finished = false;

  constructor(secret?: SourceData) {
    this.#key = secret === undefined || secret === '' ? undefined : keyFor(secret);
    this.#hash = this.#create();
  }

  update(data: Uint8Array | string): void {
    if (this.#finished) throw new Error('Attempted to update an already finished hash.');
    this.#hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    let digest: Buffer;
    if (this.#key) {
      // An HMAC can be digested once; a plain hash is copied, so that it can go on being updated, as the SDK's is.
      this.#finished = true;
      digest = this.#hash.digest();
    } else {
      digest = (this.#hash as Hash).copy().digest();
    }
    return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
  }

  reset(): void {
    this.#hash = this.#create();
    this.#finished = false;
  }

  #create(): Hash | Hmac {
    return this.#key ? createHmac('sha256', this.#key) : createHash('sha256');
  }
}
