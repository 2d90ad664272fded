/**
 * Where records that can never succeed go, so they neither block their shard nor get lost: records that cannot
 * be decoded, fail validation, or cannot be stored as an item.
 */

export type QuarantineReason = 'undecodable' | 'invalid' | 'unstorable';

export interface QuarantineEntry {
  reason: QuarantineReason;
  /** What exactly is wrong, for a person; never the payload. */
  detail: string;
  shardId: string;
  sequenceNumber: string;
  subSequenceNumber?: number;
  partitionKey: string;
  approximateArrivalTimestamp: Date;
  /** The user record's raw bytes, exactly as read from the stream. */
  data: Uint8Array;
}

export interface Quarantine {
  /** Idempotent: quarantining the same record again leaves one entry for it. */
  put(entry: QuarantineEntry): Promise<void>;
}

/** The quarantine for unit tests. */
export class MemoryQuarantine implements Quarantine {
  readonly entries: QuarantineEntry[] = [];

  async put(entry: QuarantineEntry): Promise<void> {
    this.entries.push(entry);
  }
}
